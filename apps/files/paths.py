r"""Safe file operations inside one volume folder. No Django here.

Every path a user sends is cleaned (no absolute paths, no ``.``/``..``), then
walked component by component with ``O_NOFOLLOW`` directory descriptors
(``openat``). A symlink anywhere, even one that a container created a moment
ago, is refused rather than followed, so no operation can leave the volume.

Names the portal makes (uploads, new folders, move targets) are strict: NFC,
no control or invisible characters (``clean_name``). Names a job made may be
anything the kernel takes: bytes that are not UTF-8, newlines, bidi marks.
They are listed in an escaped form (``shown``: ``\xff`` for a raw byte,
``\u{202e}`` for an unwelcome character, ``\u{5c}`` for a backslash, which no
strict name has) that is valid text for JSON, the database and pages, and
every operation on an existing entry takes that form back (``existing_path``),
so such a file can be listed, downloaded, renamed and deleted like any other.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import stat
import unicodedata
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

TEMP_PREFIX = ".upload-"
# Unicode categories refused in names: controls, format (bidi overrides,
# zero-width), surrogates, private use, unassigned.
_BAD_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn"}
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
CHUNK = 1024 * 1024


class PathError(ValueError):
    """A path that is not allowed, or does not name what the operation needs."""


class QuotaExceeded(PathError):
    pass


class UploadInterrupted(PathError):
    pass


def clean_name(name: str) -> str:
    name = unicodedata.normalize("NFC", name)
    if name in ("", ".", ".."):
        raise PathError(f"{name!r} is not a valid name.")
    if "/" in name or "\\" in name:
        raise PathError("A name cannot contain / or \\.")
    if any(unicodedata.category(ch) in _BAD_CATEGORIES for ch in name):
        raise PathError("Names cannot contain control or invisible characters.")
    if name.strip() != name:
        raise PathError("Names cannot start or end with spaces.")
    if name.startswith(TEMP_PREFIX):
        raise PathError(f"Names starting with {TEMP_PREFIX} are reserved.")
    if len(name.encode("utf-8")) > 255:
        raise PathError("A name is at most 255 bytes long.")
    return name


_ESCAPE = re.compile(r"\\(?:x([0-9a-fA-F]{2})|u\{([0-9a-fA-F]{1,6})\})")


def shown(name: str) -> str:
    """A name as listed: raw bytes (surrogate-escaped by os) as \\xNN, unwelcome characters and the
    backslash as \\u{N}. Reversible by ``existing_name``; plain names are unchanged."""
    out = []
    for ch in name:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\x{code - 0xDC00:02x}")
        elif ch == "\\" or unicodedata.category(ch) in _BAD_CATEGORIES:
            out.append(f"\\u{{{code:x}}}")
        else:
            out.append(ch)
    return "".join(out)


def _unescape(match: re.Match[str]) -> str:
    if match.group(1) is not None:
        byte = int(match.group(1), 16)
        if byte < 0x80:
            raise PathError("\\xNN stands for a byte from 80 to ff; other characters are written as they are.")
        return chr(0xDC00 + byte)
    code = int(match.group(2), 16)
    if code == 0 or code == 0x2F or 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
        raise PathError("This escape names no character a file name may have.")
    return chr(code)


def existing_name(name: str) -> str:
    """The name on disk of an entry given as listed (see ``shown``); only ``.``, ``..``, NUL and
    the portal's own temp names are refused, since the entry exists already."""
    if "\x00" in name or "/" in name:
        raise PathError("A name cannot contain / or NUL.")
    pieces = []
    last = 0
    for match in _ESCAPE.finditer(name):
        pieces.append(name[last:match.start()])
        pieces.append(_unescape(match))
        last = match.end()
    rest = name[last:]
    if "\\" in "".join(pieces[::2]) + rest:
        raise PathError("A backslash in a name starts an escape: \\xNN or \\u{N}.")
    real = "".join(pieces) + rest
    if any(0xD800 <= ord(ch) <= 0xDFFF and not 0xDC80 <= ord(ch) <= 0xDCFF for ch in real):
        raise PathError("A name cannot contain a lone surrogate.")
    if real in ("", ".", ".."):
        raise PathError(f"{name!r} is not a valid name.")
    if len(os.fsencode(real)) > 255:  # no file system here holds a longer one
        raise PathError("A name is at most 255 bytes long.")
    if real.startswith(TEMP_PREFIX):
        raise PathError(f"Names starting with {TEMP_PREFIX} are reserved.")
    return real


def existing_path(path: str) -> tuple[str, ...]:
    """A relative path of an existing entry, as its names on disk (see ``existing_name``)."""
    if "\x00" in path:
        raise PathError("Paths cannot contain NUL.")
    if path.startswith(("/", "\\")) or (len(path) > 1 and path[1] == ":"):
        raise PathError("Paths are relative to the volume.")
    if len(path) > 4096 * 4:
        raise PathError("The path is too long.")
    return tuple(existing_name(part) for part in path.split("/") if part != "")


