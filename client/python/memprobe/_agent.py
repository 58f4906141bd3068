"""The reporter: the agent's thread, which writes the interpreter's figures into the shared region memprobed reads.

The agent keeps no descriptor. Its figures live in a sealed memfd mapped
shared (memprobe/_region.py); registering hands the memfd and a pidfd of
this process to memprobed in one REGISTER message over the agent socket
and closes all three. memprobed maps the region read-only, reads it when
asked, and keeps the last figures when the process ends, however it ends.

The thread stays because the interpreter's figures (sys.getallocatedblocks(),
gc.get_stats(), the frames of every thread) can only be read by Python code;
writing them into shared memory needs no descriptor. It also registers
again when no daemon took the region yet (with a backoff) or when the
socket file is a new one (a restarted daemon). A memfd cannot be sent
again once its descriptor is closed, so each registration after the first
makes a new memfd with a copy of the figures and the next generation;
memprobed then reads the newer one.
"""

import errno
import gc
import os
import resource
import socket
import stat
import sys
import threading
import time

from . import _depth, _proto, _region, _sockpath
from ._sizeof import SizeWalk

_BACKOFF_MIN = 1.0
_BACKOFF_MAX = 4.0
_CHECK_EVERY = 1.0      # seconds between looks at the socket file once registered
_SEND_FLAGS = socket.MSG_DONTWAIT | socket.MSG_NOSIGNAL
# watch(): the share of each interval the reporter may spend walking the
# watched objects (its own CPU time), and the objects walked between two
# looks at that clock.
WATCH_SHARE = 0.05
_WATCH_CHUNK = 256


def _start_time():
    try:
        with open("/proc/self/stat", "rb") as f:
            data = f.read()
        return int(data[data.rindex(b")") + 2:].split()[19])
    except (OSError, ValueError, IndexError):
        return 0


def _stack_limit():
    try:
        soft = resource.getrlimit(resource.RLIMIT_STACK)[0]
        return 0 if soft == resource.RLIM_INFINITY else soft
    except (OSError, ValueError):
        return 0


def _close(fd):
    if fd >= 0:
        try:
            os.close(fd)
        except OSError:
            pass


def _pidfd():
    """A pidfd of this process, or -1 (Python < 3.9, Linux < 5.3): memprobed
    then opens one itself."""
    try:
        return os.pidfd_open(os.getpid())
    except (AttributeError, OSError):
        return -1


def _new_region():
    """A fresh region and its memfd, or -1 when no memfd can be made (the
    figures are then kept in private memory until one can)."""
    try:
        fd, mm = _region.new_memfd()
    except (AttributeError, ImportError, OSError):
        fd, mm = -1, _region.anonymous()
    r = _region.Region(mm)
    r.init_header(_region.random_instance(), _start_time(), _stack_limit())
    return r, fd


class _Watch:
    """A watched object: the walk under way, if any, and the intervals
    until the next may start."""

    def __init__(self, obj, every):
        self.obj = obj
        self.every = every
        self.countdown = 0
        self.walk = None


