"""Reading files out of folders, zip archives and gzip members, with size limits.

An export archive is untrusted: a member's decompressed size is capped (a zip or gzip bomb
is refused with a clear error, not swallowed into memory), and member names are only read,
never extracted to disk.
"""

from __future__ import annotations

import gzip
import io
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from trainlytics.importers.base import FileImportError

__all__ = ["MAX_FILE_BYTES", "Archive", "DirArchive", "ZipArchive", "gunzip", "open_archive"]

# No activity file comes near this (a 24 h FIT file at 1 s is ~5 MB).
MAX_FILE_BYTES = 256 * 1024 * 1024


def gunzip(data: bytes, name: str) -> bytes:
    """The decompressed bytes of a gzip member, refusing more than MAX_FILE_BYTES."""
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            out = stream.read(MAX_FILE_BYTES + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise FileImportError(
            f"{name}: not a readable gzip file ({exc})",
            hint="the file is corrupt or truncated",
        ) from exc
    if len(out) > MAX_FILE_BYTES:
        raise FileImportError(
            f"{name}: decompresses to more than {MAX_FILE_BYTES // 2**20} MiB",
            hint="not an activity file",
        )
    return out


class Archive(Protocol):
    label: str

    def names(self) -> list[str]:
        """Member paths, '/'-separated, relative to the archive's root."""
        ...

    def read(self, name: str) -> bytes: ...


class DirArchive:
    """A folder (e.g. an unpacked export) seen as an archive."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.label = str(root)

    def names(self) -> list[str]:
        return sorted(
            p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file()
        )

    def read(self, name: str) -> bytes:
        path = self.root / name
        if path.stat().st_size > MAX_FILE_BYTES:
            raise FileImportError(f"{name}: larger than {MAX_FILE_BYTES // 2**20} MiB")
        return path.read_bytes()


class ZipArchive:
    """A zip archive held in memory (an export, or a zip nested in one)."""

    def __init__(self, data: bytes, label: str) -> None:
        self.label = label
        try:
            self._zip = zipfile.ZipFile(io.BytesIO(data))
        except (zipfile.BadZipFile, OSError) as exc:
            raise FileImportError(
                f"{label}: not a readable zip archive ({exc})",
                hint="the archive is corrupt or incomplete; download it again",
            ) from exc

    def names(self) -> list[str]:
        return sorted(i.filename for i in self._zip.infolist() if not i.is_dir())

    def read(self, name: str) -> bytes:
        info = self._zip.getinfo(name)
        if info.file_size > MAX_FILE_BYTES:
            raise FileImportError(f"{self.label}: {name} is larger than allowed")
        try:
            with self._zip.open(info) as member:
                data = member.read(MAX_FILE_BYTES + 1)
        except (zipfile.BadZipFile, OSError, zlib.error, EOFError) as exc:
            raise FileImportError(
                f"{self.label}: {name} cannot be read from the archive ({exc})",
                hint="the archive is corrupt; download it again",
            ) from exc
        if len(data) > MAX_FILE_BYTES:
            raise FileImportError(f"{self.label}: {name} is larger than allowed")
        return data


def open_archive(path: Path) -> Archive:
    if path.is_dir():
        return DirArchive(path)
    return ZipArchive(path.read_bytes(), path.name)


def walk(archive: Archive) -> Iterator[tuple[str, bytes]]:
    for name in archive.names():
        yield name, archive.read(name)
