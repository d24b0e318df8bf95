"""``trainlytics config check``: which features this deployment has configured, what is missing.

Reads the environment only (nothing is connected to); prints one row per feature — ready,
missing (with what to set), off (optional, not configured) or invalid (the message names the
variable) — then which commands can run. Exit status 1 when a setting is invalid or ``--for``
names a command that is not ready. ``.env.example`` lists every variable.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from trainlytics.cli.console import console, reporting_errors
from trainlytics.config_check import check_environment, serve_missing
from trainlytics.errors import ConfigError

__all__ = ["app"]

app = typer.Typer(help="Inspect this deployment's configuration.", no_args_is_help=True)

_STYLES = {"ready": "green", "missing": "red", "off": "dim", "invalid": "bold red"}
COMMANDS = ("serve", "worker", "sync", "users")


@app.command("check")
def check_command(
    for_command: Annotated[
        str | None,
        typer.Option(
            "--for",
            help="Fail (exit 1) unless this command is configured: " + ", ".join(COMMANDS) + ".",
        ),
    ] = None,
) -> None:
    """Show which features are configured and what is missing (no secret is printed)."""
    with reporting_errors():
        if for_command is not None and for_command not in COMMANDS:
            raise ConfigError(
                f"unknown command {for_command!r} for --for", hint="one of " + ", ".join(COMMANDS)
            )
        checks = check_environment()
        table = Table(title="Trainlytics configuration", title_justify="left")
        table.add_column("feature")
        table.add_column("state")
        table.add_column("needed by", style="dim")
        table.add_column("detail", overflow="fold")
        for check in checks:
            table.add_row(
                check.feature,
                f"[{_STYLES[check.state]}]{check.state}[/]",
                check.needed_by,
                escape(check.detail),
            )
        console.print(table)
        states = {check.feature: check.state for check in checks}
        invalid = [check.feature for check in checks if check.state == "invalid"]
        missing_serve = serve_missing()
        ready = {
            "serve": not missing_serve and not invalid,
            "worker": states["token encryption"] == "ready" and not invalid,
            "sync": states["token encryption"] == "ready" and not invalid,
            "users": states["Supabase project API"] != "invalid",
        }
        if missing_serve:
            console.print("serve: [red]not ready[/] — set " + escape(", ".join(missing_serve)))
        else:
            console.print(
                "serve: [green]ready[/]" if ready["serve"] else "serve: [red]not ready[/]"
            )
        providers = [
            c.feature.removeprefix("provider ")
            for c in checks
            if c.feature.startswith("provider ") and c.state == "ready"
        ]
        console.print(
            "worker / sync: "
            + ("[green]ready[/]" if ready["worker"] else "[red]not ready[/]")
            + f" — providers configured: {', '.join(providers) or 'none'}"
        )
        if invalid:
            raise ConfigError(
                "invalid settings: " + ", ".join(invalid), hint="see the detail column above"
            )
        if for_command is not None and not ready[for_command]:
            raise ConfigError(
                f"{for_command} is not configured",
                hint="set what the table above marks missing (see .env.example)",
            )
