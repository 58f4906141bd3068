/* itest_daemon.c: the daemon's identity checks, limits, process lifecycle, /proc figures, JSON API, config and signals. */
#include "harness.h"
#include "itest_util.h"
#include "proto.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MIB (1024.0 * 1024.0)

/* ---- a hand-built agent: the protocol spoken with common/proto.c ---- */

/*
 * Sends a heap SAMPLE whose SCM_CREDENTIALS claim pid `claimed`: the
 * kernel lets only CAP_SYS_ADMIN name another process. Returns 0, or
 * -errno from sendmsg.
 */
static int send_heap_claiming(int fd, uint64_t live, pid_t claimed)
{
	static unsigned char buf[PROTO_MAX_MSG];
	struct proto_sample smp = { .flags = PROTO_S_HEAP, .seq = 2, .threads = 1 };
	struct ucred cred = { .pid = claimed, .uid = getuid(), .gid = getgid() };

	smp.heap_live_bytes = smp.heap_peak_bytes = smp.heap_allocated_bytes = live;
	return it_send_cmsg(fd, buf, proto_encode_sample(buf, &smp), SCM_CREDENTIALS, &cred,
	    sizeof(cred));
}

static int send_python(int fd, uint64_t blocks)
{
	static unsigned char buf[PROTO_MAX_MSG];
	struct proto_sample s = { .flags = PROTO_S_PYTHON, .seq = 1, .threads = 1 };

	s.py_allocated_blocks = blocks;
	s.py_recursion_limit = 1000;
	s.py_stack_depth_peak = 12;
	return it_send_msg(fd, buf, proto_encode_sample(buf, &s));
}

static int send_gauge(int fd, const char *name, double v)
{
	static unsigned char buf[PROTO_MAX_MSG];
	struct proto_gauge g = { .value = v };

	snprintf(g.name, sizeof(g.name), "%s", name);
	return it_send_msg(fd, buf, proto_encode_gauge(buf, &g));
}

#define REJECTED "memprobe_daemon_messages_rejected_total"

/* ---- the tests ---- */

/*
 * A forked child writes on its parent's connection: the kernel's
 * SCM_CREDENTIALS name the child, so the message is dropped and counted,
 * and the parent's connection and figures stay.
 */
static void spoofed_pid(void)
{
	struct it_daemon d;
	char pid[16];
	int fd = -1, st;
	pid_t child;

	REQUIRE(it_daemon_start(&d, 60) == 0);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	fd = it_seqpacket_connect(d.sock);
	REQUIRE(fd >= 0);
	REQUIRE(it_send_hello(fd, PROTO_AGENT_C, "itest_parent", NULL) == 0);
	REQUIRE(it_send_heap(fd, 1111) == 0);
	REQUIRE(it_wait_metric_label(d.url, "memprobe_heap_live_bytes", "pid", pid, 1111, 1111));
	CHECK(it_metric_now(d.url, REJECTED, "reason", "credentials") == 0);

	fflush(NULL);
	child = fork();
	REQUIRE(child >= 0);
	if (child == 0) {
		/* Another process on the inherited descriptor: a SAMPLE, a
		 * HELLO and an empty datagram, none of which may count. */
		int bad = it_send_heap(fd, 999999) | it_send_hello(fd, PROTO_AGENT_C, "forger", NULL);

		bad |= send(fd, "", 0, MSG_NOSIGNAL) < 0;
		_exit(bad ? 1 : 0);
	}
	REQUIRE(waitpid(child, &st, 0) == child);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK(it_wait_metric_label(d.url, REJECTED, "reason", "credentials", 3, 3));
	/* The parent's figures did not move and its connection still works. */
	CHECK(it_metric_now(d.url, "memprobe_heap_live_bytes", "pid", pid) == 1111);
	CHECK(!it_peer_closed(fd, 0));
	REQUIRE(it_send_heap(fd, 2222) == 0);
	CHECK(it_wait_metric_label(d.url, "memprobe_heap_live_bytes", "pid", pid, 2222, 2222));
	CHECK(it_metric_now(d.url, "memprobe_process_info", "comm", "forger") == -1);
	/* No entry was made under the child's pid. */
	snprintf(pid, sizeof(pid), "%d", (int)child);
	CHECK(it_metric_now(d.url, "memprobe_heap_live_bytes", "pid", pid) == -1);

	/* A hand-built client that claims pid 1 in its own credentials: the
	 * kernel refuses that without CAP_SYS_ADMIN; with it (root here), the
	 * daemon drops it, as the connection's peer is another pid. */
	st = send_heap_claiming(fd, 3333, 1);
	if (st == -EPERM) {
		printf("info spoofed_pid: the kernel refused credentials naming pid 1\n");
	} else {
		CHECK(st == 0);
		CHECK(it_wait_metric_label(d.url, REJECTED, "reason", "credentials", 4, 4));
		CHECK(it_metric_now(d.url, "memprobe_heap_live_bytes", "pid", "1") == -1);
	}
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	CHECK(it_metric_now(d.url, "memprobe_heap_live_bytes", "pid", pid) == 2222);
	CHECK(!it_peer_closed(fd, 0));
out:
	if (fd >= 0)
		close(fd);
	CHECK(it_daemon_finish(&d, harness_failures) == 0);
}

