"""Every command and group answers ``--help`` (walked from the CLI itself, so a new command is
covered the moment it is mounted)."""

from __future__ import annotations

from typing import Any

import pytest
import typer

from tests.cli.cli_support import invoke
from trainlytics.cli.main import app


def _command_paths(command: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    # typer vendors its own click: a group is whatever has sub-commands.
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        paths.extend(_command_paths(sub, (*prefix, name)))
    return paths


COMMAND_PATHS = _command_paths(typer.main.get_command(app))


def test_the_cli_has_every_command_of_the_issue() -> None:
    top_level = {path[0] for path in COMMAND_PATHS if len(path) == 1}
    expected = {"db", "demo", "report", "serve", "stats", "sync", "tokens", "users", "worker"}
    assert expected <= top_level
    assert {("users", "create"), ("users", "invite"), ("db", "migrate")} <= set(COMMAND_PATHS)
    assert ("config", "check") in COMMAND_PATHS


@pytest.mark.parametrize("path", COMMAND_PATHS, ids=lambda p: " ".join(p) or "trainlytics")
def test_help_everywhere(path: tuple[str, ...]) -> None:
    result = invoke([*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    # Every command explains itself in one line at least.
    assert len([line for line in result.output.splitlines() if line.strip()]) > 3


def test_version() -> None:
    result = invoke(["--version"])
    assert result.exit_code == 0
    assert result.output.startswith("trainlytics ")
