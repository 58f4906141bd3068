/* itest_util.c: process, daemon, HTTP and exposition helpers shared by the integration tests. */
#include "itest_util.h"
#include "proto.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

struct itest_ctx itest;

static char **selected;
static int nselected;

/* Resolves build/rel into out; complains if it is not there. */
static int resolve(char *out, const char *build, const char *rel)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", build, rel);
	if (realpath(path, out) == NULL) {
		int err = errno;

		fprintf(stderr, "integration: %s: %s\n", path, strerror(err));
		return -err;
	}
	return 0;
}

int it_setup(const char *build)
{
	int rc = 0;

	if (realpath(build, itest.build) == NULL) {
		fprintf(stderr, "integration: build dir %s: %s\n", build, strerror(errno));
		return -errno;
	}
	if (resolve(itest.memprobed, build, "memprobed") < 0)
		rc = -ENOENT;
	if (resolve(itest.agent, build, "libmemprobe.so") < 0)
		rc = -ENOENT;
	if (resolve(itest.alloc_hold, build, "tests/progs/alloc_hold") < 0)
		rc = -ENOENT;
	return rc;
}

void it_select(int n, char **names)
{
	nselected = n;
	selected = names;
}

int it_selected(const char *name)
{
	if (nselected == 0)
		return 1;
	for (int i = 0; i < nselected; i++)
		if (strcmp(selected[i], name) == 0)
			return 1;
	return 0;
}

long long it_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int it_wait_until(int (*cond)(void *), void *arg, int timeout_ms)
{
	long long deadline = it_now_ms() + timeout_ms;

	for (;;) {
		if (cond(arg))
			return 1;
		if (it_now_ms() >= deadline)
			return 0;
		nap_ms(20);
	}
}

int it_file_count(const char *path, const char *needle)
{
	char *text = NULL, buf[8192];
	size_t len = 0, n, nlen = strlen(needle);
	FILE *f = fopen(path, "r"), *m;
	int count = 0;

	if (f == NULL || nlen == 0) {
		if (f != NULL)
			fclose(f);
		return 0;
	}
	m = open_memstream(&text, &len);
	if (m != NULL) {
		while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
			fwrite(buf, 1, n, m);
		if (fclose(m) == 0) {
			for (const char *at = text; (at = memmem(at, len - (size_t)(at - text), needle,
			    nlen)) != NULL; at += nlen)
				count++;
		}
	}
	free(text);
	fclose(f);
	return count;
}

int it_file_has(const char *path, const char *needle)
{
	return it_file_count(path, needle) > 0;
}

void it_slurp(const char *path, char *out, size_t size)
{
	FILE *f = fopen(path, "r");
	size_t n = 0;

	if (f != NULL) {
		n = fread(out, 1, size - 1, f);
		fclose(f);
	}
	out[n] = '\0';
}

