/* guest_fds.c: programs that count on their descriptor numbers; each prints what it saw (issue 12, descriptors). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "progs/progs.h"

/*
 * Usage: guest_fds MODE [FILE]
 *
 *   closed-out   started with stdout closed: write(1) fails with EBADF,
 *                also after allocating, in a thread and in a fork child
 *                that allocates. Reports on stderr.
 *   closed-in    started with stdin closed: read(0) fails with EBADF, the
 *                same ways. Reports on stdout.
 *   daemonise    closes 0..1023 and opens /dev/null three times, wanting 0,
 *                1 and 2; again in a fork child that allocates first. Has
 *                no stdout then: reports into FILE.
 *   nofile       run with RLIMIT_NOFILE 4: one open() succeeds (3), the
 *                next fails with EMFILE; so in a fork child that allocates.
 *   list         lists /proc/self/fd and the number of /proc/self/task
 *                after start, with threads, and in a fork child.
 *
 * Between steps it allocates enough to pass the agent's slow-path tick.
 * Exits 0 when everything was as wanted, 1 when not.
 */

static int bad;

static const char *err_name(int e)
{
	switch (e) {
	case 0: return "ok";
	case EBADF: return "EBADF";
	case EMFILE: return "EMFILE";
	default: return strerror(e);
	}
}

/* ---- closed-out, closed-in ---- */

static void try_fd(FILE *out, int fd, const char *where)
{
	char c = 'x';
	ssize_t n = fd == 0 ? read(0, &c, 1) : write(1, "x\n", 2);
	int e = n < 0 ? errno : 0;

	fprintf(out, "%s %d %s: %s\n", fd == 0 ? "read" : "write", fd, where, err_name(e));
	if (e != EBADF)
		bad = 1;
}

static int closed_fd;

static void *closed_thread(void *arg)
{
	prog_churn();
	try_fd(arg, closed_fd, "in a thread");
	return NULL;
}

static int closed(int fd)
{
	FILE *out = fd == 1 ? stderr : stdout;
	pthread_t th;
	pid_t child;
	int st;

	closed_fd = fd;
	if (fcntl(fd, F_GETFD) != -1 || errno != EBADF) {
		fprintf(out, "descriptor %d is open: not started as intended\n", fd);
		return 2;
	}
	try_fd(out, fd, "at start");
	prog_churn();
	try_fd(out, fd, "after allocating");
	if (pthread_create(&th, NULL, closed_thread, out) != 0)
		return 2;
	pthread_join(th, NULL);
	fflush(NULL);
	child = fork();
	if (child == 0) {
		prog_churn();
		try_fd(out, fd, "in a fork child");
		fflush(NULL);
		_exit(bad);
	}
	if (child < 0 || waitpid(child, &st, 0) != child)
		return 2;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		bad = 1;
	return bad;
}

/* ---- daemonise ---- */

/* Closes every descriptor below 1024, opens /dev/null three times and
 * writes what each open returned into buf. */
static void detach(char *buf, size_t size)
{
	size_t n = 0;

	for (int fd = 0; fd < 1024; fd++)
		close(fd);
	prog_churn();
	for (int want = 0; want < 3; want++) {
		int fd = open("/dev/null", O_RDWR);

		n += (size_t)snprintf(buf + n, size - n, " %d", fd);
		if (fd != want)
			bad = 1;
	}
}

static int daemonise(const char *file)
{
	char parent[64] = "", child[64] = "", text[256];
	int pfd[2], st, fd;
	pid_t pid;

	/* The child reports through a pipe made before anything is closed;
	 * it keeps its end above the range it closes. */
	if (pipe(pfd) < 0 || dup2(pfd[1], 1500) < 0 || dup2(pfd[0], 1501) < 0)
		return 2;
	close(pfd[0]);
	close(pfd[1]);
	prog_churn();
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		prog_churn();
		detach(child, sizeof(child));
		if (write(1500, child, strlen(child)) < 0)
			_exit(2);
		_exit(bad);
	}
	close(1500);
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return 2;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		bad = 1;
	{
		ssize_t n = read(1501, child, sizeof(child) - 1);

		child[n > 0 ? n : 0] = '\0';
	}
	close(1501);
	detach(parent, sizeof(parent));
	fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	snprintf(text, sizeof(text), "daemonise: /dev/null opened as%s; in a fork child as%s; "
	    "report file is %d\n", parent, child, fd);
	if (fd < 0 || write(fd, text, strlen(text)) < 0)
		return 2;
	return bad;
}

