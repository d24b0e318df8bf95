"""Text that PostgreSQL's jsonb cannot hold.

jsonb refuses the character U+0000 anywhere in a string (``unsupported Unicode escape
sequence``), so a single provider payload carrying one would make Postgres reject the whole page
before ``public.ingest_activities`` could skip the item. Providers do send it occasionally (a
device name or description with a stray NUL), and it reaches SQL through either gateway (psycopg
``Jsonb`` or the PostgREST JSON body). :func:`without_nul` strips it from every string, keys
included, so the item is stored (the character carries no meaning); call it on a page before
handing the page to the database.

API
---
- ``without_nul(value) -> value`` — the same JSON-like value with U+0000 removed from every string
  (mapping keys too; two keys differing only by it merge, the later wins). Returns ``value``
  itself when there is nothing to strip (one C-speed ``json.dumps`` scan decides).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

NUL = "\x00"


def _strip(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace(NUL, "") if NUL in value else value
    if isinstance(value, Mapping):
        return {_strip(str(key)): _strip(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_strip(item) for item in value]
    return value


def without_nul(value: Any) -> Any:
    """``value`` with U+0000 removed from every string (keys included); ``value`` itself when
    it holds none."""
    try:
        text = json.dumps(value, default=str)
    except (TypeError, ValueError):
        return _strip(value)
    if "\\u0000" not in text:
        return value
    return _strip(value)