int it_promtool_check(const char *dir, const char *body, char *out, size_t size)
{
	char path[PATH_MAX], cmd[PATH_MAX + 64];
	size_t n = 0;
	FILE *f;
	int st;

	out[0] = '\0';
	if (snprintf(path, sizeof(path), "%s/metrics.txt", dir) >= (int)sizeof(path))
		return -1;
	f = fopen(path, "w");
	if (f == NULL)
		return -1;
	fputs(body, f);
	if (fclose(f) != 0)
		return -1;
	if (snprintf(cmd, sizeof(cmd), "promtool check metrics < '%s' 2>&1", path) >= (int)sizeof(cmd))
		return -1;
	f = popen(cmd, "r");
	if (f == NULL)
		return -1;
	n = fread(out, 1, size - 1, f);
	out[n] = '\0';
	st = pclose(f);
	if (st == -1 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

struct file_wait {
	const char *path;
	const char *needle;
};

static int file_has_cond(void *arg)
{
	struct file_wait *w = arg;

	return it_file_has(w->path, w->needle);
}

int it_wait_log(const char *path, const char *needle)
{
	struct file_wait w = { path, needle };

	if (it_wait_until(file_has_cond, &w, IT_TIMEOUT_MS))
		return 1;
	fprintf(stderr, "  %s never said \"%s\"\n", path, needle);
	return 0;
}

int it_tmpdir(char *dir, size_t size)
{
	if (size < sizeof("/tmp/memprobe-it.XXXXXX"))
		return -ENAMETOOLONG;
	snprintf(dir, size, "/tmp/memprobe-it.XXXXXX");
	if (mkdtemp(dir) == NULL) {
		int err = errno;

		dir[0] = '\0';
		return -err;
	}
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void it_rmtree(const char *dir)
{
	if (dir == NULL || dir[0] == '\0')
		return;
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int it_unix_addr(struct sockaddr_un *sun, const char *path)
{
	size_t n = strlen(path);

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (n >= sizeof(sun->sun_path))
		return -ENAMETOOLONG;
	memcpy(sun->sun_path, path, n + 1);
	return 0;
}

int it_seqpacket_connect(const char *path)
{
	struct sockaddr_un sun;
	int fd;

	if (it_unix_addr(&sun, path) < 0)
		return -ENAMETOOLONG;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int err = errno;

		close(fd);
		return -err;
	}
	return fd;
}

int it_peer_closed(int fd, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN | POLLRDHUP };
	char c;

	if (poll(&pfd, 1, timeout_ms) <= 0)
		return 0;
	return recv(fd, &c, 1, MSG_DONTWAIT) <= 0;
}

int it_free_port(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd, port;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) < 0) {
		int err = errno;

		close(fd);
		return -err;
	}
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

/* ---- child processes ---- */

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
	if (p->pid == 0) {
		/* Die with the test binary, so a crashed test leaves nothing behind. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		dup2(in[0], STDIN_FILENO);
		dup2(out[1], STDOUT_FILENO);
		if (errfd >= 0)
			dup2(errfd, STDERR_FILENO);
		signal(SIGPIPE, SIG_DFL);
		execve(argv[0], argv, env);
		fprintf(stderr, "integration: exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
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

int it_proc_wait(struct it_proc *p, int timeout_ms)
{
	long long deadline = it_now_ms() + timeout_ms;

	if (p->pid <= 0)
		return 0;
	for (;;) {
		pid_t r = waitpid(p->pid, &p->status, WNOHANG);

		if (r == p->pid || (r < 0 && errno == ECHILD)) {
			p->pid = 0;
			return 0;
		}
		if (it_now_ms() >= deadline)
			return -ETIMEDOUT;
		nap_ms(10);
	}
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

/* ---- the daemon ---- */

static int daemon_up(void *arg)
{
	struct it_daemon *d = arg;
	struct it_http r;
	struct stat st;
	int ok;

	if (it_proc_wait(&d->proc, 0) == 0 && d->proc.pid == 0)
		return 1;       /* exited: stop waiting, the caller looks */
	if (stat(d->sock, &st) < 0 || !S_ISSOCK(st.st_mode))
		return 0;
	ok = it_get(d->url, "/healthz", &r) == 0 && r.status == 200;
	it_http_free(&r);
	return ok;
}

int it_daemon_start(struct it_daemon *d, int exited_ttl)
{
	return it_daemon_start_args(d, exited_ttl, NULL);
}

int it_daemon_start_args(struct it_daemon *d, int exited_ttl, char *const extra[])
{
	char listen[64], ttl[32];
	int rc;

	memset(d, 0, sizeof(*d));
	d->proc.in_fd = d->proc.out_fd = -1;
	rc = it_tmpdir(d->dir, sizeof(d->dir));
	if (rc < 0) {
		fprintf(stderr, "integration: mkdtemp: %s\n", strerror(-rc));
		return rc;
	}
	snprintf(d->sock, sizeof(d->sock), "%s/agent.sock", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/memprobed.log", d->dir);
	snprintf(ttl, sizeof(ttl), "%d", exited_ttl);

	/* A free port can be taken between our probe and the daemon's bind:
	 * then the daemon exits, and we try another. */
	for (int attempt = 0; attempt < 5; attempt++) {
		char *argv[] = {
			itest.memprobed,
			"--agent-socket", d->sock,
			"--web.listen-address", listen,
			"--exited-ttl", ttl,
			"--log-level", "debug",
			NULL,
		};
		char *full[64];
		size_t na = 0;

		for (; argv[na] != NULL; na++)
			full[na] = argv[na];
		for (size_t k = 0; extra != NULL && extra[k] != NULL && na < 63; k++)
			full[na++] = extra[k];
		full[na] = NULL;

		d->port = it_free_port();
		if (d->port < 0) {
			fprintf(stderr, "integration: no free port: %s\n", strerror(-d->port));
			return d->port;
		}
		snprintf(listen, sizeof(listen), "127.0.0.1:%d", d->port);
		snprintf(d->url, sizeof(d->url), "http://127.0.0.1:%d", d->port);
		rc = it_proc_start(&d->proc, full, NULL, d->log);
		if (rc < 0) {
			fprintf(stderr, "integration: start %s: %s\n", itest.memprobed, strerror(-rc));
			return rc;
		}
		if (!it_wait_until(daemon_up, d, IT_START_TIMEOUT_MS)) {
			fprintf(stderr, "integration: memprobed did not answer %s/healthz "
			    "or create %s within %d ms\n", d->url, d->sock, IT_START_TIMEOUT_MS);
			it_daemon_dump_log(d);
			it_proc_kill(&d->proc);
			return -ETIMEDOUT;
		}
		if (d->proc.pid != 0)
			return 0;
		fprintf(stderr, "integration: memprobed exited at start (status 0x%x) on port %d; "
		    "retrying\n", d->proc.status, d->port);
		it_daemon_dump_log(d);
		it_proc_kill(&d->proc);
	}
	return -EADDRINUSE;
}

int it_daemon_restart(struct it_daemon *d, int exited_ttl)
{
	char listen[64], ttl[32];
	char *argv[] = { itest.memprobed, "--agent-socket", d->sock, "--web.listen-address",
	    listen, "--exited-ttl", ttl, "--log-level", "debug", NULL };

	snprintf(listen, sizeof(listen), "127.0.0.1:%d", d->port);
	snprintf(ttl, sizeof(ttl), "%d", exited_ttl);
	if (it_proc_start(&d->proc, argv, NULL, d->log) < 0)
		return -1;
	if (!it_wait_until(daemon_up, d, IT_START_TIMEOUT_MS) || d->proc.pid == 0) {
		fprintf(stderr, "integration: memprobed did not come back on %s and %s\n", d->url,
		    d->sock);
		it_daemon_dump_log(d);
		return -1;
	}
	return 0;
}

void it_daemon_dump_log(const struct it_daemon *d)
{
	char line[1024];
	long size;
	FILE *f;

	if (d->log[0] == '\0' || (f = fopen(d->log, "r")) == NULL)
		return;
	/* The end of a long debug log is what tells why. */
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fprintf(stderr, "---- %s%s ----\n", d->log, size > 32768 ? " (its last 32 KiB)" : "");
	if (size > 32768) {
		fseek(f, size - 32768, SEEK_SET);
		if (fgets(line, sizeof(line), f) == NULL)   /* skip a partial line */
			line[0] = '\0';
	} else {
		fseek(f, 0, SEEK_SET);
	}
	while (fgets(line, sizeof(line), f) != NULL)
		fputs(line, stderr);
	fprintf(stderr, "---- end of log ----\n");
	fclose(f);
}

/* it_daemon_stop(); the log is printed on a failure unless dumped says it
 * was already. */
static int daemon_stop(struct it_daemon *d, int dumped)
{
	int rc = 0;

	if (d->proc.pid > 0) {
		if (it_proc_stop(&d->proc, SIGTERM, IT_TIMEOUT_MS) < 0) {
			fprintf(stderr, "integration: memprobed ignored SIGTERM; killing it\n");
			rc = -1;
		} else if (!WIFEXITED(d->proc.status) || WEXITSTATUS(d->proc.status) != 0) {
			fprintf(stderr, "integration: memprobed stopped with wait status 0x%x\n",
			    d->proc.status);
			rc = -1;
		}
		if (rc < 0 && !dumped)
			it_daemon_dump_log(d);
	}
	it_proc_kill(&d->proc);
	it_rmtree(d->dir);
	d->dir[0] = '\0';
	return rc;
}

int it_daemon_stop(struct it_daemon *d)
{
	return daemon_stop(d, 0);
}

int it_daemon_finish(struct it_daemon *d, int failed)
{
	if (failed)
		it_daemon_dump_log(d);
	return daemon_stop(d, failed);
}

void it_agent_env(char *env[], char *storage, const char *sock)
{
	char *s = storage;

	env[0] = s;
	s += sprintf(s, "LD_PRELOAD=%s", itest.agent) + 1;
	env[1] = s;
	s += sprintf(s, "MEMPROBE_SOCKET=%s", sock) + 1;
	env[2] = s;
	sprintf(s, "MEMPROBE_INTERVAL_MS=100");
	env[3] = NULL;
}

/* ---- HTTP ---- */

size_t it_curl_collect(char *data, size_t size, size_t n, void *arg)
{
	struct it_growbuf *b = arg;
	size_t add = size * n;
	char *q = realloc(b->p, b->len + add + 1);

	if (q == NULL)
		return 0;
	memcpy(q + b->len, data, add);
	b->len += add;
	q[b->len] = '\0';
	b->p = q;
	return add;
}

int it_http(const char *method, const char *url, struct it_http *r)
{
	struct it_growbuf body = { NULL, 0 }, head = { NULL, 0 };
	CURL *c = curl_easy_init();
	CURLcode cc;

	memset(r, 0, sizeof(*r));
	if (c == NULL)
		return -ENOMEM;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, it_curl_collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, it_curl_collect);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &head);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else if (strcmp(method, "POST") == 0)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
	else if (strcmp(method, "GET") != 0)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	cc = curl_easy_perform(c);
	if (cc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_cleanup(c);
	r->body = body.p != NULL ? body.p : strdup("");
	r->len = body.len;
	r->headers = head.p != NULL ? head.p : strdup("");
	r->hlen = head.len;
	return cc == CURLE_OK ? 0 : -EIO;
}

int it_get(const char *base_url, const char *path, struct it_http *r)
{
	char url[512];

	snprintf(url, sizeof(url), "%s%s", base_url, path);
	return it_http("GET", url, r);
}

void it_http_free(struct it_http *r)
{
	free(r->body);
	free(r->headers);
	memset(r, 0, sizeof(*r));
}

int it_http_header(const struct it_http *r, const char *name, char *out, size_t size)
{
	size_t nlen = strlen(name);
	const char *line = r->headers;
	int found = 0;

	while (line != NULL && *line != '\0') {
		const char *end = strchr(line, '\n');
		size_t llen = end != NULL ? (size_t)(end - line) : strlen(line);

		if (llen > nlen && strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
			const char *v = line + nlen + 1;
			size_t vlen;

			while (*v == ' ' || *v == '\t')
				v++;
			vlen = (size_t)(line + llen - v);
			while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == ' '))
				vlen--;
			if (vlen >= size)
				vlen = size - 1;
			memcpy(out, v, vlen);
			out[vlen] = '\0';
			found = 1;
		}
		line = end != NULL ? end + 1 : NULL;
	}
	return found;
}

