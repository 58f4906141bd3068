"""py_prof: a Python program whose memory sits in known functions.

    python3 main.py [--agent] SCENARIO

SCENARIO: modules (build_cache in cache_mod.py holds 64 MiB of 4 KiB bytes
objects, load_rows in rows_mod.py 16 MiB of small tuples and ints),
threads (load_rows in a thread), generator (rows made by a generator) or
async (rows made in a coroutine). --agent starts the Python agent too.

Prints "site FUNCTION FILE LINE BYTES" for each structure held, BYTES the
usable bytes the profile estimates (malloc's usable size of each block;
a small object's size rounded up to pymalloc's 16-byte classes), then
"ready PID", and holds everything until its input ends.
"""

import ctypes
import os
import sys
import threading

import cache_mod
import rows_mod

ROWS = 16 * 1024 * 1024 // 128
libc = ctypes.CDLL(None)
libc.malloc_usable_size.restype = ctypes.c_size_t
libc.malloc_usable_size.argtypes = [ctypes.c_void_p]


def small(o):
    return (sys.getsizeof(o) + 15) // 16 * 16


def list_bytes(lst):
    """The list object (pymalloc's) and its array of items (malloc's, past
    512 bytes; PyListObject.ob_item is the word after ob_size)."""
    items = ctypes.c_void_p.from_address(id(lst) + 24).value
    return small([]) + libc.malloc_usable_size(items)


def rows_bytes(rows):
    return list_bytes(rows) + sum(small(r) + small(r[0]) + small(r[1]) for r in rows)


def line_of(module, tag):
    with open(module.__file__) as f:
        for n, text in enumerate(f, 1):
            if text.rstrip().endswith("# LINE:" + tag):
                return n
    raise LookupError(tag)


def site(fn, module, tag, nbytes):
    print("site %s %s %d %d" % (fn, os.path.basename(module.__file__), line_of(module, tag),
                                nbytes), flush=True)


def main(argv):
    if argv[:1] == ["--agent"]:
        import memprobe
        memprobe.start(interval=0.1)
        argv = argv[1:]
    held = []
    scenario = argv[0] if argv else "modules"
    if scenario == "modules":
        cache = cache_mod.build_cache(64)
        site("build_cache", cache_mod, "build_cache",
             sum(libc.malloc_usable_size(id(b)) for b in cache.values()))
        rows = rows_mod.load_rows(ROWS)
        site("load_rows", rows_mod, "load_rows", rows_bytes(rows))
        held += [cache, rows]
    elif scenario == "threads":
        out = []
        t = threading.Thread(target=lambda: out.append(rows_mod.load_rows(ROWS)))
        t.start()
        t.join()
        site("load_rows", rows_mod, "load_rows", rows_bytes(out[0]))
        held.append(out)
    elif scenario == "generator":
        rows = rows_mod.collect_gen(ROWS)
        site("gen_rows", rows_mod, "gen_rows", rows_bytes(rows) - list_bytes(rows))
        held.append(rows)
    elif scenario == "async":
        import asyncio
        rows = asyncio.run(rows_mod.load_async(ROWS))
        site("load_async", rows_mod, "load_async", rows_bytes(rows))
        held.append(rows)
    else:
        sys.stderr.write("py_prof: unknown scenario %s\n" % scenario)
        return 2
    print("ready %d" % os.getpid(), flush=True)
    sys.stdin.read()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
