"""One way to get a logger, so that no log line can be forged through the data it names.

Log lines name values that arrive from outside: a provider's user id from a webhook body, an
error code, a path. A value holding a newline (``"x\\nINFO forged"``) would otherwise start a
second, forged log line. :func:`get_logger` returns the standard logger of that name with
:class:`EscapeControlCharacters` attached: the record's message is formatted once and every
control character in it (C0, DEL, C1, and the Unicode line and paragraph separators) is
replaced by a visible escape (``\\n``, ``\\x1b``, ``\\u2028``), before any handler sees it.
Tracebacks (``exc_info``) are left alone: they are ours, not the caller's.

Every module of the package logs through :func:`get_logger`; the HTTP app also attaches the
filter to the ``httpx`` logger (:func:`trainlytics.api.app.install_log_redaction`).
"""

from __future__ import annotations

import logging
import re

__all__ = ["EscapeControlCharacters", "escape_control_characters", "get_logger"]

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_control_characters(text: str) -> str:
    """``text`` with every control character written as a visible escape (one line)."""
    return _CONTROL.sub(_escape, text)


class EscapeControlCharacters(logging.Filter):
    """Format the record's message and escape its control characters (see the module)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: let logging report it as usual
            return True
        escaped = escape_control_characters(message)
        if escaped != message or record.args:
            record.msg = escaped
            record.args = None
        return True


_FILTER = EscapeControlCharacters()


def get_logger(name: str) -> logging.Logger:
    """``logging.getLogger(name)`` with :class:`EscapeControlCharacters` attached (once)."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, EscapeControlCharacters) for f in logger.filters):
        logger.addFilter(_FILTER)
    return logger
