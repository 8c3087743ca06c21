"""Error categorisation: the one place that maps an error to a category.

The execution records (``otel_agents.foundation.records``), the analytics store and the reports
all call :func:`categorize`, so a rule changed here changes every view of the data.

Categories (seed 001's error analytics, plus seed 003's test failures):

``import``, ``connection``, ``timeout``, ``syntax``, ``type``, ``file``, ``test_failure``,
``tool_failure``, ``rate_limit``, ``other``.

Rules are tried in the order of :data:`RULES`: first against the error *type* (the
``error.type`` attribute, e.g. ``ModuleNotFoundError`` or ``DemoTimeout``), then, if no
type rule matched, against the error *message*. A type is more reliable than free text,
so ``TimeoutError: 3 tests failed`` is a timeout. A failed tool call that matches no rule
is a ``tool_failure``; anything else is ``other``. Standard library only.
"""

from __future__ import annotations

import re
from typing import Final

IMPORT: Final = "import"
CONNECTION: Final = "connection"
TIMEOUT: Final = "timeout"
SYNTAX: Final = "syntax"
TYPE: Final = "type"
FILE: Final = "file"
TEST_FAILURE: Final = "test_failure"
TOOL_FAILURE: Final = "tool_failure"
RATE_LIMIT: Final = "rate_limit"
OTHER: Final = "other"

#: Every category, in rule order (``other`` last).
CATEGORIES: Final[tuple[str, ...]] = (
    RATE_LIMIT,
    TIMEOUT,
    IMPORT,
    CONNECTION,
    SYNTAX,
    TYPE,
    FILE,
    TEST_FAILURE,
    TOOL_FAILURE,
    OTHER,
)

_I = re.IGNORECASE

#: (category, pattern on the error type, pattern on the message), tried in this order.
RULES: Final[tuple[tuple[str, re.Pattern[str] | None, re.Pattern[str] | None], ...]] = (
    (
        RATE_LIMIT,
        re.compile(r"rate_?limit|too_?many_?requests|throttl|quota", _I),
        re.compile(r"rate[ _-]?limit|too many requests|\b429\b|throttl|quota exceeded|overloaded", _I),
    ),
    (
        TIMEOUT,
        re.compile(r"time_?out|timed_?out|deadline", _I),
        re.compile(r"time[ _-]?out|timed out|deadline exceeded|exceeded \d+(\.\d+)? ?(s|sec|seconds|ms)\b", _I),
    ),
    (
        IMPORT,
        re.compile(r"^(.*\.)?(ImportError|ModuleNotFoundError)$|import_?error", _I),
        re.compile(r"no module named|cannot import name|importerror|modulenotfounderror|cannot find module", _I),
    ),
    (
        CONNECTION,
        re.compile(r"connect|network|socket|^(.*\.)?(BrokenPipeError|gaierror|herror)$|unreachable", _I),
        re.compile(
            r"connection (refused|reset|aborted|error|closed)|econnrefused|econnreset|network is unreachable"
            r"|name or service not known|temporary failure in name resolution|could not resolve host"
            r"|broken pipe|remote end closed|ssl(error)?:",
            _I,
        ),
    ),
    (
        SYNTAX,
        re.compile(r"syntax|indentation|^(.*\.)?TabError$|parse_?error|JSONDecodeError", _I),
        re.compile(r"syntaxerror|invalid syntax|indentationerror|unexpected (token|indent|eof)|parse error", _I),
    ),
    (
        TYPE,
        re.compile(r"^(.*\.)?(TypeError|AttributeError)$|type_?error", _I),
        re.compile(r"typeerror|attributeerror|is not callable|unsupported operand|has no attribute|nonetype", _I),
    ),
    (
        FILE,
        re.compile(
            r"^(.*\.)?(FileNotFoundError|FileExistsError|IsADirectoryError|NotADirectoryError|PermissionError)$"
            r"|file_?not_?found|no_?such_?file",
            _I,
        ),
        re.compile(r"no such file|file not found|enoent|permission denied|is a directory|not a directory|eacces", _I),
    ),
    (
        TEST_FAILURE,
        re.compile(r"assert|test_?fail", _I),
        re.compile(r"assertionerror|tests? failed|\bfailed\b.*\btests?\b|\d+ failed|failing tests?|test failure", _I),
    ),
    (
        TOOL_FAILURE,
        re.compile(r"tool_?(error|failure)|CalledProcessError", _I),
        re.compile(r"non-zero exit|exit (code|status) [1-9]|returned non-zero|command failed|tool error", _I),
    ),
)


def categorize(error_type: str | None, message: str | None = None, *, kind: str | None = None) -> str:
    """The category of an error, from its type and message.

    :param error_type: the ``error.type`` value (an exception class name, or any
        low-cardinality identifier).
    :param message: the error text (``otel_agents.error.message`` or the status text).
    :param kind: the record's kind; a ``tool_call`` that matches no rule is a
        ``tool_failure`` rather than ``other``.
    :returns: one of :data:`CATEGORIES`.
    """
    etype = (error_type or "").strip()
    if etype in ("_OTHER", "None"):
        etype = ""
    if etype:
        for category, type_re, _msg_re in RULES:
            if type_re is not None and type_re.search(etype):
                return category
    text = (message or "")[:4000]
    if text:
        for category, _type_re, msg_re in RULES:
            if msg_re is not None and msg_re.search(text):
                return category
    if kind == "tool_call":
        return TOOL_FAILURE
    return OTHER
