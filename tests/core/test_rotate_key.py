# ruff: noqa: S106 - test tokens and secrets are fake values
"""`trainlytics tokens rotate-key` re-encrypts every stored token under the current key, in
batches, idempotently — on a real database of its own (it touches every row)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import psycopg
from typer.testing import CliRunner

from tests.core.conftest import identity, keys_env, random_key
from tests.helpers import create_auth_user
from trainlytics.cli.main import app
from trainlytics.connections.crypto import TokenCipher
from trainlytics.db.gateway import PsycopgGateway
from trainlytics.db.store import ConnectionStore, ResealedRevocation
from trainlytics.providers.base import TokenSet

runner = CliRunner()
PROVIDERS = ("strava", "garmin", "polar", "coros", "wahoo")


def test_rotate_key_reencrypts_every_row_and_a_second_run_does_nothing(
    make_migrated_database: Callable[[], str],
) -> None:
    url = make_migrated_database()
    old, new = random_key(), random_key()
    old_cipher = TokenCipher({"old": old}, "old")
    expected: dict[int, tuple[uuid.UUID, str, str, str | None]] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        store = ConnectionStore(PsycopgGateway(conn))
        for index, provider in enumerate(PROVIDERS):
            user = create_auth_user(conn, f"{uuid.uuid4().hex}@example.com")
            refresh = None if provider == "polar" else f"refresh-{index}"
            result = store.upsert_connection(
                user_id=user,
                provider=provider,
                identity=identity(f"{provider}-{index}"),
                sealed=old_cipher.seal(
                    TokenSet(
                        access_token=f"access-{index}",
                        refresh_token=refresh,
                        expires_at=datetime.now(UTC) + timedelta(hours=1),
                    ),
                    user_id=user,
                    provider=provider,
                ),
            )
            assert result.connection_id is not None
            expected[result.connection_id] = (user, provider, f"access-{index}", refresh)

        env = {"TRAINLYTICS_TOKEN_KEYS": keys_env(("new", new), ("old", old))}
        args = ["tokens", "rotate-key", "--database-url", url, "--batch-size", "2"]
        first = runner.invoke(app, args, env=env)
        second = runner.invoke(app, args, env=env)

        assert first.exit_code == 0, first.output
        assert "5 re-encrypted, 0 changed concurrently" in first.output
        assert second.exit_code == 0, second.output
        assert "0 re-encrypted" in second.output
        key_ids = conn.execute("select distinct key_id from private.provider_tokens").fetchall()
        assert key_ids == [("new",)]
        new_only = TokenCipher({"new": new}, "new")
        for connection_id, (user, provider, access, refresh) in expected.items():
            stored = store.get_tokens(connection_id)
            assert stored is not None
            assert stored.sealed is not None
            assert stored.version == 2
            opened = new_only.open(stored.sealed, user_id=user, provider=provider)
            assert (opened.access_token, opened.refresh_token) == (access, refresh)


def test_rotate_key_without_the_old_key_fails_in_one_line_and_changes_nothing(
    make_migrated_database: Callable[[], str],
) -> None:
    url = make_migrated_database()
    old, new = random_key(), random_key()
    with psycopg.connect(url, autocommit=True) as conn:
        user = create_auth_user(conn, f"{uuid.uuid4().hex}@example.com")
        ConnectionStore(PsycopgGateway(conn)).upsert_connection(
            user_id=user,
            provider="strava",
            identity=identity(),
            sealed=TokenCipher({"old": old}, "old").seal(
                TokenSet(access_token="a"), user_id=user, provider="strava"
            ),
        )

        result = runner.invoke(
            app,
            ["tokens", "rotate-key", "--database-url", url],
            env={"TRAINLYTICS_TOKEN_KEYS": keys_env(("new", new))},
        )

        assert result.exit_code == 1
        assert "Traceback" not in result.output
        assert "'old'" in result.output
        key_ids = conn.execute("select key_id from private.provider_tokens").fetchall()
        assert key_ids == [("old",)]


def test_rotate_key_names_a_missing_key_variable() -> None:
    result = runner.invoke(
        app,
        ["tokens", "rotate-key", "--database-url", "postgresql://nowhere:1/x"],
        env={"TRAINLYTICS_TOKEN_KEYS": ""},
    )
    assert result.exit_code == 1
    assert "TRAINLYTICS_TOKEN_KEYS is not set" in result.output


def test_rotate_key_reencrypts_tokens_queued_for_revocation_so_retiring_the_old_key_loses_none(
    make_migrated_database: Callable[[], str],
) -> None:
    """Threat: a disconnected athlete's tokens, still queued for revocation, sealed with a key
    the operator retires after `rotate-key` — unreadable, so never revoked at the provider."""
    url = make_migrated_database()
    old, new = random_key(), random_key()
    old_cipher = TokenCipher({"old": old}, "old")
    queued: dict[int, tuple[uuid.UUID, str, str]] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        store = ConnectionStore(PsycopgGateway(conn))
        for index, provider in enumerate(PROVIDERS):
            user = create_auth_user(conn, f"{uuid.uuid4().hex}@example.com")
            result = store.upsert_connection(
                user_id=user,
                provider=provider,
                identity=identity(f"{provider}-{index}"),
                sealed=old_cipher.seal(
                    TokenSet(access_token=f"access-{index}", refresh_token=f"refresh-{index}"),
                    user_id=user,
                    provider=provider,
                ),
            )
            assert result.connection_id is not None
            if index % 2 == 0:  # disconnected: the tokens wait in the revocation queue
                store.disconnect(result.connection_id, delete_activities=False)
                queued[result.connection_id] = (user, provider, f"access-{index}")
        assert conn.execute("select count(*) from private.token_revocations").fetchone() == (
            len(queued),
        )

        env = {"TRAINLYTICS_TOKEN_KEYS": keys_env(("new", new), ("old", old))}
        args = ["tokens", "rotate-key", "--database-url", url, "--batch-size", "2"]
        first = runner.invoke(app, args, env=env)
        second = runner.invoke(app, args, env=env)

        assert first.exit_code == 0, first.output
        assert "5 re-encrypted, 0 changed concurrently" in first.output
        assert f"{len(queued)} of the re-encrypted rows are tokens of disconnected" in first.output
        assert "0 re-encrypted" in second.output
        key_ids = conn.execute("select distinct key_id from private.token_revocations").fetchall()
        assert key_ids == [("new",)]
        # The old key retired: every queued revocation still opens (the sweep can revoke it).
        new_only = TokenCipher({"new": new}, "new")
        claimed = store.claim_revocations(None, 100)
        assert {row.connection_id for row in claimed} == set(queued)
        for row in claimed:
            user, provider, access = queued[row.connection_id]
            assert new_only.open(row.sealed, user_id=user, provider=provider).access_token == access


def test_rotation_of_a_queued_revocation_leaves_a_row_changed_meanwhile_alone(
    make_migrated_database: Callable[[], str],
) -> None:
    url = make_migrated_database()
    old_cipher = TokenCipher({"old": random_key()}, "old")
    with psycopg.connect(url, autocommit=True) as conn:
        store = ConnectionStore(PsycopgGateway(conn))
        user = create_auth_user(conn, f"{uuid.uuid4().hex}@example.com")
        result = store.upsert_connection(
            user_id=user,
            provider="strava",
            identity=identity(),
            sealed=old_cipher.seal(TokenSet(access_token="a"), user_id=user, provider="strava"),
        )
        assert result.connection_id is not None
        store.disconnect(result.connection_id, delete_activities=False)
        (row,) = store.revocations_for_rotation("new", 0, 10)
        assert row.remaining == 1
        resealed = ResealedRevocation(row.revocation_id, "someone-else", row.sealed)

        assert store.replace_revocation_ciphertexts([resealed]) == 0
        assert store.replace_revocation_ciphertexts([]) == 0
        assert conn.execute("select key_id from private.token_revocations").fetchall() == [("old",)]