/* The C agent and the Python agent of one process: one entry. */
static void merge_connections(void)
{
	struct it_daemon d;
	char pid[16];
	int c = -1, py = -1;
	json_t *e = NULL, *agents;
	double v;

	REQUIRE(it_daemon_start(&d, 60) == 0);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	c = it_seqpacket_connect(d.sock);
	py = it_seqpacket_connect(d.sock);
	REQUIRE(c >= 0 && py >= 0);
	REQUIRE(it_send_hello(c, PROTO_AGENT_C, "itest_merge", NULL) == 0);
	REQUIRE(it_send_hello(py, PROTO_AGENT_PYTHON, "python3", NULL) == 0);
	REQUIRE(it_send_heap(c, 5555) == 0);
	REQUIRE(send_python(py, 777) == 0);
	REQUIRE(it_wait_metric_label(d.url, "memprobe_python_allocated_blocks", "pid", pid, 777,
	    777));
	CHECK(it_metric_now(d.url, "memprobe_heap_live_bytes", "pid", pid) == 5555);
	CHECK(it_metric_sum("", "x", NULL, NULL) == 0);
	e = it_api_process(d.url, getpid());
	REQUIRE(e != NULL);
	CHECK(it_json_num(e, "connections", &v) && v == 2);
	agents = json_object_get(e, "agents");
	CHECK(json_array_size(agents) == 2);
	/* The name is the kernel's (this program's), never what HELLO said. */
	CHECK_STR(json_string_value(json_object_get(e, "comm")), "integration");
	CHECK(it_json_num(e, "python.allocated_blocks", &v) && v == 777);
	CHECK(it_json_num(e, "heap.live_bytes", &v) && v == 5555);
	json_decref(e);
	e = NULL;
	/* One of the two goes: still live. Both: exited. */
	close(py);
	py = -1;
	REQUIRE(it_send_heap(c, 6666) == 0);
	CHECK(it_wait_metric_label(d.url, "memprobe_heap_live_bytes", "pid", pid, 6666, 6666));
	CHECK(it_metric_now(d.url, "memprobe_process_exited", "pid", pid) == 0);
	close(c);
	c = -1;
	CHECK(it_wait_metric_label(d.url, "memprobe_process_exited", "pid", pid, 1, 1));
	/* Not memprobe_daemon_processes_tracked == 1: fork_at() may fork a few
	 * times before the kernel hands out the pid again, and each of those
	 * children is an agent too (its own entry, exited). The old entry of
	 * this pid is gone (itest_old has no info series) and the one left is
	 * live: that is the point. */
out:
	json_decref(e);
	if (c >= 0)
		close(c);
	if (py >= 0)
		close(py);
	CHECK(it_daemon_finish(&d, harness_failures) == 0);
}

/* An exited process stays exited_ttl seconds, then its series go. */
static void exited_ttl(void)
{
	struct it_daemon d;
	char pid[16];
	int fd = -1;

	REQUIRE(it_daemon_start(&d, 1) == 0);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	fd = it_seqpacket_connect(d.sock);
	REQUIRE(fd >= 0);
	REQUIRE(it_send_hello(fd, PROTO_AGENT_C, "itest_ttl", NULL) == 0);
	REQUIRE(it_send_heap(fd, 4242) == 0);
	REQUIRE(it_wait_metric_label(d.url, "memprobe_heap_live_bytes", "pid", pid, 4242, 4242));
	close(fd);
	fd = -1;
	CHECK(it_wait_metric_label(d.url, "memprobe_process_exited", "pid", pid, 1, 1));
	CHECK(it_wait_metric_absent(d.url, "memprobe_heap_live_bytes", "pid", pid));
	CHECK(it_metric_now(d.url, "memprobe_process_info", "pid", pid) == -1);
	CHECK(it_metric_now(d.url, "memprobe_daemon_processes_tracked", NULL, NULL) == 0);
out:
	if (fd >= 0)
		close(fd);
	CHECK(it_daemon_finish(&d, harness_failures) == 0);
}

/* A child that connects as its own process, says HELLO and a SAMPLE, then
 * waits for its stdin to close. Returns its pid; *fdout is its stdin. */
