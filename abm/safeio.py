"""Safe file input and output: regular files of bounded size in, file groups written atomically.

Reading (:func:`read_text_limited`): a scenario or data file named by a user is opened without
blocking, refused unless it is a regular file (a directory, ``/dev/zero``, a FIFO or a socket is
an :class:`~abm.errors.InputError`, never a hang or an endless read), refused when larger than
a limit, and decoded as UTF-8 text (a binary file is refused by its first NUL or undecodable
byte). A leading byte-order mark is dropped (spreadsheets write one).

Writing (:func:`replace_together`): several files that belong together (results and their event
log) are written into a private hidden directory next to their targets, synced, and renamed into
place one after the other. Each target that existed is first hard-linked aside, so if a later
rename fails every earlier one is undone: the targets are then exactly as before (the old pair,
or no file). Files are created with the user's umask, like any file a shell creates. A process
killed while writing leaves its hidden directory behind; the next write into the same
directory removes it (:func:`remove_stale_temporaries`), and never one still in use: each
writer holds a lock on its directory, which the kernel releases when the process dies.

Limits (:data:`MAX_MONTHS`, :data:`MAX_SCENARIO_BYTES`, :data:`MAX_DATA_BYTES`) are the
documented caps of the command line and the loaders.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from abm.errors import InputError

__all__ = ["MAX_MONTHS", "MAX_SCENARIO_BYTES", "MAX_DATA_BYTES", "read_text_limited",
           "replace_together", "remove_stale_temporaries", "check_target"]

#: Longest run in months (100 years): ``--steps`` and scenario horizons are capped here.
#: The calibration describes one data year and a decade of policy; a century is far past
#: anything the model can say, yet short enough to finish in about 15 s with 200 firms.
MAX_MONTHS = 1200
#: Largest scenario TOML file read, bytes (the shipped ones are under 10 kB).
MAX_SCENARIO_BYTES = 1 << 20
#: Largest calibration CSV read, bytes (the shipped ones are under 10 kB).
MAX_DATA_BYTES = 16 << 20

_TMP_SUFFIX = ".abm-tmp"  # a writer's directory once it holds its lock
_NEW_SUFFIX = ".abm-new"  # a writer's directory before it is locked (removed only when old)
_LEGACY_TMP = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")  # mkstemp files of earlier versions
_ORPHAN_AGE_S = 3600.0

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def read_text_limited(path: str | os.PathLike, max_bytes: int, what: str) -> str:
    """Read a user's text file: a regular file of at most ``max_bytes`` bytes, UTF-8.

    The file is opened with ``O_NONBLOCK`` (a FIFO without a writer does not hang the
    open) and checked with ``fstat`` on the open descriptor (no race between check and read).
    At most ``max_bytes + 1`` bytes are ever read, also when the file grows meanwhile.
    Meant for every file a user names, e.g. in the scenario loader::

        text = read_text_limited(path, MAX_SCENARIO_BYTES, "scenario file")
        doc = tomllib.loads(text)

    Args:
        path: the file to read.
        max_bytes: largest accepted size in bytes.
        what: how messages name the file, e.g. ``"scenario file"`` or ``"data file"``.

    Returns:
        The decoded text (a leading UTF-8 byte-order mark removed).

    Raises:
        InputError: one line naming the file: not found, not readable, not a regular file,
            larger than ``max_bytes``, or not UTF-8 text (a NUL byte or an invalid sequence).
    """
    name = os.fspath(path)
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(name, flags)
    except FileNotFoundError:
        raise InputError(f"{what} {name!r} not found") from None
    except OSError as exc:
        raise InputError(f"cannot read {what} {name!r}: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = next((k for test, k in _KINDS if test(st.st_mode)), "not a regular file")
            raise InputError(f"{what} {name!r} is {kind}, not a regular file")
        if st.st_size > max_bytes:
            raise InputError(f"{what} {name!r} has {st.st_size:,} bytes, more than the limit "
                             f"of {max_bytes:,}")
        chunks, total = [], 0
        while total <= max_bytes:
            try:
                chunk = os.read(fd, min(1 << 20, max_bytes + 1 - total))
            except OSError as exc:
                raise InputError(f"cannot read {what} {name!r}: {exc.strerror}") from None
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > max_bytes:
            raise InputError(f"{what} {name!r} grew beyond the limit of {max_bytes:,} bytes "
                             "while being read")
    finally:
        os.close(fd)
    data = b"".join(chunks)
    nul = data.find(b"\x00")
    if nul >= 0:
        raise InputError(f"{what} {name!r} is binary, not text (NUL byte at offset {nul})")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{what} {name!r} is not UTF-8 text (invalid byte at offset "
                         f"{exc.start})") from None


def _try_lock(fd: int) -> bool:
    """Take an exclusive non-blocking lock on an open descriptor; False if another holds it."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - no flock (Windows): treat as held, keep it
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def remove_stale_temporaries(directory: str | os.PathLike) -> list[str]:
    """Remove what killed writers left in ``directory``; return the names removed.

    A writer's hidden directory (``.NAME.XXXX.abm-tmp``) is removed when no process holds its
    lock (its writer is gone). A directory that never got its lock (``.abm-new``) and hidden
    ``.NAME.XXXXXXXX.tmp`` files left by earlier versions of this program are removed when
    older than an hour. Errors (e.g. a directory one may not list) are ignored: cleaning is a
    courtesy and must not fail a run.
    """
    removed = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    now = time.time()
    for e in entries:
        if not e.name.startswith("."):
            continue
        try:
            if e.name.endswith(_TMP_SUFFIX) and e.is_dir(follow_symlinks=False):
                fd = os.open(e.path, os.O_RDONLY)
                try:
                    if _try_lock(fd):
                        shutil.rmtree(e.path, ignore_errors=True)
                        removed.append(e.name)
                finally:
                    os.close(fd)
            elif now - e.stat(follow_symlinks=False).st_mtime > _ORPHAN_AGE_S:
                if e.name.endswith(_NEW_SUFFIX) and e.is_dir(follow_symlinks=False):
                    shutil.rmtree(e.path, ignore_errors=True)
                    removed.append(e.name)
                elif _LEGACY_TMP.match(e.name) and e.is_file(follow_symlinks=False):
                    os.unlink(e.path)
                    removed.append(e.name)
        except OSError:
            continue
    return removed


