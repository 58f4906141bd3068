"""py_prof's small objects: tuples and ints, which CPython serves from its
own arenas (pymalloc), not from malloc."""

import asyncio


def load_rows(n):
    """n rows of two ints: 128 bytes a row and the list's 8."""
    rows = [(i + 1000000, i + 2000000) for i in range(n)]  # LINE:load_rows
    return rows


def gen_rows(n):
    for i in range(n):
        yield (i + 1000000, i + 2000000)  # LINE:gen_rows


def collect_gen(n):
    return list(gen_rows(n))


async def load_async(n):
    await asyncio.sleep(0)
    rows = [(i + 1000000, i + 2000000) for i in range(n)]  # LINE:load_async
    await asyncio.sleep(0)
    return rows
