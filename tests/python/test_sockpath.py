"""test_sockpath.py: the Python agent's default socket against the table the C rule is checked against."""

import errno
import io
import os
import re
import socket
import sys
import tempfile

import memprobe
from harness import check, finish
from memprobe import _sockpath
from memprobe._agent import Agent

CASES = os.path.join(os.environ.get("MEMPROBE_SRCDIR", "."), "tests", "unit",
                     "sockpath_cases.txt")


def expand(v):
    """A table value: "-" unset, "''" empty, "{N}" N letters a, "{N:c}" N times c."""
    if v == "-":
        return None
    if v == "''":
        return ""
    return re.sub(r"\{(\d+)(?::([^}]*))?\}",
                  lambda m: (m.group(2) if m.group(2) is not None else "a") * int(m.group(1)), v)


def answer(fn):
    try:
        return fn()
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))


def table():
    """Every case of the shared table; the mismatches, one line each."""
    bad, n = [], 0
    with open(CASES, encoding="utf-8") as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            fields = [x.strip() for x in line.rstrip("\n").split("|")]
            if len(fields) != 8:
                bad.append("not 8 fields: " + line.strip())
                continue
            name, env, xdg, euid, exists, own, asked, conn = fields
            env, xdg, euid = expand(env), expand(xdg), int(euid)
            own, asked, conn = expand(own), expand(asked), expand(conn)
            seen = []

            def fake(path):
                seen.append(path)
                return exists == "yes"

            got_own = answer(lambda: _sockpath.own(env, xdg, euid))
            got_conn = answer(lambda: _sockpath.connect_path(env, xdg, euid, is_socket=fake))
            got_asked = seen[0] if seen else None
            for what, got, want in (("own", got_own, own), ("connect", got_conn, conn),
                                    ("asked", got_asked, asked)):
                if got != want:
                    bad.append("%s, %s: got %r, want %r" % (name, what, got, want))
            if len(seen) > 1:
                bad.append("%s: asked %d times" % (name, len(seen)))
            n += 1
    if n < 20:
        bad.append("only %d cases" % n)
    return bad


def real_files():
    """The real is_socket: a socket file counts, a plain file does not."""
    got = []
    with tempfile.TemporaryDirectory(prefix="sockpath.", dir="/tmp") as d:
        own = d + "/memprobe/agent.sock"
        got.append(_sockpath.connect_path(None, d, 1000))
        os.mkdir(d + "/memprobe")
        open(own, "w").close()
        got.append(_sockpath.connect_path(None, d, 1000))
        os.unlink(own)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            s.bind(own)
            got.append(_sockpath.connect_path(None, d, 1000) == own)
            got.append(_sockpath.connect_path(None, d, 0))
        finally:
            s.close()
    return got, [_sockpath.SYSTEM, _sockpath.SYSTEM, True, _sockpath.SYSTEM]


def set_env(env):
    for k, v in env.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def with_env(env, fn):
    """fn() with os.environ changed by env (None: removed), then restored."""
    saved = {k: os.environ.get(k) for k in env}
    set_env(env)
    try:
        return fn()
    finally:
        set_env(saved)


def captured_stderr(fn):
    saved, sys.stderr = sys.stderr, io.StringIO()
    try:
        fn()
        return sys.stderr.getvalue()
    finally:
        sys.stderr = saved


def env_wrapper():
    return (with_env({"MEMPROBE_SOCKET": "/srv/m.sock"}, _sockpath.default_socket),
            with_env({"MEMPROBE_SOCKET": "", "XDG_RUNTIME_DIR": "/nonexistent-xdg"},
                     _sockpath.default_socket),
            memprobe.default_socket is _sockpath.default_socket), \
        ("/srv/m.sock", _sockpath.SYSTEM, True)


def start_too_long():
    """A MEMPROBE_SOCKET too long for a socket: start() says so and reports nothing."""
    out = []
    err = captured_stderr(lambda: out.append(
        with_env({"MEMPROBE_SOCKET": "/" + "a" * 107}, memprobe.start)))
    return (out[0], memprobe.running(), "MEMPROBE_SOCKET is longer" in err), (False, False, True)


def debug_unreachable():
    """MEMPROBE_DEBUG=1: one line naming the path and the reason, however many tries."""
    with tempfile.TemporaryDirectory(prefix="sockpath.", dir="/tmp") as d:
        path = d + "/absent.sock"
        agent = Agent(path, 1.0, False)

        def tries():
            for _ in range(3):
                agent.register()

        err = with_env({"MEMPROBE_DEBUG": "1"}, lambda: captured_stderr(tries))
        quiet = with_env({"MEMPROBE_DEBUG": None}, lambda: captured_stderr(
            lambda: Agent(path, 1.0, False).register()))
    want = "memprobe: not reporting: cannot connect to memprobed at %s: ENOENT" % path
    return (err.count("\n"), err.startswith(want), quiet), (1, True, "")


bad = table()
for b in bad:
    print("  " + b)
check("table", len(bad), 0)
for fn in (real_files, env_wrapper, start_too_long, debug_unreachable):
    got, want = fn()
    check(fn.__name__, got, want)

finish()
