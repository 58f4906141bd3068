"""deep_sizeof: the size of an object and of everything it references, once each."""

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


def deep_sizeof(obj, exclude_shared=True):
    """Total bytes of obj and every object reachable from it.

    Each object is counted once, by identity, so shared sub-objects and
    cycles are counted once. References are followed with
    gc.get_referents(), the same edges the garbage collector sees; the size
    of each object is sys.getsizeof(). With exclude_shared (the default),
    modules, classes, functions, methods and code objects reached from obj
    are neither counted nor followed (obj itself always is).
    """
    seen = set()
    total = 0
    pending = [obj]
    skip = SHARED_TYPES if exclude_shared else ()
    while pending:
        o = pending.pop()
        key = id(o)
        if key in seen:
            continue
        seen.add(key)
        if skip and o is not obj and isinstance(o, skip):
            continue
        total += sys.getsizeof(o)
        pending.extend(gc.get_referents(o))
        if isinstance(o, dict):
            # CPython's dict traversal skips str keys (they cannot form
            # cycles), but they are part of the dict's memory.
            pending.extend(o.keys())
    return total
