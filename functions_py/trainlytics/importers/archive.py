"""Reading files out of folders, zip archives and gzip members, with bounds.

An export archive is untrusted. What is enforced before or while anything is decompressed:

- **entry count**: at most ``MAX_ENTRIES`` members per archive (nested archives included,
  each counted in its own archive);
- **no overlapping or duplicate entries**: every central-directory entry must own its bytes
  (a local header offset no other entry uses, its compressed data ending before the next
  entry starts) and its name must be unique; otherwise the whole archive is refused before a
  byte is decompressed (the "quoted overlap" zip bomb: thousands of entries pointing at one
  large member);
- **total uncompressed bytes**: everything read from one archive (its nested archives
  included) is counted as it is decompressed and reading stops at ``MAX_TOTAL_BYTES``; a
  member's declared size is never trusted (reading stops one byte past the cap);
- **memory**: the outer zip is read from disk, not loaded; a nested zip (Garmin's
  ``UploadedFiles_*.zip``) is streamed to a temporary file in chunks; only one activity file
  (at most ``MAX_FILE_BYTES``) is held in memory at a time.

Member names are only read, never extracted to disk.
"""

from __future__ import annotations

import gzip
import io
import itertools
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Protocol

from trainlytics.errors import FileImportError

__all__ = [
    "MAX_ENTRIES",
    "MAX_FILE_BYTES",
    "MAX_TOTAL_BYTES",
    "Archive",
    "Budget",
    "DirArchive",
    "ZipArchive",
    "gunzip",
    "open_archive",
]

# No activity file comes near this (a 24 h FIT file at 1 s is ~5 MB, a 100k-point GPX ~20 MB).
MAX_FILE_BYTES = 64 * 1024 * 1024
# A decade of a heavy user's Garmin Connect export is a few tens of thousands of files.
MAX_ENTRIES = 100_000
# Everything decompressed from one archive, nested archives included.
MAX_TOTAL_BYTES = 8 * 1024**3
_CHUNK = 1024 * 1024
_LOCAL_HEADER = 30  # fixed part of a zip local file header


def _mib(n: int) -> str:
    return f"{n / 2**20:.0f} MiB"


class Budget:
    """The uncompressed bytes an archive (and its nested archives) may still produce."""

    def __init__(self, label: str, limit: int | None = None) -> None:
        self.label = label
        self.limit = MAX_TOTAL_BYTES if limit is None else limit
        self.used = 0

    @property
    def left(self) -> int:
        return max(0, self.limit - self.used)

    def spend(self, n: int) -> None:
        self.used += n
        if self.used > self.limit:
            raise FileImportError(
                f"{self.label}: decompresses to more than {_mib(self.limit)} in total",
                hint="an export archive this large is refused; split it or import its folders",
            )


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
            f"{name}: decompresses to more than {_mib(MAX_FILE_BYTES)}",
            hint="not an activity file",
        )
    return out


class Archive(Protocol):
    label: str

    def names(self) -> list[str]:
        """Member paths, '/'-separated, relative to the archive's root."""
        ...

    def read(self, name: str) -> bytes: ...

    def open_nested(self, name: str) -> ZipArchive:
        """A zip stored inside this archive, streamed to a temporary file."""
        ...


