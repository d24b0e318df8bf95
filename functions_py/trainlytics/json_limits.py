"""JSON from outside, parsed within bounds: nesting depth is checked before ``json.loads``.

``json.loads`` recurses once per nesting level: 200,000 nested brackets raise
``RecursionError`` (a 500 in a web app) after burning CPU. :func:`loads_bounded` first measures
the nesting depth without recursion — strings are skipped by one linear regular expression,
the remaining brackets are counted — and refuses a document deeper than ``max_depth`` with
:class:`JsonTooDeepError` (a ``ValueError``), so callers that already catch ``ValueError`` for
malformed JSON answer both the same way. Webhook bodies are a few levels deep; the default
limit of 64 leaves ample room. The size of the input is bounded by the caller (the HTTP app
caps webhook bodies before reading them, :attr:`Provider.max_webhook_body_bytes`).
"""

from __future__ import annotations

import json
import re
from typing import Any

from trainlytics.errors import JsonTooDeepError

__all__ = ["DEFAULT_MAX_DEPTH", "JsonTooDeepError", "json_depth", "loads_bounded"]

DEFAULT_MAX_DEPTH = 64

# A JSON string: quote, then any run of non-quote non-backslash bytes or escape pairs, then
# quote. Unambiguous, hence linear. An unterminated string is not matched, and its brackets
# are counted: conservative, and json.loads refuses such a document anyway.
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def json_depth(raw: bytes, *, stop_after: int | None = None) -> int:
    """The deepest nesting of ``[`` and ``{`` in ``raw`` outside strings (stops early past
    ``stop_after``)."""
    brackets = _STRING.sub(b'""', raw).translate(None, _NOT_BRACKETS)
    depth = deepest = 0
    for byte in brackets:
        if byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > deepest:
                deepest = depth
                if stop_after is not None and deepest > stop_after:
                    return deepest
        elif depth:
            depth -= 1
    return deepest


def loads_bounded(raw: bytes | str, *, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """``json.loads(raw)`` after checking its depth; raises ``ValueError`` (including
    :class:`JsonTooDeepError` and ``UnicodeDecodeError``) for anything it will not parse."""
    data = raw.encode() if isinstance(raw, str) else raw
    if json_depth(data, stop_after=max_depth) > max_depth:
        raise JsonTooDeepError(f"JSON nested deeper than {max_depth} levels")
    try:
        return json.loads(data)
    except RecursionError:  # cannot happen within max_depth; kept as a last line
        raise JsonTooDeepError(f"JSON nested deeper than {max_depth} levels") from None