/* ---- Prometheus text ---- */

const char *it_label_value(const char *p, char *out, size_t size)
{
	size_t n = 0;

	for (;;) {
		char c = *p++;

		if (c == '\0' || c == '\n')
			return NULL;
		if (c == '"')
			break;
		if (c == '\\') {
			c = *p++;
			if (c == 'n')
				c = '\n';
			else if (c != '\\' && c != '"')
				return NULL;
		}
		if (n + 1 < size)
			out[n++] = c;
	}
	out[n] = '\0';
	return p;
}

/*
 * Whether the label set starting after '{' holds label="value". Label values
 * are compared unescaped (\\, \", \n). *end gets the character after '}',
 * or NULL when the set is malformed.
 */
static int labels_match(const char *p, const char *label, const char *value,
    const char **end)
{
	char v[1024];
	int match = label == NULL;

	*end = NULL;
	for (;;) {
		const char *name;
		size_t nlen;

		while (*p == ' ' || *p == ',')
			p++;
		if (*p == '}') {
			*end = p + 1;
			return match;
		}
		name = p;
		while (*p != '\0' && *p != '=' && *p != '}' && *p != '\n')
			p++;
		if (*p != '=' || p[1] != '"')
			return 0;
		nlen = (size_t)(p - name);
		p = it_label_value(p + 2, v, sizeof(v));
		if (p == NULL)
			return 0;
		if (label != NULL && strlen(label) == nlen && strncmp(name, label, nlen) == 0 &&
		    strcmp(v, value) == 0)
			match = 1;
	}
}

