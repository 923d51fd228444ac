"""Safe file access for the cache and the tables: read only regular files, bounded; write atomically with the
umask's mode.

:func:`read_regular` opens a path without following a final symlink (``O_NOFOLLOW``) and without blocking on a
FIFO (``O_NONBLOCK``), refuses anything but a regular file (a FIFO, a device, a socket, a folder, a symlink), and
reads at most ``max_bytes``: a cache entry replaced by a FIFO or by a link to ``/dev/zero`` is refused at once,
neither hangs nor floods memory. :func:`atomic_write` writes a uniquely named temporary file in the target's
folder, flushes and fsyncs it, gives it the permissions the process's umask allows (``0o666 & ~umask``; a temporary
file starts as 0600, which a plain rename would keep), then ``os.replace``-s it into place.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import tempfile
from pathlib import Path

__all__ = ["NotRegularFileError", "read_regular", "atomic_write", "umask", "file_mode"]

_HOST = socket.gethostname().replace(".", "_") or "host"


class NotRegularFileError(OSError):
    """A path that should be a regular file is something else (a FIFO, a device, a symlink, a folder), or too large."""


def read_regular(path: str | os.PathLike, max_bytes: int) -> bytes:
    """The bytes of the regular file ``path``, if it holds at most ``max_bytes``; :class:`NotRegularFileError`
    (an ``OSError``) naming the path when it is a symlink, FIFO, device, socket or folder, or is larger; any
    other ``OSError`` of the operating system as raised. Never blocks on a FIFO, never reads past ``max_bytes``."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    st = os.lstat(path)
    if not stat.S_ISREG(st.st_mode):
        raise NotRegularFileError(f"{path} is not a regular file ({_kind(st.st_mode)})")
    try:
        fd = os.open(path, flags)
    except OSError as err:  # ELOOP: replaced by a symlink between lstat and open
        raise NotRegularFileError(f"{path} cannot be opened as a regular file ({err.strerror or err})") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFileError(f"{path} is not a regular file ({_kind(st.st_mode)})")
        if st.st_size > max_bytes:
            raise NotRegularFileError(f"{path} holds {st.st_size} bytes, more than the {max_bytes} expected")
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise NotRegularFileError(f"{path} holds more than the {max_bytes} bytes expected")
    return data


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISLNK, "a symlink"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a plain file"


def umask() -> int:
    """The process's umask, read without changing it where Linux exposes it (else set and restored at once)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode a newly created file gets under the process's umask: ``0o666 & ~umask``."""
    return 0o666 & ~umask()


def atomic_write(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` via a unique temp file ``<name>.<host>.<pid>.<random>.tmp`` in the same folder,
    fsync, chmod to :func:`file_mode`, ``os.replace``; the temporary file is removed on any failure."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.{_HOST}.{os.getpid()}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), file_mode())  # mkstemp creates 0600; shared caches and tables need the umask's bits
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