def clean_path(path: str) -> tuple[str, ...]:
    """A relative path as its cleaned components; '' is the volume itself."""
    if "\x00" in path:
        raise PathError("Paths cannot contain NUL.")
    path = unicodedata.normalize("NFC", path)
    if path.startswith(("/", "\\")) or (len(path) > 1 and path[1] == ":"):
        raise PathError("Paths are relative to the volume.")
    if len(path) > 4096:
        raise PathError("The path is too long.")
    return tuple(clean_name(part) for part in path.split("/") if part != "")


def _map_walk_error(exc: OSError, part: str) -> PathError:
    if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
        return PathError(f"{part!r} is not a folder (links are not followed).")
    if exc.errno == errno.ENOENT:
        return PathError(f"{part!r} does not exist.")
    return PathError(f"{part!r}: {exc.strerror}")


@dataclass(frozen=True)
class Entry:
    name: str
    is_dir: bool
    size: int
    modified: float


class VolumeFS:
    """The folder of one volume; ``owner_ids`` (uid, gid) for what it creates when run as root."""

    def __init__(self, base: Path, owner_ids: tuple[int, int] | None = None) -> None:
        self.base = Path(base)
        self.owner_ids = owner_ids if owner_ids and os.geteuid() == 0 else None

    def ensure(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        if self.owner_ids:
            os.chown(self.base, *self.owner_ids)

    def _own(self, name: str, dir_fd: int) -> None:
        if self.owner_ids:
            os.chown(name, *self.owner_ids, dir_fd=dir_fd, follow_symlinks=False)

    @contextmanager
    def directory(self, parts: Iterable[str], create: bool = False) -> Iterator[int]:
        """A descriptor of the folder ``parts``, reached without following links."""
        fd = os.open(self.base, _DIR_FLAGS)
        try:
            for part in parts:
                try:
                    new = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise PathError(f"{part!r} does not exist.") from None
                    os.mkdir(part, 0o775, dir_fd=fd)
                    self._own(part, fd)
                    new = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except OSError as exc:
                    raise _map_walk_error(exc, part) from exc
                os.close(fd)
                fd = new
            yield fd
        finally:
            os.close(fd)

    def _split(self, path: str, new: bool = False) -> tuple[tuple[str, ...], str]:
        """Folders and name of an entry: an existing one (names as listed), or a ``new`` one,
        whose name is held to the strict rules while its folders may be any existing ones."""
        parts = existing_path(path)
        if not parts:
            raise PathError("This needs a file or folder name, not the volume itself.")
        if new:
            return parts[:-1], clean_name(path.rstrip("/").rpartition("/")[2])
        return parts[:-1], parts[-1]

    def _lstat(self, name: str, dir_fd: int) -> os.stat_result | None:
        try:
            return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    # --- reading ---------------------------------------------------------
    def listdir(self, path: str = "") -> list[Entry]:
        entries = []
        with self.directory(existing_path(path)) as fd, os.scandir(fd) as it:
            for item in it:
                if item.name.startswith(TEMP_PREFIX):
                    continue
                st = item.stat(follow_symlinks=False)
                if stat.S_ISLNK(st.st_mode):
                    continue  # never shown, never followed
                entries.append(Entry(shown(item.name), stat.S_ISDIR(st.st_mode), st.st_size, st.st_mtime))
        return sorted(entries, key=lambda e: (not e.is_dir, e.name.lower()))

    def stat(self, path: str) -> os.stat_result:
        parts = existing_path(path)
        if not parts:
            return os.stat(self.base)
        with self.directory(parts[:-1]) as fd:
            st = self._lstat(parts[-1], fd)
        if st is None:
            raise PathError(f"{path!r} does not exist.")
        if stat.S_ISLNK(st.st_mode):
            raise PathError("Links are not followed.")
        return st

    def open_read(self, path: str) -> BinaryIO:
        folder, name = self._split(path)
        with self.directory(folder) as fd:
            try:
                # O_NONBLOCK: a FIFO made by a job must not hang the reader before the S_ISREG check.
                file_fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=fd)
            except FileNotFoundError:
                raise PathError(f"{path!r} does not exist.") from None
            except OSError as exc:
                raise _map_walk_error(exc, name) from exc
        if not stat.S_ISREG(os.fstat(file_fd).st_mode):
            os.close(file_fd)
            raise PathError(f"{path!r} is not a file.")
        return os.fdopen(file_fd, "rb")

    # --- changing --------------------------------------------------------
    def mkdir(self, path: str) -> None:
        folder, name = self._split(path, new=True)
        with self.directory(folder) as fd:
            try:
                os.mkdir(name, 0o775, dir_fd=fd)
            except FileExistsError:
                raise PathError(f"{name!r} exists already.") from None
            except OSError as exc:
                if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise QuotaExceeded("A new folder would exceed your quota.") from exc
                raise
            self._own(name, fd)

    def move(self, source: str, target: str) -> None:
        """Rename or move within the volume; never replaces an existing entry."""
        src_folder, src_name = self._split(source)
        dst_folder, dst_name = self._split(target, new=True)
        if (*dst_folder, dst_name)[: len(src_folder) + 1] == (*src_folder, src_name):
            raise PathError("A folder cannot be moved into itself.")
        with self.directory(src_folder) as src_fd, self.directory(dst_folder) as dst_fd:
            if self._lstat(src_name, src_fd) is None:
                raise PathError(f"{source!r} does not exist.")
            if self._lstat(dst_name, dst_fd) is not None:
                raise PathError(f"{target!r} exists already.")
            os.rename(src_name, dst_name, src_dir_fd=src_fd, dst_dir_fd=dst_fd)

    def delete(self, path: str) -> None:
        folder, name = self._split(path)
        with self.directory(folder) as fd:
            st = self._lstat(name, fd)
            if st is None:
                raise PathError(f"{path!r} does not exist.")
            if stat.S_ISDIR(st.st_mode):
                shutil.rmtree(name, dir_fd=fd)  # fd-based and symlink-safe since Python 3.11
            else:
                os.unlink(name, dir_fd=fd)

    def write(self, path: str, chunks: Iterable[bytes], limit: int | None = None, expected: int | None = None) -> int:
        """Store a stream as ``path``: into a temp file in the volume's top folder,
        renamed into place only when complete. Anything that goes wrong (quota,
        a full file system, a short or broken stream) removes the temp file. Returns the size."""
        folder, name = self._split(path, new=True)
        temp = f"{TEMP_PREFIX}{uuid.uuid4().hex}.part"
        with self.directory(()) as base_fd:
            try:
                out_fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o664, dir_fd=base_fd)
            except OSError as exc:
                if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise QuotaExceeded("The upload would exceed your quota.") from exc
                raise
            written = 0
            try:
                if expected is not None:
                    # Reserve the declared size at once (sparse): a concurrent upload's
                    # quota check, which counts file sizes, already sees these bytes.
                    os.ftruncate(out_fd, expected)
                with os.fdopen(out_fd, "wb") as out:
                    for chunk in chunks:
                        written += len(chunk)
                        if limit is not None and written > limit:
                            raise QuotaExceeded("The upload would exceed your quota.")
                        out.write(chunk)
                    if expected is not None and written != expected:
                        raise UploadInterrupted(f"The upload stopped after {written} of {expected} bytes.")
                    out.flush()
                    os.fsync(out.fileno())
                self._own(temp, base_fd)
                with self.directory(folder) as fd:
                    existing = self._lstat(name, fd)
                    if existing is not None and not stat.S_ISREG(existing.st_mode):
                        raise PathError(f"{name!r} exists and is not a file.")
                    os.replace(temp, name, src_dir_fd=base_fd, dst_dir_fd=fd)
            except BaseException as exc:
                try:
                    os.unlink(temp, dir_fd=base_fd)
                except FileNotFoundError:
                    pass
                if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):  # the area's file system (areas.py)
                    raise QuotaExceeded("The upload would exceed your quota.") from exc
                raise
        return written


