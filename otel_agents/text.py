"""Content as text: one definition for the core (``redact``, spans) and the Claude Code hook.

Standard library only, and only the cheapest of it (``json``, ``sys`` and the builtin
sha256 module, not ``hashlib``, which loads OpenSSL): the hook imports it on every event.
Where ``hashlib`` is already loaded (the core, through OpenTelemetry) its sha256 is used, being
several times faster on large content; both give the same digest.
"""

from __future__ import annotations

import json
import sys

try:  # the builtin module: no OpenSSL load on the hook path
    from _sha256 import sha256 as _builtin_sha256  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - Python 3.12+ renamed it
    try:
        from _sha2 import sha256 as _builtin_sha256  # type: ignore[import-not-found]
    except ImportError:  # a build without the builtin module
        from hashlib import sha256 as _builtin_sha256

__all__ = ["clean_text", "digest", "fingerprint", "sha256_hex", "to_text"]


def to_text(value: object) -> str:
    """A value as text: strings as they are, anything else as compact JSON.

    A value nested deeper than the recursion limit allows from here (JSON the hook parsed
    from a shallower frame, say) gets a little more room; one nested deeper still becomes a
    placeholder, never an exception.
    """
    if isinstance(value, str):
        return value
    try:
        return _to_json(value)
    except RecursionError:
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(limit + 500)
        try:
            return _to_json(value)
        except RecursionError:
            return f"<{type(value).__name__} nested too deep>"
        finally:
            sys.setrecursionlimit(limit)


def _to_json(value: object) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    except (TypeError, ValueError):
        return str(value)


def clean_text(text: str) -> str:
    """``text`` as valid Unicode: a lone surrogate (a file name decoded with
    ``surrogateescape``, a ``"\\ud800"`` escape in JSON) becomes U+FFFD. No UTF-8 file,
    database or protobuf takes one."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in text)
    return text


def sha256_hex(data: bytes) -> str:
    """The sha256 of ``data``, in hex (OpenSSL's if ``hashlib`` is loaded, see the module doc)."""
    hashlib = sys.modules.get("hashlib")
    sha256 = _builtin_sha256 if hashlib is None else hashlib.sha256
    return str(sha256(data).hexdigest())


def digest(text: str) -> str:
    """The sha256 hex of ``text`` as UTF-8 (lone surrogates kept, as ``surrogatepass``)."""
    return sha256_hex(text.encode("utf-8", "surrogatepass"))


def fingerprint(value: object) -> tuple[int, str]:
    """(length in characters, sha256 hex) of a value's text: what is kept by default."""
    text = to_text(value)
    return len(text), digest(text)
