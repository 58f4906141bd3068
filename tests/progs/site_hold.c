/* site_hold.c: holds NBLOCKS heap blocks of SIZE bytes allocated in one noinline function, hold_blocks, until its input ends; a known call site for the heap-profile tests. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "progs/progs.h"

/*
 * Usage: site_hold NBLOCKS SIZE
 *
 * Allocates NBLOCKS blocks of SIZE bytes in hold_blocks(), touches them,
 * prints "ready PID" on stdout and waits for the end of its input. Then it
 * exits without freeing them, so that the process's final profile still
 * has them in use, at hold_blocks.
 */

#define MAX_BLOCKS (1L << 20)

static char outbuf[64];

/* Where the blocks are allocated: not inlined, and external so that no
 * specialised clone renames it, so it is a frame of its own, by this name,
 * in every stack the agent samples. */
__attribute__((noinline)) char **hold_blocks(long nblocks, size_t size);

__attribute__((noinline)) char **
hold_blocks(long nblocks, size_t size)
{
	char **blocks = calloc((size_t)nblocks, sizeof(*blocks));

	if (blocks == NULL)
		return NULL;
	for (long i = 0; i < nblocks; i++) {
		blocks[i] = malloc(size);
		if (blocks[i] == NULL)
			return NULL;
		memset(blocks[i], (int)(i & 0xff), size);
	}
	return blocks;
}

int main(int argc, char **argv)
{
	char *end;
	long nblocks, size;
	char **volatile blocks;

	if (argc != 3)
		goto usage;
	nblocks = strtol(argv[1], &end, 10);
	if (*end != '\0' || nblocks <= 0 || nblocks > MAX_BLOCKS)
		goto usage;
	size = strtol(argv[2], &end, 10);
	if (*end != '\0' || size <= 0 || size > (1L << 30))
		goto usage;

	blocks = hold_blocks(nblocks, (size_t)size);
	if (blocks == NULL) {
		fprintf(stderr, "site_hold: out of memory\n");
		return 1;
	}
	snprintf(outbuf, sizeof(outbuf), "ready %ld\n", (long)getpid());
	if (prog_say(outbuf) < 0)
		return 1;
	while (prog_read_line(NULL, 0) >= 0)
		;
	/* The blocks stay: exit holding them. */
	return 0;

usage:
	fprintf(stderr, "usage: site_hold NBLOCKS SIZE (1 to %ld blocks of 1 B to 1 GiB)\n",
	    MAX_BLOCKS);
	return 2;
}
