"""Built-in sinks: spool, OTLP, execution-metrics JSONL and the analytics history."""
