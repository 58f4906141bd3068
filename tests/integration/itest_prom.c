/* itest_prom.c: memprobed against the real things: a Prometheus server, promtool, and client_python's OpenMetrics parser. */
#include "harness.h"
#include "itest_util.h"
#include "proto.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define PROM_ACCEPT "application/openmetrics-text;version=1.0.0," \
	"application/openmetrics-text;version=0.0.1;q=0.75," \
	"text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
#define CT_OM "application/openmetrics-text; version=1.0.0; charset=utf-8"
#define CT_TEXT "text/plain; version=0.0.4; charset=utf-8"

/* The source tree: tests run from it (make test), or MEMPROBE_SRCDIR. */
static const char *srcdir(void)
{
	const char *s = getenv("MEMPROBE_SRCDIR");

	return s != NULL ? s : ".";
}

static const char *python(void)
{
	/* Debian's interpreter, where python3-prometheus-client lives. */
	return access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
}

/* GET url with an Accept and an Accept-Encoding header (NULL: none; curl
 * decodes gzip itself) into *r. Returns the status. */
static long fetch(const char *url, const char *accept, const char *encoding, struct it_http *r)
{
	CURL *c = it_curl_new(url);
	struct curl_slist *hdrs = NULL;
	char h[512];

	if (c != NULL && accept != NULL) {
		snprintf(h, sizeof(h), "Accept: %s", accept);
		hdrs = curl_slist_append(hdrs, h);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	}
	if (c != NULL) {
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
		if (encoding != NULL)
			curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, encoding);
	}
	it_curl_perform(c, r, NULL);
	curl_slist_free_all(hdrs);
	return r->status;
}

static int has_header(const struct it_http *r, const char *line)
{
	return strstr(r->headers, line) != NULL;
}

/* ---- a deterministic agent: fixed figures in every section ---- */

