"""The local bootstrap against a recorded description of a current Supabase project.

``tests/fixtures/supabase/emulation_reference.json`` lists facts about Supabase's database
(role attributes and memberships, role settings, the auth functions' bodies and settings, grants
and default privileges, auth.users and auth.identities), each with the repository, commit and
path it comes from (supabase/postgres, supabase/auth). Every fact is checked here against the
bootstrapped and migrated test database, so a bootstrap that drifts from Supabase fails.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import psycopg
import pytest

Conn = psycopg.Connection[Any]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
REFERENCE = FIXTURES / "supabase" / "emulation_reference.json"
DOC = json.loads(REFERENCE.read_text(encoding="utf-8"))
FACTS: list[dict[str, Any]] = DOC["facts"]
STAND_INS = {"postgres": "trainlytics_owner"}
TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")


def role_name(name: str) -> str:
    return STAND_INS.get(name, name)


def fact_id(fact: dict[str, Any]) -> str:
    subject = next(
        str(fact[key])
        for key in ("function", "index", "column", "role", "table", "schema", "owner")
        if key in fact
    )
    extra = (fact.get("column") and fact.get("table")) or fact.get("member") or fact.get("setting")
    extra = extra or fact.get("privilege") or fact.get("objtype") or ""
    return f"{fact['kind']}:{subject}:{extra}".rstrip(":")


def one(conn: Conn, query: str, params: list[Any] | None = None) -> Any:
    row = conn.execute(query, params).fetchone()
    assert row is not None, query
    return row[0]


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().rstrip(";").strip()


def check_role(conn: Conn, fact: dict[str, Any]) -> None:
    columns = ", ".join(fact["attributes"])
    row = conn.execute(
        f"select {columns} from pg_roles where rolname = %s",
        [role_name(fact["role"])],
    ).fetchone()
    assert row is not None, f"role {fact['role']} missing"
    assert dict(zip(fact["attributes"], row, strict=True)) == fact["attributes"]


def check_membership(conn: Conn, fact: dict[str, Any]) -> None:
    if fact["role"] == "supabase_admin":
        # The stand-in for supabase_admin is the bootstrap superuser: no superuser may be a role
        # that authenticator belongs to.
        member_of_superuser = one(
            conn,
            "select exists (select from pg_auth_members m join pg_roles r on r.oid = m.roleid"
            " where m.member = %s::regrole and r.rolsuper)",
            [fact["member"]],
        )
        assert member_of_superuser is fact["expected"]
        return
    actual = one(
        conn,
        "select exists (select from pg_auth_members"
        " where roleid = %s::regrole and member = %s::regrole)",
        [role_name(fact["role"]), role_name(fact["member"])],
    )
    assert actual is fact["expected"]


def check_role_setting(conn: Conn, fact: dict[str, Any]) -> None:
    values = conn.execute(
        "select split_part(c, '=', 1), substr(c, strpos(c, '=') + 1)"
        " from pg_db_role_setting s, unnest(s.setconfig) c"
        " where s.setrole = %s::regrole and s.setdatabase = 0",
        [role_name(fact["role"])],
    ).fetchall()
    assert dict(values).get(fact["setting"]) == fact["value"]


def check_database_privilege(conn: Conn, fact: dict[str, Any]) -> None:
    actual = one(
        conn,
        "select has_database_privilege(%s, current_database(), %s)",
        [role_name(fact["role"]), fact["privilege"]],
    )
    assert actual is fact["expected"]


def check_schema_owner(conn: Conn, fact: dict[str, Any]) -> None:
    owner, is_super = conn.execute(
        "select r.rolname, r.rolsuper from pg_namespace n join pg_roles r on r.oid = n.nspowner"
        " where n.nspname = %s",
        [fact["schema"]],
    ).fetchone() or (None, None)
    if fact["owner"] == "supabase_admin":
        assert is_super, f"schema {fact['schema']} belongs to {owner}, not a superuser"
    else:
        assert owner == role_name(fact["owner"])


def check_schema_privilege(conn: Conn, fact: dict[str, Any]) -> None:
    actual = one(
        conn,
        "select has_schema_privilege(%s, %s, %s)",
        [role_name(fact["role"]), fact["schema"], fact["privilege"]],
    )
    assert actual is fact["expected"]


def check_default_privileges(conn: Conn, fact: dict[str, Any]) -> None:
    granted = conn.execute(
        "select a.privilege_type from pg_default_acl d"
        " join pg_namespace n on n.oid = d.defaclnamespace,"
        " aclexplode(d.defaclacl) a"
        " where d.defaclrole = %s::regrole and n.nspname = %s and d.defaclobjtype = %s"
        " and a.grantee = %s::regrole",
        [role_name(fact["owner"]), fact["schema"], fact["objtype"], role_name(fact["grantee"])],
    ).fetchall()
    expected = {"r": set(TABLE_PRIVILEGES), "S": {"USAGE", "SELECT", "UPDATE"}, "f": {"EXECUTE"}}
    assert {row[0] for row in granted} >= expected[fact["objtype"]]


def check_table_owner(conn: Conn, fact: dict[str, Any]) -> None:
    owner = one(
        conn,
        "select pg_get_userbyid(relowner) from pg_class where oid = %s::regclass",
        [fact["table"]],
    )
    assert owner == role_name(fact["owner"])


def check_table_privileges(conn: Conn, fact: dict[str, Any]) -> None:
    role = role_name(fact["role"])
    granted = [
        privilege
        for privilege in TABLE_PRIVILEGES
        if one(conn, "select has_table_privilege(%s, %s, %s)", [role, fact["table"], privilege])
    ]
    assert granted == fact["granted"]


def check_rls_enabled(conn: Conn, fact: dict[str, Any]) -> None:
    enabled = one(
        conn, "select relrowsecurity from pg_class where oid = %s::regclass", [fact["table"]]
    )
    assert enabled is fact["expected"]


def check_function(conn: Conn, fact: dict[str, Any]) -> None:
    row = conn.execute(
        """
        select p.prosrc, p.proconfig, l.lanname, p.provolatile, p.prosecdef,
               pg_get_userbyid(p.proowner), format_type(p.prorettype, null),
               has_function_privilege('public', p.oid, 'execute'), p.prosqlbody is null
        from pg_proc p join pg_language l on l.oid = p.prolang
        where p.oid = %s::regprocedure
        """,
        [fact["function"]],
    ).fetchone()
    assert row is not None
    src, config, language, volatility, definer, owner, returns, public_exec, dollar = row
    assert normalise(src) == normalise(fact["body"])
    assert dollar, "Supabase Auth's functions have $$-quoted bodies"
    assert config == fact["proconfig"], "Supabase Auth's functions have no SET clause"
    assert (language, volatility, definer) == (
        fact["language"],
        fact["volatility"],
        fact["security_definer"],
    )
    assert owner == role_name(fact["owner"])
    assert returns == fact["returns"]
    assert public_exec is fact["public_execute"]


def check_column(conn: Conn, fact: dict[str, Any]) -> None:
    row = conn.execute(
        """
        select format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid)
        from pg_attribute a
        left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
        where a.attrelid = %s::regclass and a.attname = %s and not a.attisdropped
        """,
        [fact["table"], fact["column"]],
    ).fetchone()
    assert row is not None, f"{fact['table']}.{fact['column']} missing"
    assert row == (fact["type"], fact["not_null"], fact["default"])


def check_index(conn: Conn, fact: dict[str, Any]) -> None:
    schema, table = fact["table"].split(".")
    row = conn.execute(
        """
        select pg_get_indexdef(i.indexrelid), i.indisunique,
               pg_get_expr(i.indpred, i.indrelid)
        from pg_index i join pg_class c on c.oid = i.indexrelid
        join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = %s and c.relname = %s and i.indrelid = %s::regclass
        """,
        [schema, fact["index"], f"{schema}.{table}"],
    ).fetchone()
    assert row is not None, f"index {fact['index']} missing"
    definition, unique, predicate = row
    columns = definition.split(" USING btree ", 1)[1].split(" WHERE ", 1)[0]
    assert (columns, unique, predicate) == (fact["columns"], fact["unique"], fact["predicate"])


def check_index_absent(conn: Conn, fact: dict[str, Any]) -> None:
    schema = fact["table"].split(".")[0]
    assert one(conn, "select to_regclass(%s)", [f"{schema}.{fact['index']}"]) is None


CHECKS = {
    "role": check_role,
    "membership": check_membership,
    "role_setting": check_role_setting,
    "database_privilege": check_database_privilege,
    "schema_owner": check_schema_owner,
    "schema_privilege": check_schema_privilege,
    "default_privileges": check_default_privileges,
    "table_owner": check_table_owner,
    "table_privileges": check_table_privileges,
    "rls_enabled": check_rls_enabled,
    "function": check_function,
    "column": check_column,
    "index": check_index,
    "index_absent": check_index_absent,
}


def test_every_fact_cites_supabase_sources() -> None:
    for fact in FACTS:
        assert fact["kind"] in CHECKS, fact
        assert fact["sources"], fact
        for source in fact["sources"]:
            assert source["repo"] in {"supabase/postgres", "supabase/auth"}
            assert re.fullmatch(r"[0-9a-f]{40}", source["commit"])
            assert source["path"].startswith(("migrations/db/", "migrations/"))


@pytest.mark.parametrize("fact", FACTS, ids=[fact_id(f) for f in FACTS])
def test_bootstrap_matches_supabase(db: Conn, fact: dict[str, Any]) -> None:
    CHECKS[fact["kind"]](db, fact)


def test_auth_users_columns_are_exactly_supabase_auths(db: Conn) -> None:
    """No column more or less than the reference lists, in Supabase Auth's order."""
    recorded = [f["column"] for f in FACTS if f["kind"] == "column" and f["table"] == "auth.users"]
    actual = [
        row[0]
        for row in db.execute(
            "select attname from pg_attribute where attrelid = 'auth.users'::regclass"
            " and attnum > 0 and not attisdropped order by attnum"
        )
    ]
    assert actual == recorded


