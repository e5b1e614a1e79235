"""Leftovers of killed writers: which host wrote a temporary file, and whether its writer is gone.

Disk and file stores name their temporary files after their writer (`HOST` and the process id),
so that `prune` and `clear` remove what a killed writer left at once, and never what a live one
is still writing (another host's files, or ones whose writer cannot be judged, age out instead).
"""

from __future__ import annotations

import hashlib
import os
import socket
import sys

__all__ = ["HOST", "writer_gone"]

#: This host's tag in the names of temporary files (a digest: host names may be anything).
HOST = hashlib.sha256(socket.gethostname().encode("utf-8", "surrogateescape")).hexdigest()[:8]

_POSIX = sys.platform != "win32"


def writer_gone(pid: int, host: str) -> bool:
    """True when the writer `pid` on `host` is provably gone: this host, and no such process.

    A zombie (killed, not yet reaped by its parent) counts as gone: it writes nothing any more.
    Anything that cannot be told (another host, Windows, another user's process) is alive.
    """
    if host != HOST or pid == os.getpid() or pid <= 0 or not _POSIX:
        return False  # (on Windows, os.kill(pid, 0) would send CTRL_C_EVENT)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # EPERM: alive, another user's
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            line = fh.read()
    except OSError:  # no /proc (macOS): kill(pid, 0) answered, so it runs
        return False
    return line[line.rfind(b")") + 2 :][:1] in (b"Z", b"X")