class Agent:
    """One per process. The region is written under `lock` only: by the
    reporter thread, by gauge setters and by registration, which copies it;
    so a copy is never torn. The exception hooks only raise peak_depth,
    which the reporter writes with the exact-depth counter's figure."""

    def __init__(self, path, interval, exact_depth, region=None):
        self.path = path                  # None: the rule, at each registration
        self.interval = interval
        self.lock = threading.Lock()      # guards region and watches
        self.reg_lock = threading.Lock()  # one registration at a time
        self.memfd = -1                   # the first region's, until start() hands it over
        if region is None:
            region, self.memfd = _new_region()
        self.region = region
        self.peak_depth = region.get("py_stack_depth_peak")
        self.registered = False
        self.reg_id = None                # _file_id() of the socket file that took it
        self.next_attempt = 0.0
        self.backoff = _BACKOFF_MIN
        self.next_check = 0.0
        self.said_why = False
        self.said_full = False
        self.watches = {}                 # name -> _Watch
        self.watch_turn = 0               # which watch walks first, in turn
        self.stopping = threading.Event()
        self.thread = None
        self.pid = os.getpid()
        self.depth = _depth.counter() if exact_depth else None
        self._saved_hooks = None

    # ---- life cycle ----

    def start(self):
        """Writes the first figures and registers at once (never blocking),
        then starts the reporter thread."""
        self._install_hooks()
        try:
            self.tick(final=False)
        except Exception:               # never into the program
            pass
        finally:
            _close(self.memfd)
            self.memfd = -1
        self._start_thread(at_once=False)

    def _start_thread(self, at_once):
        self.thread = threading.Thread(target=self._run, args=(at_once,),
                                       name="memprobe-reporter", daemon=True)
        self.thread.start()

    def stop(self, final=True):
        """Stops the reporter; with final, writes the figures a last time.
        The region stays mapped: memprobed keeps reading it."""
        self.stopping.set()
        t = self.thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout=max(1.0, 2 * self.interval))
        self._remove_hooks()
        if final and os.getpid() == self.pid:
            self.tick(final=True)

    def after_fork_in_child(self):
        """The child must not write the parent's region (its pages are
        shared): its figures move to private memory under a new instance,
        which the restarted reporter registers at once."""
        self.lock = threading.Lock()
        self.reg_lock = threading.Lock()
        old = self.region
        new = old.copy_into(_region.anonymous())
        new.set("instance", _region.random_instance())
        new.set("generation", 0)
        new.set("start_time", _start_time())
        new.set("exit_kind", 0)
        new.set("exit_status", 0)
        self.region = new
        old.close()
        _close(self.memfd)
        self.memfd = -1
        self.registered = False
        self.reg_id = None
        self.next_attempt = self.next_check = 0.0
        self.backoff = _BACKOFF_MIN
        self.said_why = False
        self.pid = os.getpid()
        self.stopping = threading.Event()
        self._start_thread(at_once=True)

    def note_exit(self, status):
        """Records how the program is ending (exit status), as far as we see it."""
        with self.lock:
            self.region.set_exit(status)

    # ---- the reporter thread ----

    def _run(self, at_once):
        sys.setprofile(None)            # the reporter's own calls are not the program's depth
        if at_once or not self.stopping.wait(self.interval):
            while True:
                try:
                    self.tick(final=False)
                except Exception:       # never into the program
                    pass
                if self.stopping.wait(self.interval):
                    return

    def tick(self, final):
        """Writes the figures, then registers when that is due."""
        if not final:
            self._walk_watches()
        threads, py = self._figures()
        with self.lock:
            self.region.write_python(threads, py)
        self._maintain(time.monotonic(), final)

    def _figures(self):
        t = self.thread
        reporter = t.ident if t is not None and t.is_alive() else None
        frames = sys._current_frames()
        for ident, frame in frames.items():
            if ident != reporter:
                self.note_depth(_depth.frame_depth(frame))
        del frames
        if self.depth is not None:
            self.note_depth(self.depth.read())
        stats = gc.get_stats()
        threads = threading.active_count() - (reporter is not None)
        return max(0, threads), (
            sys.getallocatedblocks(),
            sys.getrecursionlimit(),
            self.peak_depth,
            [g.get("collections", 0) for g in stats[:3]],
            [g.get("collected", 0) for g in stats[:3]],
            [g.get("uncollectable", 0) for g in stats[:3]],
            list(gc.get_count())[:3],
        )

    def _walk_watches(self):
        """Goes on with the watches' walks for at most WATCH_SHARE of an
        interval of this thread's CPU time, outside the lock (the program
        may set gauges meanwhile). A walk starts when its watch is due (every
        `every` intervals, and not before the last one ended) and may take
        several intervals; its gauge is set when it ends. The watches take
        turns at walking first."""
        with self.lock:
            watches = list(self.watches.items())
            self.watch_turn += 1
        if not watches:
            return
        k = self.watch_turn % len(watches)
        deadline = time.thread_time() + WATCH_SHARE * self.interval
        for name, w in watches[k:] + watches[:k]:
            w.countdown -= 1
            if w.walk is None:
                if w.countdown > 0:
                    continue
                w.walk, w.countdown = SizeWalk(w.obj), w.every
            try:
                done = False
                while not done and time.thread_time() < deadline:
                    done = w.walk.step(_WATCH_CHUNK)
            except Exception:           # an object whose size cannot be had
                w.walk = None
                continue
            if done:
                total, w.walk = w.walk.total, None
                with self.lock:
                    if self.watches.get(name) is w:
                        self._gauge_locked(name, float(total))

    # ---- registration ----

    def _socket_path(self):
        # Without MEMPROBE_SOCKET at start, the socket files as they are
        # now, so that a memprobed started later is found.
        return self.path or _sockpath.connect_path(
            None, os.environ.get("XDG_RUNTIME_DIR"), os.geteuid())

    def _maintain(self, now, final):
        if self.registered:
            if now < self.next_check and not final:
                return
            self.next_check = now + _CHECK_EVERY
            if not self._daemon_replaced():
                return
            self.registered = False
            self.next_attempt = 0.0
        if (final or now >= self.next_attempt) and self.reg_lock.acquire(blocking=False):
            try:
                self.register()
            finally:
                self.reg_lock.release()

    def _daemon_replaced(self):
        """Whether the socket file that took the region was replaced by
        another (a daemon restarted). No socket there: wait for one."""
        try:
            st = os.stat(self._socket_path())
        except (OSError, ValueError):
            return False
        return stat.S_ISSOCK(st.st_mode) and _file_id(st) != self.reg_id

    def register(self):
        """Hands the region to memprobed: the first memfd while start() holds
        it, else a new memfd with a copy of the figures and the next
        generation, which the writer moves to only once it was sent (a
        daemon may be reading the old one). Closes every descriptor it
        opened before it returns. Returns True if a daemon took it."""
        now = time.monotonic()
        path = self._socket_path()
        sock = self._connect(path)
        if sock is None:
            self._later(now)
            return False
        fd, self.memfd = self.memfd, -1
        pidfd, mm, err = -1, None, None
        try:
            if fd < 0:
                try:
                    fd, mm = _region.new_memfd()
                except (AttributeError, ImportError, OSError) as e:
                    self._tell("cannot make a shared region (memfd): %s" % _why(e))
                    self._later(now)
                    return False
            pidfd = _pidfd()
            fds = [fd] if pidfd < 0 else [fd, pidfd]
            msg = _proto.register(_region.LAYOUT)
            with self.lock:
                region = self.region
                if mm is not None:
                    region = region.copy_into(mm)
                    region.set("generation", self.region.get("generation") + 1)
                try:
                    if socket.send_fds(sock, [msg], fds, _SEND_FLAGS) != len(msg):
                        err = OSError(errno.EMSGSIZE, os.strerror(errno.EMSGSIZE))
                except OSError as e:
                    err = e
                if err is None and region is not self.region:
                    self.region, region = region, self.region
                if mm is not None:
                    region.close()      # the one we no longer write
        finally:
            _close(pidfd)
            _close(fd)
            sock.close()
        if err is not None:
            self._tell("cannot send the region to %s: %s" % (path, _why(err)))
            self._later(now)
            return False
        try:
            self.reg_id = _file_id(os.stat(path))
        except (OSError, ValueError):
            self.reg_id = None
        self.registered = True
        self.backoff = _BACKOFF_MIN
        self.next_check = now + _CHECK_EVERY
        return True

    def _connect(self, path):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        try:
            s.setblocking(False)
            s.connect(path)
        except (OSError, ValueError) as e:
            s.close()
            self._tell("cannot connect to memprobed at %s: %s" % (path, _why(e)))
            return None
        return s

    def _later(self, now):
        self.next_attempt = now + self.backoff
        self.backoff = min(self.backoff * 2, _BACKOFF_MAX)

    def _tell(self, what):
        """With MEMPROBE_DEBUG=1, says once why the agent is not reporting."""
        if self.said_why or os.environ.get("MEMPROBE_DEBUG") != "1":
            return
        self.said_why = True
        sys.stderr.write("memprobe: not reporting: %s; trying again quietly\n" % what)

    # ---- program-facing ----

    def set_gauge(self, name, value):
        value = float(value)
        with self.lock:
            self._gauge_locked(name, value)

    def _gauge_locked(self, name, value):
        if not self.region.set_gauge(name, value) and not self.said_full:
            self.said_full = True
            if os.environ.get("MEMPROBE_DEBUG") == "1":
                sys.stderr.write("memprobe: %d gauges already; %s and later new names are "
                                 "not reported\n" % (_region.GAUGES, name))

    def watch(self, obj, name, every):
        with self.lock:
            self.watches[name] = _Watch(obj, every)

    def unwatch(self, name):
        """Stops measuring; the gauge keeps its last value (a region's
        gauge names never change once set)."""
        with self.lock:
            self.watches.pop(name, None)

    # ---- hooks: exact depth and RecursionError ----

    def note_depth(self, depth):
        if depth > self.peak_depth:
            self.peak_depth = depth

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
        if self.depth is not None:
            self.depth.install()
        self._saved_hooks = (old_sys, old_thr, old_prof, excepthook, thread_excepthook)

    def _remove_hooks(self):
        if self._saved_hooks is None:
            return
        old_sys, old_thr, old_prof, mine_sys, mine_thr = self._saved_hooks
        if sys.excepthook is mine_sys:
            sys.excepthook = old_sys
        if threading.excepthook is mine_thr:
            threading.excepthook = old_thr
        if self.depth is not None:
            threading.setprofile(None)
            if self.depth.installed_here():
                sys.setprofile(old_prof)
        self._saved_hooks = None


def _tb_depth(tb):
    """The depth of the deepest frame a traceback went through."""
    if tb is None:
        return 0
    while tb.tb_next is not None:
        tb = tb.tb_next
    return _depth.frame_depth(tb.tb_frame)


def _file_id(st):
    """Which socket file this is. The inode number alone is not enough: ext4
    gives a file made just after another was removed the same number, as
    when a restarted daemon binds its socket anew; its ctime differs."""
    return st.st_dev, st.st_ino, st.st_ctime_ns


def _why(e):
    """ENOENT (No such file or directory), for an OSError."""
    if isinstance(e, OSError) and e.errno:
        return "%s (%s)" % (errno.errorcode.get(e.errno, "errno %d" % e.errno),
                            os.strerror(e.errno))
    return str(e)
