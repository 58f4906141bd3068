"""deep_sizeof: the size of an object and of everything it references, once each, in one go or in steps."""

import gc
import sys
import types

# What deep_sizeof leaves out by default: objects that belong to the program
# as a whole rather than to the data structure being measured.
SHARED_TYPES = (
    types.ModuleType,
    type,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.CodeType,
)

# Which objects a walk reached is kept by address, one bit per GRAIN bytes
# (the smallest object: a reference count and a type pointer), in a
# bytearray for each 2**PAGE_SHIFT bytes of address space that holds one.
# Two live objects never share a grain, since neither can be smaller.
_GRAIN_SHIFT = 4 if sys.maxsize > 2**32 else 3
_PAGE_SHIFT = 18
_PAGE_BYTES = 1 << (_PAGE_SHIFT - _GRAIN_SHIFT - 3)
_BYTE_MASK = _PAGE_BYTES - 1

# A list or tuple longer than this is walked through an iterator, not
# copied into the work list.
_ITER_OVER = 64

_getsizeof = sys.getsizeof
_referents = gc.get_referents


class SizeWalk:
    """deep_sizeof(obj) in steps: step() visits a bounded number of objects
    and returns whether the walk is complete; total is then the size.

    Memory: a bit per 16 bytes of the address space the walk touched, in
    2 KiB pages for each 256 KiB that holds a reached object (under 1 % of
    what they span); a work list of references, one for each reached object
    not visited yet (under half of an object's own size); and one iterator
    for each long list or tuple being walked, which is not copied. The work
    list holds references, so what it names stays alive until visited.

    Objects are known by their address: between steps the program may
    change the structure, and an object freed and another made at its
    address is taken as visited, so the total of a structure that changes
    during the walk is approximate.
    """

    def __init__(self, obj, exclude_shared=True):
        self.root = obj
        self.skip = SHARED_TYPES if exclude_shared else ()
        self.total = 0
        self.visited = 0
        self._pages = {}
        self._pending = [obj]
        self._iters = []
        self._mark(id(obj))

    def _mark(self, addr):
        """Marks addr reached; returns False when it already was."""
        pages = self._pages
        page = pages.get(addr >> _PAGE_SHIFT)
        if page is None:
            page = pages[addr >> _PAGE_SHIFT] = bytearray(_PAGE_BYTES)
        i = (addr >> (_GRAIN_SHIFT + 3)) & _BYTE_MASK
        bit = 1 << ((addr >> _GRAIN_SHIFT) & 7)
        if page[i] & bit:
            return False
        page[i] |= bit
        return True

    def step(self, count):
        """Visits up to count objects; returns True once every object
        reachable from the root was visited (total is then final)."""
        pending, iters, mark = self._pending, self._iters, self._mark
        root, skip = self.root, self.skip
        total = 0
        n = 0
        done = False
        while n < count:
            if pending:
                o = pending.pop()
            elif iters:
                try:
                    o = next(iters[-1])
                except StopIteration:
                    iters.pop()
                    continue
                if not mark(id(o)):
                    continue
            else:
                done = True
                break
            n += 1
            if skip and o is not root and isinstance(o, skip):
                continue
            total += _getsizeof(o)
            if type(o) in (list, tuple) and len(o) > _ITER_OVER:
                iters.append(iter(o))
                continue
            refs = _referents(o)
            if type(o) is dict or isinstance(o, dict):
                # CPython's dict traversal skips str keys (they cannot form
                # cycles), but they are part of the dict's memory.
                refs.extend(o.keys())
            for r in refs:
                if mark(id(r)):
                    pending.append(r)
        self.total += total
        self.visited += n
        if done:
            self._pages = {}
        return done


def deep_sizeof(obj, exclude_shared=True):
    """Total bytes of obj and every object reachable from it.

    Each object is counted once, by identity, so shared sub-objects and
    cycles are counted once. References are followed with
    gc.get_referents(), the same edges the garbage collector sees; the size
    of each object is sys.getsizeof(). With exclude_shared (the default),
    modules, classes, functions, methods and code objects reached from obj
    are neither counted nor followed (obj itself always is). The memory it
    takes meanwhile is SizeWalk's: a small fraction of what it measures.
    """
    walk = SizeWalk(obj, exclude_shared)
    while not walk.step(1 << 20):
        pass
    return walk.total
