/* guest_userns.c: a program that makes a user namespace of its own and maps its uid; a single-threaded process's right (issue 12). */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "progs/progs.h"

/*
 * Usage: guest_userns
 *
 * Allocates (past the agent's slow-path tick), calls
 * unshare(CLONE_NEWUSER), which the kernel refuses with EINVAL to a
 * process with more than one thread, writes "deny" to setgroups and maps
 * uid and gid 0 inside to its own outside, then says who it is inside;
 * a fork child allocates and says the same. Exits 0, or 1 on a failure.
 */

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, text, strlen(text));
	if (n < 0)
		n = -errno;
	close(fd);
	return n < 0 ? (int)n : 0;
}

int main(void)
{
	char map[64];
	uid_t uid = getuid();
	gid_t gid = getgid();
	int err, st;
	pid_t pid;

	prog_churn();
	if (unshare(CLONE_NEWUSER) < 0) {
		printf("unshare(CLONE_NEWUSER): %s\n", strerror(errno));
		return 1;
	}
	printf("unshare(CLONE_NEWUSER): ok\n");
	prog_churn();
	snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)uid);
	err = write_file("/proc/self/uid_map", map);
	printf("uid_map: %s\n", err ? strerror(-err) : "ok");
	err = write_file("/proc/self/setgroups", "deny\n");
	if (err == 0) {
		snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)gid);
		err = write_file("/proc/self/gid_map", map);
	}
	printf("gid_map: %s\n", err ? strerror(-err) : "ok");
	printf("inside: uid %u gid %u\n", (unsigned)getuid(), (unsigned)getgid());
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		prog_churn();
		printf("fork child inside: uid %u\n", (unsigned)getuid());
		fflush(NULL);
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return 1;
	return getuid() == 0 ? 0 : 1;
}