static pid_t start_child_agent(const char *sock, const char *comm, uint64_t live, int *fdout)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		char c;
		int fd;

		/* The daemon names a process by what the kernel says. */
		prctl(PR_SET_NAME, comm);
		fd = it_seqpacket_connect(sock);
		close(p[1]);
		if (fd >= 0 && it_send_hello(fd, PROTO_AGENT_C, comm, NULL) == 0)
			it_send_heap(fd, live);
		(void)!read(p[0], &c, 1);
		_exit(0);
	}
	close(p[0]);
	*fdout = p[1];
	return pid;
}

static void limits(void)
{
	/* The idle connections below must outlive any wait: no HELLO timeout. */
	char *extra[] = { "--max-processes", "1", "--max-gauges", "1", "--max-connections", "3",
		"--max-message-rate", "5", "--hello-timeout", "3600", NULL };
	struct it_daemon d;
	char pid[16];
	int fd = -1, f2 = -1, f3 = -1, f4 = -1, in1 = -1, st;
	pid_t c1 = -1;

	REQUIRE(it_daemon_start_args(&d, 60, extra) == 0);
	/* max_processes 1: a first process fits, a second is refused. */
	c1 = start_child_agent(d.sock, "itest_first", 100, &in1);
	REQUIRE(c1 > 0);
	snprintf(pid, sizeof(pid), "%d", (int)c1);
	REQUIRE(it_wait_metric_label(d.url, "memprobe_heap_live_bytes", "pid", pid, 100, 100));
	fd = it_seqpacket_connect(d.sock);
	REQUIRE(fd >= 0);
	REQUIRE(it_send_hello(fd, PROTO_AGENT_C, "itest_second", NULL) == 0);
	CHECK(it_peer_closed(fd, IT_TIMEOUT_MS));
	close(fd);
	fd = -1;
	CHECK(it_wait_metric_label(d.url, "memprobe_daemon_processes_refused_total", NULL, NULL, 1,
	    1));
	CHECK(it_metric_now(d.url, "memprobe_daemon_processes_limit", NULL, NULL) == 1);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	CHECK(it_metric_now(d.url, "memprobe_heap_live_bytes", "pid", pid) == -1);
	/* max_connections 3: the child holds one; two more fit, a fourth not. */
	f2 = it_seqpacket_connect(d.sock);
	f3 = it_seqpacket_connect(d.sock);
	REQUIRE(f2 >= 0 && f3 >= 0);
	REQUIRE(it_wait_metric_label(d.url, "memprobe_daemon_connections_accepted_total", NULL,
	    NULL, 4, 4));
	f4 = it_seqpacket_connect(d.sock);
	REQUIRE(f4 >= 0);               /* the kernel accepts; the daemon closes */
	CHECK(it_peer_closed(f4, IT_TIMEOUT_MS));
	CHECK(it_wait_metric_label(d.url, "memprobe_daemon_connections_refused_total", NULL, NULL,
	    1, 1));
	close(f2);
	close(f3);
	close(f4);
	f2 = f3 = f4 = -1;
	/* The first process is still served. */
	snprintf(pid, sizeof(pid), "%d", (int)c1);
	CHECK(it_metric_now(d.url, "memprobe_heap_live_bytes", "pid", pid) == 100);
	close(in1);
	in1 = -1;
	CHECK(waitpid(c1, &st, 0) == c1);
	c1 = -1;
	/* It exited: its place goes to us, whose gauges and rate are bounded. */
	CHECK(it_wait_metric_label(d.url, "memprobe_process_exited", "pid", pid, 1, 1));
	fd = it_seqpacket_connect(d.sock);
	REQUIRE(fd >= 0);
	REQUIRE(it_send_hello(fd, PROTO_AGENT_C, "itest_limits", NULL) == 0);
	REQUIRE(send_gauge(fd, "a", 1) == 0);
	REQUIRE(send_gauge(fd, "b", 2) == 0);
	CHECK(it_wait_metric_label(d.url, "memprobe_daemon_gauges_dropped_total", NULL, NULL, 1,
	    1));
	CHECK(it_metric_now(d.url, "memprobe_program_value", "name", "a") == 1);
	CHECK(it_metric_now(d.url, "memprobe_program_value", "name", "b") == -1);
	/* max_message_rate 5: a burst of 40 in well under a second. */
	for (int i = 0; i < 40; i++)
		it_send_heap(fd, 300);
	CHECK(it_wait_metric_label(d.url, REJECTED, "reason", "rate", 1, 40));
	CHECK(!it_peer_closed(fd, 0));
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	CHECK(it_wait_metric_label(d.url, "memprobe_heap_live_bytes", "pid", pid, 300, 300));
out:
	if (in1 >= 0)
		close(in1);
	if (c1 > 0) {
		kill(c1, SIGKILL);
		waitpid(c1, &st, 0);
	}
	if (fd >= 0)
		close(fd);
	CHECK(it_daemon_finish(&d, harness_failures) == 0);
}

