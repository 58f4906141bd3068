"""The reporter: a daemon thread that sends the interpreter's figures to memprobed."""

import errno
import gc
import os
import resource
import socket
import sys
import threading
import time

from . import _proto, _sockpath
from ._sizeof import deep_sizeof

_BACKOFF_MIN = 0.1
_BACKOFF_MAX = 2.0


def _start_time():
    try:
        with open("/proc/self/stat", "rb") as f:
            data = f.read()
        return int(data[data.rindex(b")") + 2:].split()[19])
    except (OSError, ValueError, IndexError):
        return 0


def _comm():
    try:
        with open("/proc/self/comm", "r", errors="replace") as f:
            return f.read().strip() or "python"
    except OSError:
        return "python"


def _stack_limit():
    try:
        soft = resource.getrlimit(resource.RLIMIT_STACK)[0]
        return 0 if soft == resource.RLIM_INFINITY else soft
    except (OSError, ValueError):
        return 0


def frame_depth(frame):
    n = 0
    while frame is not None:
        n += 1
        frame = frame.f_back
    return n


class Agent:
    """One per process. All figures are read in the reporter thread, except
    what the exact-depth profile hook and the exception hooks record."""

    def __init__(self, path, interval, exact_depth):
        self.path = path                  # None: the rule, at each connection
        self.told_unreachable = False
        self.interval = interval
        self.exact_depth = exact_depth
        self.peak_depth = 0
        self.lock = threading.Lock()      # guards sock, seq, gauges, watches
        self.sock = None
        self.seq = 0
        self.dropped = 0
        self.sent = 0
        self.next_connect = 0.0
        self.backoff = _BACKOFF_MIN
        self.gauges = {}                  # name -> (value, dirty)
        self.watches = {}                 # name -> (obj, every, countdown)
        self.stopping = threading.Event()
        self.thread = None
        self.pid = os.getpid()
        self._local = threading.local()
        self._saved_hooks = None

    # ---- life cycle ----

    def start(self):
        self._install_hooks()
        self.thread = threading.Thread(target=self._run, name="memprobe-reporter",
                                       daemon=True)
        self.thread.start()

    def stop(self, final=True):
        self.stopping.set()
        t = self.thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout=max(1.0, 2 * self.interval))
        self._remove_hooks()
        if final and os.getpid() == self.pid:
            with self.lock:
                self._tick_locked(final=True)
        with self.lock:
            self._close_locked()

    def after_fork_in_child(self):
        """The child has its own pid and must not speak on the parent's
        connection; the reporter thread did not come along."""
        self.lock = threading.Lock()
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = None
        self.seq = self.dropped = self.sent = 0
        self.next_connect = 0.0
        self.backoff = _BACKOFF_MIN
        self.pid = os.getpid()
        self.gauges = {k: (v, True) for k, (v, _) in self.gauges.items()}
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="memprobe-reporter",
                                       daemon=True)
        self.thread.start()

    # ---- the reporter thread ----

    def _run(self):
        while True:
            try:
                with self.lock:
                    self._tick_locked(final=False)
            except Exception:           # never into the program
                pass
            if self.stopping.wait(self.interval):
                return

    def _connect_locked(self):
        now = time.monotonic()
        if now < self.next_connect:
            return False
        # Without MEMPROBE_SOCKET at start, the socket files as they are
        # now, so that a memprobed started later is found.
        path = self.path or _sockpath.connect_path(
            None, os.environ.get("XDG_RUNTIME_DIR"), os.geteuid())
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        s.setblocking(False)
        try:
            s.connect(path)
        except OSError as e:
            s.close()
            self._tell_unreachable(path, e)
            self.next_connect = now + self.backoff
            self.backoff = min(self.backoff * 2, _BACKOFF_MAX)
            return False
        self.sock = s
        self.backoff = _BACKOFF_MIN
        self.gauges = {k: (v, True) for k, (v, _) in self.gauges.items()}
        exe = os.path.realpath("/proc/self/exe") if os.path.exists("/proc/self/exe") else sys.executable
        if not self._send_locked(_proto.hello(_comm(), exe or "", _start_time(), _stack_limit())):
            return False
        return True

    def _tell_unreachable(self, path, e):
        """With MEMPROBE_DEBUG=1, says once why the agent is not reporting."""
        if self.told_unreachable or os.environ.get("MEMPROBE_DEBUG") != "1":
            return
        self.told_unreachable = True
        code = errno.errorcode.get(e.errno, "errno %s" % e.errno)
        sys.stderr.write("memprobe: not reporting: cannot connect to memprobed at %s: %s (%s); "
                         "trying again quietly\n" % (path, code, os.strerror(e.errno or 0)))

    def _close_locked(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = None

    def _send_locked(self, msg):
        """Sends without blocking. False if the message was dropped."""
        if self.sock is None:
            return False
        try:
            self.sock.send(msg, socket.MSG_DONTWAIT | socket.MSG_NOSIGNAL)
            return True
        except BlockingIOError:
            return False
        except OSError as e:
            if e.errno in (errno.EAGAIN, errno.ENOBUFS):
                return False
            self._close_locked()
            return False

    def _figures(self):
        me = threading.get_ident()
        frames = sys._current_frames()
        for ident, frame in frames.items():
            if ident != me:
                d = frame_depth(frame)
                if d > self.peak_depth:
                    self.peak_depth = d
        del frames
        stats = gc.get_stats()
        threads = max(0, threading.active_count() - 1)
        return threads, (
            sys.getallocatedblocks(),
            sys.getrecursionlimit(),
            self.peak_depth,
            [g.get("collections", 0) for g in stats[:3]],
            [g.get("collected", 0) for g in stats[:3]],
            [g.get("uncollectable", 0) for g in stats[:3]],
            list(gc.get_count())[:3],
        )

    def _tick_locked(self, final):
        self._update_watches_locked(final)
        if self.sock is None:
            if final:
                self.next_connect = 0.0
            if not self._connect_locked():
                self.dropped += 1
                return
        threads, py = self._figures()
        self.seq += 1
        if not self._send_locked(_proto.sample(self.seq, threads, self.dropped, py)):
            self.dropped += 1
            return
        self.sent += 1
        for name, (value, dirty) in list(self.gauges.items()):
            if dirty:
                if not self._send_locked(_proto.gauge(name, value)):
                    break
                self.gauges[name] = (value, False)
        if final:
            self._send_locked(_proto.bye())

    def _update_watches_locked(self, final):
        for name, (obj, every, countdown) in list(self.watches.items()):
            countdown -= 1
            if countdown <= 0 or final:
                try:
                    self.gauges[name] = (float(deep_sizeof(obj)), True)
                except Exception:
                    pass
                countdown = every
            self.watches[name] = (obj, every, countdown)

    # ---- program-facing ----

    def set_gauge(self, name, value):
        with self.lock:
            self.gauges[name] = (float(value), True)

    def watch(self, obj, name, every):
        with self.lock:
            self.watches[name] = (obj, every, 0)

    def unwatch(self, name):
        with self.lock:
            self.watches.pop(name, None)
            self.gauges.pop(name, None)

    # ---- hooks: exact depth and RecursionError ----

    def note_depth(self, depth):
        if depth > self.peak_depth:
            self.peak_depth = depth

    def _profile(self, frame, event, arg):
        local = self._local
        if event == "call":
            try:
                d = local.depth + 1
            except AttributeError:
                d = frame_depth(frame)
            local.depth = d
            if d > self.peak_depth:
                self.peak_depth = d
        elif event == "return":
            try:
                local.depth -= 1
            except AttributeError:
                pass

    def _install_hooks(self):
        old_sys, old_thr = sys.excepthook, threading.excepthook
        agent = self

        def excepthook(etype, value, tb):
            try:
                if etype is not None and issubclass(etype, RecursionError):
                    agent.note_depth(_tb_depth(tb))
            except Exception:
                pass
            return old_sys(etype, value, tb)

        def thread_excepthook(args):
            try:
                if args.exc_type is not None and issubclass(args.exc_type, RecursionError):
                    agent.note_depth(_tb_depth(args.exc_traceback))
            except Exception:
                pass
            return old_thr(args)

        sys.excepthook = excepthook
        threading.excepthook = thread_excepthook
        old_prof = sys.getprofile()
        if self.exact_depth:
            threading.setprofile(self._profile)
            sys.setprofile(self._profile)
        self._saved_hooks = (old_sys, old_thr, old_prof, excepthook, thread_excepthook)

    def _remove_hooks(self):
        if self._saved_hooks is None:
            return
        old_sys, old_thr, old_prof, mine_sys, mine_thr = self._saved_hooks
        if sys.excepthook is mine_sys:
            sys.excepthook = old_sys
        if threading.excepthook is mine_thr:
            threading.excepthook = old_thr
        if self.exact_depth:
            threading.setprofile(None)
            if sys.getprofile() == self._profile:
                sys.setprofile(old_prof)
        self._saved_hooks = None


def _tb_depth(tb):
    n = 0
    while tb is not None:
        n += 1
        tb = tb.tb_next
    return n
