"""The files behind graph files: bounded reads, and the npz beside them.

Used by :mod:`cgraph.io`, which describes the format.

Reading trusts nothing in the file. A path must name a regular file (symlinks
followed): checked with ``os.stat`` before it is opened, and again with
``os.fstat`` on the descriptor, opened non-blocking so that a FIFO swapped in
between cannot block. Its size must be within a stated limit, and exactly that
many bytes are read. An npz is hashed in chunks before anything else is read
from it; its members must be uncompressed (stored) ``<key>.npy`` files, so no
small file expands into a large one; each npy header is read (at most 10,000
bytes) and its dtype and shape checked against the record, and its data size
against the member's size, before the array is allocated. Saving is in
:mod:`cgraph.io.commit`.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import re
import stat
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from cgraph.errors import GraphFileError
from cgraph.io.values import DTYPES, check_fields, expect, shown

__all__ = ["read_regular", "open_regular", "npz_bytes", "NpzArchive", "GraphArrays"]

_READ = (
    os.O_RDONLY
    | getattr(os, "O_BINARY", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_NOCTTY", 0)
)
_CHUNK = 1 << 20
_MEMBER = re.compile(r"([A-Za-z0-9_]{1,64})\.npy")
_MAX_DIMENSIONS = 64  # numpy's own limit
_SHA256 = re.compile(r"[0-9a-f]{64}")
_NPZ_NAME = re.compile(r"[^/\\:\x00]{1,200}\.npz")  # beside the graph file: no directory
_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)

Refuse = Callable[[str], GraphFileError]  # makes the error for a reason, with its context


# --------------------------------------------------------------------------------------
# Reading regular files, bounded
# --------------------------------------------------------------------------------------


def open_regular(path: Path, limit: int, refuse: Refuse) -> tuple[io.FileIO, int]:
    """``path`` open for reading, and its size; refused unless a regular file within ``limit``."""
    try:
        _check_regular(os.stat(path), limit, refuse)
        handle = os.open(path, _READ)
    except OSError as err:
        raise refuse(err.strerror or str(err)) from err
    file = io.FileIO(handle, "rb", closefd=True)
    try:
        info = os.fstat(handle)
        _check_regular(info, limit, refuse)  # what was opened, should the path have changed
    except BaseException:
        file.close()
        raise
    return file, info.st_size


def _check_regular(info: os.stat_result, limit: int, refuse: Refuse) -> None:
    if not stat.S_ISREG(info.st_mode):
        kind = next((name for test, name in _KINDS if test(info.st_mode)), "not a file")
        raise refuse(
            f"it is {kind}, not a regular file (a graph file never reads a device, "
            "a pipe or a directory)"
        )
    if info.st_size > limit:
        raise refuse(
            f"it holds {info.st_size:,} bytes, more than the {limit:,} allowed (the "
            "limit is cgraph.io.MAX_JSON_BYTES or MAX_NPZ_BYTES; raise it for a "
            "file you trust)"
        )


def read_regular(path: Path, limit: int, refuse: Refuse) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them (see the module)."""
    file, size = open_regular(path, limit, refuse)
    data = bytearray(size)
    with file:
        _fill(file, memoryview(data), refuse)
        if _read_quietly(file, 1, refuse):
            raise refuse("it grew while being read")
    return bytes(data)


def _fill(file: io.FileIO, view: memoryview, refuse: Refuse) -> None:
    """Read exactly ``len(view)`` bytes into ``view``."""
    done = 0
    while done < len(view):
        count = _read_quietly(file, view[done : done + _CHUNK], refuse)
        if not count:
            raise refuse("it became shorter while being read")
        done += count


def _read_quietly(file: io.FileIO, into: memoryview | int, refuse: Refuse) -> Any:
    """``file.readinto(into)``, or ``file.read(into)`` for a count; an OSError refused."""
    try:
        return file.read(into) if isinstance(into, int) else file.readinto(into)
    except OSError as err:  # e.g. EIO: a failing disk
        raise refuse(err.strerror or str(err)) from err


