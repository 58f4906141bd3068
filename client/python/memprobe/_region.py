"""The shared region (common/region.h, layout 1): the memory the Python agent keeps its figures in.

A Python agent's region is the header page and the gauge table, with no
thread slots. Values are native-endian and naturally aligned; each is
written with one struct.pack_into of one field, which CPython does with a
single memcpy of the field's size, so memprobed reads a field old or new,
never torn. tests/python/test_region.py checks every offset here against
offsetof() in common/region.h.
"""

import fcntl
import mmap
import os
import struct
import sys

from ._proto import AGENT_PYTHON

MAGIC = 0x31475245424F5250      # "PROBERG1" as bytes
LAYOUT = 1
HDR_SIZE = 4096
GAUGES = 64
GAUGE_NAME_MAX = 128
GAUGE_SIZE = 144                # u64 state, double value, char name[128]
GAUGE_OFF = HDR_SIZE
SLOT_OFF = GAUGE_OFF + GAUGES * GAUGE_SIZE
SLOT_SIZE = 704                 # sizeof(struct region_slot): written, never used
SIZE = (SLOT_OFF + 4095) & ~4095    # region_size_for(0)
EXIT_EXIT = 1                   # REGION_EXIT_EXIT

# Header fields: name -> (offset, struct format). The Python figures from
# py_allocated_blocks to py_gc_count are one run of 15 u64s.
FIELDS = {
    "magic": (0, "Q"),
    "layout": (8, "I"),
    "agent": (12, "I"),
    "size": (16, "Q"),
    "instance": (24, "Q"),
    "generation": (32, "Q"),
    "slot_off": (40, "I"),
    "slot_size": (44, "I"),
    "nslots": (48, "I"),
    "slots_used": (52, "I"),
    "start_time": (56, "Q"),
    "stack_limit": (64, "Q"),
    "heap_peak": (72, "Q"),
    "mmap_live": (80, "Q"),
    "size_source": (88, "I"),
    "exit_kind": (92, "I"),
    "exit_status": (96, "q"),
    "threads": (104, "Q"),
    "py_set": (112, "Q"),
    "py_allocated_blocks": (120, "Q"),
    "py_recursion_limit": (128, "Q"),
    "py_stack_depth_peak": (136, "Q"),
    "py_gc_collections": (144, "3Q"),
    "py_gc_collected": (168, "3Q"),
    "py_gc_uncollectable": (192, "3Q"),
    "py_gc_count": (216, "3Q"),
    "ngauges": (240, "I"),
}
# Within a gauge entry.
GAUGE_FIELDS = {"state": (0, "Q"), "value": (8, "d"), "name": (16, "%ds" % GAUGE_NAME_MAX)}

_PY_FIGURES = struct.Struct("15Q")
_U64 = (1 << 64) - 1
_MFD_FLAGS = getattr(os, "MFD_CLOEXEC", 1) | getattr(os, "MFD_ALLOW_SEALING", 2)
_F_ADD_SEALS = getattr(fcntl, "F_ADD_SEALS", 1033)
_SEALS = (getattr(fcntl, "F_SEAL_SHRINK", 2) | getattr(fcntl, "F_SEAL_GROW", 4) |
          getattr(fcntl, "F_SEAL_SEAL", 1))


def _u64(v):
    return max(0, int(v)) & _U64


class Mapping:
    """SIZE bytes the region lives in: `view`, a writable memoryview of
    unsigned bytes, until close() unmaps them."""

    def __init__(self, view, unmap):
        self.view = view
        self._unmap = unmap

    def close(self):
        if self.view is None:
            return
        try:
            self.view.release()
        except BufferError:
            return              # still in use somewhere: left mapped
        self.view = None
        self._unmap()


def _mmap_mapping(mm):
    return Mapping(memoryview(mm), mm.close)


def _map_shared(fd):
    """Maps fd shared without keeping a descriptor: mmap.mmap keeps a
    duplicate of it unless told not to (trackfd, Python 3.13), so before
    3.13 libc's mmap is called through ctypes."""
    prot = mmap.PROT_READ | mmap.PROT_WRITE
    if sys.version_info >= (3, 13):
        return _mmap_mapping(mmap.mmap(fd, SIZE, mmap.MAP_SHARED, prot, trackfd=False))
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long)
    libc.munmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
    addr = libc.mmap(None, SIZE, prot, mmap.MAP_SHARED, fd, 0)
    if addr is None or addr == ctypes.c_void_p(-1).value:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    view = memoryview((ctypes.c_char * SIZE).from_address(addr)).cast("B")
    return Mapping(view, lambda: libc.munmap(addr, SIZE))


