"""The memprobe wire protocol (common/proto.h), the one message a Python agent sends: REGISTER."""

import struct

MAGIC = 0x4252504D
VERSION = 1
HDR = struct.Struct("<IHHI")
REGISTER = 5
AGENT_C, AGENT_PYTHON = 1, 2

GAUGE_NAME_MAX = 128
_GAUGE_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-")


def register(layout):
    """REGISTER of a Python agent's region of the given layout; it travels
    with the region's memfd and a pidfd of the sender (SCM_RIGHTS)."""
    body = struct.pack("<HHI", AGENT_PYTHON, 0, layout)
    return HDR.pack(MAGIC, VERSION, REGISTER, len(body)) + body


def gauge_name_ok(name):
    return (isinstance(name, str) and 0 < len(name) <= GAUGE_NAME_MAX
            and all(c in _GAUGE_CHARS for c in name))
