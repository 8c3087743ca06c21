"""Foundations shared by the sinks, the analytics store and the commands: execution
records (``records``), private files and one-write appends (``files``), and the per-sink
counters persisted under ``<home>/state`` (``state``). They import no sink and no processor."""
