/* it_proc.c: child processes with pipes on stdin and stdout, and programs run to their end. */
#include "it_proc.h"
#include "it_base.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int env_removed(const char *var)
{
	/* A service manager's variables, should the tests run under one,
	 * are not the daemons' under test: itest_systemd.c sets its own. */
	return strncmp(var, "LD_PRELOAD=", 11) == 0 ||
	    strncmp(var, "MEMPROBE_", 9) == 0 ||
	    strncmp(var, "NOTIFY_SOCKET=", 14) == 0 ||
	    strncmp(var, "LISTEN_", 7) == 0 ||
	    strncmp(var, "WATCHDOG_", 9) == 0;
}

static int env_overridden(const char *var, char *const env_set[])
{
	size_t n = strcspn(var, "=");

	for (int i = 0; env_set != NULL && env_set[i] != NULL; i++)
		if (strncmp(env_set[i], var, n) == 0 && env_set[i][n] == '=')
			return 1;
	return 0;
}

/* Builds the child's environment; the array is freed by the caller, the
 * strings are borrowed from environ and env_set. */
static char **child_env(char *const env_set[])
{
	size_t n = 0, k = 0;
	char **env;

	while (environ[n] != NULL)
		n++;
	for (int i = 0; env_set != NULL && env_set[i] != NULL; i++)
		n++;
	env = calloc(n + 1, sizeof(*env));
	if (env == NULL)
		return NULL;
	for (int i = 0; environ[i] != NULL; i++)
		if (!env_removed(environ[i]) && !env_overridden(environ[i], env_set))
			env[k++] = environ[i];
	for (int i = 0; env_set != NULL && env_set[i] != NULL; i++)
		env[k++] = env_set[i];
	env[k] = NULL;
	return env;
}

/* In the child: stdin from in, stdout to out, stderr to errfd (-1: ours),
 * then argv with env. Does not return. */
