/* daemon_load.c: memprobed under load: N helper processes, each its own agent connection; scrape latency, ingest, memory. */

/*
 * Usage: daemon_load BUILD N INTERVAL_MS SECONDS [--exporter] [--wrk CONNECTIONS] [--regions]
 *
 * Starts BUILD/memprobed (history_length 0, /proc every 5 s) on a temporary
 * socket and a free port, forks N helpers that each connect, say HELLO and
 * send a SAMPLE every INTERVAL_MS (hand-built with common/proto.c, no
 * agent), waits until the daemon tracks all N, then for SECONDS measures:
 * messages sent by the helpers against messages received by the daemon
 * (and any rejected or send failure), the median, 90th and 99th percentile
 * of GET /metrics (plain and gzip) and GET /api/v1/processes (libcurl, one
 * connection, NGET each; 25 of process-exporter),
 * and the daemon's RSS per tracked process (VmRSS with N minus before, / N).
 * With --exporter it also times prometheus-process-exporter's /metrics over
 * the same helpers. With --wrk, `wrk` scrapes /metrics over CONNECTIONS
 * connections for the whole ingest window (the load test of issue 8: 1,000
 * agents at 10 Hz under 50 scrapers), and its latency percentiles, request
 * and error counts are printed as well.
 * With --regions the helpers are what the agent leaves since issue 12
 * instead: each makes a sealed memfd region as client/agent/agent_region.c does
 * (header and one slot of counters, common/region.h), hands it over with
 * one REGISTER carrying SCM_RIGHTS [memfd, pidfd of itself] on a fresh
 * connection, closes every descriptor and pauses until killed; memprobed
 * reads the figures from the regions at scrape time. INTERVAL_MS is then
 * unused and SECONDS is a settling time (the daemon's /proc pass runs);
 * the helpers are one process group, killed at the end.
 * Prints one "key value" line per figure. Exit 0 unless
 * something could not be set up. Needs RLIMIT_NOFILE above N (raised here).
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fdpass.h"
#include "proto.h"
#include "region.h"

#include <sys/syscall.h>

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Counters the helpers add to, in shared memory. */
struct shared {
	uint64_t sent;
	uint64_t failed;        /* sends that did not go: EAGAIN and the like */
	uint64_t connected;
	int stop;               /* 1: stop sending */
};

static int free_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) < 0)
		return -1;
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

/* One helper: its own connection, a SAMPLE every interval until the pipe
 * closes. */
static void helper(const char *sock, int ctl, int interval_ms, struct shared *sh, int idx)
{
	static unsigned char buf[PROTO_MAX_MSG];
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct proto_hello h = { .agent = PROTO_AGENT_C, .stack_limit = 8 << 20 };
	struct proto_sample s = { .flags = PROTO_S_HEAP | PROTO_S_STACK | PROTO_S_HIST, .threads = 1 };
	size_t n;
	int fd;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%.100s", sock);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	for (int tries = 0; fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0; tries++) {
		if (tries > 200)
			_exit(1);
		nap_ms(10);
	}
	snprintf(h.comm, sizeof(h.comm), "load%d", idx % 50);
	snprintf(h.exe, sizeof(h.exe), "/bench/load");
	n = proto_encode_hello(buf, &h);
	if (send(fd, buf, n, MSG_NOSIGNAL) != (ssize_t)n)
		_exit(1);
	__atomic_fetch_add(&sh->connected, 1, __ATOMIC_RELAXED);
	for (uint64_t seq = 1;; seq++) {
		struct pollfd p = { .fd = ctl, .events = POLLIN };

		s.seq = seq;
		s.heap_live_bytes = 1000000 + seq;
		s.heap_live_blocks = 100;
		s.heap_peak_bytes = 2000000;
		s.heap_allocations = seq * 10;
		s.heap_frees = seq * 9;
		s.heap_allocated_bytes = seq * 10000;
		s.stack_peak_bytes = 20000;
		s.stack_main_peak_bytes = 20000;
		s.stack_limit_bytes = 8 << 20;
		s.hist_count[3] = seq;
		s.hist_sum = seq * 700;
		n = proto_encode_sample(buf, &s);
		if (__atomic_load_n(&sh->stop, __ATOMIC_RELAXED)) {
			;       /* measuring is over: idle until told to exit */
		} else if (send(fd, buf, n, MSG_NOSIGNAL) == (ssize_t)n) {
			__atomic_fetch_add(&sh->sent, 1, __ATOMIC_RELAXED);
		} else {
			__atomic_fetch_add(&sh->failed, 1, __ATOMIC_RELAXED);
		}
		if (poll(&p, 1, interval_ms) != 0)
			_exit(0);
	}
}

