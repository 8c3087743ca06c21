"""The analytics history: a versioned SQLite schema (``schema``), the idempotent record
writer (``store``) and the derived workflow aggregates (``aggregate``). See docs/analytics.md.
"""