# --------------------------------------------------------------------------------------
# The npz
# --------------------------------------------------------------------------------------


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """An npz as np.savez writes it, but with fixed timestamps: the same graph, the same bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for key, array in arrays.items():
            member = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            with archive.open(member, "w", force_zip64=True) as file:
                np.lib.format.write_array(file, array, allow_pickle=False)
    return buffer.getvalue()


# What a malformed zip or npy header raises from zipfile and numpy's header reader.
_MALFORMED = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    OSError,
    EOFError,
    ValueError,
    TypeError,
    KeyError,
    OverflowError,
    NotImplementedError,
    RecursionError,
)


class NpzArchive:
    """The npz beside a graph file: its digest checked, then its members, read one by one.

    ``where`` begins each message; ``sha256`` is the digest the graph file records.
    """

    def __init__(self, path: Path, sha256: str, limit: int, where: str) -> None:
        self.path, self.where = path, where
        self.used: set[str] = set()
        file, size = open_regular(path, limit, self._unreadable)
        try:
            if _digest(file, size, self._unreadable) != sha256:
                raise GraphFileError(
                    f"{where}: '{path}' is not the npz saved with this graph "
                    "file: its sha256 digest differs (was one of them replaced "
                    "or edited?)"
                )
            self.archive, self.members = self._open(file, size)
        except BaseException:
            file.close()
            raise
        self.file = file

    def _open(self, file: io.FileIO, size: int) -> tuple[zipfile.ZipFile, dict]:
        try:
            file.seek(0)
            archive = zipfile.ZipFile(file)
        except _MALFORMED as err:
            raise GraphFileError(
                f"{self.where}: '{self.path}' is not an npz archive ({err})"
            ) from err
        try:
            return archive, self._members(archive, size)
        except BaseException:
            archive.close()
            raise

    def _unreadable(self, reason: str) -> GraphFileError:
        return GraphFileError(
            f"{self.where}: its value is kept in '{self.path}', which cannot "
            f"be read: {reason}; keep the .npz beside the graph file"
        )

    def _members(self, archive: zipfile.ZipFile, size: int) -> dict[str, zipfile.ZipInfo]:
        members: dict[str, zipfile.ZipInfo] = {}
        for info in archive.infolist():
            match = _MEMBER.fullmatch(info.filename)
            problem = (
                "is not named '<key>.npy'"
                if match is None
                else "appears twice"
                if match.group(1) in members
                else "is encrypted"
                if info.flag_bits & 0x1
                else "is compressed; cgraph writes and reads stored (uncompressed) members "
                "only, so that no small file can expand into a large one"
                if info.compress_type != zipfile.ZIP_STORED
                else f"declares {info.file_size:,} bytes but stores {info.compress_size:,}"
                if info.file_size != info.compress_size
                else "lies past the end of the archive"
                if info.header_offset + info.compress_size > size
                else None
            )
            if problem:
                raise GraphFileError(
                    f"{self.where}: in '{self.path}', the member {info.filename[:80]!r} {problem}"
                )
            assert match is not None  # else ``problem`` says so
            members[match.group(1)] = info
        return members

    def get(self, key: str, dtype: np.dtype, shape: tuple[int, ...], where: str) -> np.ndarray:
        """A fresh copy of the array ``key``, refused unless of ``dtype`` and ``shape``."""
        info = self.members.get(key)
        if info is None:
            raise GraphFileError(f"{where}: the array {key!r} is not in '{self.path}'")
        self.used.add(key)
        try:
            with self.archive.open(info) as member:
                return self._read(member, info.file_size, key, dtype, shape, where)
        except GraphFileError:
            raise
        except _MALFORMED as err:
            raise GraphFileError(
                f"{where}: the array {key!r} in '{self.path}' is not a readable npy ({err})"
            ) from err

    def _read(
        self, member: Any, size: int, key: str, dtype: np.dtype, shape: tuple[int, ...], where: str
    ) -> np.ndarray:
        stored, dims, fortran = _npy_header(member)
        if stored.hasobject:
            raise GraphFileError(
                f"{where}: the array {key!r} in '{self.path}' holds Python "
                "objects, which cannot be read without unpickling; cgraph "
                "never unpickles"
            )
        if (
            stored.name not in DTYPES
            or not all(type(d) is int and d >= 0 for d in dims)
            or len(dims) > _MAX_DIMENSIONS
        ):
            raise GraphFileError(
                f"{where}: the array {key!r} in '{self.path}' declares dtype "
                f"{stored} and shape {dims!r}, which a graph file cannot hold"
            )
        if stored.name != dtype.name or dims != shape:
            raise GraphFileError(
                f"{where}: the array {key!r} in '{self.path}' has dtype "
                f"{stored.name} and shape {dims}, but the file says {dtype} "
                f"and {list(shape)}"
            )
        expected = math.prod(dims) * stored.itemsize
        if size - member.tell() != expected:
            raise GraphFileError(
                f"{where}: the array {key!r} in '{self.path}' declares "
                f"{expected:,} bytes of data but holds {size - member.tell():,}"
            )
        data = np.empty(expected, dtype=np.uint8)  # its size now checked against the file
        view, done = data.data, 0  # a memoryview of data's bytes
        while done < expected:
            count = member.readinto(view[done : done + _CHUNK])  # zipfile copies each read
            if not count:
                raise GraphFileError(f"{where}: the array {key!r} in '{self.path}' is truncated")
            done += count
        member.read(1)  # at its end, zipfile checks the member's CRC
        array = data.view(stored).reshape(dims[::-1] if fortran else dims)
        # No copy for a C-order array of this machine's byte order, the case save writes.
        return np.asarray(array.T if fortran else array, dtype=stored.newbyteorder("="), order="C")

    def unused(self) -> list[str]:
        """The keys of the members that no record used."""
        return sorted(set(self.members) - self.used)

    def close(self) -> None:
        self.archive.close()
        self.file.close()


def _digest(file: io.FileIO, size: int, refuse: Refuse) -> str:
    """The sha256 of the ``size`` bytes of ``file``, read in chunks (bounded memory)."""
    digest, view, done = hashlib.sha256(), memoryview(bytearray(_CHUNK)), 0
    while done < size:
        count = _read_quietly(file, view[: min(_CHUNK, size - done)], refuse)
        if not count:
            raise refuse("it became shorter while being read")
        digest.update(view[:count])
        done += count
    return digest.hexdigest()


def _npy_header(member: Any) -> tuple[np.dtype, tuple, bool]:
    """The dtype, shape and Fortran order an npy header declares (a bounded read)."""
    version = np.lib.format.read_magic(member)
    if version not in ((1, 0), (2, 0)):
        raise ValueError(f"npy version {version} (this cgraph reads 1.0 and 2.0)")
    read = (
        np.lib.format.read_array_header_1_0
        if version == (1, 0)
        else np.lib.format.read_array_header_2_0
    )
    # numpy warns of a header it could parse only as Python 2 wrote it: not an error here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        shape, fortran, dtype = read(member)
    return dtype, shape, fortran


class GraphArrays:
    """The npz a graph file's ``"npz"`` entry names, opened on first use (see NpzArchive)."""

    def __init__(self, path: Path, info: Any, where: str, limit: int) -> None:
        self.archive: NpzArchive | None = None
        self.info, self.limit = info, limit
        if info is None:
            return
        expect(info, dict, '"npz"', where)
        check_fields(info, ("sha256",), f'{where}, "npz"', optional=("file",))
        if not isinstance(info["sha256"], str) or not _SHA256.fullmatch(info["sha256"]):
            raise GraphFileError(
                f'{where}, "npz": "sha256" must be 64 lowercase hex digits, '
                f"not {shown(info['sha256'])}"
            )
        name = info.get("file")
        if name is None:  # written before the name was recorded
            self.path = path.with_suffix(".npz")
        elif isinstance(name, str) and _NPZ_NAME.fullmatch(name):
            self.path = path.parent / name
        else:
            raise GraphFileError(
                f'{where}, "npz": "file" must name an .npz beside the graph '
                f"file, without a directory, not {shown(name)}"
            )

    def get(self, key: str, dtype: np.dtype, shape: tuple[int, ...], where: str) -> np.ndarray:
        if self.info is None:
            raise GraphFileError(
                f"{where}: its value is in an npz file, but the graph file "
                'has no "npz" entry giving that file\'s digest'
            )
        if self.archive is None:
            self.archive = NpzArchive(self.path, self.info["sha256"], self.limit, where)
        return self.archive.get(key, dtype, shape, where)

    def check_all_used(self, where: str) -> None:
        unused = self.archive.unused() if self.archive is not None else []
        if unused:
            raise GraphFileError(
                f"{where}: '{self.path}' holds array(s) no record uses: "
                f"{', '.join(map(repr, unused[:5]))} (was it edited?)"
            )

    def close(self) -> None:
        if self.archive is not None:
            self.archive.close()
