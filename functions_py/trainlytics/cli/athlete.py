"""``trainlytics athlete show|set``: an athlete's settings without SQL.

Both act as the athlete (their JWT claims, role ``authenticated``) and call the RPCs the
frontend calls (``public.get_athlete_settings``, ``public.set_athlete_settings``,
``public.set_ftp``, ``public.remove_ftp``), so the database's validation and row-level security
decide; a refused value prints one line with its SQLSTATE.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer
from rich.table import Table

from trainlytics.cli.console import console, reporting_errors
from trainlytics.cli.readiness import ready_database_url
from trainlytics.db import store
from trainlytics.db.database import connect
from trainlytics.errors import TrainlyticsError
from trainlytics.report.data import find_athlete, parse_day

__all__ = ["app", "parse_pace", "parse_zone_list"]

app = typer.Typer(help="Show or change an athlete's settings (FTP, heart rates, zones, units).")

METRES_PER_MILE = 1609.344

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="DATABASE_URL",
        show_envvar=True,
        help="PostgreSQL URL. Default: the embedded server.",
    ),
]
User = Annotated[str, typer.Option("--user", help="The athlete's email.")]


def parse_pace(text: str, units: str) -> float:
    """``m:ss`` (optionally ``/km`` or ``/mi``; bare: the athlete's units) as seconds per km."""
    value = text.strip().lower()
    per = "mi" if units == "imperial" else "km"
    for suffix in ("/km", "/mi"):
        if value.endswith(suffix):
            per, value = suffix[1:], value[: -len(suffix)].strip()
    minutes, sep, seconds = value.partition(":")
    try:
        total = int(minutes) * 60 + (int(seconds) if sep else 0)
        if sep and not 0 <= int(seconds) < 60:
            raise ValueError
    except ValueError:
        raise TrainlyticsError(
            f"{text!r} is not a pace", hint="write minutes:seconds, e.g. 4:30/km or 7:15/mi"
        ) from None
    return round(total * 1000 / METRES_PER_MILE, 1) if per == "mi" else float(total)


def parse_zone_list(text: str, kind: str, units: str) -> list[float]:
    """A comma-separated list of zone boundaries (paces as m:ss) in the database's units."""
    parts = [p for p in (p.strip() for p in text.split(",")) if p]
    if not parts:
        raise TrainlyticsError(f"no {kind} zone boundaries in {text!r}", hint="e.g. 130,150,165")
    if kind == "pace":
        return [parse_pace(p, units) for p in parts]
    try:
        return [float(p) if "." in p else int(p) for p in parts]
    except ValueError:
        raise TrainlyticsError(
            f"{text!r} is not a list of numbers", hint="e.g. --power-zones 150,200,250"
        ) from None


def _shown(key: str, value: Any, units: str) -> str:
    if value is None or value == {}:
        return "-"
    if key == "threshold_pace":
        per_km = float(value)
        imperial = units == "imperial"
        minutes, seconds = divmod(
            round(per_km * METRES_PER_MILE / 1000 if imperial else per_km), 60
        )
        return f"{minutes}:{seconds:02d} /{'mi' if imperial else 'km'}"
    if key.endswith("heart_rate"):
        return f"{round(float(value))} bpm"
    if key == "ftp_w":
        return f"{round(float(value))} W"
    if key == "zones":
        return "; ".join(f"{k}: {', '.join(str(b) for b in v)}" for k, v in value.items())
    return str(value)


def _day(text: str) -> dt.date:
    day = parse_day(text)
    if day is None:  # parse_day returns None only for None
        raise TrainlyticsError("a date is needed", hint="YYYY-MM-DD")
    return day


@app.command("show")
def show_command(
    user: User,
    as_user: Annotated[
        str | None,
        typer.Option("--as", help="Read as this user (e.g. a coach), under their access."),
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Show the settings in effect, where each comes from, and the FTP history."""
    with reporting_errors():
        url = ready_database_url(database_url)
        with connect(url, autocommit=True) as conn:
            athlete = find_athlete(conn, user)
            reader = find_athlete(conn, as_user).id if as_user else None
            settings = store.get_athlete_settings(conn, athlete.id, reader=reader)
        if settings is None:
            raise TrainlyticsError(
                f"{as_user} may not read {user}'s settings",
                hint="a coach needs an active grant from the athlete",
            )
    table = Table(title=f"settings of {athlete.display_name}")
    table.add_column("setting")
    table.add_column("value")
    table.add_column("from", style="dim")
    for key, value in settings.values.items():
        table.add_row(key, _shown(key, value, settings.units), settings.sources.get(key, ""))
    console.print(table)
    if settings.ftp_history:
        history = Table(title="FTP history")
        history.add_column("effective from")
        history.add_column("FTP")
        for entry in settings.ftp_history:
            history.add_row(entry.effective_from.isoformat(), f"{entry.ftp_w} W")
        console.print(history)


@app.command("set")
def set_command(
    user: User,
    ftp: Annotated[int | None, typer.Option("--ftp", help="Cycling FTP in W.")] = None,
    effective_from: Annotated[
        str | None,
        typer.Option("--from", help="First day the --ftp applies (YYYY-MM-DD). Default: today."),
    ] = None,
    remove_ftp: Annotated[
        str | None,
        typer.Option("--remove-ftp", help="Remove the FTP entry effective from this day."),
    ] = None,
    max_hr: Annotated[int | None, typer.Option("--max-hr", help="Maximum heart rate, bpm.")] = None,
    resting_hr: Annotated[
        int | None, typer.Option("--resting-hr", help="Resting heart rate, bpm.")
    ] = None,
    threshold_hr: Annotated[
        int | None, typer.Option("--threshold-hr", help="Threshold heart rate, bpm.")
    ] = None,
    threshold_pace: Annotated[
        str | None,
        typer.Option("--threshold-pace", help="Threshold pace m:ss, /km or /mi (e.g. 4:30/km)."),
    ] = None,
    sex: Annotated[str | None, typer.Option("--sex", help="female or male (TRIMP).")] = None,
    timezone: Annotated[
        str | None, typer.Option("--timezone", help="IANA time zone, e.g. Europe/Paris.")
    ] = None,
    units: Annotated[str | None, typer.Option("--units", help="metric or imperial.")] = None,
    hr_zones: Annotated[
        str | None, typer.Option("--hr-zones", help="Heart-rate zone bounds, e.g. 130,150,165.")
    ] = None,
    power_zones: Annotated[
        str | None, typer.Option("--power-zones", help="Power zone bounds in W, e.g. 150,200.")
    ] = None,
    pace_zones: Annotated[
        str | None, typer.Option("--pace-zones", help="Pace zone bounds, slowest first: 6:00,5:00.")
    ] = None,
    clear: Annotated[
        list[str] | None,
        typer.Option(
            "--clear",
            help="Unset a setting (repeatable): "
            + ", ".join(store.SETTING_KEYS)
            + ", or zones.heart_rate / zones.power / zones.pace.",
        ),
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Change settings; every value is checked by the database and a refusal changes nothing."""
    with reporting_errors():
        url = ready_database_url(database_url)
        with connect(url, autocommit=True) as conn:
            athlete = find_athlete(conn, user)
            current = store.get_athlete_settings(conn, athlete.id)
            shown_units = units or (current.units if current else "metric")
            changes: dict[str, Any] = dict.fromkeys(clear or [])
            for key, value in (
                ("max_heart_rate", max_hr),
                ("resting_heart_rate", resting_hr),
                ("threshold_heart_rate", threshold_hr),
                ("sex", sex),
                ("timezone", timezone),
                ("units", units),
            ):
                if value is not None:
                    changes[key] = value
            if threshold_pace is not None:
                changes["threshold_pace"] = parse_pace(threshold_pace, shown_units)
            zones = {
                kind: parse_zone_list(text, kind, shown_units)
                for kind, text in (
                    ("heart_rate", hr_zones),
                    ("power", power_zones),
                    ("pace", pace_zones),
                )
                if text is not None
            }
            if zones:
                changes["zones"] = zones
            if effective_from is not None and ftp is None:
                raise TrainlyticsError(
                    "--from needs --ftp", hint="e.g. --ftp 250 --from 2026-01-01"
                )
            if not changes and ftp is None and remove_ftp is None:
                raise TrainlyticsError(
                    "nothing to change", hint="see `trainlytics athlete set --help`"
                )
            # One transaction: a refused value leaves every setting as it was.
            with conn.transaction():
                if changes:
                    store.set_athlete_settings(conn, athlete.id, changes)
                if ftp is not None:
                    store.set_ftp(conn, athlete.id, ftp, parse_day(effective_from))
                if remove_ftp is not None:
                    store.remove_ftp(conn, athlete.id, _day(remove_ftp))
    done = sorted(changes) + (["ftp"] if ftp is not None else [])
    done += [f"removed FTP of {remove_ftp}"] if remove_ftp else []
    when = f" from {effective_from or dt.date.today().isoformat()}" if ftp is not None else ""
    console.print(
        f"settings of [bold]{athlete.display_name}[/] changed: {', '.join(done)}{when}",
        soft_wrap=True,
    )