def read_chunks(stream: BinaryIO, size: int = CHUNK) -> Iterator[bytes]:
    while chunk := stream.read(size):
        yield chunk


def tree_size(base: Path) -> int:
    """Exact bytes of the regular files under ``base`` (links not followed)."""
    total = 0
    stack = [str(base)]
    while stack:
        try:
            with os.scandir(stack.pop()) as it:
                for item in it:
                    st = item.stat(follow_symlinks=False)
                    if stat.S_ISDIR(st.st_mode):
                        stack.append(item.path)
                    elif stat.S_ISREG(st.st_mode):
                        total += st.st_size
        except FileNotFoundError:
            continue
    return total


def remove_older_than(base: Path, cutoff: float) -> int:
    """Remove files (of any type) that have not changed since before ``cutoff``, and folders left
    empty; returns how many files. Age is the inode's change time (ctime), which the kernel sets
    and nobody can stamp: a file dated 2099 with ``touch -d`` (mtime) is still as old as the
    moment it was written."""
    removed = 0
    for folder, _dirs, files in os.walk(base, topdown=False, followlinks=False):
        for name in files:
            path = os.path.join(folder, name)
            st = os.lstat(path)
            if st.st_ctime < cutoff:
                os.unlink(path)
                removed += 1
        if folder != str(base) and not os.listdir(folder) and os.lstat(folder).st_ctime < cutoff:
            os.rmdir(folder)
    return removed
