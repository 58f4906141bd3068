"""harness.py: PASS/FAIL lines for the Python tests, as tests/run.sh counts them."""

import sys

_failed = 0


def check(name, got, want):
    """Prints "PASS name" when got == want, else "FAIL name" with both."""
    global _failed
    if got == want:
        print("PASS", name)
    else:
        _failed += 1
        print("FAIL", name, "got", repr(got), "want", repr(want))


def finish():
    """Exits 1 when a check failed, else 0."""
    sys.exit(1 if _failed else 0)
