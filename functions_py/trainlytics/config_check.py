"""What this deployment has configured, feature by feature (``trainlytics config check``).

:func:`check_environment` reads the same variables as :mod:`trainlytics.config` (and the
database resolution of :mod:`trainlytics.db.database`) and reports, for each feature, whether it
is ready, missing (with the variables to set), off (optional and not configured) or invalid
(with the message naming the variable). It never prints a secret's value.
:func:`serve_missing` lists, in one go, what ``trainlytics serve`` still needs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from trainlytics.config import (
    DEFAULT_REFRESH_MARGIN_SECONDS,
    TOKEN_KEYS_ENV,
    _provider_credentials,
    _url,
    parse_token_keys,
)
from trainlytics.db.database import DATABASE_URL_ENV, redact_url
from trainlytics.db.embedded import DATA_DIR_ENV, default_data_dir
from trainlytics.errors import ConfigError

__all__ = ["FeatureCheck", "State", "check_environment", "serve_missing"]

State = Literal["ready", "missing", "off", "invalid"]


@dataclass(frozen=True)
class FeatureCheck:
    feature: str
    needed_by: str
    state: State
    detail: str


def _get(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    return value.strip() if value is not None and value.strip() else None


def _url_state(env: Mapping[str, str], name: str) -> tuple[str | None, str | None]:
    """(the URL, None) or (None, the error message) for an optional URL variable."""
    try:
        return _url(_get(env, name), name), None
    except ConfigError as exc:
        return None, exc.message


def serve_missing(env: Mapping[str, str] | None = None) -> list[str]:
    """The settings ``trainlytics serve`` needs that are not set (presence only; their values
    are validated when the app starts)."""
    env = os.environ if env is None else env
    missing = []
    if _get(env, TOKEN_KEYS_ENV) is None:
        missing.append(TOKEN_KEYS_ENV)
    if not any(_get(env, n) for n in ("SUPABASE_JWT_SECRET", "SUPABASE_JWKS_URL", "SUPABASE_URL")):
        missing.append("SUPABASE_JWT_SECRET (or SUPABASE_JWKS_URL, or SUPABASE_URL)")
    if _get(env, "TRAINLYTICS_FRONTEND_URL") is None:
        missing.append("TRAINLYTICS_FRONTEND_URL")
    return missing


def check_environment(env: Mapping[str, str] | None = None) -> list[FeatureCheck]:
    """Every feature's configuration state, in a fixed order."""
    env = os.environ if env is None else env
    checks: list[FeatureCheck] = []
    add = checks.append

    # Database -------------------------------------------------------------------------------
    database_url = _get(env, DATABASE_URL_ENV)
    supabase_url, supabase_url_error = _url_state(env, "SUPABASE_URL")
    service_key = _get(env, "SUPABASE_SERVICE_ROLE_KEY")
    if database_url:
        add(FeatureCheck("database", "every command", "ready", redact_url(database_url)))
    else:
        data_dir = default_data_dir()
        detail = f"embedded PostgreSQL in {data_dir / 'postgres'} (set {DATABASE_URL_ENV} for"
        detail += " another server, e.g. a Supabase project's direct connection string)"
        if supabase_url and service_key:
            detail += "; serve reaches the database through the Supabase API (rpc)"
        if _get(env, DATA_DIR_ENV):
            detail += f"; {DATA_DIR_ENV} set"
        add(FeatureCheck("database", "every command", "ready", detail))

    # Token encryption -------------------------------------------------------------------------
    needed = "serve, worker, sync, tokens rotate-key"
    try:
        keys, current = parse_token_keys(env.get(TOKEN_KEYS_ENV))
        add(
            FeatureCheck(
                "token encryption",
                needed,
                "ready",
                f"{len(keys)} key(s), current {current!r}",
            )
        )
    except ConfigError as exc:
        if _get(env, TOKEN_KEYS_ENV) is None:
            detail = f"set {TOKEN_KEYS_ENV}=<key id>:<base64 of 32 random bytes> (.env.example)"
            add(FeatureCheck("token encryption", needed, "missing", detail))
        else:
            add(FeatureCheck("token encryption", needed, "invalid", exc.message))

    # Access tokens of the frontend --------------------------------------------------------------
    jwks_url, jwks_error = _url_state(env, "SUPABASE_JWKS_URL")
    secret = _get(env, "SUPABASE_JWT_SECRET")
    if jwks_error or supabase_url_error:
        add(
            FeatureCheck(
                "access-token verification",
                "serve",
                "invalid",
                jwks_error or supabase_url_error or "",
            )
        )
    elif secret or jwks_url or supabase_url:
        ways = []
        if secret:
            ways.append("HS256 with SUPABASE_JWT_SECRET")
        if jwks_url or supabase_url:
            ways.append(f"JWKS at {jwks_url or f'{supabase_url}/auth/v1/.well-known/jwks.json'}")
        audience = _get(env, "SUPABASE_JWT_AUDIENCE") or "authenticated"
        add(
            FeatureCheck(
                "access-token verification",
                "serve",
                "ready",
                " and ".join(ways) + f"; audience {audience}",
            )
        )
    else:
        add(
            FeatureCheck(
                "access-token verification",
                "serve",
                "missing",
                "set SUPABASE_JWT_SECRET (legacy HS256 secret) or SUPABASE_JWKS_URL / SUPABASE_URL",
            )
        )

    # Redirects --------------------------------------------------------------------------------
    frontend_url, frontend_error = _url_state(env, "TRAINLYTICS_FRONTEND_URL")
    if frontend_error:
        add(FeatureCheck("frontend redirect", "serve", "invalid", frontend_error))
    elif frontend_url:
        add(FeatureCheck("frontend redirect", "serve", "ready", frontend_url))
    else:
        add(
            FeatureCheck(
                "frontend redirect",
                "serve",
                "missing",
                "set TRAINLYTICS_FRONTEND_URL (where the OAuth callback sends the athlete back)",
            )
        )
    public_url, public_error = _url_state(env, "TRAINLYTICS_PUBLIC_URL")
    if public_error:
        add(FeatureCheck("public URL", "provider redirect URIs", "invalid", public_error))
    elif public_url:
        add(FeatureCheck("public URL", "provider redirect URIs", "ready", public_url))
    else:
        add(
            FeatureCheck(
                "public URL",
                "provider redirect URIs",
                "off",
                "TRAINLYTICS_PUBLIC_URL unset: each provider needs <NAME>_REDIRECT_URI",
            )
        )

    # Supabase project API ---------------------------------------------------------------------
    needed = "users create / invite through Supabase Auth; serve without DATABASE_URL"
    if supabase_url_error:
        add(FeatureCheck("Supabase project API", needed, "invalid", supabase_url_error))
    elif supabase_url and service_key:
        kind = "secret key" if service_key.startswith("sb_secret_") else "service_role JWT"
        add(FeatureCheck("Supabase project API", needed, "ready", f"{supabase_url} ({kind})"))
    elif supabase_url or service_key:
        have, lack = (
            ("SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY")
            if supabase_url
            else ("SUPABASE_SERVICE_ROLE_KEY", "SUPABASE_URL")
        )
        add(FeatureCheck("Supabase project API", needed, "invalid", f"{have} set, {lack} not"))
    else:
        add(
            FeatureCheck(
                "Supabase project API",
                needed,
                "off",
                "set SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY; users create writes the local "
                "database meanwhile, users invite is unavailable",
            )
        )

    # Refresh margin ---------------------------------------------------------------------------
    margin = _get(env, "TRAINLYTICS_REFRESH_MARGIN_SECONDS")
    if margin is not None:
        try:
            ok = 0 <= float(margin) <= 86_400
        except ValueError:
            ok = False
        add(
            FeatureCheck(
                "token refresh margin",
                "worker, sync, serve",
                "ready" if ok else "invalid",
                f"{margin} s" if ok else "TRAINLYTICS_REFRESH_MARGIN_SECONDS must be 0-86400",
            )
        )
    else:
        add(
            FeatureCheck(
                "token refresh margin",
                "worker, sync, serve",
                "ready",
                f"default {DEFAULT_REFRESH_MARGIN_SECONDS:.0f} s",
            )
        )

    # Providers --------------------------------------------------------------------------------
    from trainlytics.providers import PROVIDER_CLASSES

    def get(name: str) -> str | None:
        return _get(env, name)

    for name, provider_class in PROVIDER_CLASSES.items():
        prefix = name.upper()
        feature = f"provider {name}"
        needed = "connect, callback, sync, webhooks"
        try:
            public = public_url if not public_error else None
            credentials = _provider_credentials(name, provider_class, get, public)
        except ConfigError as exc:
            add(FeatureCheck(feature, needed, "invalid", exc.message))
            continue
        if credentials is None:
            add(
                FeatureCheck(
                    feature, needed, "off", f"set {prefix}_CLIENT_ID and {prefix}_CLIENT_SECRET"
                )
            )
            continue
        detail = f"redirect URI {credentials.redirect_uri}"
        setting = provider_class.webhook_secret_setting
        if setting:
            detail += (
                "; webhooks verified"
                if credentials.webhook_secret
                else f"; webhooks refused until {prefix}_{setting} is set"
            )
        for extra in provider_class.extra_settings:
            if extra not in credentials.extra:
                detail += f"; {prefix}_{extra} unset"
        add(FeatureCheck(feature, needed, "ready", detail))
    return checks