/* Calls fn for each sample of `name` whose labels match; returns how many. */
static int each_sample(const char *text, const char *name, const char *label,
    const char *value, void (*fn)(double, void *), void *arg)
{
	size_t nlen = strlen(name);
	const char *line = text;
	int n = 0;

	while (line != NULL && *line != '\0') {
		const char *next = strchr(line, '\n');
		const char *p = line + nlen;

		if (next != NULL)
			next++;
		if (*line == '#' || strncmp(line, name, nlen) != 0 || (*p != '{' && *p != ' ')) {
			line = next;
			continue;
		}
		if (*p == '{') {
			if (!labels_match(p + 1, label, value, &p) || p == NULL) {
				line = next;
				continue;
			}
		} else if (label != NULL) {
			line = next;
			continue;
		}
		while (*p == ' ')
			p++;
		fn(strtod(p, NULL), arg);
		n++;
		line = next;
	}
	return n;
}

static void keep_value(double v, void *arg)
{
	*(double *)arg = v;
}

static void add_value(double v, void *arg)
{
	*(double *)arg += v;
}

int it_metric(const char *text, const char *name, const char *label,
    const char *value, double *out)
{
	double v = 0;
	int n = each_sample(text, name, label, value, keep_value, &v);

	if (n > 0)
		*out = v;
	return n > 0;
}

