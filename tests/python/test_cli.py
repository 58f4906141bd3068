"""test_cli.py: python3 -m memprobe as a command: --help, --version, usage errors, a missing script, and a script's exit as the interpreter would end it.

Each case runs this interpreter with -m memprobe in a child (PYTHONPATH as
given, so the package under test), the C agent named by MEMPROBE_LIBRARY
(MEMPROBE_BUILD/libmemprobe.so: the re-executed interpreter is the one
that runs the script), reporting to a socket where nothing listens.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

import memprobe
from harness import check, finish

BUILD = os.path.abspath(os.environ.get("MEMPROBE_BUILD", "build"))
TIMEOUT = 120           # seconds: a bound, never a duration that is asserted
TMP = tempfile.mkdtemp(prefix="memprobe-cli.")
PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(memprobe.__file__)))
VERSION_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "VERSION")


def script(name, text):
    path = os.path.join(TMP, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def run(args, module=True):
    """(status, stdout, stderr) of `python -m memprobe ARGS` (or of the
    interpreter itself when not module), in the scratch directory."""
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    env["MEMPROBE_SOCKET"] = os.path.join(TMP, "nobody.sock")
    env["MEMPROBE_LIBRARY"] = os.path.join(BUILD, "libmemprobe.so")
    env["PYTHONPATH"] = PACKAGE_DIR
    argv = [sys.executable] + (["-m", "memprobe"] if module else []) + args
    p = subprocess.run(argv, env=env, cwd=TMP, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=TIMEOUT)
    return p.returncode, p.stdout, p.stderr


BOOM = script("boom.py", """\
import sys
print(sys.argv[1:])
def inner():
    raise ValueError("boom")
def outer():
    inner()
outer()
""")


def help_on_stdout():
    st, out, err = run(["--help"])
    documented = all(w in out for w in ("--interval SECONDS", "--exact-depth", "--version",
                                        "MEMPROBE_SOCKET", "MEMPROBE_LIBRARY"))
    return (st, out.startswith("usage: python3 -m memprobe run"), documented, err), \
        (0, True, True, "")


def version():
    """--version: the package's version, which is the project's."""
    st, out, err = run(["--version"])
    with open(VERSION_FILE) as f:
        project = f.read().strip()
    return (st, out, memprobe.__version__, err), (0, "memprobe %s\n" % project, project, "")


def usage_errors():
    """No command, no script, an interval out of range: usage on stderr,
    status 2, as argparse has it."""
    got = []
    for args in ([], ["run"], ["run", "--interval", "0", BOOM], ["walk", BOOM]):
        st, out, err = run(args)
        got.append((st, out, err.startswith("usage: "), "error:" in err))
    return got, [(2, "", True, True)] * 4


def missing_script():
    """One line on stderr, status 2, as `python3 missing.py` has it."""
    st, out, err = run(["run", "no-such-script.py"])
    return (st, out, err), \
        (2, "", "python3 -m memprobe: can't open file 'no-such-script.py': "
                "[Errno 2] No such file or directory\n")


def script_traceback():
    """An uncaught exception: status 1 and the traceback the interpreter
    prints for `python3 boom.py`, with no frame of memprobe's or runpy's."""
    st, out, err = run(["run", "--interval", "0.5", BOOM, "a", "--interval", "3"])
    pst, pout, perr = run([BOOM, "a", "--interval", "3"], module=False)
    frames = re.findall(r'^  File "([^"]*)", line \d+, in (\S+)$', err, re.M)
    return (st, out, err, frames), \
        (1, pout, perr, [(BOOM, "<module>"), (BOOM, "outer"), (BOOM, "inner")])


def exit_statuses():
    """sys.exit(N), sys.exit("text") and a KeyboardInterrupt end the
    process as the interpreter does: N; 1 with the text; SIGINT, each
    with the interpreter's last line on stderr."""
    got, want = [], []
    for name, text in (("exit7.py", "import sys\nsys.exit(7)\n"),
                       ("exittext.py", "import sys\nsys.exit('bye')\n"),
                       ("interrupt.py", "raise KeyboardInterrupt\n")):
        path = script(name, text)
        st, out, err = run(["run", path])
        got.append((st, err.splitlines()[-1:] if err else []))
        pst, pout, perr = run([path], module=False)
        want.append((pst, perr.splitlines()[-1:] if perr else []))
    return got, want


for fn in (help_on_stdout, version, usage_errors, missing_script, script_traceback,
           exit_statuses):
    try:
        got, want = fn()
    except Exception as e:              # a failure, not a crash of the file
        got, want = repr(e), "no exception"
    check(fn.__name__, got, want)

shutil.rmtree(TMP, ignore_errors=True)
finish()
