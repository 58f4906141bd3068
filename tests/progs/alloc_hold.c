/* alloc_hold.c: holds NBLOCKS heap blocks of SIZE bytes until told to free them; a known figure for the tests. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "progs/progs.h"

/*
 * Usage: alloc_hold NBLOCKS SIZE
 *
 * Mallocs NBLOCKS blocks of SIZE bytes and writes to each, prints
 * "ready PID" on stdout, then reads commands from stdin, one a line:
 * "free" frees every block and prints "freed"; end of input exits 0.
 *
 * After the blocks are allocated it makes no other heap allocation: output
 * goes through write(2) and input through read(2) into static buffers, so the
 * heap figures an agent reports are exactly the blocks plus what the C
 * runtime allocated before main.
 */

static char outbuf[64];
static char inbuf[256];

int main(int argc, char **argv)
{
	unsigned long nblocks, size, i;
	char **blocks;
	char *end;
	int held = 1;

	if (argc != 3) {
		fprintf(stderr, "usage: alloc_hold NBLOCKS SIZE\n");
		return 2;
	}
	nblocks = strtoul(argv[1], &end, 10);
	if (*end != '\0' || nblocks == 0)
		goto usage;
	size = strtoul(argv[2], &end, 10);
	if (*end != '\0' || size == 0)
		goto usage;

	blocks = malloc(nblocks * sizeof(*blocks));
	if (blocks == NULL)
		goto nomem;
	for (i = 0; i < nblocks; i++) {
		blocks[i] = malloc(size);
		if (blocks[i] == NULL)
			goto nomem;
		/* Touch every byte so the blocks are really resident. */
		memset(blocks[i], (int)(i & 0xff), size);
	}

	snprintf(outbuf, sizeof(outbuf), "ready %ld\n", (long)getpid());
	if (prog_say(outbuf) < 0)
		return 1;

	while (prog_read_line(inbuf, sizeof(inbuf)) >= 0) {
		if (strcmp(inbuf, "free") == 0 && held) {
			for (i = 0; i < nblocks; i++)
				free(blocks[i]);
			held = 0;
			if (prog_say("freed\n") < 0)
				return 1;
		}
	}
	if (held) {
		for (i = 0; i < nblocks; i++)
			free(blocks[i]);
	}
	free(blocks);
	return 0;

usage:
	fprintf(stderr, "alloc_hold: NBLOCKS and SIZE must be positive integers\n");
	return 2;
nomem:
	fprintf(stderr, "alloc_hold: out of memory\n");
	return 1;
}