static int fixed_agent(const char *sock)
{
	static unsigned char buf[PROTO_MAX_MSG];
	struct sockaddr_un sun;
	struct proto_hello h = { .agent = PROTO_AGENT_C, .stack_limit = 8 << 20 };
	struct proto_sample s = { .flags = PROTO_S_ALL, .seq = 1, .threads = 3 };
	struct proto_gauge g = { .value = 0.1 };
	int fd;

	if (it_unix_addr(&sun, sock) < 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		close(fd);
		return -1;
	}
	snprintf(h.comm, sizeof(h.comm), "quote\"back\\slash");
	snprintf(h.exe, sizeof(h.exe), "/opt/x y/prog");
	s.heap_live_bytes = 123456789;
	s.heap_live_blocks = 1000;
	s.heap_peak_bytes = 223456789;
	s.heap_allocations = 5000;
	s.heap_frees = 4000;
	s.heap_allocated_bytes = UINT64_C(18446744073709551615);
	s.stack_peak_bytes = 65536;
	s.stack_main_peak_bytes = 32768;
	s.stack_limit_bytes = 8388608;
	s.samples_dropped = 2;
	for (unsigned k = 0; k < PROTO_HIST_BUCKETS; k++) {
		s.hist_count[k] = 10 * k + 1;
		s.hist_sum += s.hist_count[k] * 16;
	}
	s.py_allocated_blocks = 77;
	s.py_recursion_limit = 1000;
	s.py_stack_depth_peak = 40;
	s.py_gc_collections[0] = 9;
	snprintf(g.name, sizeof(g.name), "queue.depth");
	if (send(fd, buf, proto_encode_hello(buf, &h), MSG_NOSIGNAL) < 0 ||
	    send(fd, buf, proto_encode_sample(buf, &s), MSG_NOSIGNAL) < 0 ||
	    send(fd, buf, proto_encode_gauge(buf, &g), MSG_NOSIGNAL) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

struct gauge_wait {
	const char *url;
};

static int gauge_there(void *arg)
{
	struct gauge_wait *w = arg;
	struct it_http r;
	double v;
	int ok;

	ok = it_get(w->url, "/metrics", &r) == 0 &&
	    it_metric(r.body, "memprobe_program_value", "name", "queue.depth", &v);
	it_http_free(&r);
	return ok;
}

/* Scrapes d in both formats (and gzip), checks headers, and has the two
 * parsers compare them; promtool lints the text. */
static void check_formats(const struct it_daemon *d, const char *what)
{
	char url[128], path_t[PATH_MAX], path_o[PATH_MAX], cmd[3 * PATH_MAX], out[8192];
	struct it_http t = { 0 }, o = { 0 }, g = { 0 };
	int st;

	snprintf(url, sizeof(url), "%s/metrics", d->url);
	CHECK_U64(fetch(url, NULL, NULL, &t), ==, 200);
	CHECK(has_header(&t, "Content-Type: " CT_TEXT "\r\n"));
	CHECK(has_header(&t, "Vary: Accept, Accept-Encoding\r\n"));
	CHECK_U64(fetch(url, PROM_ACCEPT, NULL, &o), ==, 200);
	if (!has_header(&o, "Content-Type: " CT_OM "\r\n"))
		fprintf(stderr, "  %s: OpenMetrics headers:\n%s\n", what, o.headers);
	CHECK(has_header(&o, "Content-Type: " CT_OM "\r\n"));
	/* gzip when asked; curl undoes it. */
	CHECK_U64(fetch(url, PROM_ACCEPT, "gzip", &g), ==, 200);
	CHECK(has_header(&g, "Content-Encoding: gzip\r\n"));
	CHECK(strncmp(g.body, "# TYPE ", 7) == 0);
	CHECK(g.len > 6 && strcmp(g.body + g.len - 6, "# EOF\n") == 0);

	snprintf(path_t, sizeof(path_t), "%s/text.txt", d->dir);
	snprintf(path_o, sizeof(path_o), "%s/om.txt", d->dir);
	CHECK(it_write_file(path_t, t.body) == 0);
	CHECK(it_write_file(path_o, o.body) == 0);
	snprintf(cmd, sizeof(cmd), "promtool check metrics < '%s' 2>&1", path_t);
	st = it_shell(cmd, out, sizeof(out));
	if (st != 0 || out[0] != '\0')
		fprintf(stderr, "  %s: promtool check metrics: exit %d:\n%s\n", what, st, out);
	CHECK(st == 0 && out[0] == '\0');
	snprintf(cmd, sizeof(cmd), "%s '%s/tests/integration/itest_prom_compare.py' '%s' '%s' 2>&1",
	    python(), srcdir(), path_t, path_o);
	st = it_shell(cmd, out, sizeof(out));
	if (st != 0)
		fprintf(stderr, "  %s: the parsers disagree (exit %d):\n%s\n", what, st, out);
	CHECK(st == 0 && strncmp(out, "same ", 5) == 0);
	free(t.body);
	free(t.headers);
	free(o.body);
	free(o.headers);
	free(g.body);
	free(g.headers);
}

/* Both formats carry the same samples, for both series modes. */
static void openmetrics(void)
{
	char *cmd_mode[] = { "--series", "command", NULL };
	struct it_daemon d = { 0 };
	struct gauge_wait gw;
	int fd = -1;

	for (int mode = 0; mode < 2; mode++) {
		REQUIRE(it_daemon_start_args(&d, 60, mode ? cmd_mode : NULL) == 0);
		fd = fixed_agent(d.sock);
		REQUIRE(fd >= 0);
		gw.url = d.url;
		REQUIRE(it_wait_until(gauge_there, &gw, IT_TIMEOUT_MS));
		check_formats(&d, mode ? "series = command" : "series = process");
		close(fd);
		fd = -1;
		CHECK(it_daemon_finish(&d, harness_failures) == 0);
	}
out:
	if (fd >= 0)
		close(fd);
	it_daemon_finish(&d, harness_failures);
}

/* ---- a real Prometheus ---- */

struct prom_wait {
	char url[128];
	const char *path;
	char *body;             /* last body; owned */
};

static int prom_get(void *arg)
{
	struct prom_wait *w = arg;
	struct it_http r;
	int ok;

	ok = it_get(w->url, w->path, &r) == 0 && r.status == 200;
	free(w->body);
	w->body = r.body;
	r.body = NULL;
	it_http_free(&r);
	return ok;
}

struct query_wait {
	struct prom_wait pw;
	double lo, hi, last;
};

/* The query's first value is in [lo, hi]. */
static int query_ok(void *arg)
{
	struct query_wait *q = arg;
	json_t *root, *res, *val;
	int ok = 0;

	if (!prom_get(&q->pw))
		return 0;
	root = json_loads(q->pw.body, 0, NULL);
	res = json_object_get(json_object_get(root, "data"), "result");
	val = json_object_get(json_array_get(res, 0), "value");
	if (json_is_string(json_array_get(val, 1))) {
		q->last = strtod(json_string_value(json_array_get(val, 1)), NULL);
		ok = q->last >= q->lo && q->last <= q->hi;
	}
	json_decref(root);
	return ok;
}

static void real_prometheus(void)
{
	struct it_daemon d = { 0 };
	struct it_proc hold = { .in_fd = -1, .out_fd = -1 }, prom = { .in_fd = -1, .out_fd = -1 };
	char cfg[PATH_MAX], tsdb[PATH_MAX], plog[PATH_MAX], text[1024], flag_cfg[PATH_MAX + 32];
	char flag_tsdb[PATH_MAX + 32], flag_listen[64];
	struct prom_wait pw = { .body = NULL };
	struct query_wait qw = { .pw = { .body = NULL } };
	json_t *root = NULL, *targets;
	long pid;
	int port;

	REQUIRE(it_daemon_start(&d, 60) == 0);
	pid = it_hold_start(&hold, d.sock, 4096, 16384, NULL);
	REQUIRE(pid > 0);
	snprintf(cfg, sizeof(cfg), "%s/prometheus.yml", d.dir);
	snprintf(tsdb, sizeof(tsdb), "%s/tsdb", d.dir);
	snprintf(plog, sizeof(plog), "%s/prometheus.log", d.dir);
	snprintf(text, sizeof(text), "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
	    "scrape_configs:\n  - job_name: memprobe\n    static_configs:\n"
	    "      - targets: ['127.0.0.1:%d']\n", d.port);
	REQUIRE(it_write_file(cfg, text) == 0);
	port = it_free_port();
	REQUIRE(port > 0);
	snprintf(flag_cfg, sizeof(flag_cfg), "--config.file=%s", cfg);
	snprintf(flag_tsdb, sizeof(flag_tsdb), "--storage.tsdb.path=%s", tsdb);
	snprintf(flag_listen, sizeof(flag_listen), "--web.listen-address=127.0.0.1:%d", port);
	{
		char *argv[] = { "/usr/bin/prometheus", flag_cfg, flag_tsdb, flag_listen, NULL };

		if (access(argv[0], X_OK) != 0)
			argv[0] = "/usr/local/bin/prometheus";
		REQUIRE(it_proc_start(&prom, argv, NULL, plog) == 0);
	}
	snprintf(pw.url, sizeof(pw.url), "http://127.0.0.1:%d", port);
	pw.path = "/-/ready";
	if (!it_wait_until(prom_get, &pw, 4 * IT_TIMEOUT_MS)) {
		fprintf(stderr, "  prometheus never became ready; see %s\n", plog);
		REQUIRE(0);
	}
	/* Prometheus's word on the held program's heap: 64 MiB within 2%. */
	{
		static char path[256];

		snprintf(path, sizeof(path), "/api/v1/query?query=memprobe_heap_live_bytes%%7Bpid%%3D%%22%ld%%22%%7D",
		    pid);
		memcpy(qw.pw.url, pw.url, sizeof(pw.url));
		qw.pw.path = path;
		qw.lo = 4096.0 * 16384;
		qw.hi = qw.lo * 1.02;
		qw.last = -1;
		if (!it_wait_until(query_ok, &qw, 4 * IT_TIMEOUT_MS)) {
			fprintf(stderr, "  prometheus: memprobe_heap_live_bytes{pid=\"%ld\"}: last %.0f, "
			    "body %s\n", pid, qw.last, qw.pw.body ? qw.pw.body : "");
			CHECK(0);
		}
		/* And the exposition's own figures. */
		snprintf(path, sizeof(path), "/api/v1/query?query=memprobe_build_info");
		qw.lo = qw.hi = 1;
		CHECK(it_wait_until(query_ok, &qw, IT_TIMEOUT_MS));
	}
	/* The target is up, without a scrape error. */
	pw.path = "/api/v1/targets";
	REQUIRE(prom_get(&pw));
	root = json_loads(pw.body, 0, NULL);
	targets = json_object_get(json_object_get(root, "data"), "activeTargets");
	REQUIRE(json_array_size(targets) == 1);
	CHECK_STR(json_string_value(json_object_get(json_array_get(targets, 0), "health")), "up");
	CHECK_STR(json_string_value(json_object_get(json_array_get(targets, 0), "lastError")), "");
out:
	json_decref(root);
	free(pw.body);
	free(qw.pw.body);
	if (prom.pid > 0)
		CHECK(it_proc_stop(&prom, SIGTERM, 4 * IT_TIMEOUT_MS) == 0);
	it_proc_kill(&prom);
	it_proc_kill(&hold);
	CHECK(it_daemon_finish(&d, harness_failures) == 0);
}

/* config/: the scrape config, the rules and their tests, the dashboard. */
static void config_files(void)
{
	char cmd[PATH_MAX * 2], out[8192], path[PATH_MAX];
	json_t *dash, *panels;
	json_error_t jerr;
	int st, found = 0;
	const char *want[] = { "memprobe_heap_live_bytes", "memprobe_heap_peak_bytes",
		"memprobe_stack_limit_bytes", "rate(memprobe_heap_allocations_total" };

	snprintf(cmd, sizeof(cmd), "cd '%s/config' && promtool check config prometheus.yml 2>&1 && "
	    "promtool check rules memprobe-alerts.yml memprobe-rules.yml 2>&1 && "
	    "promtool test rules memprobe-alerts.test.yml 2>&1", srcdir());
	st = it_shell(cmd, out, sizeof(out));
	if (st != 0)
		fprintf(stderr, "  promtool on config/: exit %d:\n%s\n", st, out);
	CHECK(st == 0);
	snprintf(path, sizeof(path), "%s/config/grafana-dashboard.json", srcdir());
	dash = json_load_file(path, 0, &jerr);
	if (dash == NULL)
		fprintf(stderr, "  %s:%d: %s\n", path, jerr.line, jerr.text);
	REQUIRE(dash != NULL);
	panels = json_object_get(dash, "panels");
	CHECK(json_array_size(panels) >= 3);
	for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
		char *s = json_dumps(panels, 0);

		if (s != NULL && strstr(s, want[k]) != NULL)
			found++;
		else
			fprintf(stderr, "  no dashboard panel queries %s\n", want[k]);
		free(s);
	}
	CHECK(found == (int)(sizeof(want) / sizeof(want[0])));
	json_decref(dash);
out:
	;
}

int itest_prom_run(void)
{
	if (it_selected("openmetrics"))
		RUN_TEST(openmetrics);
	if (it_selected("real_prometheus"))
		RUN_TEST(real_prometheus);
	if (it_selected("config_files"))
		RUN_TEST(config_files);
	return harness_failed_tests;
}
