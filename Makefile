# Everything runs from a virtual environment that the targets create: a fresh machine needs
# only python3 (3.10+) and make.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PLUGINS := $(wildcard plugins/*/pyproject.toml)
PLUGIN_DIRS := $(patsubst %/pyproject.toml,%,$(PLUGINS))

.PHONY: install demo test bench reliability clean

$(VENV)/.installed: pyproject.toml $(PLUGINS)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]' $(addprefix ./,$(PLUGIN_DIRS))
	touch $@

install: $(VENV)/.installed

demo: install
	$(VENV)/bin/otel-agents demo

test: install
	$(PY) -m pytest -q

bench: install
	$(PY) benchmarks/step_overhead.py
	$(PY) benchmarks/hook_latency.py

clean:
	rm -rf $(VENV) .otel-agents build *.egg-info