/* Slots in a helper's region: as many as the agent's first region
 * (AGENT_FIRST_SLOTS), so the daemon maps as much as it would. */
#define REGION_HELPER_SLOTS 256

/* Sends REGISTER with the memfd and a pidfd of ours on sock. Returns 0 or -1. */
static int send_register(int sock, int memfd)
{
	unsigned char buf[PROTO_MAX_MSG];
	struct proto_register reg = { .agent = PROTO_AGENT_C, .layout = REGION_LAYOUT };
	size_t len = proto_encode_register(buf, &reg);
	int fds[2] = { memfd, (int)syscall(SYS_pidfd_open, getpid(), 0) }, r;

	if (fds[1] < 0)
		return -1;
	r = fdpass_send(sock, buf, len, fds, 2, 0) == 0 ? 0 : -1;
	close(fds[1]);
	return r;
}

/*
 * One --regions helper: a region like the agent's (a header and one live
 * slot with heap, histogram and stack figures), sealed, registered once,
 * every descriptor closed; then it waits to be killed. The mapping stays,
 * as the agent's does.
 */
static void region_helper(const char *sock, struct shared *sh, int idx)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	uint64_t size = region_size_for(REGION_HELPER_SLOTS);
	uintptr_t top = ((uintptr_t)__builtin_frame_address(0) + 65536) & ~(uintptr_t)4095;
	struct region_hdr *h;
	struct region_slot *sl;
	int mfd, fd = -1;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	mfd = (int)syscall(SYS_memfd_create, "memprobe", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (mfd < 0 || ftruncate(mfd, (off_t)size) < 0 ||
	    fcntl(mfd, F_ADD_SEALS, REGION_SEALS) < 0)
		_exit(1);
	h = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	if (h == MAP_FAILED)
		_exit(1);
	region_hdr_init(h, PROTO_AGENT_C, REGION_HELPER_SLOTS);
	h->instance = ((uint64_t)getpid() << 32 | (uint64_t)idx) | 1;
	h->stack_limit = 8 << 20;
	h->heap_peak = 2000000;
	h->size_source = REGION_SIZE_GLIBC_HEADER;
	sl = (struct region_slot *)(void *)((char *)h + REGION_SLOT_OFF);
	sl->net = 1000000 + idx;
	sl->alloc_bytes = 10000000;
	sl->frees = 9000;
	sl->bins[5] = 5000;             /* allocations: the bins' sum */
	sl->bins[8] = 5000;
	sl->stack_top = top;
	sl->stack_low = top - 20000;
	sl->stack_size = 8 << 20;
	sl->tid = (uint32_t)getpid();
	sl->is_main = 1;
	__atomic_store_n(&sl->state, REGION_SLOT_LIVE, __ATOMIC_RELEASE);
	__atomic_store_n(&h->slots_used, 1, __ATOMIC_RELEASE);

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%.100s", sock);
	for (int tries = 0;; tries++) {
		fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
			break;
		if (fd >= 0)
			close(fd);
		if (tries > 1000)
			_exit(1);
		nap_ms(10);     /* the backlog is full: memprobed is accepting */
	}
	if (send_register(fd, mfd) == 0)
		__atomic_fetch_add(&sh->connected, 1, __ATOMIC_RELAXED);
	else
		__atomic_fetch_add(&sh->failed, 1, __ATOMIC_RELAXED);
	close(fd);
	close(mfd);
	for (;;)
		pause();
}

