"""Privacy: content is recorded as length and hash by default; opt-in capture is redacted.

Standard library only (the Claude Code hook path uses it). Content as text (``to_text``,
``valid_text``, ``fingerprint``) is defined once, in ``otel_agents.text``, and re-exported here.
"""

from __future__ import annotations

import re
from typing import Any

from otel_agents.text import clean_text as valid_text, fingerprint, to_text

__all__ = ["REDACTED", "fingerprint", "redact", "to_text", "valid_text"]

REDACTED = "[REDACTED]"


def _quoted(value: str) -> str:
    """``[REDACTED]`` in the quotes ``value`` had (``"``, ``\\"`` or ``'``), if any."""
    for q in ('\\"', '"', "'"):
        if value.startswith(q) and value.endswith(q) and len(value) >= 2 * len(q):
            return q + REDACTED + q
    return REDACTED


_PATTERNS: tuple[tuple[re.Pattern[str], Any], ...] = (
    # Authorization headers and bearer tokens.
    (re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 " + REDACTED),
    # Well-known key formats.
    (re.compile(r"\bsk-ant-[A-Za-z0-9_-]{10,}"), REDACTED),
    (re.compile(r"\bsk-(?:proj-)?[A-Za-z0-9_-]{16,}"), REDACTED),
    (re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"), REDACTED),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"), REDACTED),
    (re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,}"), REDACTED),
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), REDACTED),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{30,}"), REDACTED),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), REDACTED),
    # Passwords in URLs: scheme://user:password@host (the user may be empty: redis://:pw@host).
    # The lookbehind starts a scheme only at the start of a word: without it a long run of
    # letters costs quadratic time.
    (re.compile(r"((?<![a-zA-Z0-9+.-])[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]*):[^@\s/]+@"), r"\1:" + REDACTED + "@"),
    # Passwords and secrets in commands (--password x, --token=x), assignments and .env lines
    # (PASSWORD=x, api_key: x) and JSON members ("password": "x"). Content is often JSON text
    # (tool inputs): there a quote may be escaped (\") and a line break is \n, so a quoted
    # value may use \" and a bare value ends at a backslash. A quoted value keeps its quotes.
    (
        re.compile(
            r"(?i)(--?(?:password|passwd|pwd|token|secret|api[-_]?key|access[-_]?key)[=\s]+)"
            r"(\\?\"(?:[^\"\\]|\\[^\"])*\\?\"|'[^']*'|[^\s\\]+)"
        ),
        lambda m: m.group(1) + _quoted(m.group(2)),
    ),
    # The key is one word (at most 100 characters) holding a secret's name, found by a
    # bounded lookahead: a long run of letters costs linear time.
    (
        re.compile(
            r"(?m)(?<![A-Za-z0-9_])(?=[A-Za-z0-9_]{0,90}(?i:PASSWORD|PASSWD|SECRET|TOKEN(?!S)|API_?KEY|ACCESS_?KEY"
            r"|PRIVATE_?KEY|CREDENTIAL))([A-Za-z0-9_]{1,100})(\\?[\"']?\s*[=:]\s*)"
            r"(\\?\"(?:[^\"\\]|\\[^\"])*?\\?\"|'[^']*'|[^\s\"',;}\\]+)"
        ),
        lambda m: m.group(1) + m.group(2) + _quoted(m.group(3)),
    ),
    (
        re.compile(r"(?i)(\\?\"authorization\\?\"\s*:\s*)(\\?\"(?:[^\"\\]|\\[^\"])*?\\?\")"),
        lambda m: m.group(1) + _quoted(m.group(2)),
    ),
    # A private key's body is base64 and headers, never a dash: linear even without its END line.
    (re.compile(r"-----BEGIN [A-Z ]{0,40}PRIVATE KEY-----[^-]*(?:-----END [A-Z ]{0,40}PRIVATE KEY-----)?"), REDACTED),
)


def redact(text: str) -> str:
    """``text`` with obvious secrets replaced by ``[REDACTED]``."""
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text
