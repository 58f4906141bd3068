"""py_prof's large objects: bytes of 4 KiB, which CPython takes from malloc."""


def build_cache(mib):
    """A dict of mib MiB of 4 KiB bytes objects."""
    cache = {}
    for i in range(mib * 256):
        cache[i] = bytes(4096)  # LINE:build_cache
    return cache
