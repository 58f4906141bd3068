/* guest_end.c: holds a known heap and then ends without exit(): quick_exit, abort, a signal, the OOM killer (issue 12, endings). */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "progs/progs.h"

/*
 * Usage: guest_end HOW NBLOCKS SIZE
 *
 * Mallocs NBLOCKS (at most 1024) blocks of SIZE bytes, touches them, and
 * prints "held N blocks B usable bytes" (B from malloc_usable_size) and
 * then "ready PID" (both with write(2): no stdio buffer on the heap).
 * Then, by HOW:
 *   quick_exit  quick_exit(3)
 *   abort       abort() (no core file: RLIMIT_CORE 0)
 *   wait        reads stdin until it ends, then _exit(4) (the test
 *               kills it first)
 *   oom         maps anonymous memory (not the heap) and touches it until
 *               the OOM killer ends it; _exit(5) if the kernel says no
 *               first
 * After "ready" it allocates nothing on the heap.
 */

static void *blocks[1024];
static char line[128];

int main(int argc, char **argv)
{
	struct rlimit no_core = { 0, 0 };
	unsigned long n, size, usable = 0;
	const char *how;
	char c;

	if (argc != 4 || (n = strtoul(argv[2], NULL, 10)) == 0 || n > 1024 ||
	    (size = strtoul(argv[3], NULL, 10)) == 0) {
		fprintf(stderr, "usage: guest_end quick_exit|abort|wait|oom NBLOCKS SIZE\n");
		return 2;
	}
	how = argv[1];
	for (unsigned long i = 0; i < n; i++) {
		blocks[i] = malloc(size);
		if (blocks[i] == NULL)
			return 2;
		memset(blocks[i], (int)i, size);
		usable += malloc_usable_size(blocks[i]);
	}
	snprintf(line, sizeof(line), "held %lu blocks %lu usable bytes\n", n, usable);
	prog_say(line);
	snprintf(line, sizeof(line), "ready %ld\n", (long)getpid());
	prog_say(line);

	if (strcmp(how, "quick_exit") == 0)
		quick_exit(3);
	if (strcmp(how, "abort") == 0) {
		setrlimit(RLIMIT_CORE, &no_core);
		abort();
	}
	if (strcmp(how, "wait") == 0) {
		while (read(STDIN_FILENO, &c, 1) > 0 || errno == EINTR)
			;
		_exit(4);
	}
	if (strcmp(how, "oom") == 0) {
		for (;;) {
			size_t len = 64u << 20;
			char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

			if (p == MAP_FAILED)
				_exit(5);
			for (size_t off = 0; off < len; off += 4096)
				p[off] = 1;
		}
	}
	return 2;
}
