"""``python -m trainlytics.db.typegen`` (make types / make types-check): the parts that do not need
node (CI's ``make types-check`` runs the generator itself on every submission)."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainlytics.db import typegen
from trainlytics.errors import TypegenError


@pytest.mark.parametrize(
    ("conninfo", "url"),
    [
        # The embedded server: a unix socket, as libpq conninfo and as pgserver's URL.
        (
            "user=postgres dbname=trainlytics_types_x host='/tmp/pg sock'",
            "postgresql://postgres@localhost/trainlytics_types_x?host=%2Ftmp%2Fpg+sock",
        ),
        (
            "postgresql://postgres:@/postgres?host=/tmp/pg",
            "postgresql://postgres@localhost/postgres?host=%2Ftmp%2Fpg",
        ),
        # A server over TCP, with a password that needs escaping.
        (
            "host=127.0.0.1 port=5432 user=postgres password=p@ss/w dbname=db",
            "postgresql://postgres:p%40ss%2Fw@127.0.0.1:5432/db",
        ),
    ],
)
def test_node_database_url(conninfo: str, url: str) -> None:
    assert typegen.node_database_url(conninfo) == url


def test_render_is_deterministic_whatever_the_line_endings() -> None:
    out = "export type Json = string\r\n\r\nexport type Database = {}\r\n\n\n"
    rendered = typegen.render(out)
    assert rendered == typegen.HEADER + "\nexport type Json = string\n\nexport type Database = {}\n"
    assert typegen.render(rendered.removeprefix(typegen.HEADER + "\n")) == rendered


def test_check_fails_on_a_stale_file_and_passes_on_a_fresh_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    generated = typegen.render("export type Database = { public: {} }\n")
    monkeypatch.setattr(typegen, "generate", lambda: generated)
    target = tmp_path / "database.types.ts"

    assert typegen.main(["--check", "--output", str(target)]) == 1  # missing
    target.write_text(generated.replace("public", "old"), encoding="utf-8")
    assert typegen.main(["--check", "--output", str(target)]) == 1  # stale
    assert "is stale" in capsys.readouterr().err
    assert target.read_text(encoding="utf-8") != generated  # --check writes nothing

    assert typegen.main(["--output", str(target)]) == 0
    assert target.read_bytes() == generated.encode()
    assert typegen.main(["--check", "--output", str(target)]) == 0


def test_a_missing_generator_is_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("trainlytics.db.typegen.shutil.which", lambda name: "/usr/bin/node")
    with pytest.raises(TypegenError, match="postgres-meta is not installed") as caught:
        typegen.run_generator("postgresql://postgres@localhost/x", frontend_dir=tmp_path)
    assert caught.value.hint is not None
    assert "npm ci" in caught.value.hint
