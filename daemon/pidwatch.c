/* pidwatch.c: a process's end through its pidfd: opening one, whose it is, whether it ended, and how. */
#include "pidwatch.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "procfs.h"

/* PIDFD_GET_INFO (Linux 6.15 has the exit status in it): declared here,
 * as the C library's headers may not have it yet. */
struct pidwatch_info {
	uint64_t mask;
	uint64_t cgroupid;
	uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
	int32_t exit_code;
};
#define PIDWATCH_GET_INFO _IOWR(0xFF, 11, struct pidwatch_info)
#define PIDWATCH_INFO_EXIT (1ull << 3)

int pidwatch_open(pid_t pid, int *alive)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);

	if (fd < 0 && errno == ESRCH)
		*alive = 0;
	else if (fd < 0 && !(errno == EMFILE || errno == ENFILE || errno == ENOMEM))
		*alive = kill(pid, 0) == 0 || errno == EPERM;
	return fd;
}

pid_t pidwatch_pid(int fd)
{
	char path[64], buf[1024], *p;
	ssize_t n;
	int f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = open(path, O_RDONLY | O_CLOEXEC);
	if (f < 0)
		return -1;
	n = read(f, buf, sizeof(buf) - 1);
	close(f);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strstr(buf, "\nPid:");
	if (p == NULL)
		return -1;
	return (pid_t)strtol(p + 5, NULL, 10);
}

int pidwatch_ended(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, 0) == 1;
}

/* The exit status the kernel keeps in a pidfd, into *status; 1 when it had it. */
static int pidwatch_info_status(int pidfd, int *status)
{
	struct pidwatch_info info;

	memset(&info, 0, sizeof(info));
	info.mask = PIDWATCH_INFO_EXIT;
	if (pidfd < 0 || ioctl(pidfd, PIDWATCH_GET_INFO, &info) < 0 ||
	    !(info.mask & PIDWATCH_INFO_EXIT))
		return 0;
	*status = info.exit_code;
	return 1;
}

int pidwatch_exit_status(int pidfd, pid_t pid, uint64_t start_time, int *status)
{
	struct procstat st;

	/* Reaped: the pidfd has it. A zombie: its stat has it. Reaped
	 * between the two looks: the pidfd again. */
	if (pidwatch_info_status(pidfd, status))
		return 1;
	if (procfs_stat(pid, &st) == 0 && st.starttime == start_time && st.state == 'Z' &&
	    st.have_exit_code) {
		*status = (int)st.exit_code;
		return 1;
	}
	return pidwatch_info_status(pidfd, status);
}