class DirArchive:
    """A folder (e.g. an unpacked export) seen as an archive."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.label = str(root)
        self._names: list[str] | None = None

    def names(self) -> list[str]:
        if self._names is None:
            names: list[str] = []
            for p in self.root.rglob("*"):
                if p.is_file():
                    names.append(p.relative_to(self.root).as_posix())
                    if len(names) > MAX_ENTRIES:
                        raise FileImportError(
                            f"{self.label}: more than {MAX_ENTRIES} files",
                            hint="import the folder in parts",
                        )
            self._names = sorted(names)
        return self._names

    def read(self, name: str) -> bytes:
        path = self.root / name
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                raise FileImportError(f"{self.label}: {name} is larger than {_mib(MAX_FILE_BYTES)}")
            return path.read_bytes()
        except OSError as exc:  # one unreadable file is one line, not the folder's end
            raise FileImportError(
                f"{self.label}: {name} cannot be read ({exc.strerror or exc})",
                hint="check the file's permissions",
            ) from exc

    def open_nested(self, name: str) -> ZipArchive:
        return ZipArchive(self.root / name, f"{self.label}: {name}")


def _stored_name_length(info: zipfile.ZipInfo) -> int:
    """Bytes the name takes in the local header: UTF-8 when flagged (bit 11), else cp437."""
    encoding = "utf-8" if info.flag_bits & 0x800 else "cp437"
    try:
        return len(info.orig_filename.encode(encoding))
    except UnicodeEncodeError:
        return len(info.orig_filename.encode("utf-8"))


def _check_entries(label: str, infos: list[zipfile.ZipInfo]) -> None:
    """Refuse too many, duplicate or overlapping entries (before decompressing anything)."""
    if len(infos) > MAX_ENTRIES:
        raise FileImportError(
            f"{label}: {len(infos)} entries, more than the {MAX_ENTRIES} allowed",
            hint="not an export archive Trainlytics reads; import it in parts",
        )
    seen: set[str] = set()
    for info in infos:
        if info.filename in seen:
            raise FileImportError(
                f"{label}: the entry {info.filename!r} appears twice",
                hint="a malformed or hostile archive; download the export again",
            )
        seen.add(info.filename)
    ordered = sorted(infos, key=lambda i: i.header_offset)
    for current, following in itertools.pairwise(ordered):
        end = (
            current.header_offset
            + _LOCAL_HEADER
            + _stored_name_length(current)
            + current.compress_size
        )
        if following.header_offset < end:
            raise FileImportError(
                f"{label}: entries {current.filename!r} and {following.filename!r} overlap "
                "(several entries share the same bytes)",
                hint="a malformed or hostile archive (zip bomb); download the export again",
            )


class ZipArchive:
    """A zip archive read from a path or a binary file (never loaded whole into memory)."""

    def __init__(
        self, source: Path | IO[bytes] | bytes, label: str, budget: Budget | None = None
    ) -> None:
        self.label = label
        self.budget = budget or Budget(label)
        self._temp: IO[bytes] | None = None
        try:
            handle: Path | IO[bytes] = io.BytesIO(source) if isinstance(source, bytes) else source
            self._zip = zipfile.ZipFile(handle)
            infos = [i for i in self._zip.infolist() if not i.is_dir()]
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise FileImportError(
                f"{label}: not a readable zip archive ({exc})",
                hint="the archive is corrupt or incomplete; download it again",
            ) from exc
        _check_entries(label, self._zip.infolist())
        self._infos = {i.filename: i for i in infos}

    def names(self) -> list[str]:
        return sorted(self._infos)

    def _stream(self, name: str, cap: int, sink: IO[bytes]) -> int:
        """Copy a member into ``sink``; stop with an error past ``cap`` or the budget."""
        info = self._infos[name]
        limit = min(cap, self.budget.left)
        if info.file_size > limit:
            raise FileImportError(
                f"{self.label}: {name} declares {_mib(info.file_size)}, more than allowed",
                hint="not an activity file or export Trainlytics reads",
            )
        written = 0
        try:
            with self._zip.open(info) as member:
                while chunk := member.read(min(_CHUNK, limit + 1 - written)):
                    written += len(chunk)
                    if written > limit:
                        break
                    sink.write(chunk)
        except (zipfile.BadZipFile, OSError, zlib.error, EOFError, ValueError) as exc:
            raise FileImportError(
                f"{self.label}: {name} cannot be read from the archive ({exc})",
                hint="the archive is corrupt; download it again",
            ) from exc
        self.budget.spend(min(written, limit))
        if written > limit:
            raise FileImportError(
                f"{self.label}: {name} decompresses to more than allowed "
                f"({_mib(limit)} left of the archive's budget)",
                hint="not an activity file or export Trainlytics reads",
            )
        return written

    def read(self, name: str) -> bytes:
        sink = io.BytesIO()
        self._stream(name, MAX_FILE_BYTES, sink)
        return sink.getvalue()

    def open_nested(self, name: str) -> ZipArchive:
        temp = tempfile.TemporaryFile()  # noqa: SIM115 - closed with the nested archive
        try:
            self._stream(name, self.budget.left, temp)
            temp.seek(0)
            nested = ZipArchive(temp, f"{self.label}: {name}", self.budget)
        except BaseException:
            temp.close()
            raise
        nested._temp = temp
        return nested

    def close(self) -> None:
        self._zip.close()
        if self._temp is not None:
            self._temp.close()


def open_archive(path: Path) -> Archive:
    if path.is_dir():
        return DirArchive(path)
    return ZipArchive(path, path.name)


def walk(archive: Archive) -> Iterator[tuple[str, bytes]]:
    for name in archive.names():
        yield name, archive.read(name)
