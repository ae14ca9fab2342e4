"""UNIX socket files that vncd listens on ([[listen]] unix, the control socket): made with no
access for others until their mode is set, a stale file from a crashed run replaced, and
removed on exit only while still ours."""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import stat

#: The longest path a UNIX socket may have: sun_path holds 108 bytes with the final NUL
#: (unix(7)).
MAX_PATH = 107

#: A socket file's (device, inode): who made it, for the removal on exit.
Stamp = tuple[int, int]


def _answers(path: str) -> bool:
    """Whether a server listens on the UNIX socket ``path``."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1)
        try:
            probe.connect(path)
        except OSError:
            return False
        return True


def bind(path: str | os.PathLike[str], permissions: int, backlog: int) -> socket.socket:
    """A listening socket at ``path`` with mode ``permissions``. A socket file that nobody
    answers on is replaced; a live one, or a file that is not a socket, raises OSError."""
    path = os.fspath(path)
    if os.path.lexists(path):
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            raise OSError(errno.EEXIST, f"{path} exists and is not a socket")
        if _answers(path):
            raise OSError(errno.EADDRINUSE, f"another server listens on {path}")
        os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        # bind() makes the file with the umask's permissions: none for others until the
        # chmod, so nobody connects in between.
        umask = os.umask(0o177)
        try:
            sock.bind(path)
        finally:
            os.umask(umask)
        os.chmod(path, permissions)
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


def stamp(path: str | os.PathLike[str]) -> Stamp:
    found = os.stat(path)
    return found.st_dev, found.st_ino


def remove_if_ours(path: str | os.PathLike[str], ours: Stamp) -> None:
    """Remove the socket file unless another server has replaced it since."""
    with contextlib.suppress(OSError):
        if stamp(path) == ours:
            os.unlink(path)


def check_path(path: str) -> str:
    """``path`` if it can name a UNIX socket, else ValueError saying why."""
    if not path.startswith("/") or len(path.encode()) > MAX_PATH:
        raise ValueError(f"must be an absolute path of at most {MAX_PATH} bytes (a UNIX socket)")
    return path
