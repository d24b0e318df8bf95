"""Hostile archives (issue 14, finding 9): entry count, overlapping and duplicate entries, total
uncompressed bytes and memory are bounded. Each archive is built here byte by byte from the zip
format (APPNOTE.TXT 4.3.7 local header, 4.3.12 central directory header, 4.3.16 end record)."""

from __future__ import annotations

import io
import struct
import time
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import pytest

from trainlytics.errors import FileImportError
from trainlytics.importers import archive as archive_module
from trainlytics.importers import read_path
from trainlytics.importers.archive import ZipArchive


def _zip_with_entries_at_one_member(
    name: str, content: bytes, entries: int, *, same_name: bool = True
) -> bytes:
    """One deflated member, and ``entries`` central-directory entries all pointing at it."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = compressor.compress(content) + compressor.flush()
    crc = zlib.crc32(content)
    encoded = name.encode()
    local = struct.pack(
        "<4s5H3I2H", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(data), len(content), len(encoded), 0
    )
    body = local + encoded + data
    central = b""
    for index in range(entries):
        entry = encoded if same_name else f"{index:05d}-{name}".encode()
        central += (
            struct.pack(
                "<4s6H3I5H2I",
                b"PK\x01\x02",
                20,
                20,
                0,
                8,
                0,
                0,
                crc,
                len(data),
                len(content),
                len(entry),
                0,
                0,
                0,
                0,
                0,
                0,
            )
            + entry
        )
    end = struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, entries, entries, len(central), len(body), 0)
    return body + central + end


def test_zip_with_2000_entries_pointing_at_one_member_is_refused_unread(tmp_path: Path) -> None:
    # The quoted-overlap bomb of the finding, scaled down: 2,000 entries share one 4 MiB member
    # (8 GiB once every entry is decompressed). Refused from the central directory alone.
    path = tmp_path / "export.zip"
    path.write_bytes(_zip_with_entries_at_one_member("ride.fit", bytes(4 * 2**20), 2000))

    tracemalloc.start()
    began = time.perf_counter()
    outcomes = list(read_path(path))
    seconds = time.perf_counter() - began
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    assert [o.activity for o in outcomes] == [None]
    assert outcomes[0].error is not None
    assert "appears twice" in outcomes[0].error.message
    assert seconds < 2
    assert peak < 16 * 2**20


def test_zip_with_entries_sharing_bytes_under_different_names_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "export.zip"
    path.write_bytes(_zip_with_entries_at_one_member("ride.fit", bytes(2**20), 50, same_name=False))

    outcomes = list(read_path(path))

    assert len(outcomes) == 1
    assert outcomes[0].error is not None
    assert "overlap" in outcomes[0].error.message


def test_zip_with_more_entries_than_the_cap_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(archive_module, "MAX_ENTRIES", 100)
    path = tmp_path / "many.zip"
    with zipfile.ZipFile(path, "w") as z:
        for index in range(101):
            z.writestr(f"notes/{index}.txt", "x")

    outcomes = list(read_path(path))

    assert len(outcomes) == 1
    assert outcomes[0].error is not None
    assert "more than the 100 allowed" in outcomes[0].error.message


def test_zip_members_past_the_total_uncompressed_cap_stop_the_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ten 1 MiB members (tiny once deflated) against a 3.5 MiB budget for the whole archive:
    # three are read, the rest refused, and nothing past the budget is decompressed.
    monkeypatch.setattr(archive_module, "MAX_TOTAL_BYTES", int(3.5 * 2**20))
    path = tmp_path / "big.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for index in range(10):
            z.writestr(f"{index}.bin", bytes(2**20))
    archive = ZipArchive(path, "big.zip")

    results: list[int | str] = []
    for name in archive.names():
        try:
            results.append(len(archive.read(name)))
        except FileImportError as exc:
            results.append(type(exc).__name__)

    assert results[:3] == [2**20] * 3
    assert set(results[3:]) == {"FileImportError"}
    assert archive.budget.used <= 3.5 * 2**20


def test_zip_member_lying_about_its_size_is_cut_at_the_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The central directory claims 10 bytes; the deflated stream holds 2 MiB. Reading stops
    # at the per-file cap instead of trusting the declared size.
    monkeypatch.setattr(archive_module, "MAX_FILE_BYTES", 2**20)
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("ride.fit", bytes(2 * 2**20))
    data = bytearray(raw.getvalue())
    central = data.index(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, 10)  # uncompressed size in the directory
    struct.pack_into("<I", data, 22, 10)  # and in the local header
    path = tmp_path / "liar.zip"
    path.write_bytes(bytes(data))

    archive = ZipArchive(path, "liar.zip")
    with pytest.raises(FileImportError, match=r"cannot be read|more than allowed"):
        archive.read("ride.fit")
    assert archive.budget.used <= 2**20 + 1


def test_nested_zip_is_streamed_to_disk_not_memory(tmp_path: Path) -> None:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w", zipfile.ZIP_STORED) as z:
        z.writestr("padding.bin", bytes(24 * 2**20))
        z.writestr("a.fit", b"not really a fit file")
    path = tmp_path / "outer.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("DI_CONNECT/DI-Connect-Uploaded-Files/UploadedFiles_0.zip", inner.getvalue())
    del inner
    archive = ZipArchive(path, "outer.zip")

    tracemalloc.start()
    nested = archive.open_nested("DI_CONNECT/DI-Connect-Uploaded-Files/UploadedFiles_0.zip")
    names = nested.names()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    nested.close()

    assert names == ["a.fit", "padding.bin"]
    assert peak < 8 * 2**20