def test_auth_uid_is_inlined_like_supabases(db: Conn) -> None:
    """Without a SET clause the planner inlines auth.uid(): no function call in the plan."""
    plan = "\n".join(
        row[0]
        for row in db.execute(
            "explain (verbose, costs off) select 1 from public.users where id = auth.uid()"
        )
    )
    assert "auth.uid" not in plan
    assert "request.jwt.claim.sub" in plan


def test_postgres_may_not_act_as_supabase_auth_admin(db: Conn) -> None:
    """Supabase's postgres (here trainlytics_owner) can neither use nor become
    supabase_auth_admin; it can become the API roles."""
    can = {
        role: one(db, "select pg_has_role('trainlytics_owner', %s, 'member')", [role])
        for role in ("supabase_auth_admin", "anon", "authenticated", "service_role")
    }
    assert can == {
        "supabase_auth_admin": False,
        "anon": True,
        "authenticated": True,
        "service_role": True,
    }


def test_service_role_cannot_read_auth_users(db: Conn) -> None:
    with db.transaction(force_rollback=True):
        db.execute("set local role service_role")
        with pytest.raises(psycopg.errors.InsufficientPrivilege), db.transaction():
            db.execute("select count(*) from auth.users")


def test_duplicate_email_is_refused_by_supabase_auths_index(db: Conn) -> None:
    """users_email_partial_key: one non-SSO account per email address."""
    insert = (
        "insert into auth.users (id, email, aud, role)"
        " values (gen_random_uuid(), 'twin@example.test', 'authenticated', 'authenticated')"
    )
    with db.transaction(force_rollback=True):
        db.execute(insert)
        with pytest.raises(psycopg.errors.UniqueViolation) as raised, db.transaction():
            db.execute(insert)
    assert raised.value.diag.constraint_name == "users_email_partial_key"
