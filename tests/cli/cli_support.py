"""Running the CLI in tests, and checking its one-line errors."""

from __future__ import annotations

from collections.abc import Sequence

from typer.testing import CliRunner, Result

from trainlytics.cli.main import app

__all__ = ["error_line", "invoke"]

runner = CliRunner()


def invoke(args: Sequence[str], **kwargs: object) -> Result:
    return runner.invoke(app, list(args), **kwargs)  # type: ignore[arg-type]


def error_line(result: Result, *fragments: str, hint: bool = True) -> str:
    """Assert the command failed the expected way: exit 1, no traceback, exactly one
    ``error:`` line that has every fragment and (unless ``hint`` is false) a hint; return
    that line."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    if hint:
        assert "— hint:" in errors[0], errors[0]
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]
