/* guest_setuid.c: a program started as root that drops to another uid and allocates on (issue 12, privileges). */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "progs/progs.h"

/*
 * Usage: guest_setuid UID NBLOCKS SIZE
 *
 * Holds NBLOCKS blocks of SIZE bytes and prints "ready PID". Then reads
 * commands from stdin, one a line:
 *   drop   setgroups(0), setgid(UID), setuid(UID); prints "dropped uid U"
 *   more   allocates NBLOCKS more blocks of SIZE; prints "more"
 *   fork   forks a child that allocates and exits; prints "forked S"
 *          with the child's wait status
 * and exits 0 at the end of input. Output goes through write(2).
 */

static char line[128];

static int hold(unsigned long n, unsigned long size)
{
	for (unsigned long i = 0; i < n; i++) {
		char *p = malloc(size);

		if (p == NULL)
			return -1;
		memset(p, (int)i, size);
	}
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long uid, n, size;

	if (argc != 4) {
		fprintf(stderr, "usage: guest_setuid UID NBLOCKS SIZE\n");
		return 2;
	}
	uid = strtoul(argv[1], NULL, 10);
	n = strtoul(argv[2], NULL, 10);
	size = strtoul(argv[3], NULL, 10);
	if (hold(n, size) < 0)
		return 1;
	snprintf(line, sizeof(line), "ready %ld\n", (long)getpid());
	prog_say(line);
	while (prog_read_line(line, sizeof(line)) >= 0) {
		if (strcmp(line, "drop") == 0) {
			if (setgroups(0, NULL) < 0 || setgid((gid_t)uid) < 0 || setuid((uid_t)uid) < 0) {
				snprintf(line, sizeof(line), "drop: %s\n", strerror(errno));
				prog_say(line);
				return 1;
			}
			snprintf(line, sizeof(line), "dropped uid %u\n", (unsigned)getuid());
			prog_say(line);
		} else if (strcmp(line, "more") == 0) {
			if (hold(n, size) < 0)
				return 1;
			prog_say("more\n");
		} else if (strcmp(line, "fork") == 0) {
			pid_t pid = fork();
			int st = -1;

			if (pid == 0) {
				_exit(hold(n, size) < 0);
			}
			if (pid > 0)
				waitpid(pid, &st, 0);
			snprintf(line, sizeof(line), "forked %d\n", st);
			prog_say(line);
		}
	}
	return 0;
}
