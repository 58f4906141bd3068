"""The default agent socket: common/sockpath.h's rule, in the same order with the same answers.

A client connects to MEMPROBE_SOCKET when it is set (not empty); else, as
a user other than root, to the user's own socket when a socket file is
there; else to the system one, SYSTEM. The user's own socket is where a
memprobed started by that user listens: SYSTEM as root, else
$XDG_RUNTIME_DIR/memprobe/agent.sock when XDG_RUNTIME_DIR is absolute and
the path fits a socket address, else /tmp/memprobe-EUID/agent.sock.
tests/unit/sockpath_cases.txt holds the answers both implementations give.
"""

import errno
import os
import stat

SYSTEM = "/run/memprobe/agent.sock"
MAX = 107       # bytes of a socket path: sun_path less its NUL


def fits(path):
    """Whether path fits a socket address."""
    return len(os.fsencode(path)) <= MAX


def _own_default(xdg, euid):
    if euid == 0:
        return SYSTEM
    if xdg and xdg.startswith("/"):
        path = xdg + "/memprobe/agent.sock"
        if fits(path):
            return path
    return "/tmp/memprobe-%d/agent.sock" % euid


def own(env, xdg, euid):
    """The user's own socket for MEMPROBE_SOCKET env and XDG_RUNTIME_DIR xdg
    (each None when unset) and the effective uid. Raises OSError
    (ENAMETOOLONG) when env is longer than a socket path can be."""
    if env:
        if not fits(env):
            raise OSError(errno.ENAMETOOLONG,
                          "MEMPROBE_SOCKET is longer than a socket path can be", env)
        return env
    return _own_default(xdg, euid)


def is_socket(path):
    """Whether a socket file is at path (following links)."""
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def connect_path(env, xdg, euid, is_socket=is_socket):
    """The socket a client connects to; is_socket(path) is asked about the
    user's own socket only, and only for a user other than root without
    MEMPROBE_SOCKET. Raises as own()."""
    if env or euid == 0:
        return own(env, xdg, euid)
    path = _own_default(xdg, euid)
    return path if is_socket(path) else SYSTEM


def default_socket():
    """connect_path() on this process's environment and effective uid."""
    return connect_path(os.environ.get("MEMPROBE_SOCKET"),
                        os.environ.get("XDG_RUNTIME_DIR"), os.geteuid())
