"""The statement splitter: what the ledger records and what is executed one by one."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from trainlytics.db.sql_splitter import split_statements


def test_splits_at_semicolons_trims_and_drops_empty_statements() -> None:
    script = "  select 1;\n\nselect 2 ;;\n ;  select 3"
    assert split_statements(script) == ["select 1", "select 2", "select 3"]


def test_empty_and_whitespace_only_scripts_have_no_statements() -> None:
    assert split_statements("") == []
    assert split_statements(" \n\t;\n;") == []


def test_semicolons_inside_single_quoted_strings_do_not_split() -> None:
    script = "select 'a;b', 'it''s; fine';select 2"
    assert split_statements(script) == ["select 'a;b', 'it''s; fine'", "select 2"]


def test_backslash_is_literal_in_standard_strings() -> None:
    # standard_conforming_strings: 'C:\' is a complete literal
    assert split_statements(r"select 'C:\'; select 2") == [r"select 'C:\'", "select 2"]


def test_escape_strings_honour_backslash_escapes() -> None:
    script = r"select E'it\'s; still \\ quoted'; select e'\\'; select 3"
    assert split_statements(script) == [
        r"select E'it\'s; still \\ quoted'",
        r"select e'\\'",
        "select 3",
    ]


def test_identifier_ending_in_e_is_not_an_escape_string_prefix() -> None:
    script = r"select name'x\'; select 2"
    assert split_statements(script) == [r"select name'x\'", "select 2"]


def test_double_quoted_identifiers_may_contain_semicolons_and_quotes() -> None:
    script = 'create table "a;b" ("x""; y" int); select 1'
    assert split_statements(script) == ['create table "a;b" ("x""; y" int)', "select 1"]


def test_dollar_quoted_bodies_with_and_without_tags() -> None:
    script = (
        "create function f() returns int language sql as $$ select 1; $$;\n"
        "do $body$ begin perform $$ ; $$; raise notice 'x;'; end $body$;\n"
        "select 3"
    )
    assert split_statements(script) == [
        "create function f() returns int language sql as $$ select 1; $$",
        "do $body$ begin perform $$ ; $$; raise notice 'x;'; end $body$",
        "select 3",
    ]


def test_positional_parameters_and_dollar_identifiers_are_not_dollar_quotes() -> None:
    script = "prepare p as select $1; create table t (a$b int, c$ int); select 3"
    assert split_statements(script) == [
        "prepare p as select $1",
        "create table t (a$b int, c$ int)",
        "select 3",
    ]


def test_line_comments_stay_with_the_following_statement() -> None:
    script = "-- header; with 'quotes\nselect 1; -- trailing; note\nselect 2"
    assert split_statements(script) == [
        "-- header; with 'quotes\nselect 1",
        "-- trailing; note\nselect 2",
    ]


def test_nested_block_comments() -> None:
    script = "/* outer /* inner; */ still; comment */ select 1; select /* ; */ 2"
    assert split_statements(script) == [
        "/* outer /* inner; */ still; comment */ select 1",
        "select /* ; */ 2",
    ]


def test_trailing_comment_is_kept_as_a_statement_like_the_supabase_cli() -> None:
    assert split_statements("select 1;\n-- end of file\n") == ["select 1", "-- end of file"]


def test_semicolons_inside_parentheses_do_not_split() -> None:
    script = (
        "create rule r as on insert to t do also "
        "(insert into a values (1); insert into b values (2)); select 3"
    )
    assert split_statements(script) == [
        "create rule r as on insert to t do also "
        "(insert into a values (1); insert into b values (2))",
        "select 3",
    ]


def test_begin_atomic_bodies_stay_whole_including_case_end() -> None:
    script = (
        "create function f(x int) returns text language sql\n"
        "begin atomic\n"
        "  select case when x > 0 then 'pos;' else 'neg' end;\n"
        "  select 'two';\n"
        "end;\n"
        "select 2"
    )
    assert split_statements(script) == [
        "create function f(x int) returns text language sql\n"
        "begin atomic\n"
        "  select case when x > 0 then 'pos;' else 'neg' end;\n"
        "  select 'two';\n"
        "end",
        "select 2",
    ]


def test_unterminated_literal_runs_to_end_of_script() -> None:
    assert split_statements("select 1; select 'oops; select 2") == [
        "select 1",
        "select 'oops; select 2",
    ]


# Property: statements built from fragments that hide semicolons split back exactly. -----------

_fragments = st.sampled_from(
    [
        "select",
        "x",
        "1",
        "'a;b'",
        "'it''s;'",
        r"E'q\';r'",
        '"id;""x"',
        "$$ body; $$",
        "$t$ a $$ ; $$ b; $t$",
        "/* c; /* d; */ */",
        "-- line; comment\n",
        "(a; b)",
        "$1",
    ]
)
# Raw statement text; a line comment keeps its newline so the separator stays outside it.
_statement = st.builds(
    lambda head, rest: " ".join([head, *rest]),
    st.sampled_from(["select", "create", "comment"]),
    st.lists(_fragments, max_size=6),
)


@given(st.lists(_statement, max_size=6), st.sampled_from([";", ";\n", " ;\n\n", ";;"]))
def test_joined_statements_split_back_exactly(statements: list[str], separator: str) -> None:
    script = separator.join(statements) + (separator if statements else "")
    assert split_statements(script) == [statement.strip() for statement in statements]
