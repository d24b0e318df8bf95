"""Shared terminal output for the CLI: rich consoles and expected-error reporting."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.markup import escape

from trainlytics.errors import TrainlyticsError

__all__ = ["console", "err_console", "reporting_errors"]

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


@contextmanager
def reporting_errors() -> Iterator[None]:
    """Turn a :class:`TrainlyticsError` into one red line with its hint, and exit code 1."""
    try:
        yield
    except TrainlyticsError as exc:
        line = f"[bold red]error:[/] [red]{escape(exc.message)}[/]"
        if exc.hint:
            line += f" [dim]— hint: {escape(exc.hint)}[/]"
        err_console.print(line, soft_wrap=True)
        raise typer.Exit(code=1) from None