int it_metric_pid(const char *text, const char *name, long pid, double *out)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%ld", pid);
	return it_metric(text, name, "pid", buf, out);
}

double it_metric_sum(const char *text, const char *name, const char *label,
    const char *value)
{
	double sum = 0;

	each_sample(text, name, label, value, add_value, &sum);
	return sum;
}

struct metric_wait {
	const char *url;
	const char *name;
	long pid;
	double lo, hi, last;
};

static int metric_in_range(void *arg)
{
	struct metric_wait *w = arg;
	struct it_http r;
	double v;
	int ok = 0;

	if (it_get(w->url, "/metrics", &r) == 0 && r.status == 200 &&
	    it_metric_pid(r.body, w->name, w->pid, &v)) {
		w->last = v;
		ok = v >= w->lo && v <= w->hi;
	}
	it_http_free(&r);
	return ok;
}

int it_wait_metric(const char *base_url, const char *name, long pid,
    double lo, double hi, int timeout_ms, double *last)
{
	struct metric_wait w = { base_url, name, pid, lo, hi, -1 };
	int ok = it_wait_until(metric_in_range, &w, timeout_ms);

	if (last != NULL)
		*last = w.last;
	return ok;
}

/* ---- the programs under watch and the JSON API ---- */

long it_hold_start(struct it_proc *p, const char *sock, int nblocks, int size,
    const char *stderr_path)
{
	char nb[16], sz[16], line[128], storage[2 * PATH_MAX + 64];
	char *argv[] = { itest.alloc_hold, nb, sz, NULL };
	char *env[4] = { NULL };
	char *end;
	long pid;
	int rc;

	snprintf(nb, sizeof(nb), "%d", nblocks);
	snprintf(sz, sizeof(sz), "%d", size);
	if (sock != NULL)
		it_agent_env(env, storage, sock);
	rc = it_proc_start(p, argv, env, stderr_path);
	if (rc < 0) {
		fprintf(stderr, "integration: start alloc_hold: %s\n", strerror(-rc));
		return rc;
	}
	rc = it_proc_readline(p, line, sizeof(line), IT_TIMEOUT_MS);
	if (rc < 0) {
		fprintf(stderr, "integration: alloc_hold said no \"ready\" line: %s\n",
		    strerror(-rc));
		return rc;
	}
	if (strncmp(line, "ready ", 6) != 0 || (pid = strtol(line + 6, &end, 10)) <= 0 ||
	    *end != '\0') {
		fprintf(stderr, "integration: alloc_hold said \"%s\", not \"ready PID\"\n", line);
		return -EPROTO;
	}
	return pid;
}

json_t *it_api_process(const char *base_url, long pid)
{
	struct it_http r;
	json_t *root = NULL, *list, *entry, *found = NULL;
	size_t i;

	if (it_get(base_url, "/api/v1/processes", &r) < 0 || r.status != 200)
		goto out;
	root = json_loadb(r.body, r.len, 0, NULL);
	list = json_object_get(root, "processes");
	json_array_foreach(list, i, entry) {
		json_t *p = json_object_get(entry, "pid");

		if (json_is_integer(p) && json_integer_value(p) == pid) {
			found = json_incref(entry);
			break;
		}
	}
out:
	json_decref(root);
	it_http_free(&r);
	return found;
}