/* ---- nofile ---- */

static void opens(const char *where)
{
	int a = open("/dev/null", O_RDONLY), ea = a < 0 ? errno : 0;
	int b = open("/dev/null", O_RDONLY), eb = b < 0 ? errno : 0;

	printf("%s: open -> %d (%s), open -> %d (%s)\n", where, a, err_name(ea), b, err_name(eb));
	if (a != 3 || b != -1 || eb != EMFILE)
		bad = 1;
	close(a);
	if (b >= 0)
		close(b);
}

static int nofile(void)
{
	pid_t pid;
	int st;

	opens("at start");
	prog_churn();
	opens("after allocating");
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		prog_churn();
		opens("in a fork child");
		fflush(NULL);
		_exit(bad);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return 2;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		bad = 1;
	return bad;
}

/* ---- list ---- */

/* Prints the open descriptors (but the one reading the directory) with
 * what they are, numbers and paths that differ from run to run left out,
 * and the number of threads. */
static void show(const char *where)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int self = d != NULL ? dirfd(d) : -1, ntask = 0;

	printf("%s: fds", where);
	while (d != NULL && (e = readdir(d)) != NULL) {
		char path[300], target[512];
		ssize_t n;

		if (e->d_name[0] == '.' || atoi(e->d_name) == self)
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		n = readlink(path, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = '\0';
		if (strncmp(target, "pipe:", 5) == 0 || strncmp(target, "socket:", 7) == 0)
			target[strcspn(target, ":")] = '\0';
		else if (target[0] == '/' && strncmp(target, "/dev/", 5) != 0 &&
		    strncmp(target, "/memfd:", 7) != 0)
			snprintf(target, sizeof(target), "file");
		printf(" %s=%s", e->d_name, target);
	}
	if (d != NULL)
		closedir(d);
	d = opendir("/proc/self/task");
	while (d != NULL && (e = readdir(d)) != NULL)
		ntask += e->d_name[0] != '.';
	if (d != NULL)
		closedir(d);
	printf("; tasks %d\n", ntask);
}

static pthread_barrier_t started, done;

static void *lister_thread(void *arg)
{
	(void)arg;
	prog_churn();
	pthread_barrier_wait(&started);
	pthread_barrier_wait(&done);
	prog_churn();
	return NULL;
}

static int list(void)
{
	pthread_t th[3];
	pid_t pid;
	int st;

	show("at start");
	prog_churn();
	show("after allocating");
	pthread_barrier_init(&started, NULL, 4);
	pthread_barrier_init(&done, NULL, 4);
	for (int i = 0; i < 3; i++)
		if (pthread_create(&th[i], NULL, lister_thread, NULL) != 0)
			return 2;
	pthread_barrier_wait(&started);
	show("with 3 threads");
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		show("fork child");
		prog_churn();
		show("fork child after allocating");
		fflush(NULL);
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return 2;
	pthread_barrier_wait(&done);
	/* Not listed after the joins: a joined thread may still be in
	 * /proc/self/task for a moment, agent or not. */
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";

	if (strcmp(mode, "closed-out") == 0)
		return closed(1);
	if (strcmp(mode, "closed-in") == 0)
		return closed(0);
	if (strcmp(mode, "daemonise") == 0 && argc == 3)
		return daemonise(argv[2]);
	if (strcmp(mode, "nofile") == 0)
		return nofile();
	if (strcmp(mode, "list") == 0)
		return list();
	fprintf(stderr, "usage: guest_fds closed-out|closed-in|daemonise FILE|nofile|list\n");
	return 2;
}
