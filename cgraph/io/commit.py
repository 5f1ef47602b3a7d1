"""Saving graph files atomically: one commit point, and nothing left by a failed save.

Used by :func:`cgraph.io.save`. The npz goes to a name derived from its sha256
digest (a new name for new content, so the old graph's npz is never touched),
recorded in the JSON; each file is written to a temporary file, fsynced and
renamed into place, the JSON last. Until that rename the old JSON and its npz
are as they were; after it, the old npz is removed. A failure or an interrupt
(KeyboardInterrupt) at any step before the commit removes what this save made,
and nothing after the commit raises an OSError: the save is done.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
from pathlib import Path

from cgraph.errors import GraphFileError
from cgraph.io.files import open_regular

__all__ = ["previous_npz", "commit"]

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)

# The head of a graph file or a weights file (cgraph.io.weights) that has an npz.
_HEAD = re.compile(
    rb'\{"format": "cgraph(?:-weights)?", "version": [12], "npz": (\{[^{}]{1,400}\}), '
    rb'"(?:nodes|weights|bodies)": '
)


def previous_npz(path: Path, pattern: re.Pattern[str], legacy: Path) -> Path | None:
    """The npz the graph file now at ``path`` uses, if a save over it may remove it.

    Only a name this cgraph writes for ``path`` (``pattern``), or ``legacy`` (the name
    of older saves), is ever removed, never another file a (hostile) old file names.
    """
    try:
        file, size = open_regular(path, 1 << 40, lambda reason: GraphFileError(reason))
        with file:
            head = file.read(min(size, 4096))
        match = _HEAD.match(head)
        entry = json.loads(match.group(1)) if match else None
    except (OSError, GraphFileError, ValueError):
        return None  # no old graph file to replace, or not one this cgraph wrote
    if not isinstance(entry, dict):
        return None
    name = entry.get("file")
    if name is None:
        return legacy
    return path.parent / name if isinstance(name, str) and pattern.fullmatch(name) else None


def commit(path: Path, document: bytes, npz: tuple[Path, bytes] | None, stale: Path | None) -> None:
    """Write ``npz`` (its path and bytes), then ``document`` at ``path``; then remove ``stale``.

    The document's rename is the commit: an error or interrupt before it leaves the
    old files as they were, and removes the temporary files and the npz it made.
    """
    temporary: list[str] = []
    made: Path | None = None  # an npz this save created, to remove unless committed
    last = None
    try:
        if npz is not None:
            target, data = npz
            name = _write_temporary(target, data, temporary)
            made = None if _exists(target) else target
            os.replace(name, target)
        last = _write_temporary(path, document, temporary)
        os.replace(last, path)  # the commit
    except BaseException:
        # The document's temporary file is gone only if its rename happened.
        committed = last is not None and not os.path.lexists(last)
        for name in temporary:
            _remove_quietly(Path(name))
        if made is not None and not committed:
            _remove_quietly(made)
        raise
    _sync_directory(path.parent)
    if stale is not None and (npz is None or stale != npz[0]):
        _remove_quietly(stale)


def _write_temporary(target: Path, data: bytes, temporary: list[str]) -> str:
    """``data`` in a new temporary file beside ``target``, flushed to disk; its name."""
    name = str(target.parent / f".{target.name}.{secrets.token_hex(8)}.tmp")
    temporary.append(name)  # before it exists: an interrupt just after os.open cannot leak it
    # os.open with 0o666 lets the umask set the mode, as open() would (mkstemp: 0o600).
    handle = os.open(name, _CREATE, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(handle, view) :]
        os.fsync(handle)
    finally:
        os.close(handle)
    return name


def _exists(path: Path) -> bool:
    """Whether ``path`` exists; an error other than its absence stops the save."""
    try:
        os.lstat(path)
    except FileNotFoundError:
        return False
    return True


def _sync_directory(directory: Path) -> None:
    """Flush the renames to disk too, where the system allows it (not on Windows).

    After the commit: the save is done, so an error here is not one to raise.
    """
    with contextlib.suppress(OSError):
        handle = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


def _remove_quietly(path: Path) -> None:
    # Already gone, or cannot be removed: what is left is unused, not wrong.
    with contextlib.suppress(OSError):
        os.unlink(path)
