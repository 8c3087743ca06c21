"""End-to-end fixtures: Phoenix (session) and rotel, from tests/_phoenix.py."""

from _phoenix import phoenix, rotel  # noqa: F401
