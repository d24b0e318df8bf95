"""Settings read from the environment, validated once at start with messages naming the variable.

API
---
- ``Settings.from_env(env: Mapping[str, str] | None = None) -> Settings`` — reads ``os.environ``
  when ``env`` is None; raises ``ConfigError`` (message names the variable, never its value).
- ``Settings.credentials(provider) -> ProviderCredentials`` — or ``ProviderNotConfiguredError``.
- ``Settings.token_cipher() -> TokenCipher`` — the AES-GCM cipher over ``TRAINLYTICS_TOKEN_KEYS``.
- ``parse_token_keys(value, variable=TOKEN_KEYS_ENV) -> tuple[dict[str, bytes], str]`` — keys by
  id and the current key id (the first); also used by ``trainlytics tokens rotate-key``.

Variables
---------
``TRAINLYTICS_TOKEN_KEYS`` (required)
    Comma-separated ``kid:base64(32 bytes)``; the first is the current key, the others are only
    used to decrypt rows not yet re-encrypted (``trainlytics tokens rotate-key``).
``SUPABASE_URL``, ``SUPABASE_SERVICE_ROLE_KEY``
    The project's API (PostgREST ``rpc`` transport). Set both or neither.
``SUPABASE_JWT_SECRET`` / ``SUPABASE_JWKS_URL``
    How access tokens are verified: HS256 with the secret, and/or RS256/ES256 with the JWKS
    (default ``${SUPABASE_URL}/auth/v1/.well-known/jwks.json``). At least one is required.
``SUPABASE_JWT_AUDIENCE`` (default ``authenticated``)
``TRAINLYTICS_FRONTEND_URL`` (required): where the OAuth callback sends the athlete back.
``TRAINLYTICS_PUBLIC_URL``: this service's public base URL; the default redirect URI of a
    provider is ``${TRAINLYTICS_PUBLIC_URL}/oauth/<name>/callback``. Required when a configured
    provider has no ``<NAME>_REDIRECT_URI``.
``TRAINLYTICS_REFRESH_MARGIN_SECONDS`` (default 300): refresh tokens expiring within this.
Per provider ``<NAME>_CLIENT_ID``, ``<NAME>_CLIENT_SECRET``, ``<NAME>_REDIRECT_URI``,
    ``<NAME>_<webhook_secret_setting>``, ``<NAME>_<extra>``. No client id (and nothing else
    set) = unconfigured; partly set = ConfigError at start.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from trainlytics.errors import ConfigError, ProviderNotConfiguredError
from trainlytics.providers.base import Provider, ProviderCredentials

if TYPE_CHECKING:
    from trainlytics.connections.crypto import TokenCipher

__all__ = [
    "TOKEN_KEYS_ENV",
    "Settings",
    "parse_token_keys",
]

TOKEN_KEYS_ENV = "TRAINLYTICS_TOKEN_KEYS"  # noqa: S105 - a variable name
KEY_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
KEY_BYTES = 32
DEFAULT_JWT_AUDIENCE = "authenticated"
DEFAULT_REFRESH_MARGIN_SECONDS = 300.0


def parse_token_keys(
    value: str | None, variable: str = TOKEN_KEYS_ENV
) -> tuple[dict[str, bytes], str]:
    """Parse ``kid:base64key,kid2:base64key2``; returns (keys by id, current key id)."""
    if value is None or not value.strip():
        raise ConfigError(
            f"{variable} is not set",
            hint=f"set {variable}=<key id>:<base64 of 32 random bytes>, e.g. generated with "
            'python -c \'import os,base64; print("k1:" + base64.b64encode(os.urandom(32))'
            ".decode())'",
        )
    keys: dict[str, bytes] = {}
    current: str | None = None
    for position, entry in enumerate(value.split(","), start=1):
        entry = entry.strip()
        kid, sep, encoded = entry.partition(":")
        kid = kid.strip()
        if not sep or not KEY_ID_PATTERN.match(kid):
            raise ConfigError(
                f"{variable}: entry {position} is not <key id>:<base64 key>",
                hint="key ids are 1-64 characters of letters, digits, '_', '.', '-'",
            )
        if kid in keys:
            raise ConfigError(f"{variable}: key id {kid!r} appears twice")
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise ConfigError(f"{variable}: key {kid!r} is not valid base64") from None
        if len(key) != KEY_BYTES:
            raise ConfigError(
                f"{variable}: key {kid!r} is {len(key)} bytes, expected {KEY_BYTES} (AES-256)"
            )
        keys[kid] = key
        current = current or kid
    assert current is not None  # noqa: S101 - split always yields at least one entry
    return keys, current


@dataclass(frozen=True)
class Settings:
    """Validated configuration. ``repr`` shows no secret."""

    token_keys: Mapping[str, bytes] = field(repr=False)
    current_key_id: str
    frontend_url: str
    jwt_audience: str = DEFAULT_JWT_AUDIENCE
    jwt_secret: str | None = field(default=None, repr=False)
    jwks_url: str | None = None
    supabase_url: str | None = None
    supabase_service_role_key: str | None = field(default=None, repr=False)
    public_url: str | None = None
    database_url: str | None = field(default=None, repr=False)
    refresh_margin_seconds: float = DEFAULT_REFRESH_MARGIN_SECONDS
    #: Configured providers only, by name.
    providers: Mapping[str, ProviderCredentials] = field(default_factory=dict)
    #: Unconfigured providers → the variables that would configure them.
    unconfigured: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        provider_classes: Mapping[str, type[Provider]] | None = None,
        serving_http: bool = True,
    ) -> Settings:
        """Read and validate the environment (``os.environ`` when ``env`` is None).

        ``serving_http=False`` is for workers and the CLI: they verify no access token and
        redirect nobody, so the JWT and frontend settings are optional there."""
        if env is None:
            env = os.environ
        if provider_classes is None:
            from trainlytics.providers import PROVIDER_CLASSES

            provider_classes = PROVIDER_CLASSES

        def get(name: str) -> str | None:
            value = env.get(name)
            return value.strip() if value is not None and value.strip() else None

        keys, current = parse_token_keys(env.get(TOKEN_KEYS_ENV))

        supabase_url = _url(get("SUPABASE_URL"), "SUPABASE_URL")
        service_key = get("SUPABASE_SERVICE_ROLE_KEY")
        if service_key and not supabase_url:
            raise ConfigError("SUPABASE_SERVICE_ROLE_KEY is set but SUPABASE_URL is not")
        if supabase_url and not service_key:
            raise ConfigError(
                "SUPABASE_URL is set but SUPABASE_SERVICE_ROLE_KEY is not",
                hint="the service role key is under Project Settings → API keys",
            )

        jwt_secret = get("SUPABASE_JWT_SECRET")
        jwks_url = _url(get("SUPABASE_JWKS_URL"), "SUPABASE_JWKS_URL")
        if jwks_url is None and supabase_url is not None:
            jwks_url = f"{supabase_url}/auth/v1/.well-known/jwks.json"
        if serving_http and jwt_secret is None and jwks_url is None:
            raise ConfigError(
                "neither SUPABASE_JWT_SECRET nor SUPABASE_JWKS_URL (or SUPABASE_URL) is set",
                hint="access tokens cannot be verified without one of them",
            )
        audience = get("SUPABASE_JWT_AUDIENCE") or DEFAULT_JWT_AUDIENCE

        frontend_url = _url(get("TRAINLYTICS_FRONTEND_URL"), "TRAINLYTICS_FRONTEND_URL")
        if frontend_url is None and serving_http:
            raise ConfigError(
                "TRAINLYTICS_FRONTEND_URL is not set",
                hint="the OAuth callback redirects the athlete there",
            )
        public_url = _url(get("TRAINLYTICS_PUBLIC_URL"), "TRAINLYTICS_PUBLIC_URL")

        margin_text = get("TRAINLYTICS_REFRESH_MARGIN_SECONDS")
        margin = DEFAULT_REFRESH_MARGIN_SECONDS
        if margin_text is not None:
            try:
                margin = float(margin_text)
            except ValueError:
                raise ConfigError("TRAINLYTICS_REFRESH_MARGIN_SECONDS is not a number") from None
            if not 0 <= margin <= 86_400:
                raise ConfigError("TRAINLYTICS_REFRESH_MARGIN_SECONDS must be 0-86400")

        providers: dict[str, ProviderCredentials] = {}
        unconfigured: dict[str, tuple[str, ...]] = {}
        for name, provider_class in provider_classes.items():
            credentials = _provider_credentials(name, provider_class, get, public_url)
            if credentials is None:
                prefix = name.upper()
                unconfigured[name] = (f"{prefix}_CLIENT_ID", f"{prefix}_CLIENT_SECRET")
            else:
                providers[name] = credentials

        return cls(
            token_keys=keys,
            current_key_id=current,
            frontend_url=frontend_url or "",
            jwt_audience=audience,
            jwt_secret=jwt_secret,
            jwks_url=jwks_url,
            supabase_url=supabase_url,
            supabase_service_role_key=service_key,
            public_url=public_url,
            database_url=get("DATABASE_URL"),
            refresh_margin_seconds=margin,
            providers=providers,
            unconfigured=unconfigured,
        )

    def credentials(self, provider: str) -> ProviderCredentials:
        """The provider's credentials, or ProviderNotConfiguredError naming what to set."""
        credentials = self.providers.get(provider)
        if credentials is None:
            missing = self.unconfigured.get(provider)
            if missing is None:
                prefix = provider.upper()
                missing = (f"{prefix}_CLIENT_ID", f"{prefix}_CLIENT_SECRET")
            raise ProviderNotConfiguredError(provider, list(missing))
        return credentials

    def token_cipher(self) -> TokenCipher:
        from trainlytics.connections.crypto import TokenCipher

        return TokenCipher(self.token_keys, self.current_key_id)