def check_target(path: str | os.PathLike) -> None:
    """Check that an output file may be (re)placed: absent, a regular file or a symlink.

    Raises:
        InputError: the path is a directory, a FIFO, a device or a socket.
    """
    path = Path(path)
    try:
        st = path.lstat()
    except FileNotFoundError:
        return
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
        kind = next((k for test, k in _KINDS if test(st.st_mode)), "not a regular file")
        raise InputError(f"cannot write {str(path)!r}: it is {kind}")


def _fsync_path(path: str | os.PathLike) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # some file systems cannot sync a directory; the data files are synced
        pass
    finally:
        os.close(fd)


def replace_together(files: Iterable[tuple[str | os.PathLike, Callable[[Path], None]]]) -> None:
    """Write files that belong together and put them in place all at once, or not at all.

    Each ``write(tmp_path)`` creates its file at the temporary path it is given (a plain
    ``open``, so the file gets the user's umask). When every file is written and synced they
    are renamed over their targets one by one; each existing target is hard-linked aside
    first, so that when a rename fails the earlier ones are undone and the targets are left
    exactly as they were (old files, or none). Readers never see a half-written file; between
    the renames they may see the new first file with the old second one.

    Args:
        files: ``(target, write)`` pairs, all targets in one directory.

    Raises:
        InputError: targets in different directories, or a target that is a directory or
            another non-file.
        OSError: a write or rename failed; nothing was changed (the hidden temporary
            directory is removed).
    """
    files = [(Path(t), w) for t, w in files]
    parents = {t.parent.resolve() for t, _ in files}
    if len(parents) != 1:
        raise InputError("files written together must share one directory")
    names = [t.name for t, _ in files]
    if len(set(names)) != len(names):
        raise InputError(f"the same file is named twice: {names}")
    for target, _ in files:
        check_target(target)
    parent = files[0][0].parent
    remove_stale_temporaries(parent)
    fresh = tempfile.mkdtemp(prefix=f".{names[0]}.", suffix=_NEW_SUFFIX, dir=parent)
    lock = os.open(fresh, os.O_RDONLY)
    try:
        _try_lock(lock)
        work = fresh[: -len(_NEW_SUFFIX)] + _TMP_SUFFIX
        os.rename(fresh, work)  # the lock stays on the directory's inode
        try:
            _write_and_swap(files, Path(work))
        finally:
            shutil.rmtree(work, ignore_errors=True)
    finally:
        os.close(lock)
        if os.path.isdir(fresh):
            shutil.rmtree(fresh, ignore_errors=True)


def _write_and_swap(files: list[tuple[Path, Callable[[Path], None]]], work: Path) -> None:
    staged = []
    for i, (target, write) in enumerate(files):
        tmp = work / f"new-{i}-{target.name}"
        write(tmp)
        _fsync_path(tmp)
        staged.append((tmp, target))
    done: list[tuple[Path, Path | None]] = []  # (target, backup of the old file or None)
    try:
        for i, (tmp, target) in enumerate(staged):
            backup = None
            if os.path.lexists(target):
                backup = work / f"old-{i}-{target.name}"
                try:
                    os.link(target, backup, follow_symlinks=False)
                except OSError:  # no hard links here: move it aside instead (brief gap)
                    os.rename(target, backup)
            done.append((target, backup))
            os.replace(tmp, target)
    except BaseException as exc:
        failed = _undo(done)
        if failed:
            raise OSError(f"{exc}; restoring the previous files failed for "
                          f"{', '.join(failed)}") from exc
        raise
    _fsync_path(work.parent)


def _undo(done: list[tuple[Path, Path | None]]) -> list[str]:
    """Put back the old targets (or remove new ones); return the targets that failed."""
    failed = []
    for target, backup in reversed(done):
        try:
            if backup is not None:
                os.replace(backup, target)
            else:
                Path(target).unlink(missing_ok=True)
        except OSError:
            failed.append(str(target))
    return failed
