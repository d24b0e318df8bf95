"""The legacy import to a Supabase project: auth users through the Auth admin API, the data
through a login that, like Supabase's ``postgres``, cannot write ``auth.users``."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest

from tests.fakes.supabase_auth import FakeSupabase
from tests.legacy.conftest import sign_in, v1_url
from tests.legacy.v1_factory import V1
from trainlytics.connections.crypto import TokenCipher
from trainlytics.legacy.auth_users import AdminApiAuthUsers
from trainlytics.legacy.importer import LegacyImporter, LegacyReport

Conn = psycopg.Connection[dict[str, Any]]


def run(
    v1: V1, operator_url: str, gotrue: FakeSupabase, cipher: TokenCipher, **kwargs: Any
) -> LegacyReport:
    with httpx.Client(transport=gotrue.transport()) as http:
        auth = AdminApiAuthUsers(http, gotrue.url, gotrue.service_role_key)
        return LegacyImporter(v1_url(v1), operator_url, auth=auth, cipher=cipher, **kwargs).run()


def test_users_are_created_through_the_admin_api_with_their_bcrypt_hash(
    v1: V1, v2: Conn, v2_url: str, operator_url: str, cipher: TokenCipher
) -> None:
    gotrue = FakeSupabase(database_url=v2_url)
    report = run(v1, operator_url, gotrue, cipher)
    assert report.auth_mode == "admin-api"
    assert report.tables["users"].created == 8
    posts = gotrue.bodies("POST")
    assert len(posts) == 8
    ada = next(p for p in posts if p["email"] == "ada.lovelace@example.com")
    assert ada["password_hash"].startswith("$2a$10$")
    assert "password" not in ada
    assert ada["email_confirm"] is True
    assert ada["user_metadata"] == {"first_name": "Ada", "last_name": "Lovelace"}
    mapped = v2.execute(
        "select user_id from private.legacy_users where v1_user_id = %s", [v1.users["ada"]]
    ).fetchone()
    assert mapped is not None
    assert str(mapped["user_id"]) == ada["id"]
    for key, email in (("ada", "ada.lovelace@example.com"), ("coach", "coach.carla@example.com")):
        assert sign_in(v2, email, v1.passwords[key]) is not None
    # The rest of the data arrived through the non-superuser login.
    activities = v2.execute("select count(*) as n from public.activities").fetchone()
    assert activities == {"n": 8}
    pending = v2.execute("select count(*) as n from private.legacy_auth_pending").fetchone()
    assert pending == {"n": 0}
    again = run(v1, operator_url, gotrue, cipher)
    assert again.tables["users"].created == 0
    assert len(gotrue.bodies("POST")) == 8


def test_a_failed_user_is_deleted_from_supabase_auth_again(
    v1: V1, v2: Conn, v2_url: str, operator_url: str, cipher: TokenCipher
) -> None:
    v2.execute(
        "create function public.test_fault() returns trigger language plpgsql as $$"
        " begin raise exception 'injected fault'; end $$"
    )
    v2.execute(
        "create trigger test_fault before insert on public.workouts for each row"
        " when (new.name = 'Tempo 4 x 2 km') execute function public.test_fault()"
    )
    gotrue = FakeSupabase(database_url=v2_url)
    report = run(v1, operator_url, gotrue, cipher)
    (failure,) = report.notes["failures"]
    assert failure["v1_user_id"] == v1.users["ada"]
    deletes = gotrue.bodies("DELETE")
    assert len(deletes) == 1
    assert (
        v2.execute("select 1 from auth.users where email = 'ada.lovelace@example.com'").fetchone()
        is None
    )
    assert v2.execute("select count(*) as n from private.legacy_auth_pending").fetchone() == {
        "n": 0
    }


def test_an_interrupted_run_reuses_the_auth_user_it_had_created(
    v1: V1, v2: Conn, v2_url: str, operator_url: str, cipher: TokenCipher
) -> None:
    gotrue = FakeSupabase(database_url=v2_url)

    def crash_at_ada(v1_id: int) -> None:
        if v1_id == v1.users["ada"]:
            raise KeyboardInterrupt  # after the API call, before the user's transaction commits

    with pytest.raises(KeyboardInterrupt):
        run(v1, operator_url, gotrue, cipher, before_commit=crash_at_ada)
    pending = v2.execute("select user_id from private.legacy_auth_pending").fetchall()
    assert len(pending) == 1
    resumed = run(v1, operator_url, gotrue, cipher)
    assert resumed.tables["users"].created + resumed.tables["users"].already_there == 8
    posts = gotrue.bodies("POST")
    assert [p["email"] for p in posts].count("ada.lovelace@example.com") == 1
    row = v2.execute(
        "select m.user_id from private.legacy_users as m where m.v1_user_id = %s",
        [v1.users["ada"]],
    ).fetchone()
    assert row == {"user_id": pending[0]["user_id"]}
    assert sign_in(v2, "ada.lovelace@example.com", v1.passwords["ada"]) == pending[0]["user_id"]


def test_a_dry_run_on_a_supabase_project_calls_no_api_and_writes_nothing(
    v1: V1, v2: Conn, v2_url: str, operator_url: str, cipher: TokenCipher
) -> None:
    gotrue = FakeSupabase(database_url=v2_url)
    report = run(v1, operator_url, gotrue, cipher, dry_run=True)
    assert gotrue.requests == []
    assert report.dry_run
    assert report.tables["users"].created == 8  # what would be created
    assert len(report.notes["dry_run"]) == 8
    assert v2.execute("select count(*) as n from auth.users").fetchone() == {"n": 0}
    assert v2.execute("select count(*) as n from private.legacy_auth_pending").fetchone() == {
        "n": 0
    }
