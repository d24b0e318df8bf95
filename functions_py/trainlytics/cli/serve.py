"""``trainlytics serve``: run the HTTP app (connections, OAuth callbacks, webhooks) with uvicorn.

Configuration comes from the environment (:mod:`trainlytics.config`); it is validated before
the server binds, and a bad setting is one red line naming the variable. uvicorn's access log
is off: it would print callback query strings, which carry authorization codes; the app logs
each request's method, path (without query) and status instead.
"""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from trainlytics.cli.console import reporting_errors
from trainlytics.db.embedded import stop_all_embedded


def serve_command(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Serve the HTTP app: provider connections, OAuth callbacks, webhooks, /health."""
    import uvicorn

    from trainlytics.api.app import create_app_from_env

    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    with reporting_errors():
        app = create_app_from_env()
    # uvicorn re-raises SIGTERM/SIGINT after its graceful shutdown, so the process dies by the
    # signal and interpreter-exit handlers never run: release the embedded server's handle at
    # shutdown, or the server outlives `serve`.
    app.router.add_event_handler("shutdown", stop_all_embedded)
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)
