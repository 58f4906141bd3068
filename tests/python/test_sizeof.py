"""test_sizeof.py: memprobe.deep_sizeof against totals computed by hand."""

import sys
import types

import memprobe
from harness import check, finish
from memprobe import deep_sizeof

size = sys.getsizeof


def tuple_of_ints():
    # Large ints are distinct objects; each is counted once.
    a, b, c = 10**20, 10**21, 10**22
    t = (a, b, c)
    return deep_sizeof(t), size(t) + size(a) + size(b) + size(c)


def tuple_of_strings():
    s1, s2 = "alpha" * 10, "beta" * 20
    t = (s1, s2, s1)                 # s1 twice: counted once
    return deep_sizeof(t), size(t) + size(s1) + size(s2)


def nested_dicts():
    k1, k2, k3 = "key-one-x", "key-two-x", "key-three"
    inner = {k3: 10**30}
    outer = {k1: inner, k2: [1.5, 2.5]}
    lst = outer[k2]
    want = (size(outer) + size(k1) + size(k2) + size(inner) + size(k3) +
            size(inner[k3]) + size(lst) + size(lst[0]) + size(lst[1]))
    return deep_sizeof(outer), want


def shared_subobject_once():
    shared = [10**25] * 3            # one int, three references
    pair = (shared, shared)
    want = size(pair) + size(shared) + size(shared[0])
    return deep_sizeof(pair), want


def self_referencing_list():
    lst = [10**40]
    lst.append(lst)
    return deep_sizeof(lst), size(lst) + size(lst[0])


def cycle_through_dict():
    a = {}
    b = {"a": a}
    a["b"] = b
    want = size(a) + size(b) + size("a") + size("b")
    return deep_sizeof(a), want


class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y


def instance_excludes_class():
    p = Point(10**20, 10**21)
    d = p.__dict__
    want = size(p) + size(d) + size("x") + size("y") + size(p.x) + size(p.y)
    return deep_sizeof(p), want


def shared_types_included_on_request():
    f = types.FunctionType
    holder = [len, sys]
    return deep_sizeof(holder, exclude_shared=False) > size(holder) + size(sys), True


def empty_and_scalars():
    return (deep_sizeof(None), deep_sizeof(7), deep_sizeof("")), (size(None), size(7), size(""))


for fn in (tuple_of_ints, tuple_of_strings, nested_dicts, shared_subobject_once,
           self_referencing_list, cycle_through_dict, instance_excludes_class,
           shared_types_included_on_request, empty_and_scalars):
    got, want = fn()
    check(fn.__name__, got, want)

# The module's public surface.
check("public_api", sorted(n for n in ("start", "stop", "deep_sizeof", "watch",
                                        "unwatch", "gauge_set") if hasattr(memprobe, n)),
      ["deep_sizeof", "gauge_set", "start", "stop", "unwatch", "watch"])

finish()