def _url(value: str | None, variable: str) -> str | None:
    """An absolute http(s) URL without trailing slash, or ConfigError naming the variable."""
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"{variable} is not an absolute http(s) URL", hint="e.g. https://example.com"
        )
    return value.rstrip("/")


def _provider_credentials(
    name: str,
    provider_class: type[Provider],
    get: Callable[[str], str | None],
    public_url: str | None,
) -> ProviderCredentials | None:
    prefix = name.upper()
    client_id_var, secret_var, redirect_var = (
        f"{prefix}_CLIENT_ID",
        f"{prefix}_CLIENT_SECRET",
        f"{prefix}_REDIRECT_URI",
    )
    webhook_var = (
        f"{prefix}_{provider_class.webhook_secret_setting}"
        if provider_class.webhook_secret_setting
        else None
    )
    extra_vars = [f"{prefix}_{suffix}" for suffix in provider_class.extra_settings]
    client_id, client_secret = get(client_id_var), get(secret_var)
    redirect_uri = _url(get(redirect_var), redirect_var)
    webhook_secret = get(webhook_var) if webhook_var else None
    extra = {
        suffix: value
        for suffix in provider_class.extra_settings
        if (value := get(f"{prefix}_{suffix}")) is not None
    }

    if client_id is None:
        others = [
            var
            for var in (secret_var, redirect_var, webhook_var, *extra_vars)
            if var is not None and get(var) is not None
        ]
        if others:
            raise ConfigError(
                f"{name} is half-configured: {', '.join(others)} set but {client_id_var} is not",
                hint=f"set {client_id_var} too, or unset the others to leave {name} off",
            )
        return None
    if client_secret is None:
        raise ConfigError(
            f"{name} is half-configured: {client_id_var} is set but {secret_var} is not"
        )
    if redirect_uri is None:
        if public_url is None:
            raise ConfigError(
                f"{name}: neither {redirect_var} nor TRAINLYTICS_PUBLIC_URL is set",
                hint="the redirect URI must be registered with the provider",
            )
        redirect_uri = f"{public_url}/oauth/{name}/callback"
    return ProviderCredentials(
        client_id=client_id,
        client_secret=client_secret,
        redirect_uri=redirect_uri,
        webhook_secret=webhook_secret,
        extra=extra,
    )
