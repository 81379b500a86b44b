"""abm.safeio: bounded reads of regular text files, and file pairs replaced together (issue 11)."""

import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from abm.errors import InputError
from abm.safeio import read_text_limited, remove_stale_temporaries, replace_together

# ----------------------------------------------------------------------------- reading


def test_reads_a_regular_file_up_to_exactly_the_limit(tmp_path):
    f = tmp_path / "s.toml"
    f.write_bytes(b"a = 1\n" * 10)  # 60 bytes
    assert read_text_limited(f, 60, "scenario file") == "a = 1\n" * 10
    with pytest.raises(InputError, match=r"has 60 bytes, more than the limit of 59$"):
        read_text_limited(f, 59, "scenario file")


def test_a_symlink_to_a_regular_file_is_read(tmp_path):
    (tmp_path / "real.toml").write_text("x = 2\n")
    (tmp_path / "link.toml").symlink_to(tmp_path / "real.toml")
    assert read_text_limited(tmp_path / "link.toml", 100, "scenario file") == "x = 2\n"


def test_byte_order_mark_is_dropped(tmp_path):
    f = tmp_path / "bom.csv"
    f.write_bytes("\ufeffyear,code\n".encode())
    assert read_text_limited(f, 100, "data file") == "year,code\n"


@pytest.mark.parametrize("content,needle", [
    (b"title = 'x'\x00\x01\x02", "is binary, not text (NUL byte at offset 11)"),
    (b"ok = 1\n\xff\xfe", "is not UTF-8 text (invalid byte at offset 7)"),
])
def test_binary_and_undecodable_files_are_refused(tmp_path, content, needle):
    f = tmp_path / "b.toml"
    f.write_bytes(content)
    with pytest.raises(InputError, match=r"^scenario file '.*b\.toml' " + needle.replace(
            "(", r"\(").replace(")", r"\)") + "$"):
        read_text_limited(f, 1000, "scenario file")


def test_directory_is_refused(tmp_path):
    with pytest.raises(InputError, match="is a directory, not a regular file"):
        read_text_limited(tmp_path, 1000, "scenario file")


@pytest.mark.timeout(60)
def test_fifo_without_writer_is_refused_without_hanging(tmp_path):
    fifo = tmp_path / "pipe.toml"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match=r"is a named pipe \(FIFO\), not a regular file"):
        read_text_limited(fifo, 1000, "scenario file")


@pytest.mark.timeout(60)
def test_dev_zero_is_refused_without_reading(tmp_path):
    link = tmp_path / "zero.toml"
    link.symlink_to("/dev/zero")
    for path in ("/dev/zero", link):
        with pytest.raises(InputError, match="is a character device, not a regular file"):
            read_text_limited(path, 1000, "scenario file")


def test_socket_is_refused(tmp_path):
    path = tmp_path / "s.sock"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))
        with pytest.raises(InputError, match=r"^cannot read scenario file .*s\.sock"):
            read_text_limited(path, 1000, "scenario file")


def test_missing_file_is_named(tmp_path):
    with pytest.raises(InputError, match=r"^data file '.*nope\.csv' not found$"):
        read_text_limited(tmp_path / "nope.csv", 1000, "data file")


# ----------------------------------------------------------------------------- writing

def writer(text: str):
    def write(path: Path) -> None:
        with open(path, "w") as fh:  # a plain open, as pandas does
            fh.write(text)
    return write


def pair(tmp_path, a="A", b="B"):
    return [(tmp_path / "r.csv", writer(a)), (tmp_path / "r.events.csv", writer(b))]


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def umask():
    """Set the process umask for one test and restore it after."""
    saved = os.umask(0o022)
    os.umask(saved)
    yield lambda m: os.umask(m)
    os.umask(saved)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mask,expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_new_files_get_the_users_umask(tmp_path, umask, mask, expected):
    umask(mask)
    replace_together(pair(tmp_path))
    assert listing(tmp_path) == ["r.csv", "r.events.csv"]
    assert (tmp_path / "r.csv").read_text() == "A"
    assert (tmp_path / "r.events.csv").read_text() == "B"
    assert mode(tmp_path / "r.csv") == expected  # 0o666 & ~umask, as `touch` would create
    assert mode(tmp_path / "r.events.csv") == expected


def test_replaced_files_get_the_users_umask_too(tmp_path, umask):
    umask(0o022)
    for name in ("r.csv", "r.events.csv"):
        (tmp_path / name).write_text("old")
        os.chmod(tmp_path / name, 0o644)
    replace_together(pair(tmp_path))
    assert (tmp_path / "r.csv").read_text() == "A"
    assert mode(tmp_path / "r.csv") == 0o644 and mode(tmp_path / "r.events.csv") == 0o644


