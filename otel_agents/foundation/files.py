"""Private files shared by many processes: 0700 directories, 0600 files, one-write appends.

A record is serialised whole, then written with ONE ``os.write`` on an ``O_APPEND``
descriptor, so concurrent writers never interleave (REFERENCE §5). Readers stop at a
trailing partial line and skip lines that do not parse.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` (and missing parents) with mode 0700; returns it as a Path."""
    p = Path(path)
    if p.is_dir():
        return p
    missing: list[Path] = []
    cur = p
    while not cur.exists():
        missing.append(cur)
        if cur.parent == cur:
            break
        cur = cur.parent
    for d in reversed(missing):
        try:
            os.mkdir(d, DIR_MODE)
            os.chmod(d, DIR_MODE)  # umask may have removed bits; never add group/other
        except FileExistsError:
            pass
    return p


def open_append(path: str | os.PathLike[str]) -> int:
    """An ``O_APPEND`` descriptor on ``path`` (readable too: see ``_ends_a_line``), created
    0600 if missing."""
    return os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)


def write_all_once(fd: int, data: bytes) -> None:
    """Write ``data`` with one ``os.write``; a short write (disk full) raises ``OSError``.

    After a short write the caller's file ends in a partial line; the next record must
    start on a fresh line (see ``AppendFile``).
    """
    n = os.write(fd, data)
    if n != len(data):
        raise OSError(errno.ENOSPC, f"short write: {n} of {len(data)} bytes")


class AppendFile:
    """One append-only file a process keeps open; every record is one ``os.write``.

    - A write cut short (disk full: ENOSPC, EFBIG) is undone: the partial bytes are cut off
      again when they are still the end of the file, so no torn line stays behind; if they
      cannot be (another writer appended meanwhile), the next record starts on a fresh line,
      so the torn one never swallows it (readers skip it).
    - A file that does not end with a newline when it is opened (its last writer was killed
      in the middle of a large write) gets the same fresh line before the first record.
    - A file deleted while open (its descriptor now points at an unlinked inode) is noticed
      after the write (``st_nlink == 0``): the file is created again and the record written
      to it, so nothing goes to a file nobody can read.
    """

    __slots__ = ("path", "_fd", "_broken")

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._fd = -1
        self._broken = False

    def _open(self) -> int:
        if self._fd < 0:
            private_dir(self.path.parent)
            fd = self._fd = open_append(self.path)
            self._broken = self._broken or not _ends_a_line(fd)
        return self._fd

    def append(self, record: bytes) -> int:
        """Append one complete line (``record`` ends with ``\\n``); returns the file size."""
        for _attempt in range(2):
            fd = self._open()
            data = b"\n" + record if self._broken else record
            n = os.write(fd, data)  # raises with nothing written (ENOSPC at once): no change
            if n != len(data):
                if not _undo_partial(fd, self.path, data, n):
                    self._broken = True  # a partial line stays: start the next on a new line
                raise OSError(errno.ENOSPC, f"short write: {n} of {len(data)} bytes")
            self._broken = False
            st = os.fstat(fd)
            if st.st_nlink > 0:
                return st.st_size
            self.close()  # deleted while open: what we wrote is gone with it; write it again
        return os.fstat(self._fd).st_size

    def close(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1


def _ends_a_line(fd: int) -> bool:
    """True if the file is empty or ends with a newline. A file another process left in the
    middle of a line (killed during a large write) is False: our first record then starts
    on a fresh line, so it is not joined to the torn one. Another process's write in
    progress can look the same; the cost is one empty line, which readers skip."""
    try:
        size = os.fstat(fd).st_size
        return size == 0 or os.pread(fd, 1, size - 1) == b"\n"
    except OSError:
        return True


def _undo_partial(fd: int, path: Path, data: bytes, n: int) -> bool:
    """Cut off the ``n`` bytes a short write left, if they are still the end of the file.
    True when the file ends as it did before the write."""
    if n <= 0:
        return True
    try:
        end = os.fstat(fd).st_size
        if end < n:
            return False
        rfd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            tail = os.pread(rfd, n, end - n)
        finally:
            os.close(rfd)
        if tail != data[:n]:
            return False
        os.ftruncate(fd, end - n)
        return True
    except OSError:
        return False


def write_private(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace ``path`` atomically with ``data`` (mode 0600)."""
    p = Path(path)
    private_dir(p.parent)
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, FILE_MODE)
    try:
        write_all_once(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, p)


def iter_lines(path: str | os.PathLike[str], start: int = 0) -> Iterator[tuple[int, int, bytes]]:
    """Complete lines of ``path`` from byte ``start``: ``(offset, end_offset, line)``.

    A trailing line without ``\\n`` (a write in progress, or a short write) is not yielded.
    Empty lines are skipped.
    """
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return
    with f:
        f.seek(start)
        offset = start
        for line in f:
            end = offset + len(line)
            if not line.endswith(b"\n"):
                return
            if line.strip():
                yield offset, end, line
            offset = end


@contextlib.contextmanager
def flocked(
    path: str | os.PathLike[str], *, exclusive: bool = True, deadline: float | None = None, poll: float = 0.005
) -> Iterator[bool]:
    """Hold an ``flock`` on ``path`` (created 0600). Yields False if ``deadline`` (monotonic)
    passed before the lock was free; with ``deadline=None`` it waits."""
    p = Path(path)
    private_dir(p.parent)
    fd = os.open(p, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
    got = False
    try:
        if deadline is None:
            fcntl.flock(fd, mode)
            got = True
        else:
            while True:
                try:
                    fcntl.flock(fd, mode | fcntl.LOCK_NB)
                    got = True
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        break
                    time.sleep(poll)
        yield got
    finally:
        if got:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