int it_json_num(json_t *obj, const char *path, double *out)
{
	char key[128];
	const char *dot;

	while ((dot = strchr(path, '.')) != NULL) {
		size_t n = (size_t)(dot - path);

		if (n >= sizeof(key))
			return 0;
		memcpy(key, path, n);
		key[n] = '\0';
		obj = json_object_get(obj, key);
		path = dot + 1;
	}
	obj = json_object_get(obj, path);
	if (!json_is_number(obj))
		return 0;
	*out = json_number_value(obj);
	return 1;
}

struct api_num_wait {
	const char *url;
	long pid;
	const char *path;
	double lo;
	double last;            /* -1: not seen */
};

static int api_num_reached(void *arg)
{
	struct api_num_wait *w = arg;
	json_t *e = it_api_process(w->url, w->pid);
	double v;

	if (e != NULL && it_json_num(e, w->path, &v))
		w->last = v;
	json_decref(e);
	return w->last >= w->lo;
}

int it_wait_api_num(const char *base_url, long pid, const char *path, double lo)
{
	struct api_num_wait w = { base_url, pid, path, lo, -1 };

	if (it_wait_until(api_num_reached, &w, IT_TIMEOUT_MS))
		return 1;
	fprintf(stderr, "  /api/v1/processes pid %ld: %s last %g (-1: never there), want >= %g\n",
	    pid, path, w.last, lo);
	return 0;
}

struct label_wait {
	const char *url;
	const char *name;
	const char *label, *value;
	double lo, hi;
	double last;            /* -1: not there */
};

static int label_in_range(void *arg)
{
	struct label_wait *w = arg;
	struct it_http r;
	double v;

	w->last = -1;
	if (it_get(w->url, "/metrics", &r) == 0 && r.status == 200 &&
	    it_metric(r.body, w->name, w->label, w->value, &v))
		w->last = v;
	it_http_free(&r);
	return w->last >= w->lo && w->last <= w->hi;
}

double it_metric_now(const char *base_url, const char *name, const char *label,
    const char *value)
{
	struct label_wait w = { base_url, name, label, value, 0, 0, -1 };

	label_in_range(&w);
	return w.last;
}

int it_wait_metric_label(const char *base_url, const char *name, const char *label,
    const char *value, double lo, double hi)
{
	struct label_wait w = { base_url, name, label, value, lo, hi, -1 };

	if (it_wait_until(label_in_range, &w, IT_TIMEOUT_MS))
		return 1;
	fprintf(stderr, "  %s{%s=\"%s\"}: last %g, want [%g, %g]\n", name,
	    label ? label : "", value ? value : "", w.last, lo, hi);
	return 0;
}

int it_is_json_error(const struct it_http *r)
{
	char ctype[128];
	json_t *root = json_loadb(r->body, r->len, 0, NULL);
	int ok = json_is_object(root) && json_is_string(json_object_get(root, "error")) &&
	    it_http_header(r, "Content-Type", ctype, sizeof(ctype)) &&
	    strncmp(ctype, "application/json", 16) == 0;

	json_decref(root);
	return ok;
}

