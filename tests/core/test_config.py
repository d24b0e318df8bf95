# ruff: noqa: S105, S106 - test tokens and secrets are fake values
"""Settings.from_env: every invalid environment is named in the error, never its value."""

from __future__ import annotations

import base64

import pytest

from tests.core.conftest import keys_env, random_key
from trainlytics.config import Settings, parse_token_keys
from trainlytics.errors import ConfigError, ProviderNotConfiguredError
from trainlytics.providers import PROVIDER_CLASSES

KEY = random_key()


def base_env(**overrides: str) -> dict[str, str]:
    env = {
        "TRAINLYTICS_TOKEN_KEYS": keys_env(("k1", KEY)),
        "SUPABASE_JWT_SECRET": "jwt-secret-value-0123456789-0123456789",
        "TRAINLYTICS_FRONTEND_URL": "https://app.example.com/",
        "TRAINLYTICS_PUBLIC_URL": "https://api.example.com",
    }
    env.update(overrides)
    return {key: value for key, value in env.items() if value != "<unset>"}


def test_the_registry_names_all_six_providers() -> None:
    assert list(PROVIDER_CLASSES) == ["strava", "garmin", "polar", "coros", "wahoo", "fitbit"]


def test_minimal_environment_leaves_every_provider_unconfigured() -> None:
    settings = Settings.from_env(base_env())

    assert settings.providers == {}
    assert set(settings.unconfigured) == set(PROVIDER_CLASSES)
    assert settings.frontend_url == "https://app.example.com"
    assert settings.jwt_audience == "authenticated"
    assert settings.jwks_url is None
    assert settings.current_key_id == "k1"
    assert settings.refresh_margin_seconds == 300
    with pytest.raises(ProviderNotConfiguredError) as caught:
        settings.credentials("strava")
    assert caught.value.hint is not None
    assert "STRAVA_CLIENT_ID" in caught.value.hint


def test_a_configured_provider_gets_its_default_redirect_webhook_secret_and_extras() -> None:
    settings = Settings.from_env(
        base_env(
            STRAVA_CLIENT_ID="123",
            STRAVA_CLIENT_SECRET="s3cret",
            STRAVA_WEBHOOK_VERIFY_TOKEN="verify-me",
            STRAVA_SUBSCRIPTION_ID="777",
            POLAR_CLIENT_ID="p",
            POLAR_CLIENT_SECRET="ps",
            POLAR_REDIRECT_URI="https://elsewhere.example/polar",
        )
    )

    strava = settings.credentials("strava")
    assert strava.client_id == "123"
    assert strava.redirect_uri == "https://api.example.com/oauth/strava/callback"
    assert strava.webhook_secret == "verify-me"
    assert dict(strava.extra) == {"SUBSCRIPTION_ID": "777"}
    assert settings.credentials("polar").redirect_uri == "https://elsewhere.example/polar"
    assert "s3cret" not in repr(settings)
    assert "jwt-secret-value" not in repr(settings)


def test_jwks_url_defaults_from_the_supabase_url() -> None:
    settings = Settings.from_env(
        base_env(
            SUPABASE_JWT_SECRET="<unset>",
            SUPABASE_URL="https://abc.supabase.co/",
            SUPABASE_SERVICE_ROLE_KEY="service-key",
            SUPABASE_JWT_AUDIENCE="custom",
        )
    )
    assert settings.jwks_url == "https://abc.supabase.co/auth/v1/.well-known/jwks.json"
    assert settings.jwt_secret is None
    assert settings.jwt_audience == "custom"


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"TRAINLYTICS_TOKEN_KEYS": "<unset>"}, "TRAINLYTICS_TOKEN_KEYS is not set"),
        ({"TRAINLYTICS_TOKEN_KEYS": "nokey"}, "TRAINLYTICS_TOKEN_KEYS: entry 1"),
        ({"TRAINLYTICS_TOKEN_KEYS": "k1:%%%"}, "TRAINLYTICS_TOKEN_KEYS: key 'k1' is not valid"),
        (
            {"TRAINLYTICS_TOKEN_KEYS": "k1:" + base64.b64encode(b"x" * 16).decode()},
            "TRAINLYTICS_TOKEN_KEYS: key 'k1' is 16 bytes",
        ),
        (
            {"TRAINLYTICS_TOKEN_KEYS": keys_env(("k1", KEY), ("k1", KEY))},
            "TRAINLYTICS_TOKEN_KEYS: key id 'k1' appears twice",
        ),
        ({"SUPABASE_JWT_SECRET": "<unset>"}, "SUPABASE_JWT_SECRET nor SUPABASE_JWKS_URL"),
        ({"TRAINLYTICS_FRONTEND_URL": "<unset>"}, "TRAINLYTICS_FRONTEND_URL is not set"),
        ({"TRAINLYTICS_FRONTEND_URL": "app.example.com"}, "TRAINLYTICS_FRONTEND_URL is not an"),
        ({"SUPABASE_URL": "https://x.supabase.co"}, "SUPABASE_SERVICE_ROLE_KEY is not"),
        ({"SUPABASE_SERVICE_ROLE_KEY": "k"}, "SUPABASE_URL is not"),
        ({"SUPABASE_JWKS_URL": "ftp://x"}, "SUPABASE_JWKS_URL is not an"),
        ({"TRAINLYTICS_REFRESH_MARGIN_SECONDS": "soon"}, "TRAINLYTICS_REFRESH_MARGIN_SECONDS"),
        ({"GARMIN_CLIENT_ID": "g"}, "GARMIN_CLIENT_SECRET"),
        ({"GARMIN_CLIENT_SECRET": "hidden-value"}, "GARMIN_CLIENT_SECRET set but GARMIN_CLIENT_ID"),
        ({"WAHOO_WEBHOOK_TOKEN": "hidden-value"}, "WAHOO_WEBHOOK_TOKEN set but WAHOO_CLIENT_ID"),
        (
            {
                "TRAINLYTICS_PUBLIC_URL": "<unset>",
                "COROS_CLIENT_ID": "c",
                "COROS_CLIENT_SECRET": "cs",
            },
            "COROS_REDIRECT_URI nor TRAINLYTICS_PUBLIC_URL",
        ),
        (
            {
                "FITBIT_CLIENT_ID": "f",
                "FITBIT_CLIENT_SECRET": "fs",
                "FITBIT_REDIRECT_URI": "not a url",
            },
            "FITBIT_REDIRECT_URI is not an",
        ),
    ],
)
def test_invalid_settings_are_named(overrides: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(base_env(**overrides))
    assert named in caught.value.message
    assert "hidden-value" not in caught.value.message
    assert base64.b64encode(KEY).decode() not in caught.value.message


def test_the_first_key_is_current_and_the_others_decrypt() -> None:
    other = random_key()
    keys, current = parse_token_keys(keys_env(("new", other), ("old", KEY)))
    assert current == "new"
    assert keys == {"new": other, "old": KEY}


def test_from_env_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in base_env(WAHOO_CLIENT_ID="w", WAHOO_CLIENT_SECRET="ws").items():
        monkeypatch.setenv(key, value)
    assert "wahoo" in Settings.from_env().providers


def test_workers_need_no_jwt_or_frontend_settings() -> None:
    # Workers and the CLI verify no access token and redirect nobody.
    env = {"TRAINLYTICS_TOKEN_KEYS": "k1:" + base64.b64encode(KEY).decode()}
    settings = Settings.from_env(env, serving_http=False)
    assert settings.jwt_secret is None
    assert settings.frontend_url == ""
    with pytest.raises(ConfigError, match="SUPABASE_JWT_SECRET"):
        Settings.from_env(env)