@pytest.fixture
def failing_rename(monkeypatch):
    """Make the rename onto ``r.events.csv`` fail, as a full or read-only disk would."""
    real = os.replace
    calls = []

    def replace(src, dst, *args, **kwargs):
        calls.append((Path(src).name, Path(dst).name))
        if Path(dst).name == "r.events.csv" and Path(src).name.startswith("new-"):
            raise OSError(5, "Input/output error")
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    return calls


def test_failed_second_rename_restores_the_old_pair(tmp_path, failing_rename):
    (tmp_path / "r.csv").write_text("old results")
    (tmp_path / "r.events.csv").write_text("old events")
    with pytest.raises(OSError, match="Input/output error"):
        replace_together(pair(tmp_path))
    # the first rename did happen, and was undone
    assert ("new-0-r.csv", "r.csv") in failing_rename
    assert (tmp_path / "r.csv").read_text() == "old results"
    assert (tmp_path / "r.events.csv").read_text() == "old events"
    assert listing(tmp_path) == ["r.csv", "r.events.csv"]  # no temporaries left


def test_failed_second_rename_without_old_pair_leaves_no_file(tmp_path, failing_rename):
    with pytest.raises(OSError):
        replace_together(pair(tmp_path))
    assert ("new-0-r.csv", "r.csv") in failing_rename
    assert listing(tmp_path) == []


def test_failed_second_write_changes_nothing(tmp_path):
    (tmp_path / "r.csv").write_text("old results")

    def disk_full(path):
        Path(path).write_text("partial")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        replace_together([(tmp_path / "r.csv", writer("A")),
                          (tmp_path / "r.events.csv", disk_full)])
    assert listing(tmp_path) == ["r.csv"]
    assert (tmp_path / "r.csv").read_text() == "old results"


def test_a_directory_in_the_way_is_refused_before_anything_is_written(tmp_path):
    (tmp_path / "r.csv").write_text("old results")
    (tmp_path / "r.events.csv").mkdir()
    with pytest.raises(InputError, match=r"cannot write '.*r\.events\.csv': it is a directory"):
        replace_together(pair(tmp_path))
    assert (tmp_path / "r.csv").read_text() == "old results"
    assert listing(tmp_path) == ["r.csv", "r.events.csv"]


def test_stale_temporaries_are_removed_and_live_ones_kept(tmp_path):
    import fcntl

    dead = tmp_path / ".old.csv.k3j2.abm-tmp"
    dead.mkdir()
    (dead / "new-0-old.csv").write_text("half")
    live = tmp_path / ".other.csv.x9y8.abm-tmp"
    live.mkdir()
    fd = os.open(live, os.O_RDONLY)  # another writer at work: it holds the lock
    fcntl.flock(fd, fcntl.LOCK_EX)
    hour_ago = time.time() - 2 * 3600
    legacy_old = tmp_path / ".x.csv.ab12cd34.tmp"  # what mkstemp left before this version
    legacy_old.write_text("half")
    os.utime(legacy_old, (hour_ago, hour_ago))
    legacy_new = tmp_path / ".y.csv.ef56gh78.tmp"
    legacy_new.write_text("being written")
    unlocked_old = tmp_path / ".z.csv.q1w2.abm-new"
    unlocked_old.mkdir()
    os.utime(unlocked_old, (hour_ago, hour_ago))
    keep = tmp_path / ".hidden_user_file"
    keep.write_text("mine")
    os.utime(keep, (hour_ago, hour_ago))
    try:
        replace_together(pair(tmp_path))
        assert listing(tmp_path) == sorted([
            "r.csv", "r.events.csv", live.name, legacy_new.name, keep.name])
    finally:
        os.close(fd)
    assert remove_stale_temporaries(tmp_path) == [live.name]  # its writer is gone now


def test_a_killed_writer_leaves_a_directory_the_next_run_removes(tmp_path):
    code = ("import os, signal; from pathlib import Path; from abm.safeio import replace_together\n"
            "def die(path):\n    Path(path).write_text('half'); os.kill(os.getpid(), "
            "signal.SIGKILL)\n"
            f"replace_together([(Path({str(tmp_path)!r}) / 'r.csv', die)])\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert r.returncode == -9
    left = [n for n in listing(tmp_path) if n.endswith(".abm-tmp")]
    assert len(left) == 1 and left[0].startswith(".r.csv.")
    replace_together(pair(tmp_path))
    assert listing(tmp_path) == ["r.csv", "r.events.csv"]
