# Everything runs from a virtual environment that the targets create: a fresh machine needs
# only python3 (3.10+) and make.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PLUGINS := $(wildcard plugins/*/pyproject.toml)
PLUGIN_DIRS := $(patsubst %/pyproject.toml,%,$(PLUGINS))

.PHONY: install phoenix chromium ccusage backends native peer demo example check test bench reliability clean

# Arize Phoenix (the end-to-end OTLP backend, ~850 MB) and rotel (a collector binary from a
# wheel) live in their own venv, never in ours. rotel is optional: where no wheel installs,
# its relay tests skip.
PHOENIX_VENV ?= .phoenix-venv
PHOENIX_VERSION ?= 20.26.1
ROTEL_VERSION ?= 0.0.1a15

$(VENV)/.installed: pyproject.toml $(PLUGINS)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]' $(addprefix ./,$(PLUGIN_DIRS))
	touch $@

install: $(VENV)/.installed

$(PHOENIX_VENV)/.installed:
	$(PYTHON) -m venv $(PHOENIX_VENV)
	$(PHOENIX_VENV)/bin/python -m pip install -q --upgrade pip
	$(PHOENIX_VENV)/bin/python -m pip install -q 'arize-phoenix==$(PHOENIX_VERSION)'
	$(PHOENIX_VENV)/bin/python -m pip install -q 'rotel==$(ROTEL_VERSION)' || echo "rotel did not install here: its relay tests will be skipped"
	touch $@

phoenix: $(PHOENIX_VENV)/.installed

# Headless Chromium renders the HTML report in tests/test_report_html.py (Debian's package; root
# installs it). Where it cannot be installed, that one test skips and says why.
chromium:
	@command -v chromium >/dev/null 2>&1 || { (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq chromium) >/dev/null 2>&1 && echo "installed chromium" || \
		echo "chromium could not be installed: the HTML screenshot test will be skipped"; }

# Jaeger v2 and our OpenTelemetry Collector distribution (backends/: one Go module, pinned
# versions) for the end-to-end tests in tests/e2e/test_backends_*.py. Built once into
# .backends/bin; rebuilt only when the pinned versions change. Without Go: skipped with a
# message (those tests then skip), except under CI=true, where it fails.
backends:
	@sh backends/build.sh

# Debian's PostgreSQL server, for the shared analytics store's tests (a private server per
# test session, tests/_pgserver.py) and benchmarks/fleet.py. Installed where initdb is
# missing; under CI (CI=true) a failed install fails the build, elsewhere those tests skip.
.PHONY: postgresql fleet
postgresql:
	@command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >/dev/null 2>&1 \
		&& echo "installed postgresql" || { \
		if [ "$$CI" = "true" ]; then echo "postgresql could not be installed (CI=true): failing" >&2; exit 1; fi; \
		echo "postgresql could not be installed: the PostgreSQL store tests will be skipped"; }; }

# 8 machines into one PostgreSQL, then the report over 1,000,000 steps (several minutes).
fleet: install postgresql
	$(PY) benchmarks/fleet.py

# The native Claude Code hook (otel_agents/claude_code/native/hook.c, C library only) built into
# the venv with the machine's C compiler; the tests build their own copy too. Without a compiler:
# a message (its tests then skip), except under CI=true, where it fails.
native: install
	@$(PY) -c "import os, sys; from otel_agents.claude_code import native; p, m = native.build(); print(m); \
		sys.exit(1 if p is None and os.environ.get('CI', '').lower() == 'true' else 0)"

# opentelemetry-hooks, the peer benchmarks/hook_latency.py measures, in its own venv. Its wheel
# declares Python >= 3.12 but runs on 3.11: installed with --ignore-requires-python where needed.
PEER_VENV ?= .peer-venv
PEER_VERSION ?= 0.15.0
$(PEER_VENV)/.installed:
	$(PYTHON) -m venv $(PEER_VENV)
	$(PEER_VENV)/bin/python -m pip install -q 'opentelemetry-hooks==$(PEER_VERSION)' || \
		$(PEER_VENV)/bin/python -m pip install -q --ignore-requires-python 'opentelemetry-hooks==$(PEER_VERSION)'
	touch $@

peer: $(PEER_VENV)/.installed

demo: install
	$(VENV)/bin/otel-agents demo

# The example executor has no telemetry code: its pyproject.toml maps it (docs/instrumenting.md).
# --summary: then say where its telemetry went (trace id, files, how to view the report).
example: install
	cd examples/sdlc_executor && $(abspath $(VENV))/bin/otel-agents run --summary -- $(abspath $(PY)) -m sdlc_executor --pace 0

# The code guards: lint, strict typing of otel_agents/, formatting (settings in pyproject.toml).
# `ruff check --fix .` and `ruff format .` fix most findings; `ruff format --diff .` shows the rest.
check: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/ruff format --check --output-format concise .

test: install phoenix chromium backends postgresql native check
	$(PY) -m pytest -q

# The fault-injection suite at soak sizes (a 30 s database lock, 50,000 fuzzed hook payloads,
# 20 SIGKILLs, ...), then the results table in docs/reliability.md is regenerated from what it
# measured (tests/faults/report.py; only the region between its markers changes). Fails if a
# case failed, after writing the table.
reliability: install
	OTEL_AGENTS_FAULTS=soak $(PY) -m pytest tests/faults -q; status=$$?; \
		$(PY) tests/faults/report.py --mode soak && exit $$status

# ccusage (npm), the most used Claude Code cost tool, for benchmarks/import_vs_ccusage.py only.
CCUSAGE_VERSION ?= 20.0.24
.ccusage/.installed:
	npm install --no-audit --no-fund --prefix .ccusage 'ccusage@$(CCUSAGE_VERSION)'
	touch $@

ccusage: .ccusage/.installed

bench: install ccusage peer
	$(PY) benchmarks/step_overhead.py
	$(PY) benchmarks/hook_latency.py
	$(PY) benchmarks/exit_deadline.py
	$(PY) benchmarks/replay_throughput.py
	$(PY) benchmarks/concurrent_writers.py
	$(PY) benchmarks/exit_burst.py
	$(PY) benchmarks/report_scale.py
	$(PY) benchmarks/import_vs_ccusage.py

clean:
	rm -rf $(VENV) $(PHOENIX_VENV) $(PEER_VENV) .ccusage .backends .otel-agents build *.egg-info
