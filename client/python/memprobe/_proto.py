"""The memprobe wire protocol (common/proto.h), the part a Python agent sends."""

import struct

MAGIC = 0x4252504D
VERSION = 1
HDR = struct.Struct("<IHHI")
MAX_BODY = 4096

HELLO, SAMPLE, GAUGE, BYE = 1, 2, 3, 4
AGENT_C, AGENT_PYTHON = 1, 2

S_HEAP, S_STACK, S_HIST, S_PYTHON = 1, 2, 4, 8

COMM_MAX = 64
EXE_MAX = 1024
GAUGE_NAME_MAX = 128
_GAUGE_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-")

_U64 = (1 << 64) - 1


def _frame(kind, body):
    return HDR.pack(MAGIC, VERSION, kind, len(body)) + body


def _string(raw, limit):
    raw = raw[:limit]
    return struct.pack("<H", len(raw)) + raw


def _clean(text, limit):
    """UTF-8 bytes of text without NUL, cut on a character boundary."""
    raw = text.replace("\0", "").encode("utf-8", "replace")
    if len(raw) > limit:
        raw = raw[:limit].decode("utf-8", "ignore").encode("utf-8")
    return raw


def hello(comm, exe, start_time, stack_limit):
    """HELLO of a Python agent."""
    comm_b = _clean(comm, COMM_MAX) or b"python"
    body = struct.pack("<HHQQ", AGENT_PYTHON, 0, start_time & _U64,
                       stack_limit & _U64)
    body += _string(comm_b, COMM_MAX) + _string(_clean(exe, EXE_MAX), EXE_MAX)
    return _frame(HELLO, body)


def sample(seq, threads, dropped, py):
    """SAMPLE with the common and Python sections.

    py: (allocated_blocks, recursion_limit, stack_depth_peak,
         collections[3], collected[3], uncollectable[3], count[3])
    """
    blocks, limit, depth, coll, collected, uncoll, count = py
    fields = [seq, threads, dropped, blocks, limit, depth]
    fields += list(coll) + list(collected) + list(uncoll) + list(count)
    body = struct.pack("<II", S_PYTHON, 0)
    body += struct.pack("<%dQ" % len(fields),
                        *(max(0, int(v)) & _U64 for v in fields))
    return _frame(SAMPLE, body)


def gauge_name_ok(name):
    return (isinstance(name, str) and 0 < len(name) <= GAUGE_NAME_MAX
            and all(c in _GAUGE_CHARS for c in name))


def gauge(name, value):
    if not gauge_name_ok(name):
        raise ValueError("gauge name must be 1..128 of [A-Za-z0-9_.:-]")
    return _frame(GAUGE, struct.pack("<d", float(value)) +
                  _string(name.encode("ascii"), GAUGE_NAME_MAX))


def bye():
    return _frame(BYE, b"")