uint64_t it_self_start_time(void)
{
	char buf[1024], *p;
	unsigned long long v = 0;
	size_t n;
	FILE *f = fopen("/proc/self/stat", "r");

	if (f == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* comm may hold spaces and parentheses: count fields after the last ')'. */
	p = strrchr(buf, ')');
	if (p == NULL)
		return 0;
	p++;
	for (int field = 3; field <= 22 && p != NULL; field++) {
		p = strchr(p + 1, ' ');
		if (field == 21 && p != NULL)
			v = strtoull(p + 1, NULL, 10);
	}
	return v;
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

int it_daemon_run_once(char *const args[], const char *dir, char *err, size_t size)
{
	char *argv[16], errpath[PATH_MAX];
	struct it_proc p;
	size_t n = 0;
	int status = -1;
	FILE *f;

	argv[n++] = itest.memprobed;
	for (size_t i = 0; args[i] != NULL && n < 15; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	snprintf(errpath, sizeof(errpath), "%s/stderr", dir);
	if (it_proc_start(&p, argv, NULL, errpath) == 0 && it_proc_wait(&p, IT_TIMEOUT_MS) == 0)
		status = p.status;
	it_proc_kill(&p);
	err[0] = '\0';
	f = fopen(errpath, "r");
	if (f != NULL) {
		err[fread(err, 1, size - 1, f)] = '\0';
		fclose(f);
	}
	return status;
}

/* ---- one program run without and with the agent ---- */

void it_outcome_free(struct it_outcome *o)
{
	free(o->out);
	o->out = NULL;
}

int it_which(const char *name, char *out, size_t size)
{
	const char *path = getenv("PATH");

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

void it_run_workload(char *const argv[], const char *dir, const char *sock,
    const char *extra, const char *errpath, struct it_outcome *o)
{
	char storage[2 * PATH_MAX + 64], cwd[PATH_MAX], more[PATH_MAX + 16];
	char *env[6] = { NULL };
	struct it_proc p;
	int n = 0, moved = 0;

	memset(o, 0, sizeof(*o));
	o->status = -1;
	o->out = calloc(1, IT_OUT_MAX);
	if (o->out == NULL)
		return;
	if (sock != NULL) {
		it_agent_env(env, storage, sock);
		n = 3;
	}
	if (extra != NULL) {
		snprintf(more, sizeof(more), "%s", extra);
		env[n++] = more;
	}
	env[n] = NULL;
	/* it_proc_start runs the child in our directory; move there and back. */
	if (dir != NULL) {
		if (getcwd(cwd, sizeof(cwd)) == NULL || chdir(dir) < 0)
			return;
		moved = 1;
	}
	n = it_proc_start(&p, argv, env, errpath);
	if (moved && chdir(cwd) < 0)
		fprintf(stderr, "  chdir back to %s: %s\n", cwd, strerror(errno));
	if (n < 0) {
		fprintf(stderr, "  start %s: %s\n", argv[0], strerror(-n));
		return;
	}
	o->pid = p.pid;
	it_proc_close_stdin(&p);
	o->len = it_proc_read_all(&p, o->out, IT_OUT_MAX, IT_RUN_TIMEOUT_MS);
	if (o->len < 0) {
		fprintf(stderr, "  %s (agent %s): output did not end\n", argv[0], sock ? "on" : "off");
		it_proc_kill(&p);
		return;
	}
	if (it_proc_wait(&p, IT_RUN_TIMEOUT_MS) < 0) {
		fprintf(stderr, "  %s (agent %s): did not exit\n", argv[0], sock ? "on" : "off");
		it_proc_kill(&p);
		return;
	}
	o->status = p.status;
	it_slurp(errpath, o->err, sizeof(o->err));
	it_proc_kill(&p);
}

/* Shows where two outputs first differ. */
static void show_diff(const char *what, const char *a, const char *b)
{
	size_t i = 0;

	while (a[i] != '\0' && a[i] == b[i])
		i++;
	fprintf(stderr, "  %s differs at byte %zu:\n    without: \"%.120s\"\n    with:    \"%.120s\"\n",
	    what, i, a + (i > 40 ? i - 40 : 0), b + (i > 40 ? i - 40 : 0));
}

int it_compare(const char *name, const struct it_outcome *plain, const struct it_outcome *with)
{
	int differ = 0;

	if (plain->status == -1 || with->status == -1) {
		fprintf(stderr, "  %s: did not finish (without: %d, with: %d)\n", name,
		    plain->status, with->status);
		return 1;
	}
	if (plain->len != with->len || memcmp(plain->out, with->out, (size_t)plain->len) != 0) {
		show_diff("stdout", plain->out, with->out);
		differ++;
	}
	if (strcmp(plain->err, with->err) != 0) {
		show_diff("stderr", plain->err, with->err);
		differ++;
	}
	if (plain->status != with->status) {
		fprintf(stderr, "  %s: wait status 0x%x without the agent, 0x%x with\n", name,
		    plain->status, with->status);
		differ++;
	}
	return differ;
}

int it_run_both(const struct it_daemon *d, char *const argv[], const char *dir,
    const char *extra, struct it_outcome *plain, struct it_outcome *with)
{
	char errpath[PATH_MAX];

	snprintf(errpath, sizeof(errpath), "%s/plain.stderr", d->dir);
	it_run_workload(argv, dir, NULL, extra, errpath, plain);
	snprintf(errpath, sizeof(errpath), "%s/agent.stderr", d->dir);
	it_run_workload(argv, dir, d->sock, extra, errpath, with);
	return it_compare(argv[0], plain, with);
}

/* ---- the daemon's view ---- */

struct seen_wait {
	const char *url;
	long pid;               /* wanted pid, or 0 */
	const char *comm;       /* wanted comm, or NULL */
	int min;                /* at least this many entries of comm */
	int count;              /* last count */
	int or_gone;            /* exited entries named "?" count too */
};

/* Counts entries of /api/v1/processes with w->comm, or finds w->pid. */
static int seen(void *arg)
{
	struct seen_wait *w = arg;
	json_t *root = NULL, *list, *e;
	struct it_http r;
	size_t i;

	w->count = 0;
	if (it_get(w->url, "/api/v1/processes", &r) == 0 && r.status == 200)
		root = json_loadb(r.body, r.len, 0, NULL);
	it_http_free(&r);
	list = json_object_get(root, "processes");
	json_array_foreach(list, i, e) {
		json_t *pid = json_object_get(e, "pid");
		const char *comm = json_string_value(json_object_get(e, "comm"));

		if (w->pid > 0 && json_integer_value(pid) == w->pid)
			w->count++;
		else if (w->comm != NULL && comm != NULL && strcmp(comm, w->comm) == 0)
			w->count++;
		else if (w->or_gone && comm != NULL && strcmp(comm, "?") == 0 &&
		    json_is_string(json_object_get(e, "state")) &&
		    strcmp(json_string_value(json_object_get(e, "state")), "exited") == 0)
			w->count++;
	}
	json_decref(root);
	return w->count >= w->min;
}

int it_wait_seen_pid(const char *base_url, long pid, const char *what)
{
	struct seen_wait w = { base_url, pid, NULL, 1, 0, 0 };

	if (it_wait_until(seen, &w, IT_TIMEOUT_MS))
		return 1;
	fprintf(stderr, "  %s (pid %ld) never appeared in /api/v1/processes\n", what, pid);
	return 0;
}

static int wait_seen_named(const char *base_url, const char *comm, int min, int or_gone)
{
	struct seen_wait w = { base_url, 0, comm, min, 0, or_gone };

	if (it_wait_until(seen, &w, IT_TIMEOUT_MS))
		return 1;
	fprintf(stderr, "  /api/v1/processes: %d processes named %s%s, want at least %d\n",
	    w.count, comm, or_gone ? " or ended unnamed" : "", min);
	return 0;
}

int it_wait_seen_comm(const char *base_url, const char *comm, int min)
{
	return wait_seen_named(base_url, comm, min, 0);
}

int it_wait_seen_short(const char *base_url, const char *comm, int min)
{
	return wait_seen_named(base_url, comm, min, 1);
}

/* ---- a hand-built agent ---- */

int it_send_msg(int fd, const unsigned char *buf, size_t n)
{
	return n > 0 && send(fd, buf, n, MSG_NOSIGNAL) == (ssize_t)n ? 0 : -1;
}

int it_send_hello(int fd, unsigned agent, const char *comm, const char *exe)
{
	static unsigned char buf[PROTO_MAX_MSG];
	struct proto_hello h = { .agent = (uint16_t)agent, .stack_limit = 8 << 20 };

	h.start_time = it_self_start_time();
	snprintf(h.comm, sizeof(h.comm), "%s", comm);
	if (exe != NULL)
		snprintf(h.exe, sizeof(h.exe), "%s", exe);
	else
		snprintf(h.exe, sizeof(h.exe), "/nonexistent/%s", comm);
	return it_send_msg(fd, buf, proto_encode_hello(buf, &h));
}

int it_send_heap(int fd, uint64_t live)
{
	static unsigned char buf[PROTO_MAX_MSG];
	struct proto_sample s = { .flags = PROTO_S_HEAP | PROTO_S_STACK, .seq = 1, .threads = 1 };

	s.heap_live_bytes = live;
	s.heap_live_blocks = 3;
	s.heap_peak_bytes = live;
	s.heap_allocations = 3;
	s.heap_allocated_bytes = live;
	s.stack_peak_bytes = 4096;
	s.stack_main_peak_bytes = 4096;
	s.stack_limit_bytes = 8 << 20;
	return it_send_msg(fd, buf, proto_encode_sample(buf, &s));
}
