"""Shared terminal output for the CLI: rich consoles and expected-error reporting."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import typer
from rich.console import Console
from rich.markup import escape

from trainlytics.errors import TrainlyticsError

__all__ = ["console", "err_console", "reporting_errors"]

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


@contextmanager
def reporting_errors() -> Iterator[None]:
    """Turn a :class:`TrainlyticsError` into one red line with its hint, and exit code 1.

    A missing table, function or schema (a database this version's migrations never reached,
    despite the readiness check) is reported the same way, not as a traceback."""
    try:
        yield
    except TrainlyticsError as exc:
        _error_line(exc.message, exc.hint)
        raise typer.Exit(code=1) from None
    except (
        psycopg.errors.UndefinedTable,
        psycopg.errors.UndefinedFunction,
        psycopg.errors.InvalidSchemaName,
        psycopg.errors.UndefinedColumn,
    ) as exc:
        message = exc.diag.message_primary or str(exc).strip().splitlines()[0]
        _error_line(
            f"the database lacks what this command needs: {message}",
            "run `trainlytics db migrate` (or `supabase db push`) and try again",
        )
        raise typer.Exit(code=1) from None


def _error_line(message: str, hint: str | None) -> None:
    line = f"[bold red]error:[/] [red]{escape(message)}[/]"
    if hint:
        line += f" [dim]— hint: {escape(hint)}[/]"
    err_console.print(line, soft_wrap=True)