struct body {
	char *p;
	size_t len, cap;        /* kept across requests: no realloc in the timing */
};

static size_t on_data(char *d, size_t size, size_t n, void *arg)
{
	struct body *b = arg;

	if (b->len + size * n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 65536;
		char *q;

		while (cap < b->len + size * n + 1)
			cap *= 2;
		q = realloc(b->p, cap);
		if (q == NULL)
			return 0;
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, d, size * n);
	b->len += size * n;
	b->p[b->len] = '\0';
	return size * n;
}

/* GET url on the handle c; returns seconds taken, body in *b (reset). */
static double timed_get(CURL *c, const char *url, struct body *b)
{
	double t0;

	b->len = 0;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	t0 = now_s();
	if (curl_easy_perform(c) != CURLE_OK)
		return -1;
	return now_s() - t0;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* GETs per latency figure of memprobed (after one warm-up): enough for a
 * p99 that is not simply the slowest. process-exporter gets 25: it takes
 * seconds a scrape. */
#define NGET 200

/*
 * Median, p90 and p99 of n (at most NGET) GETs of url; bytes of the last body. With
 * gzip the request says "Accept-Encoding: gzip" and the compressed body is
 * taken as it comes, so the time is the daemon's (compression included),
 * not libcurl's inflating.
 */
static void latency(const char *label, const char *url, int gzip, int n)
{
	CURL *c = curl_easy_init();
	struct curl_slist *hdr = NULL;
	struct body b = { NULL, 0, 0 };
	static double t[NGET];
	int k = 0;

	if (gzip) {
		hdr = curl_slist_append(hdr, "Accept-Encoding: gzip");
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	}
	timed_get(c, url, &b);
	for (int i = 0; i < n && i < NGET; i++) {
		double s = timed_get(c, url, &b);

		if (s >= 0)
			t[k++] = s;
	}
	qsort(t, (size_t)k, sizeof(t[0]), cmp_d);
	if (k > 0)
		printf("%s_median_ms %.2f\n%s_p90_ms %.2f\n%s_p99_ms %.2f\n%s_bytes %zu\n",
		    label, t[k / 2] * 1e3, label, t[(k * 9) / 10] * 1e3,
		    label, t[(k * 99) / 100] * 1e3, label, b.len);
	else
		printf("%s failed\n", label);
	free(b.p);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(c);
}

/* A metric's value from the daemon's /metrics (first sample), or -1. */
static double metric(const char *base, const char *name)
{
	CURL *c = curl_easy_init();
	struct body b = { NULL, 0, 0 };
	char url[256], *p;
	double v = -1;

	snprintf(url, sizeof(url), "%s/metrics", base);
	if (timed_get(c, url, &b) >= 0 && b.p != NULL) {
		size_t n = strlen(name);

		for (p = b.p; (p = strstr(p, name)) != NULL; p += n) {
			if ((p == b.p || p[-1] == '\n') && (p[n] == ' ' || p[n] == '{')) {
				char *sp = strchr(p, ' ');

				v = sp != NULL ? strtod(sp + 1, NULL) : -1;
				break;
			}
		}
	}
	free(b.p);
	curl_easy_cleanup(c);
	return v;
}

/* Sum of every sample of a family in base/metrics; 0 when none. */
static double metric_sum(const char *base, const char *name)
{
	char url[256];
	struct body b = { 0 };
	CURL *c = curl_easy_init();
	double sum = 0;
	size_t n = strlen(name);

	snprintf(url, sizeof(url), "%s/metrics", base);
	if (c != NULL && timed_get(c, url, &b) >= 0 && b.p != NULL) {
		for (char *line = b.p; line != NULL && *line != '\0';) {
			char *nl = strchr(line, '\n');

			if (strncmp(line, name, n) == 0 && (line[n] == '{' || line[n] == ' ')) {
				char *sp = strrchr(line, ' ');

				if (sp != NULL && (nl == NULL || sp < nl))
					sum += strtod(sp + 1, NULL);
			}
			line = nl != NULL ? nl + 1 : NULL;
		}
	}
	free(b.p);
	if (c != NULL)
		curl_easy_cleanup(c);
	return sum;
}

/* Runs wrk against base/metrics for `seconds` and prints its figures. */
static void scrape_with_wrk(const char *base, int conns, int seconds)
{
	char cmd[512], line[256];
	FILE *f;

	snprintf(cmd, sizeof(cmd), "wrk -t2 -c%d -d%ds --timeout 10s --latency %s/metrics 2>&1",
	    conns, seconds, base);
	f = popen(cmd, "r");
	if (f == NULL) {
		printf("wrk_error cannot run wrk\n");
		nap_ms((long)seconds * 1000);
		return;
	}
	printf("wrk_connections %d\n", conns);
	while (fgets(line, sizeof(line), f) != NULL) {
		double v;
		char unit[8];
		long a, b;

		/* Latency Distribution lines: "     99%  123.45ms" */
		if (sscanf(line, " 50%% %lf%7s", &v, unit) == 2 ||
		    sscanf(line, " 90%% %lf%7s", &v, unit) == 2 ||
		    sscanf(line, " 99%% %lf%7s", &v, unit) == 2) {
			double ms = strcmp(unit, "s") == 0 ? v * 1000 : strcmp(unit, "us") == 0 ? v / 1000 : v;
			const char *q = strchr(line, '%');

			printf("scrape_p%.*s_ms %.1f\n", (int)(q - strpbrk(line, "0123456789")),
			    strpbrk(line, "0123456789"), ms);
		} else if (strstr(line, " requests in ") != NULL && sscanf(line, " %ld", &a) == 1) {
			printf("scrape_requests %ld\n", a);
		} else if (sscanf(line, " Socket errors: connect %ld, read %ld", &a, &b) == 2) {
			printf("scrape_socket_errors %ld\n", a + b);
		} else if (strstr(line, "Non-2xx") != NULL) {
			printf("scrape_non2xx_line %s", line);
		}
	}
	pclose(f);
}

/* Processes with an agent connected, from /api/v1/status (a small body:
 * polling /metrics would leave scrape-sized buffers behind before the
 * memory per process is measured), or -1. */
static double live(const char *base)
{
	CURL *c = curl_easy_init();
	struct body b = { NULL, 0, 0 };
	char url[256], *p;
	double v = -1;

	snprintf(url, sizeof(url), "%s/api/v1/status", base);
	if (timed_get(c, url, &b) >= 0 && b.p != NULL &&
	    (p = strstr(b.p, "\"processes_live\":")) != NULL)
		v = strtod(p + strlen("\"processes_live\":"), NULL);
	free(b.p);
	curl_easy_cleanup(c);
	return v;
}

/* A "Key:   N kB" line of a /proc status-like file, or -1. */
static double kib_of(const char *path, const char *key)
{
	char line[256];
	size_t n = strlen(key);
	double v = -1;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, key, n) == 0 && line[n] == ':')
			v = strtod(line + n + 1, NULL);
	fclose(f);
	return v;
}

