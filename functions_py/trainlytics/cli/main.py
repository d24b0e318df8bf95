"""The ``trainlytics`` command line.

Each command group lives in its own module under :mod:`trainlytics.cli` and is mounted
here. Commands wrap their work in :func:`trainlytics.cli.console.reporting_errors`, so expected
failures print one red line with a hint and exit 1, without a traceback.
"""

from __future__ import annotations

import typer

from trainlytics import __version__
from trainlytics.cli import (
    athlete,
    config,
    db,
    demo,
    legacy,
    report,
    serve,
    stats,
    sync,
    tokens,
    users,
    worker,
)
from trainlytics.cli import import_ as import_command

app = typer.Typer(
    name="trainlytics",
    help="Trainlytics: training-analytics database and sync backend.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

# Command groups ------------------------------------------------------------------------------
app.add_typer(config.app, name="config")
app.add_typer(db.app, name="db")
app.command("demo")(demo.demo_command)
app.command("serve")(serve.serve_command)
app.add_typer(tokens.app, name="tokens")
app.command("sync")(sync.sync_command)
app.command("worker")(worker.worker_command)
app.add_typer(users.app, name="users")
app.add_typer(stats.app, name="stats")
app.add_typer(athlete.app, name="athlete")
app.command("report")(report.report_command)
app.command("import")(import_command.import_command)
app.add_typer(legacy.app, name="legacy")
# More groups (demo, users, sync, ...) are mounted here: app.add_typer(<module>.app, name=...)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"trainlytics {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Show the version."
    ),
) -> None:
    """Trainlytics: training-analytics database and sync backend."""


if __name__ == "__main__":  # pragma: no cover
    app()