def new_memfd():
    """A sealed memfd of SIZE bytes, mapped shared: (fd, Mapping). The
    caller closes fd once it has handed it over; the mapping holds no
    descriptor. Raises OSError (or AttributeError without
    os.memfd_create, ImportError without ctypes)."""
    fd = os.memfd_create("memprobe", _MFD_FLAGS)
    try:
        os.ftruncate(fd, SIZE)
        fcntl.fcntl(fd, _F_ADD_SEALS, _SEALS)
        m = _map_shared(fd)
    except BaseException:
        os.close(fd)
        raise
    return fd, m


def anonymous():
    """SIZE bytes of private memory: a region no daemon can be given."""
    return _mmap_mapping(mmap.mmap(-1, SIZE, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS,
                                   mmap.PROT_READ | mmap.PROT_WRITE))


def random_instance():
    return int.from_bytes(os.urandom(8), "little") | 1


class Region:
    """One mapping of a Python agent's region and the index of its gauges.
    The agent serializes every call (its lock); memprobed only reads."""

    def __init__(self, mapping, gauges=None):
        self.mapping = mapping
        self.mm = mapping.view
        self.gauges = dict(gauges or {})      # name -> entry index

    def init_header(self, instance, start_time, stack_limit):
        """Writes a fresh header (the memory must be zero)."""
        for name, value in (("layout", LAYOUT), ("agent", AGENT_PYTHON), ("size", SIZE),
                            ("instance", instance), ("generation", 0),
                            ("slot_off", SLOT_OFF), ("slot_size", SLOT_SIZE),
                            ("start_time", start_time), ("stack_limit", stack_limit)):
            self.set(name, value)
        self.set("magic", MAGIC)

    def set(self, name, value):
        off, fmt = FIELDS[name]
        struct.pack_into(fmt, self.mm, off, value if fmt == "q" else _u64(value))

    def get(self, name):
        off, fmt = FIELDS[name]
        v = struct.unpack_from(fmt, self.mm, off)
        return v[0] if len(v) == 1 else list(v)

    def write_python(self, threads, py):
        """The interpreter's figures. py: (allocated_blocks, recursion_limit,
        stack_depth_peak, collections[3], collected[3], uncollectable[3],
        count[3]); py_set goes to 1 once they are there."""
        blocks, limit, depth, coll, collected, uncoll, count = py
        values = [blocks, limit, depth] + list(coll) + list(collected) + list(uncoll) + \
            list(count)
        _PY_FIGURES.pack_into(self.mm, FIELDS["py_allocated_blocks"][0],
                              *(_u64(v) for v in values))
        self.set("py_set", 1)
        self.set("threads", threads)

    def set_gauge(self, name, value):
        """Sets gauge name (checked by the caller) to value. Name, value, then
        state last, so a reader never sees a set entry half written.
        Returns False when the table is full."""
        i = self.gauges.get(name)
        if i is None:
            if len(self.gauges) >= GAUGES:
                return False
            i = len(self.gauges)
            struct.pack_into(GAUGE_FIELDS["name"][1], self.mm,
                             GAUGE_OFF + i * GAUGE_SIZE + GAUGE_FIELDS["name"][0],
                             name.encode("ascii"))
            self.gauges[name] = i
            self.set("ngauges", len(self.gauges))
        base = GAUGE_OFF + i * GAUGE_SIZE
        struct.pack_into("d", self.mm, base + GAUGE_FIELDS["value"][0], float(value))
        struct.pack_into("Q", self.mm, base + GAUGE_FIELDS["state"][0], 1)
        return True

    def set_exit(self, status):
        self.set("exit_status", int(status))
        self.set("exit_kind", EXIT_EXIT)

    def copy_into(self, mapping):
        """A Region on mapping holding a copy of this one."""
        mapping.view[0:SIZE] = self.mm[0:SIZE]
        return Region(mapping, self.gauges)

    def close(self):
        """Unmaps it; nothing may use it after."""
        self.mm = None
        self.mapping.close()