/* Runs memprobed with argv and expects exit 2 and `want` in its stderr. */
static void expect_config_error(const char *dir, char *const args[], const char *want)
{
	char text[4096];
	int status = it_daemon_run_once(args, dir, text, sizeof(text));

	if (status < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 2 || strstr(text, want) == NULL) {
		fprintf(stderr, "  memprobed %s ...: status 0x%x, stderr \"%s\", want exit 2 and \"%s\"\n",
		    args[0], status, text, want);
		CHECK(0);
	}
}

static void config_errors(void)
{
	char dir[64] = "", path[PATH_MAX], want[PATH_MAX + 128];

	REQUIRE(it_tmpdir(dir, sizeof(dir)) == 0);
	snprintf(path, sizeof(path), "%s/c.conf", dir);

	it_write_file(path, "[memprobed]\nexited_ttl = 5\nno_such_key = 1\n");
	snprintf(want, sizeof(want), "%s:3: no_such_key: unknown key in [memprobed]", path);
	expect_config_error(dir, (char *[]){ "--config", path, NULL }, want);

	it_write_file(path, "[memprobed]\n\nmax_processes = lots\n");
	snprintf(want, sizeof(want), "%s:3: max_processes: invalid value \"lots\": expected an integer",
	    path);
	expect_config_error(dir, (char *[]){ "--config", path, NULL }, want);

	it_write_file(path, "[memprobed]\nseries = pid\n");
	snprintf(want, sizeof(want), "%s:2: series: invalid value \"pid\": expected process or command",
	    path);
	expect_config_error(dir, (char *[]){ "--config", path, NULL }, want);

	it_write_file(path, "[memprobed]\nthis line is not ini\n");
	snprintf(want, sizeof(want), "%s:2: syntax error", path);
	expect_config_error(dir, (char *[]){ "--config", path, NULL }, want);

	snprintf(want, sizeof(want), "%s/missing.conf: cannot open: No such file or directory", dir);
	{
		char missing[PATH_MAX];

		snprintf(missing, sizeof(missing), "%s/missing.conf", dir);
		expect_config_error(dir, (char *[]){ "--config", missing, NULL }, want);
	}
	expect_config_error(dir, (char *[]){ "--history-length", "-3", NULL },
	    "--history-length: invalid value \"-3\"");
	expect_config_error(dir, (char *[]){ "--web.listen-address", "localhost:80", "--check-config",
	    NULL }, "--web.listen-address: invalid value \"localhost:80\"");
	expect_config_error(dir, (char *[]){ "--no-such-flag", NULL }, "no-such-flag");
	/* A flag wins over the file; --check-config prints the result. */
	it_write_file(path, "[memprobed]\nexited_ttl = 5\nseries = command\n");
	{
		char *argv[] = { itest.memprobed, "--config", path, "--exited-ttl", "9",
			"--check-config", NULL };
		char out[4096];
		int st = it_run(argv, NULL, NULL, out, sizeof(out));

		CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
		CHECK(strstr(out, "\nexited_ttl = 9\n") != NULL);
		CHECK(strstr(out, "\nseries = command\n") != NULL);
		CHECK(strstr(out, "\nhistory_length = 300\n") != NULL);
	}
	/* -h is --help: the usage on stdout, status 0. */
	{
		char *argv[] = { itest.memprobed, "-h", NULL };
		char out[8192];
		int st = it_run(argv, NULL, NULL, out, sizeof(out));

		CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
		CHECK(strncmp(out, "usage: memprobed ", 17) == 0);
		CHECK(strstr(out, "--agent-socket") != NULL);
	}
out:
	it_rmtree(dir);
}

