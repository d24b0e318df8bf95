"""``trainlytics users``: create athletes (through Supabase Auth on a Supabase project, in the
database otherwise), or invite them on Supabase.

``users create`` goes through the project's Auth admin API when ``SUPABASE_URL`` and
``SUPABASE_SERVICE_ROLE_KEY`` are set; without them it writes the user into the database
(``--database-url`` / ``DATABASE_URL`` / the embedded server) as Supabase Auth would, unless
that database is a Supabase project, where it says in one line what to set.
"""

from __future__ import annotations

import os
from typing import Annotated

import httpx
import typer

from trainlytics.cli.console import console, reporting_errors
from trainlytics.cli.readiness import ready_database_url
from trainlytics.db.database import connect, redact_url
from trainlytics.errors import TrainlyticsError
from trainlytics.users.auth_admin import (
    USER_ROLES,
    create_local_user,
    create_user_via_api,
    invite_user,
)

__all__ = ["app", "make_http_client"]

app = typer.Typer(help="Create or invite users (athletes, coaches, admins).", no_args_is_help=True)


def make_http_client() -> httpx.Client:
    """The HTTP client ``users invite`` talks to Supabase with (tests replace it)."""
    return httpx.Client(timeout=httpx.Timeout(30.0, connect=10.0))


@app.command("create")
def create_command(
    email: Annotated[str, typer.Argument(help="The user's email address.")],
    password: Annotated[
        str,
        typer.Option(
            "--password",
            envvar="TRAINLYTICS_USER_PASSWORD",
            show_envvar=True,
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            help="Their password (at least 6 characters). Prompted for when not given.",
        ),
    ],
    confirmed: Annotated[
        bool,
        typer.Option(
            "--confirmed/--unconfirmed",
            help="Mark the email as confirmed (can sign in at once) or not.",
        ),
    ] = True,
    first_name: Annotated[str | None, typer.Option("--first-name", help="First name.")] = None,
    last_name: Annotated[str | None, typer.Option("--last-name", help="Last name.")] = None,
    role: Annotated[
        str, typer.Option("--role", help="One of " + ", ".join(USER_ROLES) + ".")
    ] = "athlete",
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            envvar="DATABASE_URL",
            show_envvar=True,
            help="PostgreSQL URL (superuser), when SUPABASE_URL is not set. "
            "Default: the embedded server.",
        ),
    ] = None,
) -> None:
    """Create a user: through Supabase Auth when SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY are
    set, else in the database as Supabase Auth would (not on a Supabase project)."""
    with reporting_errors():
        supabase_url = os.environ.get("SUPABASE_URL", "").strip()
        service_key = os.environ.get("SUPABASE_SERVICE_ROLE_KEY", "").strip()
        if bool(supabase_url) != bool(service_key):
            missing = "SUPABASE_SERVICE_ROLE_KEY" if supabase_url else "SUPABASE_URL"
            present = "SUPABASE_URL" if supabase_url else "SUPABASE_SERVICE_ROLE_KEY"
            raise TrainlyticsError(
                f"{present} is set but {missing} is not",
                hint=f"set {missing} to create users through Supabase Auth, or unset {present} "
                "to create them in the database",
            )
        if supabase_url:
            with make_http_client() as http:
                created = create_user_via_api(
                    http,
                    supabase_url,
                    service_key,
                    email,
                    password,
                    confirmed=confirmed,
                    first_name=first_name,
                    last_name=last_name,
                    role=role,
                )
            state = "confirmed" if created.confirmed else "unconfirmed"
            console.print(
                f"created {created.role} [bold]{created.email}[/] ({created.id}), email "
                f"{state}, through Supabase Auth at {supabase_url.rstrip('/')}",
                soft_wrap=True,
            )
            return
        url = ready_database_url(database_url)
        with connect(url, autocommit=True) as conn:
            user = create_local_user(
                conn,
                email,
                password,
                confirmed=confirmed,
                first_name=first_name,
                last_name=last_name,
                role=role,
            )
    state = "confirmed" if user.confirmed else "unconfirmed"
    console.print(
        f"created {user.role} [bold]{user.email}[/] ({user.id}), email {state}, "
        f"on {redact_url(url)}",
        soft_wrap=True,
    )


@app.command("invite")
def invite_command(
    email: Annotated[str, typer.Argument(help="The address to invite.")],
    supabase_url: Annotated[
        str | None,
        typer.Option(
            "--supabase-url",
            envvar="SUPABASE_URL",
            show_envvar=True,
            help="The project URL, e.g. https://<ref>.supabase.co.",
        ),
    ] = None,
    redirect_to: Annotated[
        str | None,
        typer.Option("--redirect-to", help="Where the invitation link lands (allow-listed URL)."),
    ] = None,
    first_name: Annotated[str | None, typer.Option("--first-name", help="First name.")] = None,
    last_name: Annotated[str | None, typer.Option("--last-name", help="Last name.")] = None,
) -> None:
    """Invite someone through the Supabase Auth admin API (needs SUPABASE_URL and
    SUPABASE_SERVICE_ROLE_KEY); Supabase creates the user and emails the link."""
    with reporting_errors():
        service_key = os.environ.get("SUPABASE_SERVICE_ROLE_KEY", "").strip()
        if not supabase_url:
            raise TrainlyticsError(
                "SUPABASE_URL is not set",
                hint="invite needs a Supabase project; for the local database use "
                "`trainlytics users create`",
            )
        if not service_key:
            raise TrainlyticsError(
                "SUPABASE_SERVICE_ROLE_KEY is not set",
                hint="export the project's service role key (Project Settings → API keys)",
            )
        data = {
            key: value
            for key, value in (("first_name", first_name), ("last_name", last_name))
            if value
        }
        with make_http_client() as http:
            invited = invite_user(
                http, supabase_url, service_key, email, data=data, redirect_to=redirect_to
            )
    console.print(
        f"invited [bold]{invited.email}[/] ({invited.id}); Supabase emailed the link",
        soft_wrap=True,
    )
