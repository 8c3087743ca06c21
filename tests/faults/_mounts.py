"""Disk faults that root bypasses otherwise: a tiny tmpfs (disk full) and a read-only bind mount.

Root ignores file modes, so ``chmod 0500`` does not make a directory read-only for it. As
root (with CAP_SYS_ADMIN) the suite mounts a tmpfs of a few MiB, or bind-mounts a directory
onto itself and remounts it read-only; elsewhere it falls back to ``RLIMIT_FSIZE`` (disk
full) and ``chmod`` (read-only, which binds a non-root user). Every mount is undone by the
context manager, lazily if something still holds it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

_can_mount: bool | None = None


def _run(*args: str) -> bool:
    return subprocess.run(list(args), capture_output=True, timeout=30).returncode == 0


def can_mount() -> bool:
    """True when this process can mount a tmpfs (root with CAP_SYS_ADMIN, not in a jail)."""
    global _can_mount
    if _can_mount is None:
        ok = False
        if os.geteuid() == 0:
            d = tempfile.mkdtemp(prefix="oa-mount-probe-")
            try:
                ok = _run("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", d)
                if ok:
                    _run("umount", d)
            finally:
                os.rmdir(d)
        _can_mount = ok
    return _can_mount


def _umount(path: Path) -> None:
    if not _run("umount", str(path)):
        _run("umount", "-l", str(path))


@contextlib.contextmanager
def tmpfs(path: Path, size_bytes: int) -> Iterator[Path]:
    """A tmpfs of ``size_bytes`` at ``path`` (created)."""
    path.mkdir(parents=True, exist_ok=True)
    if not _run("mount", "-t", "tmpfs", "-o", f"size={size_bytes},mode=0700", "tmpfs", str(path)):
        raise RuntimeError(f"cannot mount a tmpfs at {path}")
    try:
        yield path
    finally:
        _umount(path)


class ReadOnly:
    """``path`` made read-only (bind mount as root, else chmod 0500); ``undo()`` restores it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self.how = "chmod 0500"
        self._mounted = False
        if can_mount():
            if _run("mount", "--bind", str(path), str(path)):
                self._mounted = True
                if _run("mount", "-o", "remount,bind,ro", str(path)):
                    self.how = "read-only bind mount"
                else:
                    self.undo()
                    raise RuntimeError(f"cannot remount {path} read-only")
        if not self._mounted:
            os.chmod(path, 0o500)
        self.effective = not os.access(path, os.W_OK) or self._mounted

    def undo(self) -> None:
        if self._mounted:
            _umount(self.path)
            self._mounted = False
        else:
            os.chmod(self.path, 0o700)


def fill(path: Path) -> int:
    """Write zeros to ``path`` until the filesystem is full; returns the bytes written."""
    total = 0
    chunk = b"\0" * 65536
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for _ in range(1 << 16):  # bounded: 4 GiB at most
            try:
                written = os.write(fd, chunk)
            except OSError as exc:
                if exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
                    break
                raise
            total += written
            if written < len(chunk):
                chunk = b"\0" * 512  # fill the last pages too
    finally:
        os.close(fd)
    return total