static void sighup_reload(void)
{
	char conf[PATH_MAX + 16], dir[64] = "", text[256], pid[16], want[PATH_MAX + 64];
	char *extra[] = { "--config", conf, NULL };
	struct it_daemon d;
	int fd = -1;

	REQUIRE(it_tmpdir(dir, sizeof(dir)) == 0);
	snprintf(conf, sizeof(conf), "%s/memprobed.conf", dir);
	it_write_file(conf, "[memprobed]\nseries = process\nmax_gauges = 8\n");
	REQUIRE(it_daemon_start_args(&d, 60, extra) == 0);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	fd = it_seqpacket_connect(d.sock);
	REQUIRE(fd >= 0);
	REQUIRE(it_send_hello(fd, PROTO_AGENT_C, "itest_hup", NULL) == 0);
	REQUIRE(it_send_heap(fd, 3000) == 0);
	REQUIRE(it_wait_metric_label(d.url, "memprobe_heap_live_bytes", "pid", pid, 3000, 3000));

	/* Live keys change; the HTTP timeout needs a restart and stays. */
	snprintf(text, sizeof(text), "[memprobed]\nseries = command\nmax_gauges = 2\n"
	    "http_timeout = 5\nexited_ttl = 5\n");
	it_write_file(conf, text);
	REQUIRE(kill(d.proc.pid, SIGHUP) == 0);
	CHECK(it_wait_log(d.log, "SIGHUP: series changed from process to command"));
	CHECK(it_wait_log(d.log, "SIGHUP: max_gauges changed from 8 to 2"));
	CHECK(it_wait_log(d.log, "http_timeout changed from 30 to 5; it takes effect at the next start"));
	CHECK(it_wait_log(d.log, "takes effect at the next start"));
	/* --exited-ttl 60 on the command line wins over the file's 5. */
	CHECK(!it_file_has(d.log, "exited_ttl changed"));
	/* Names come from /proc: this program's, whatever HELLO said. */
	CHECK(it_wait_metric_label(d.url, "memprobe_heap_live_bytes", "comm", "integration", 3000,
	    3000));
	CHECK(it_metric_now(d.url, "memprobe_heap_live_bytes", "pid", pid) == -1);
	CHECK(it_metric_now(d.url, "memprobe_processes", "comm", "integration") == 1);
	{
		struct stat st;

		CHECK(stat(d.sock, &st) == 0);
	}
	/* A bad file changes nothing and names file:line: key. */
	it_write_file(conf, "[memprobed]\nseries = process\nmax_gauges = many\n");
	REQUIRE(kill(d.proc.pid, SIGHUP) == 0);
	snprintf(want, sizeof(want), "%s:3: max_gauges: invalid value \"many\"", conf);
	CHECK(it_wait_log(d.log, want));
	CHECK(it_wait_log(d.log, "configuration unchanged"));
	CHECK(it_metric_now(d.url, "memprobe_heap_live_bytes", "comm", "integration") == 3000);
	CHECK(it_metric_now(d.url, "memprobe_heap_live_bytes", "pid", pid) == -1);
out:
	if (fd >= 0)
		close(fd);
	CHECK(it_daemon_finish(&d, harness_failures) == 0);
	it_rmtree(dir);
}

/* A client that sends half a request and holds the connection does not
 * stop other scrapes. */
/* A TCP connection to 127.0.0.1:port from the loopback address `from`
 * (127.0.0.2, ...: distinct clients to the per-IP limit). */
