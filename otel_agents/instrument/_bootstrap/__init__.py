"""The directory ``otel-agents run`` puts first on the program's PYTHONPATH (for its sitecustomize)."""
