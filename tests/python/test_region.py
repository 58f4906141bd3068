"""test_region.py: the Python agent's region and registration, against C's layout and a stand-in daemon.

The layout is checked against build/tests/region_layout (offsetof() in
common/region.h; MEMPROBE_BUILD names the build directory). The stand-in
daemon is a SOCK_SEQPACKET listener in this process that takes REGISTER
messages the way memprobed does: the memfd and a pidfd as SCM_RIGHTS.
Every wait is bounded; none is a fixed sleep.
"""

import fcntl
import mmap
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time

import memprobe
from harness import check, finish
from memprobe import _proto, _region
from memprobe._agent import Agent

BUILD = os.environ.get("MEMPROBE_BUILD", "build")
TIMEOUT = 15.0          # seconds: a bound, never a duration that is asserted
F_GET_SEALS = getattr(fcntl, "F_GET_SEALS", 1034)
SEALS = 1 | 2 | 4       # F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW


def wait_until(cond, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(0.01)


def layout():
    """Every offset, size and constant of the Python copy equals C's."""
    out = subprocess.run([os.path.join(BUILD, "tests", "region_layout")],
                         stdout=subprocess.PIPE, check=True, universal_newlines=True).stdout
    bad, seen = [], set()
    for line in out.splitlines():
        kind, name, *rest = line.split()
        seen.add((kind, name))
        if kind in ("field", "gauge"):
            table = _region.FIELDS if kind == "field" else _region.GAUGE_FIELDS
            want = (int(rest[0]), int(rest[1]))
            off, fmt = table.get(name, (None, "x"))
            got = (off, struct.calcsize("=" + fmt))
        elif kind == "const":
            want = int(rest[0])
            got = getattr(_region, name, getattr(_proto, name, None))
        else:
            want = bytes.fromhex(name)
            got = _proto.register(_region.LAYOUT)
        if got != want:
            bad.append("%s %s: python %r, C %r" % (kind, name, got, want))
    missing = [n for n in _region.FIELDS if ("field", n) not in seen]
    return bad + ["not in C: " + n for n in missing], []


class FakeDaemon:
    """A listener on path that takes REGISTER messages."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock.bind(path)
        self.sock.listen(8)
        self.sock.settimeout(TIMEOUT)

    def take(self):
        """The next registration: dict with msg, pid (SO_PEERCRED), seals,
        size, pidfd_pid and a read-only mapping `mm` of the region. Every
        descriptor received is closed before it returns."""
        conn, _ = self.sock.accept()
        conn.settimeout(TIMEOUT)
        try:
            pid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                      struct.calcsize("3i")))[0]
            msg, fds, _, _ = socket.recv_fds(conn, 4096, 4)
        finally:
            conn.close()
        r = {"msg": msg, "pid": pid, "nfds": len(fds), "pidfd_pid": None}
        try:
            r["seals"] = fcntl.fcntl(fds[0], F_GET_SEALS)
            r["size"] = os.fstat(fds[0]).st_size
            r["mm"] = mmap.mmap(fds[0], r["size"], mmap.MAP_SHARED, mmap.PROT_READ)
            if len(fds) > 1:
                with open("/proc/self/fdinfo/%d" % fds[1]) as f:
                    for line in f:
                        if line.startswith("Pid:"):
                            r["pidfd_pid"] = int(line.split()[1])
        finally:
            for fd in fds:
                os.close(fd)
        return r

    def close(self):
        self.sock.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass


def field(mm, name):
    off, fmt = _region.FIELDS[name]
    v = struct.unpack_from(fmt, mm, off)
    return v[0] if len(v) == 1 else list(v)


def gauge(mm, name):
    """The value of gauge name in a mapped region, or None if not set."""
    for i in range(_region.GAUGES):
        base = _region.GAUGE_OFF + i * _region.GAUGE_SIZE
        state, value, raw = struct.unpack_from("Qd128s", mm, base)
        if state == 1 and raw.rstrip(b"\0") == name.encode():
            return value
    return None


def fds():
    return sorted(os.listdir("/proc/self/fd"))


def register_and_write(d):
    """start() registers at once: one REGISTER with a sealed memfd and our
    pidfd; figures and gauges then land in the region; no descriptor of
    the agent's stays open."""
    before = fds()
    a = Agent(d + "/a.sock", 0.05, False)
    a.start()
    try:
        r = FAKE.take()
        a.set_gauge("queue.depth", 42.5)
        mm = r["mm"]
        got = (r["msg"] == _proto.register(_region.LAYOUT), r["pid"], r["nfds"], r["pidfd_pid"],
               r["seals"] & SEALS, r["size"], field(mm, "magic"), field(mm, "agent"),
               field(mm, "size"), field(mm, "nslots"), field(mm, "generation"),
               field(mm, "py_set"), field(mm, "py_recursion_limit"),
               gauge(mm, "queue.depth"), a.registered)
        blocks = field(mm, "py_allocated_blocks")
        held = [object() for _ in range(20000)]
        more = wait_until(lambda: field(mm, "py_allocated_blocks") >= blocks + 20000)
        del held
        mm.close()              # the stand-in's mapping holds a descriptor; ours must not
        after = fds()
    finally:
        a.stop()
    want = (True, os.getpid(), 2, os.getpid(), SEALS, _region.SIZE, _region.MAGIC,
            _proto.AGENT_PYTHON, _region.SIZE, 0, 0, 1, sys.getrecursionlimit(), 42.5, True)
    return (got, more, after == before), (want, True, True)


def daemon_restarted(d):
    """A new socket file at the path: the agent registers again, with a new
    memfd holding its figures, the same instance and the next generation,
    and writes only the new one from then on."""
    a = Agent(d + "/a.sock", 0.05, False)
    a.start()
    try:
        first = FAKE.take()["mm"]
        FAKE.close()
        replace_fake(d)
        second = FAKE.take()["mm"]
        a.set_gauge("after.restart", 7)
        got = (field(second, "instance") == field(first, "instance"),
               field(second, "generation") - field(first, "generation"),
               field(second, "py_set"), gauge(second, "after.restart"),
               gauge(first, "after.restart"))
    finally:
        a.stop()
    return got, (True, 1, 1, 7.0, None)


def daemon_comes_later(d):
    """No daemon at start: the figures are kept, and registered once one listens."""
    path = d + "/later.sock"
    a = Agent(path, 0.05, False)
    a.start()
    try:
        a.set_gauge("before.daemon", 3)
        late = FakeDaemon(path)
        try:
            mm = late.take()["mm"]
            got = (gauge(mm, "before.daemon"), field(mm, "generation"), field(mm, "py_set"))
        finally:
            late.close()
    finally:
        a.stop()
    return got, (3.0, 1, 1)


def fork_child(d):
    """A fork child registers a region of its own (a new instance) and
    never writes the parent's."""
    memprobe.start(socket=d + "/a.sock", interval=0.05)
    try:
        parent = FAKE.take()["mm"]
        rd, wr = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(wr)
            try:
                memprobe.gauge_set("child.only", 1)
                os.read(rd, 1)
            finally:
                os._exit(0)
        os.close(rd)
        try:
            child = FAKE.take()
            mm = child["mm"]
            seen = wait_until(lambda: gauge(mm, "child.only") is not None)
            got = (child["pid"] == pid, child["pidfd_pid"] == pid,
                   field(mm, "instance") != field(parent, "instance"),
                   seen, gauge(parent, "child.only"))
        finally:
            os.close(wr)
            os.waitpid(pid, 0)
    finally:
        memprobe.stop()
    return got, (True, True, True, 1.0, None)


def replace_fake(d):
    global FAKE
    FAKE = FakeDaemon(d + "/a.sock")


with tempfile.TemporaryDirectory(prefix="mpreg.", dir="/tmp") as tmp:
    FAKE = FakeDaemon(tmp + "/a.sock")
    try:
        for fn in (layout, register_and_write, daemon_restarted, daemon_comes_later,
                   fork_child):
            try:
                got, want = fn(tmp) if fn is not layout else fn()
            except Exception as e:          # a failure, not a crash of the file
                got, want = repr(e), "no exception"
            check(fn.__name__, got, want)
    finally:
        FAKE.close()

finish()
