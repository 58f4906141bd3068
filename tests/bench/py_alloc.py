"""py_alloc.py: pure-Python allocation-heavy workload for `make bench`.

Builds and drops dicts, lists, strings and small objects of varied sizes, so
that both pymalloc (objects <= 512 bytes) and the C allocator (bigger list,
dict and string buffers, which reach malloc/realloc/free) are busy.
Deterministic: a fixed seed and a fixed amount of work.  Usage:
py_alloc.py [ROUNDS]
"""
import random
import sys


class Rec:
    __slots__ = ("key", "vals", "tag")

    def __init__(self, key, vals, tag):
        self.key = key
        self.vals = vals
        self.tag = tag


def round_(rng, keep):
    # A dict that grows through several resizes (realloc'd / malloc'd tables).
    d = {}
    for i in range(rng.randrange(50, 400)):
        d["k%d" % i] = [i] * rng.randrange(1, 150)      # lists of 8..1200 bytes
    # Strings of varied lengths: short ones stay in pymalloc, long ones do not.
    s = ["x" * rng.randrange(8, 2000) for _ in range(100)]
    joined = "-".join(s)
    # Small objects and tuples.
    recs = [Rec(i, (i, i + 1), joined[i:i + 16]) for i in range(200)]
    # Lists grown by append (realloc).
    grown = []
    for i in range(rng.randrange(100, 3000)):
        grown.append(i)
    # Keep a ring of survivors so the heap has a live working set.
    keep[rng.randrange(len(keep))] = (d, recs[-1], grown[:10])
    return len(joined) + len(grown)


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3500
    rng = random.Random(12345)
    keep = [None] * 64
    total = 0
    for _ in range(rounds):
        total += round_(rng, keep)
    print(total)


if __name__ == "__main__":
    main()
