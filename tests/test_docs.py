"""Documentation stays complete: every attribute constant is documented."""

from __future__ import annotations

import re
from pathlib import Path

from otel_agents import attributes as A

ROOT = Path(__file__).resolve().parent.parent


def test_every_attribute_is_documented():
    docs = (ROOT / "docs" / "attributes.md").read_text()
    missing = [
        f"{name} = {value!r}"
        for name, value in vars(A).items()
        if name.isupper() and isinstance(value, str) and "." in value and f"`{value}`" not in docs
    ]
    assert missing == []


def test_readme_quick_start_is_two_commands():
    readme = (ROOT / "README.md").read_text()
    start = readme.index("```sh")
    block = readme[start + 5 : readme.index("```", start + 5)]
    assert [line.strip() for line in block.strip().splitlines()] == ["make demo", "make test"]


# Words of the project's own development history, not of a user's world: "seed 001",
# "session 3 figures", "issue 11", "the lead's rerun". (`issue_id` and Claude Code sessions
# are user terms, so the patterns need a number or a possessive.)
DEV_VOCABULARY = re.compile(
    r"\bseeds?\b(?!_)|\bsessions? \d|\bissues? #?\d|\bthe lead\b|\bREFERENCE\.md|\bISSUE_\d",
    re.IGNORECASE,
)


def _user_docs() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted(ROOT.glob("plugins/*/README.md"))]


def test_user_docs_have_no_development_vocabulary():
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in _user_docs()
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if DEV_VOCABULARY.search(line)
    ]
    assert found == []


def test_readme_says_what_make_test_installs():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Quick start") : readme.index("## Use it in an executor")]
    for needle in ("`make test`", ".venv", "Phoenix", ".phoenix-venv", "Chromium", "screenshot"):
        assert needle in section, needle