static int connect_from(const char *from, int port)
{
	struct sockaddr_in src, dst;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	memset(&src, 0, sizeof(src));
	src.sin_family = AF_INET;
	memset(&dst, 0, sizeof(dst));
	dst.sin_family = AF_INET;
	dst.sin_port = htons((uint16_t)port);
	dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (inet_pton(AF_INET, from, &src.sin_addr) != 1 ||
	    bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0 ||
	    connect(fd, (struct sockaddr *)&dst, sizeof(dst)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* GET /metrics of d from the loopback address `from`: 1 when it is 200
 * with metrics. */
static int scrape_from(const struct it_daemon *d, const char *from)
{
	char url[128], iface[64];
	struct it_http r;
	CURL *c;
	int ok;

	snprintf(url, sizeof(url), "%s/metrics", d->url);
	snprintf(iface, sizeof(iface), "host!%s", from);
	c = it_curl_new(url);
	if (c != NULL)
		curl_easy_setopt(c, CURLOPT_INTERFACE, iface);
	ok = it_curl_perform(c, &r, NULL) == 0 && r.status == 200 &&
	    strstr(r.body, "memprobe_build_info") != NULL;
	it_http_free(&r);
	return ok;
}

/* Whether the daemon closes fd without answering a full request on it
 * (and not merely after its idle timeout: an accepted connection would
 * have been answered first). */
static int refused(int fd)
{
	static const char req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char buf[64];

	(void)!send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL);
	if (poll(&pfd, 1, IT_TIMEOUT_MS) <= 0)
		return 0;
	return recv(fd, buf, sizeof(buf), 0) <= 0;
}

static int scrape_from_slow_address(void *arg)
{
	return scrape_from(arg, "127.0.0.3");
}

#define SLOW_PER_IP 8

static void slow_client(void)
{
	char *extra[] = { "--web.max-connections-per-ip", "8", "--web.timeout", "3", NULL };
	static const char head[] = "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ";
	struct it_daemon d;
	struct sockaddr_in sin;
	struct it_http r = { 0 };
	int s[3] = { -1, -1, -1 }, slow[SLOW_PER_IP], more = -1;

	for (int i = 0; i < SLOW_PER_IP; i++)
		slow[i] = -1;
	REQUIRE(it_daemon_start_args(&d, 60, extra) == 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)d.port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (int i = 0; i < 3; i++) {
		s[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		REQUIRE(s[i] >= 0);
		REQUIRE(connect(s[i], (struct sockaddr *)&sin, sizeof(sin)) == 0);
	}
	/* One sends half its headers, one a request it never reads the
	 * answer of, one nothing at all. */
	REQUIRE(send(s[0], "GET /metrics HTTP/1.1\r\nHost: x\r\n", 32, MSG_NOSIGNAL) == 32);
	REQUIRE(send(s[1], "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 35, MSG_NOSIGNAL) == 35);
	for (int i = 0; i < 10; i++) {
		REQUIRE(it_get(d.url, "/metrics", &r) == 0);
		CHECK_U64(r.status, ==, 200);
		CHECK(strstr(r.body, "memprobe_build_info") != NULL);
		it_http_free(&r);
		REQUIRE(it_get(d.url, "/api/v1/processes", &r) == 0);
		CHECK_U64(r.status, ==, 200);
		it_http_free(&r);
	}
	/* The silent one is closed after --web.timeout. */
	CHECK(it_peer_closed(s[2], IT_TIMEOUT_MS));

	/*
	 * Slowloris: as many connections from one address as it may hold,
	 * each sending its headers a byte at a time and never ending them.
	 * A scraper at another address is served after every byte; one more
	 * connection from the slow address is refused at once. (A byte now
	 * and then keeps a connection past the idle timeout: the per-address
	 * limit is what bounds them.)
	 */
	for (int i = 0; i < SLOW_PER_IP; i++) {
		slow[i] = connect_from("127.0.0.3", d.port);
		REQUIRE(slow[i] >= 0);
	}
	for (size_t k = 0; k < 60; k++) {
		char c = k < sizeof(head) - 1 ? head[k] : 'a';

		for (int i = 0; i < SLOW_PER_IP; i++)
			REQUIRE(send(slow[i], &c, 1, MSG_NOSIGNAL) == 1);
		CHECK(scrape_from(&d, "127.0.0.2"));
		if (k == 1 || k == 59) {
			more = connect_from("127.0.0.3", d.port);
			REQUIRE(more >= 0);     /* the kernel accepts; the daemon closes */
			CHECK(refused(more));
			close(more);
			more = -1;
		}
	}
	for (int i = 0; i < SLOW_PER_IP; i++)
		CHECK(!it_peer_closed(slow[i], 0));
	/* Gone: the address is served again. */
	for (int i = 0; i < SLOW_PER_IP; i++) {
		close(slow[i]);
		slow[i] = -1;
	}
	CHECK(it_wait_until(scrape_from_slow_address, &d, IT_TIMEOUT_MS));
out:
	it_http_free(&r);
	for (int i = 0; i < 3; i++)
		if (s[i] >= 0)
			close(s[i]);
	for (int i = 0; i < SLOW_PER_IP; i++)
		if (slow[i] >= 0)
			close(slow[i]);
	if (more >= 0)
		close(more);
	CHECK(it_daemon_finish(&d, harness_failures) == 0);
}

/* /proc figures, the JSON API in full, history and status. */
static void proc_and_api(void)
{
	char *extra[] = { "--proc-interval", "1", "--history-length", "50", NULL };
	struct it_daemon d;
	struct it_proc hold = { .in_fd = -1, .out_fd = -1 };
	struct it_http r = { 0 };
	json_t *root = NULL, *samples;
	char pid[24], path[64], url[128], allow[64];
	double v = 0, rss = 0, hwm = 0;
	long p;

	REQUIRE(it_daemon_start_args(&d, 60, extra) == 0);
	p = it_hold_start(&hold, d.sock, 4096, 16384, NULL);
	REQUIRE(p > 0);
	snprintf(pid, sizeof(pid), "%ld", p);
	/* The 64 MiB it wrote are resident. */
	CHECK(it_wait_metric_label(d.url, "memprobe_process_resident_bytes", "pid", pid, 64 * MIB,
	    1e12));
	REQUIRE(it_get(d.url, "/metrics", &r) == 0);
	CHECK(it_metric_pid(r.body, "memprobe_process_resident_bytes", p, &rss));
	CHECK(it_metric_pid(r.body, "memprobe_process_resident_peak_bytes", p, &hwm));
	CHECK(hwm >= rss);
	CHECK(it_metric_pid(r.body, "memprobe_process_stack_mapped_bytes", p, &v) && v > 0);
	CHECK(it_metric_pid(r.body, "memprobe_process_data_bytes", p, &v) && v >= 64 * MIB);
	CHECK(it_metric_pid(r.body, "memprobe_process_threads", p, &v) && v >= 1);
	it_http_free(&r);

	/* Full detail. */
	snprintf(path, sizeof(path), "/api/v1/processes/%ld", p);
	REQUIRE(it_get(d.url, path, &r) == 0 && r.status == 200);
	root = json_loadb(r.body, r.len, 0, NULL);
	REQUIRE(root != NULL);
	CHECK(it_json_num(root, "proc.resident_bytes", &v) && v >= 64 * MIB);
	CHECK(it_json_num(root, "heap.live_bytes", &v) && v >= 64 * MIB);
	CHECK(it_json_num(root, "histogram.count", &v) && v >= 4096);
	CHECK(json_array_size(json_object_get(json_object_get(root, "histogram"), "buckets")) ==
	    PROTO_HIST_BUCKETS);
	CHECK(it_json_num(root, "stack.limit_bytes", &v) && v > 0);
	CHECK(it_json_num(root, "threads", &v) && v >= 1);
	CHECK(json_is_object(json_object_get(root, "gauges")));
	json_decref(root);
	root = NULL;
	it_http_free(&r);

	/* History: points about a second apart, the newest with the heap. */
	snprintf(path, sizeof(path), "/api/v1/processes/%ld/history", p);
	REQUIRE(it_get(d.url, path, &r) == 0 && r.status == 200);
	root = json_loadb(r.body, r.len, 0, NULL);
	samples = json_object_get(root, "samples");
	CHECK(json_array_size(samples) >= 1);
	CHECK(it_json_num(root, "pid", &v) && v == p);
	if (json_array_size(samples) >= 1) {
		json_t *last = json_array_get(samples, json_array_size(samples) - 1);

		CHECK(it_json_num(last, "heap_live_bytes", &v) && v >= 64 * MIB);
		CHECK(it_json_num(last, "time", &v) && v > 1.6e9);
	}
	json_decref(root);
	root = NULL;
	it_http_free(&r);

	/* Status. */
	REQUIRE(it_get(d.url, "/api/v1/status", &r) == 0 && r.status == 200);
	root = json_loadb(r.body, r.len, 0, NULL);
	CHECK_STR(json_string_value(json_object_get(root, "version")), MEMPROBE_VERSION);
	CHECK(it_json_num(root, "counts.processes_live", &v) && v == 1);
	CHECK(it_json_num(root, "limits.max_processes", &v) && v == 10000);
	CHECK(it_json_num(root, "settings.history_length", &v) && v == 50);
	CHECK(it_json_num(root, "uptime_seconds", &v) && v >= 0);
	json_decref(root);
	root = NULL;
	it_http_free(&r);

	/* Errors, as JSON with the right status. */
	REQUIRE(it_get(d.url, "/api/v1/processes/abc", &r) == 0);
	CHECK_U64(r.status, ==, 400);
	CHECK(strstr(r.body, "\"error\"") != NULL);
	it_http_free(&r);
	REQUIRE(it_get(d.url, "/api/v1/processes/abc/history", &r) == 0);
	CHECK_U64(r.status, ==, 400);
	it_http_free(&r);
	REQUIRE(it_get(d.url, "/api/v1/processes/999999999/history", &r) == 0);
	CHECK_U64(r.status, ==, 404);
	CHECK(strstr(r.body, "\"error\"") != NULL);
	it_http_free(&r);
	snprintf(url, sizeof(url), "%s/api/v1/status", d.url);
	REQUIRE(it_http("DELETE", url, &r) == 0);
	CHECK_U64(r.status, ==, 405);
	CHECK(it_http_header(&r, "Allow", allow, sizeof(allow)));
	CHECK_STR(allow, "GET, HEAD");
	it_http_free(&r);
	/* HEAD where GET works: the same headers, no body. */
	snprintf(url, sizeof(url), "%s/api/v1/processes", d.url);
	REQUIRE(it_http("HEAD", url, &r) == 0);
	CHECK_U64(r.status, ==, 200);
	CHECK_U64(r.len, ==, 0);
	CHECK(it_http_header(&r, "Content-Type", allow, sizeof(allow)));
	CHECK_STR(allow, "application/json");
out:
	json_decref(root);
	it_http_free(&r);
	it_proc_kill(&hold);
	CHECK(it_daemon_finish(&d, harness_failures) == 0);
}

/* Forks a child with exactly pid `want` through ns_last_pid (root only);
 * the child connects, says HELLO as comm and a SAMPLE of `live`, then waits
 * on *in. Returns its pid, or -1. */
static pid_t fork_at(pid_t want, const char *sock, const char *comm, uint64_t live, int *in)
{
	for (int attempt = 0; attempt < 20; attempt++) {
		int fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY | O_CLOEXEC);
		char num[16];
		pid_t got;
		int st;

		if (fd < 0)
			return -1;
		snprintf(num, sizeof(num), "%d", (int)want - 1);
		if (write(fd, num, strlen(num)) < 0) {
			close(fd);
			return -1;
		}
		close(fd);
		got = start_child_agent(sock, comm, live, in);
		if (got == want)
			return got;
		/* Someone else forked in between: try again. */
		close(*in);
		waitpid(got, &st, 0);
	}
	return -1;
}

/* A new process with an exited one's pid is a new entry, not the old one. */
static void pid_reuse(void)
{
	struct it_daemon d;
	char pid[16];
	int in = -1, st;
	pid_t a = -1, b = -1;
	json_t *e = NULL;
	double st1 = 0, st2 = 0;

	if (geteuid() != 0 || access("/proc/sys/kernel/ns_last_pid", W_OK) != 0) {
		fprintf(stderr, "  pid_reuse: needs root to choose a pid; checked in test_ptab only\n");
		return;
	}
	REQUIRE(it_daemon_start(&d, 60) == 0);
	a = start_child_agent(d.sock, "itest_old", 111, &in);
	REQUIRE(a > 0);
	snprintf(pid, sizeof(pid), "%d", (int)a);
	REQUIRE(it_wait_metric_label(d.url, "memprobe_heap_live_bytes", "pid", pid, 111, 111));
	e = it_api_process(d.url, a);
	CHECK(e != NULL && it_json_num(e, "start_time", &st1));
	json_decref(e);
	e = NULL;
	close(in);
	in = -1;
	REQUIRE(waitpid(a, &st, 0) == a);
	REQUIRE(it_wait_metric_label(d.url, "memprobe_process_exited", "pid", pid, 1, 1));
	b = fork_at(a, d.sock, "itest_new", 222, &in);
	if (b != a) {
		fprintf(stderr, "  pid_reuse: could not get pid %d again; skipped\n", (int)a);
		goto out;
	}
	CHECK(it_wait_metric_label(d.url, "memprobe_heap_live_bytes", "pid", pid, 222, 222));
	CHECK(it_metric_now(d.url, "memprobe_process_exited", "pid", pid) == 0);
	CHECK(it_metric_now(d.url, "memprobe_process_info", "comm", "itest_old") == -1);
	CHECK(it_metric_now(d.url, "memprobe_process_info", "comm", "itest_new") == 1);
	/* A fresh entry: new start time, its own counters. */
	e = it_api_process(d.url, b);
	CHECK(e != NULL && it_json_num(e, "start_time", &st2));
	CHECK(st2 >= st1);
	if (st2 == st1) {
		/* Both started in one clock tick: (pid, start time) cannot tell
		 * them apart; documented, and unit-tested in test_ptab. */
		fprintf(stderr, "  pid_reuse: both processes started in one tick; not checked\n");
	} else {
		double samples = 0;

		CHECK(e != NULL && it_json_num(e, "samples", &samples));
		if (samples != 1)
			fprintf(stderr, "  pid_reuse: new entry has %g samples (start %g, old %g)\n",
			    samples, st2, st1);
		CHECK(samples == 1);
	}
	/* Not memprobe_daemon_processes_tracked == 1: fork_at() may fork a few
	 * times before the kernel hands out the pid again, and each of those
	 * children is an agent too (its own entry, exited). The old entry of
	 * this pid is gone (itest_old has no info series) and the one left is
	 * live: that is the point. */
out:
	json_decref(e);
	if (in >= 0)
		close(in);
	if (b > 0)
		waitpid(b, &st, 0);
	CHECK(it_daemon_finish(&d, harness_failures) == 0);
}

int itest_daemon_run(void)
{
	if (it_selected("spoofed_pid"))
		RUN_TEST(spoofed_pid);
	if (it_selected("merge_connections"))
		RUN_TEST(merge_connections);
	if (it_selected("exited_ttl"))
		RUN_TEST(exited_ttl);
	if (it_selected("limits"))
		RUN_TEST(limits);
	if (it_selected("config_errors"))
		RUN_TEST(config_errors);
	if (it_selected("sighup_reload"))
		RUN_TEST(sighup_reload);
	if (it_selected("slow_client"))
		RUN_TEST(slow_client);
	if (it_selected("proc_and_api"))
		RUN_TEST(proc_and_api);
	if (it_selected("pid_reuse"))
		RUN_TEST(pid_reuse);
	return harness_failed_tests;
}
