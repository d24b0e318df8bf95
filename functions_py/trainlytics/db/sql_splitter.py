"""Split a PostgreSQL script into statements, the way the Supabase CLI records them.

The Supabase CLI (``pkg/parser``) cuts a migration file at every ``;`` that is not inside a
string, quoted identifier, dollar-quoted body, comment, parenthesis or ``begin atomic ... end``
body, then strips trailing semicolons and surrounding whitespace and drops empty pieces.
Comments stay part of the statement that follows them, so a file ending in a comment yields a
final comment-only statement, which PostgreSQL accepts as an empty query.

This is an independent implementation of the same contract. It understands:

- ``'...'`` strings with ``''`` doubling, and ``E'...'`` strings with backslash escapes;
- ``"..."`` identifiers with ``""`` doubling;
- dollar quoting ``$$...$$`` and ``$tag$...$tag$`` (``$1`` parameters and ``a$b`` identifiers
  are not dollar quotes);
- ``--`` line comments and nested ``/* /* */ */`` block comments;
- parentheses and SQL-standard ``begin atomic ... end`` function bodies (``case ... end``
  inside them is balanced).
"""

from __future__ import annotations

import re

__all__ = ["split_statements"]

_WORD = re.compile(r"[A-Za-z0-9_\u0080-\U0010ffff][A-Za-z0-9_$\u0080-\U0010ffff]*")
_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_\u0080-\U0010ffff][A-Za-z0-9_\u0080-\U0010ffff]*)?\$")


def _skip_quoted(sql: str, i: int, quote: str, *, backslash_escapes: bool) -> int:
    """Return the index just past the literal whose opening ``quote`` is at ``i``."""
    n = len(sql)
    i += 1
    while i < n:
        ch = sql[i]
        if backslash_escapes and ch == "\\":
            i += 2
            continue
        if ch == quote:
            if i + 1 < n and sql[i + 1] == quote:  # doubled quote: still inside
                i += 2
                continue
            return i + 1
        i += 1
    return n


def _skip_block_comment(sql: str, i: int) -> int:
    """Return the index just past the (possibly nested) block comment opening at ``i``."""
    n = len(sql)
    depth = 0
    while i < n:
        if sql.startswith("/*", i):
            depth += 1
            i += 2
        elif sql.startswith("*/", i):
            depth -= 1
            i += 2
            if depth == 0:
                return i
        else:
            i += 1
    return n


def split_statements(sql: str) -> list[str]:
    """Split ``sql`` into trimmed, non-empty statements without their terminating ``;``."""
    statements: list[str] = []
    n = len(sql)
    start = 0
    i = 0
    parens = 0
    atomic = 0  # > 0 inside a begin atomic body: 1 + number of open `case` expressions
    previous_word = ""

    def emit(end: int) -> None:
        piece = sql[start:end].strip()
        if piece:
            statements.append(piece)

    while i < n:
        ch = sql[i]
        if ch == "'":
            i = _skip_quoted(sql, i, "'", backslash_escapes=False)
        elif ch == '"':
            i = _skip_quoted(sql, i, '"', backslash_escapes=False)
        elif ch == "-" and sql.startswith("--", i):
            newline = sql.find("\n", i)
            i = n if newline < 0 else newline + 1
        elif ch == "/" and sql.startswith("/*", i):
            i = _skip_block_comment(sql, i)
        elif ch == "$":
            tag = _DOLLAR_TAG.match(sql, i)
            if tag is None:
                i += 1
            else:
                close = sql.find(tag.group(), tag.end())
                i = n if close < 0 else close + len(tag.group())
        elif ch == "(":
            parens += 1
            i += 1
        elif ch == ")":
            parens = max(parens - 1, 0)
            i += 1
        elif ch == ";":
            if parens == 0 and atomic == 0:
                emit(i)
                start = i + 1
                previous_word = ""
            i += 1
        else:
            word = _WORD.match(sql, i)
            if word is None:
                i += 1
                continue
            i = word.end()
            lowered = word.group().lower()
            if lowered == "e" and i < n and sql[i] == "'":
                i = _skip_quoted(sql, i, "'", backslash_escapes=True)
                continue
            if atomic:
                if lowered == "case":
                    atomic += 1
                elif lowered == "end":
                    atomic -= 1
            elif lowered == "atomic" and previous_word == "begin":
                atomic = 1
            previous_word = lowered
    emit(n)
    return statements
