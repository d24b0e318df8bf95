"""The import's per-row rules that need no database: emails, bcrypt hashes, connection choice."""

from __future__ import annotations

import bcrypt
import pytest

from trainlytics.legacy.auth_users import is_bcrypt_hash
from trainlytics.legacy.importer import choose_connection, connection_status, normalize_email


@pytest.mark.parametrize(
    ("typed", "normalized"),
    [
        (" Ada@Example.COM ", "ada@example.com"),
        ("ada @example.com", "ada@example.com"),
        ("\tBOB@example.com\n", "bob@example.com"),
        ("not an email", None),
        ("", None),
        (None, None),
        ("a@b", None),
    ],
)
def test_emails_lose_their_spaces_and_case(typed: str | None, normalized: str | None) -> None:
    assert normalize_email(typed) == normalized


def test_bcrypt_hashes_of_every_v1_prefix_are_carried_and_nothing_else() -> None:
    hashed = bcrypt.hashpw(b"secret-1", bcrypt.gensalt(rounds=10)).decode()
    for prefix in ("2a", "2b", "2y"):
        assert is_bcrypt_hash(f"${prefix}${hashed[4:]}")
    for value in (
        None,
        "",
        "secret-1",
        f"$2x${hashed[4:]}",  # not a label Supabase Auth's bcrypt.Cost accepts here
        f"$2b$03${hashed[7:]}",  # cost below bcrypt's minimum of 4
        hashed[:-1],
        "pbkdf2_sha256$260000$salt$hash",
    ):
        assert not is_bcrypt_hash(value), value


def _row(
    id_: int,
    updated: str,
    *,
    token: str | None = "t",  # noqa: S107
    active: bool = True,
) -> dict[str, object]:
    return {
        "id": id_,
        "updated_at": updated,
        "access_token": token,
        "is_active": active,
        "strava_athlete_id": "42",
    }


def test_the_newest_usable_connection_wins() -> None:
    old_usable = _row(1, "2024-01-01T00:00:00")
    new_tokenless = _row(2, "2024-02-01T00:00:00", token=None)
    new_inactive = _row(3, "2024-03-01T00:00:00", active=False)
    newest_usable = _row(4, "2024-04-01T00:00:00")
    chosen, others = choose_connection([old_usable, new_tokenless, new_inactive])
    assert chosen is old_usable
    assert {o["id"] for o in others} == {2, 3}
    chosen, _ = choose_connection([old_usable, newest_usable, new_tokenless])
    assert chosen is newest_usable
    # Nothing usable: the newest row, revoked.
    chosen, _ = choose_connection([new_tokenless, new_inactive])
    assert chosen is new_inactive
    assert choose_connection([]) == (None, [])


def test_a_connection_is_active_only_with_tokens_an_athlete_and_v1_activity() -> None:
    assert connection_status(_row(1, "")) == ("active", None)
    status, reason = connection_status(_row(1, "", token="  "))  # noqa: S106
    assert status == "revoked"
    assert reason is not None
    assert "no access token" in reason
    status, reason = connection_status(_row(1, "", active=False))
    assert (status, "inactive" in (reason or "")) == ("revoked", True)
    status, reason = connection_status({**_row(1, ""), "strava_athlete_id": " "})
    assert (status, "athlete" in (reason or "")) == ("revoked", True)