static double status_kib(pid_t pid, const char *key)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	return kib_of(path, key);
}

static double rss_kib(pid_t pid)
{
	return status_kib(pid, "VmRSS");
}

int main(int argc, char **argv)
{
	char dir[] = "/tmp/memprobe-bench.XXXXXX", sock[100], listen[40], base[64], url[128];
	char ttl_arg[] = "60", *build;
	struct shared *sh;
	struct rlimit rl;
	pid_t daemon, exporter = -1, *kids;
	int n, interval, seconds, ctl[2], port, with_exporter = 0, wrk_conns = 0, regions = 0;
	double rss0, rss1, anon0, t0, recv0, recv1, rej, elapsed, avail0;
	pid_t pgid = 0;

	if (argc < 5) {
		fprintf(stderr, "usage: daemon_load BUILD N INTERVAL_MS SECONDS [--exporter] "
		    "[--wrk CONNECTIONS] [--regions]\n");
		return 2;
	}
	build = argv[1];
	n = atoi(argv[2]);
	interval = atoi(argv[3]);
	seconds = atoi(argv[4]);
	for (int i = 5; i < argc; i++) {
		if (strcmp(argv[i], "--exporter") == 0)
			with_exporter = 1;
		else if (strcmp(argv[i], "--wrk") == 0 && i + 1 < argc)
			wrk_conns = atoi(argv[++i]);
		else if (strcmp(argv[i], "--regions") == 0)
			regions = 1;
	}
	if (regions && wrk_conns > 0) {
		fprintf(stderr, "daemon_load: --wrk measures ingest; it does not go with --regions\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur < (rlim_t)n + 256)
		fprintf(stderr, "daemon_load: RLIMIT_NOFILE %lu may be too low for %d\n",
		    (unsigned long)rl.rlim_cur, n);
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(sock, sizeof(sock), "%s/agent.sock", dir);
	port = free_port();
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	snprintf(base, sizeof(base), "http://%s", listen);
	curl_global_init(CURL_GLOBAL_DEFAULT);

	daemon = fork();
	if (daemon == 0) {
		char path[512], maxc[32];

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		snprintf(path, sizeof(path), "%s/memprobed", build);
		snprintf(maxc, sizeof(maxc), "%d", n + 1000);
		execl(path, path, "--agent-socket", sock, "--web.listen-address", listen,
		    "--exited-ttl", ttl_arg, "--log-level", "warn", "--history-length", "0",
		    "--proc-interval", "5", "--max-connections", maxc, "--max-processes", maxc,
		    /* Every scraper comes from 127.0.0.1: room for the --wrk ones. */
		    "--web.max-connections", "256", "--web.max-connections-per-ip", "128",
		    (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500 && metric(base, "memprobe_build_info") < 0; i++)
		nap_ms(20);
	rss0 = rss_kib(daemon);
	anon0 = status_kib(daemon, "RssAnon");

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	kids = calloc((size_t)n, sizeof(*kids));
	if (sh == MAP_FAILED || kids == NULL || pipe(ctl) < 0)
		return 1;
	avail0 = kib_of("/proc/meminfo", "MemAvailable");
	t0 = now_s();
	for (int i = 0; i < n; i++) {
		kids[i] = fork();
		if (kids[i] == 0) {
			close(ctl[1]);
			if (regions) {
				setpgid(0, pgid);
				region_helper(sock, sh, i);
			}
			helper(sock, ctl[0], interval, sh, i);
		}
		if (kids[i] < 0) {
			fprintf(stderr, "daemon_load: fork %d: %s\n", i, strerror(errno));
			n = i;
			break;
		}
		if (regions) {
			/* One group, set on both sides so that neither waits. */
			setpgid(kids[i], pgid);
			if (pgid == 0)
				pgid = kids[i];
		}
	}
	close(ctl[0]);
	while (live(base) < n && now_s() - t0 < 300)
		nap_ms(100);
	printf("processes %d\ninterval_ms %d\nstart_seconds %.1f\n", n, interval, now_s() - t0);
	printf("tracked %.0f\n", live(base));
	if (regions) {
		printf("registered %llu\nregister_failed %llu\n",
		    (unsigned long long)sh->connected, (unsigned long long)sh->failed);
		printf("helpers_memory_mib %.0f\n",
		    (avail0 - kib_of("/proc/meminfo", "MemAvailable")) / 1024);
	}

	/* Memory per tracked process, before any scrape body. */
	nap_ms(1000);
	rss1 = rss_kib(daemon);
	printf("daemon_rss_kib_before %.0f\ndaemon_rss_kib_tracking %.0f\nbytes_per_process %.0f\n",
	    rss0, rss1, (rss1 - rss0) * 1024 / n);
	/* RssShmem is the regions' pages the daemon has read: the agents'
	 * memory, shared, counted in the daemon's RSS too. */
	printf("anon_bytes_per_process %.0f\n",
	    (status_kib(daemon, "RssAnon") - anon0) * 1024 / n);

	if (regions) {
		/* Nothing is sent: let the daemon's /proc pass run over them. */
		nap_ms((long)seconds * 1000);
		printf("received_register %.0f\nrejected_all %.0f\n",
		    metric(base, "memprobe_daemon_messages_received_total{type=\"register\"}"),
		    metric_sum(base, "memprobe_daemon_messages_rejected_total"));
		goto scrape;
	}
	/* Ingest: every SAMPLE the helpers sent, since they started, against
	 * what the daemon counted once they stop. */
	recv0 = metric(base, "memprobe_daemon_messages_received_total{type=\"sample\"}");
	t0 = now_s();
	if (wrk_conns > 0)
		scrape_with_wrk(base, wrk_conns, seconds);
	else
		nap_ms((long)seconds * 1000);
	recv1 = metric(base, "memprobe_daemon_messages_received_total{type=\"sample\"}");
	elapsed = now_s() - t0;
	__atomic_store_n(&sh->stop, 1, __ATOMIC_RELAXED);
	nap_ms(interval + 1000);        /* the last ones in flight arrive */
	rej = metric(base, "memprobe_daemon_messages_rejected_total{reason=\"rate\"}");
	printf("rejected_all %.0f\n", metric_sum(base, "memprobe_daemon_messages_rejected_total"));
	printf("ingest_seconds %.1f\nmessages_per_second %.0f\nsent %llu\nsend_failed %llu\n"
	    "received %.0f\nrejected_rate %.0f\n", elapsed, (recv1 - recv0) / elapsed,
	    (unsigned long long)sh->sent, (unsigned long long)sh->failed,
	    metric(base, "memprobe_daemon_messages_received_total{type=\"sample\"}"), rej);

scrape:
	snprintf(url, sizeof(url), "%s/metrics", base);
	latency("metrics", url, 0, NGET);
	latency("metrics_gzip", url, 1, NGET);
	snprintf(url, sizeof(url), "%s/api/v1/processes", base);
	latency("api_processes", url, 0, NGET);
	printf("daemon_rss_kib_after_scrapes %.0f\n", rss_kib(daemon));
	printf("daemon_rss_anon_kib %.0f\ndaemon_rss_shmem_kib %.0f\n",
	    status_kib(daemon, "RssAnon"), status_kib(daemon, "RssShmem"));

	if (with_exporter) {
		int eport = free_port();
		char eaddr[40], ebase[64];

		snprintf(eaddr, sizeof(eaddr), "127.0.0.1:%d", eport);
		snprintf(ebase, sizeof(ebase), "http://%s", eaddr);
		exporter = fork();
		if (exporter == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			execlp("prometheus-process-exporter", "prometheus-process-exporter",
			    "-web.listen-address", eaddr, "-procnames", "daemon_load",
			    "-threads=false", (char *)NULL);
			_exit(127);
		}
		for (int i = 0; i < 500 && metric(ebase, "namedprocess_namegroup_num_procs") < 0; i++)
			nap_ms(20);
		printf("exporter_num_procs %.0f\n", metric(ebase, "namedprocess_namegroup_num_procs"));
		snprintf(url, sizeof(url), "%s/metrics", ebase);
		latency("process_exporter", url, 0, 25);
		kill(exporter, SIGTERM);
		waitpid(exporter, NULL, 0);
	}

	close(ctl[1]);
	if (regions && pgid > 0)
		killpg(pgid, SIGKILL);
	for (int i = 0; i < n; i++)
		waitpid(kids[i], NULL, 0);
	kill(daemon, SIGTERM);
	waitpid(daemon, NULL, 0);
	rmdir(dir);
	curl_global_cleanup();
	return 0;
}
