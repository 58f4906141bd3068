/* guest_exec.c: allocates, then execs another image of itself under another name (issue 12, exec under series = command). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "progs/progs.h"

/*
 * Usage: guest_exec NBLOCKS NEXT
 *        guest_exec NBLOCKS
 *
 * Mallocs NBLOCKS blocks of 1 KiB (kept), prints "ready PID" and waits for
 * a line on stdin. With NEXT (a path: a copy of this program under another
 * name, so another comm) it then execs NEXT NBLOCKS; without, it waits for
 * the end of input and exits 0.
 */

static char line[64];

int main(int argc, char **argv)
{
	unsigned long n;

	if (argc < 2 || argc > 3 || (n = strtoul(argv[1], NULL, 10)) == 0) {
		fprintf(stderr, "usage: guest_exec NBLOCKS [NEXT]\n");
		return 2;
	}
	for (unsigned long i = 0; i < n; i++) {
		char *p = malloc(1024);

		if (p == NULL)
			return 1;
		p[0] = (char)i;
	}
	snprintf(line, sizeof(line), "ready %ld\n", (long)getpid());
	if (prog_say(line) < 0)
		return 1;
	if (argc == 2) {
		while (prog_read_line(NULL, 0) >= 0)
			;
		return 0;
	}
	if (prog_read_line(NULL, 0) < 0)
		return 1;
	execl(argv[2], argv[2], argv[1], (char *)NULL);
	fprintf(stderr, "guest_exec: exec %s: %s\n", argv[2], strerror(errno));
	return 1;
}