static _Noreturn void exec_child(char *const argv[], char **env, int in, int out, int errfd,
    pid_t parent)
{
	/* Die with the test binary, so a crashed test leaves nothing behind. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	dup2(in, STDIN_FILENO);
	dup2(out, STDOUT_FILENO);
	if (errfd >= 0)
		dup2(errfd, STDERR_FILENO);
	signal(SIGPIPE, SIG_DFL);
	execve(argv[0], argv, env);
	fprintf(stderr, "integration: exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

int it_proc_start(struct it_proc *p, char *const argv[], char *const env_set[],
    const char *stderr_path)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, errfd = -1, err;
	pid_t parent = getpid();
	char **env;

	memset(p, 0, sizeof(*p));
	p->in_fd = p->out_fd = -1;
	env = child_env(env_set);
	if (env == NULL)
		return -ENOMEM;
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
		goto fail;
	if (stderr_path != NULL) {
		errfd = open(stderr_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (errfd < 0)
			goto fail;
	}
	fflush(NULL);
	p->pid = fork();
	if (p->pid < 0) {
		p->pid = 0;
		goto fail;
	}
	if (p->pid == 0)
		exec_child(argv, env, in[0], out[1], errfd, parent);
	free(env);
	close(in[0]);
	close(out[1]);
	if (errfd >= 0)
		close(errfd);
	p->in_fd = in[1];
	p->out_fd = out[0];
	return 0;

fail:
	err = errno;
	free(env);
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
	}
	if (errfd >= 0)
		close(errfd);
	return -err;
}

/* Takes one line out of p->buf if there is a complete one. */
static int take_line(struct it_proc *p, char *line, size_t size)
{
	char *nl = memchr(p->buf, '\n', p->buffered);
	size_t n, used;

	if (nl == NULL)
		return -1;
	used = (size_t)(nl - p->buf) + 1;
	n = used - 1 < size - 1 ? used - 1 : size - 1;
	memcpy(line, p->buf, n);
	line[n] = '\0';
	memmove(p->buf, p->buf + used, p->buffered - used);
	p->buffered -= used;
	return (int)n;
}

/* Reads what is there of the child's stdout into p->buf, waiting up to
 * wait_ms. Returns bytes read, 0 at end of output, -ETIMEDOUT. */
static int fill(struct it_proc *p, int wait_ms)
{
	struct pollfd pfd = { .fd = p->out_fd, .events = POLLIN };
	ssize_t n;

	if (p->out_fd < 0)
		return 0;
	if (p->buffered == sizeof(p->buf))
		return -ENOBUFS;
	if (poll(&pfd, 1, wait_ms < 0 ? 0 : wait_ms) <= 0)
		return -ETIMEDOUT;
	n = read(p->out_fd, p->buf + p->buffered, sizeof(p->buf) - p->buffered);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return -ETIMEDOUT;
	if (n <= 0) {
		close(p->out_fd);
		p->out_fd = -1;
		return 0;
	}
	p->buffered += (size_t)n;
	return (int)n;
}

int it_proc_readline(struct it_proc *p, char *line, size_t size, int timeout_ms)
{
	long long deadline = it_now_ms() + timeout_ms;
	int n;

	for (;;) {
		n = take_line(p, line, size);
		if (n >= 0)
			return n;
		if (p->out_fd < 0)
			return -EPIPE;
		if (it_now_ms() >= deadline)
			return -ETIMEDOUT;
		n = fill(p, (int)(deadline - it_now_ms()));
		if (n == -ENOBUFS)
			return -ENOBUFS;
	}
}

long it_proc_read_all(struct it_proc *p, char *out, size_t size, int timeout_ms)
{
	long long deadline = it_now_ms() + timeout_ms;
	size_t len = 0;

	for (;;) {
		size_t n = p->buffered < size - 1 - len ? p->buffered : size - 1 - len;

		memcpy(out + len, p->buf, n);
		len += n;
		p->buffered = 0;
		out[len] = '\0';
		if (p->out_fd < 0)
			return (long)len;
		if (it_now_ms() >= deadline)
			return -ETIMEDOUT;
		fill(p, (int)(deadline - it_now_ms()));
	}
}

int it_proc_write(struct it_proc *p, const char *s)
{
	size_t len = strlen(s), off = 0;

	if (p->in_fd < 0)
		return -EPIPE;
	while (off < len) {
		ssize_t n = write(p->in_fd, s + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		off += (size_t)n;
	}
	return 0;
}

void it_proc_close_stdin(struct it_proc *p)
{
	if (p->in_fd >= 0) {
		close(p->in_fd);
		p->in_fd = -1;
	}
}

/* Reaps p's child if it has exited. */
static int reaped(void *arg)
{
	struct it_proc *p = arg;
	pid_t r = waitpid(p->pid, &p->status, WNOHANG);

	if (r == p->pid || (r < 0 && errno == ECHILD)) {
		p->pid = 0;
		return 1;
	}
	return 0;
}

int it_proc_wait(struct it_proc *p, int timeout_ms)
{
	if (p->pid <= 0)
		return 0;
	return it_wait_until(reaped, p, timeout_ms) ? 0 : -ETIMEDOUT;
}

int it_proc_stop(struct it_proc *p, int sig, int timeout_ms)
{
	if (p->pid <= 0)
		return 0;
	kill(p->pid, sig);
	return it_proc_wait(p, timeout_ms);
}

void it_proc_kill(struct it_proc *p)
{
	if (p->pid > 0) {
		kill(p->pid, SIGKILL);
		while (waitpid(p->pid, &p->status, 0) < 0 && errno == EINTR)
			;
		p->pid = 0;
	}
	it_proc_close_stdin(p);
	if (p->out_fd >= 0) {
		close(p->out_fd);
		p->out_fd = -1;
	}
}

int it_run(char *const argv[], char *const env[], const char *stderr_path, char *out,
    size_t size)
{
	struct it_proc p;
	int status = -1;

	out[0] = '\0';
	if (it_proc_start(&p, argv, env, stderr_path) < 0)
		return -1;
	it_proc_close_stdin(&p);
	if (it_proc_read_all(&p, out, size, IT_TIMEOUT_MS) >= 0 &&
	    it_proc_wait(&p, IT_TIMEOUT_MS) == 0)
		status = p.status;
	it_proc_kill(&p);
	return status;
}

int it_which(const char *name, char *out, size_t size)
{
	const char *path = getenv("PATH");

	if (path == NULL)
		path = "/usr/bin:/bin";

	if (name[0] == '/') {
		snprintf(out, size, "%s", name);
		return access(out, X_OK) == 0 ? 0 : -ENOENT;
	}
	while (path != NULL && *path != '\0') {
		size_t n = strcspn(path, ":");

		snprintf(out, size, "%.*s/%s", (int)n, path, name);
		if (n > 0 && access(out, X_OK) == 0)
			return 0;
		path += n;
		if (*path == ':')
			path++;
	}
	return -ENOENT;
}

int it_shell(const char *cmd, char *out, size_t size)
{
	FILE *f = popen(cmd, "r");
	size_t n;
	int st;

	out[0] = '\0';
	if (f == NULL)
		return -1;
	n = fread(out, 1, size - 1, f);
	out[n] = '\0';
	st = pclose(f);
	return st == -1 || !WIFEXITED(st) ? -1 : WEXITSTATUS(st);
}

int it_count_lines(const char *s)
{
	int n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}
