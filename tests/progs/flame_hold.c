/* flame_hold.c: holds heap through two known functions, hold_big and hold_small, for the page's flame graph test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "progs/progs.h"

/*
 * Usage: flame_hold
 *
 * hold_big mallocs BIG_BLOCKS blocks of BLOCK bytes (16 MiB) and keeps
 * them. hold_small mallocs SMALL_BLOCKS blocks (8 MiB) and frees them,
 * CHURN times, then mallocs them again and keeps them: 8 MiB in use of 24
 * MiB allocated. Both are noinline, so each is the caller of its mallocs
 * in a sampled stack. Then prints "ready PID" and holds the blocks until
 * end of input.
 */

#define BLOCK        4096
#define BIG_BLOCKS   4096
#define SMALL_BLOCKS 2048
#define CHURN        2

static char *big[BIG_BLOCKS];
static char *small[SMALL_BLOCKS];
static char outbuf[64];

/* Each calls malloc itself, in a loop of its own (no shared helper, which
 * the compiler might inline or not): the function that calls malloc is
 * the leaf of the sampled stack. */
__attribute__((noinline)) static int hold_big(void)
{
	for (int i = 0; i < BIG_BLOCKS; i++) {
		big[i] = malloc(BLOCK);
		if (big[i] == NULL)
			return -1;
		memset(big[i], i & 0xff, BLOCK);
	}
	return 0;
}

__attribute__((noinline)) static int hold_small(void)
{
	for (int r = 0; r <= CHURN; r++) {
		for (int i = 0; i < SMALL_BLOCKS; i++)
			if ((small[i] = malloc(BLOCK)) == NULL)
				return -1;
		for (int i = 0; i < SMALL_BLOCKS; i++) {
			memset(small[i], r, BLOCK);
			/* Freed CHURN times, the last blocks kept. */
			if (r < CHURN)
				free(small[i]);
		}
	}
	return 0;
}

int main(void)
{
	if (hold_big() < 0 || hold_small() < 0) {
		fprintf(stderr, "flame_hold: out of memory\n");
		return 1;
	}
	snprintf(outbuf, sizeof(outbuf), "ready %ld\n", (long)getpid());
	if (prog_say(outbuf) < 0)
		return 1;
	while (prog_read_line(NULL, 0) >= 0)
		;
	for (int i = 0; i < BIG_BLOCKS; i++)
		free(big[i]);
	for (int i = 0; i < SMALL_BLOCKS; i++)
		free(small[i]);
	return 0;
}
