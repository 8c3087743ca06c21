"""Documentation stays complete: every attribute constant is documented."""

from __future__ import annotations

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
