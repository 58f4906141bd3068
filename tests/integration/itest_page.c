/* itest_page.c: the live page at "/": its headers, and headless Chromium rendering it from a live daemon. */
#include "harness.h"
#include "itest_util.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define HOLD_BLOCKS 1024
#define HOLD_SIZE   16384
#define HOLD_LO     ((double)HOLD_BLOCKS * HOLD_SIZE)
#define HOLD_HI     (HOLD_LO * 1.02)

/* Chromium starts slowly on a cold machine; the page itself needs 5 s of
 * virtual time, which runs faster than real time. */
#define CHROMIUM_TIMEOUT_MS 120000
#define DOM_MAX             (1 << 20)
#define HISTORY_POINTS      3
#define PHONE_WIDTH         390
#define PY_SCRIPT           "tests/progs/py_agent.py"
#define CDP_SCRIPT          "tests/integration/page_cdp.py"

#define PAGE_CSP "default-src 'none'; script-src 'self'; style-src 'self'; " \
	"connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; " \
	"base-uri 'none'; form-action 'none'"

static void check_header(const struct it_http *r, const char *name, const char *want)
{
	char got[512];

	if (!it_http_header(r, name, got, sizeof(got))) {
		fprintf(stderr, "  header %s: missing, want \"%s\"\n", name, want);
		CHECK(0);
	} else if (strcmp(got, want) != 0) {
		fprintf(stderr, "  header %s: \"%s\", want \"%s\"\n", name, got, want);
		CHECK(0);
	}
}

/* GET of URL with If-None-Match: ETAG; returns the status, 0 on failure,
 * -1 when a 304 came with a body. */
static long get_if_none_match(const char *url, const char *etag)
{
	struct curl_slist *h;
	struct it_http r;
	char line[256];
	CURL *c = it_curl_new(url);
	long status;

	snprintf(line, sizeof(line), "If-None-Match: %s", etag);
	h = curl_slist_append(NULL, line);
	if (c != NULL)
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	it_curl_perform(c, &r, NULL);
	status = r.status == 304 && r.len > 0 ? -1 : r.status;
	it_http_free(&r);
	curl_slist_free_all(h);
	return status;
}

static void page_headers(void)
{
	struct it_daemon d = { .proc = { .in_fd = -1, .out_fd = -1 } };
	struct it_http r = { 0 };
	char etag[128], url[256];

	REQUIRE(it_daemon_start(&d, 60) == 0);

	REQUIRE(it_get(d.url, "/", &r) == 0);
	CHECK(r.status == 200);
	check_header(&r, "Content-Type", "text/html; charset=utf-8");
	check_header(&r, "Cache-Control", "no-cache");
	check_header(&r, "Content-Security-Policy", PAGE_CSP);
	check_header(&r, "X-Content-Type-Options", "nosniff");
	CHECK(it_http_header(&r, "ETag", etag, sizeof(etag)) && etag[0] == '"');
	/* Script and style come from the daemon, never inline (the CSP
	 * would refuse them). */
	CHECK(strstr(r.body, "<script src=\"/assets/app.js\"") != NULL);
	CHECK(strstr(r.body, "<link rel=\"stylesheet\" href=\"/assets/app.css\">") != NULL);
	CHECK(strstr(r.body, "<script>") == NULL && strstr(r.body, "style=") == NULL);
	CHECK(strstr(r.body, "http://") == NULL || strstr(r.body, "http://www.w3.org/2000/svg") != NULL);
	it_http_free(&r);

	/* Unchanged since: 304, no body; another ETag: the page. */
	snprintf(url, sizeof(url), "%s/", d.url);
	CHECK(get_if_none_match(url, etag) == 304);
	CHECK(get_if_none_match(url, "\"0-0\"") == 200);
	REQUIRE(it_get(d.url, "/assets/app.js", &r) == 0);
	CHECK(r.status == 200);
	check_header(&r, "Content-Type", "text/javascript; charset=utf-8");
	check_header(&r, "Cache-Control", "max-age=60");
	check_header(&r, "X-Content-Type-Options", "nosniff");
	CHECK(r.len > 1000 && strstr(r.body, "'use strict'") != NULL);
	/* No request leaves the daemon: fetches go to its own API. */
	CHECK(strstr(r.body, "fetch(path") != NULL && strstr(r.body, "https://") == NULL);
	it_http_free(&r);

	REQUIRE(it_get(d.url, "/assets/app.css", &r) == 0);
	CHECK(r.status == 200);
	check_header(&r, "Content-Type", "text/css; charset=utf-8");
	check_header(&r, "Cache-Control", "max-age=60");
	CHECK(strstr(r.body, "@import") == NULL && strstr(r.body, "url(http") == NULL);
	it_http_free(&r);

	REQUIRE(it_http("HEAD", url, &r) == 0);
	CHECK(r.status == 200 && r.len == 0);
	check_header(&r, "Content-Type", "text/html; charset=utf-8");
	it_http_free(&r);

	REQUIRE(it_http("POST", url, &r) == 0);
	CHECK(r.status == 405);
	it_http_free(&r);

	REQUIRE(it_get(d.url, "/assets/other.js", &r) == 0);
	CHECK(r.status == 404 && strstr(r.body, "\"error\"") != NULL);
	it_http_free(&r);
	REQUIRE(it_get(d.url, "/index.html", &r) == 0);
	CHECK(r.status == 404);
out:
	it_http_free(&r);
	CHECK(it_daemon_finish(&d, harness_failures) == 0);
}

/* ---- Chromium ---- */

/* Chromium's path: $MEMPROBE_CHROMIUM, else chromium or chromium-browser on PATH. */
static int find_chromium(char *out, size_t size)
{
	const char *env = getenv("MEMPROBE_CHROMIUM");

	if (env != NULL && *env != '\0')
		return it_which(env, out, size);
	if (it_which("chromium", out, size) == 0)
		return 0;
	return it_which("chromium-browser", out, size);
}

/* find_chromium(), or says how to get it and fails the test. */
static int need_chromium(char *bin, size_t size)
{
	if (find_chromium(bin, size) == 0)
		return 0;
	fprintf(stderr, "  chromium not found (the Debian package chromium; `make deps` "
	    "installs it, or set MEMPROBE_CHROMIUM)\n");
	CHECK(0);
	return -1;
}

/*
 * Runs ARGV (a browser, or a script driving one; WHAT names it) to its end:
 * its stdout into OUT, its stderr into ERR_PATH. Returns 0 when it exited 0.
 */
static int run_browser(char *const argv[], const char *what, char *out, size_t size,
    const char *err_path)
{
	struct it_proc p;
	long n;

	if (it_proc_start(&p, argv, NULL, err_path) < 0)
		return -1;
	it_proc_close_stdin(&p);
	n = it_proc_read_all(&p, out, size, CHROMIUM_TIMEOUT_MS);
	if (n < 0 || it_proc_wait(&p, CHROMIUM_TIMEOUT_MS) < 0) {
		fprintf(stderr, "  %s did not finish within %d ms\n", what, CHROMIUM_TIMEOUT_MS);
		it_proc_kill(&p);
		return -1;
	}
	it_proc_kill(&p);
	if (!WIFEXITED(p.status) || WEXITSTATUS(p.status) != 0) {
		fprintf(stderr, "  %s: wait status 0x%x\n", what, p.status);
		return -1;
	}
	return 0;
}

/*
 * Runs headless Chromium with a window WIDTH x HEIGHT on URL with the last
 * argument ACTION ("--dump-dom" or "--screenshot=PATH"); its stdout into
 * OUT, its stderr (console messages included) into ERR_PATH. Returns 0
 * when it exited 0.
 */
static int chromium(char *bin, const char *dir, char *url, char *action, int width, int height,
    char *out, size_t size, const char *err_path)
{
	char profile[PATH_MAX + 32], window[64];
	char *argv[] = {
		bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update",
		"--disable-sync", "--no-proxy-server", "--hide-scrollbars", "--mute-audio",
		"--enable-logging=stderr", "--v=0", profile, window,
		"--virtual-time-budget=5000", action, url, NULL,
	};

	snprintf(profile, sizeof(profile), "--user-data-dir=%s/profile", dir);
	snprintf(window, sizeof(window), "--window-size=%d,%d", width, height);
	return run_browser(argv, action, out, size, err_path);
}

/* Prints the lines of the file at PATH that hold NEEDLE; returns how many. */
static int grep_file(const char *path, const char *needle)
{
	char line[4096];
	FILE *f = fopen(path, "r");
	int n = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, needle) != NULL) {
			fprintf(stderr, "  chromium: %s", line);
			n++;
		}
	fclose(f);
	return n;
}

/* What a Chromium test holds: the browser, its output and a daemon. */
struct page_run {
	struct it_daemon d;
	char bin[PATH_MAX];
	char dir[64];                   /* temp dir: profiles, log, screenshot */
	char err_path[PATH_MAX];        /* the browser's stderr */
	char *dom;                      /* DOM_MAX bytes of its stdout */
};

/* Finds Chromium, makes the DOM buffer and temp dir, starts memprobed.
 * Returns 0 or -1; page_end() either way. */
static int page_begin(struct page_run *r)
{
	*r = (struct page_run){ .d = { .proc = { .in_fd = -1, .out_fd = -1 } } };
	if (need_chromium(r->bin, sizeof(r->bin)) < 0 || (r->dom = malloc(DOM_MAX)) == NULL ||
	    it_tmpdir(r->dir, sizeof(r->dir)) < 0)
		return -1;
	snprintf(r->err_path, sizeof(r->err_path), "%s/chromium.log", r->dir);
	return it_daemon_start(&r->d, 60);
}

static void page_end(struct page_run *r)
{
	free(r->dom);
	CHECK(it_daemon_finish(&r->d, harness_failures) == 0);
	if (r->dir[0] != '\0')
		it_rmtree(r->dir);
}

/* A process of the daemon at url, waited for. */
struct proc_wait {
	const char *url;
	long pid;
};

/* The program's heap is in range and its history has a few points. */
static int history_ready(void *arg)
{
	struct proc_wait *w = arg;
	struct it_http r = { 0 };
	json_t *e = it_api_process(w->url, w->pid), *h = NULL;
	char path[64];
	double v = 0;
	int ok = 0;

	if (e == NULL || !it_json_num(e, "heap.live_bytes", &v) || v < HOLD_LO || v > HOLD_HI)
		goto out;
	snprintf(path, sizeof(path), "/api/v1/processes/%ld/history", w->pid);
	if (it_get(w->url, path, &r) < 0 || r.status != 200)
		goto out;
	h = json_loadb(r.body, r.len, 0, NULL);
	ok = json_array_size(json_object_get(h, "samples")) >= HISTORY_POINTS;
out:
	json_decref(h);
	json_decref(e);
	it_http_free(&r);
	return ok;
}

/* Number of "x,y" pairs in a points attribute value starting at P. */
static int count_points(const char *p)
{
	int n = 0;

	while (*p != '"' && *p != '\0') {
		while (*p == ' ')
			p++;
		if (*p == '"' || *p == '\0')
			break;
		if (strchr(p, ',') == NULL)
			break;
		n++;
		p += strcspn(p, " \"");
	}
	return n;
}

static void page_chromium(void)
{
	struct page_run run;
	struct it_daemon *d = &run.d;
	struct it_proc hold = { .in_fd = -1, .out_fd = -1 };
	struct proc_wait hw;
	char *bin = run.bin, *dir = run.dir, *err_path = run.err_path, *dom;
	char url[128], shot[PATH_MAX + 16];
	char png[PATH_MAX], keep[PATH_MAX + 32], row[64], dump[] = "--dump-dom", *p, *end;
	struct stat st;
	long pid;
	int n;

	REQUIRE(page_begin(&run) == 0);
	dom = run.dom;
	pid = it_hold_start(&hold, d->sock, HOLD_BLOCKS, HOLD_SIZE, NULL);
	REQUIRE(pid > 0);
	hw = (struct proc_wait){ d->url, pid };
	REQUIRE(it_wait_until(history_ready, &hw, IT_TIMEOUT_MS));

	/* The page picks the process with the largest heap by itself. */
	snprintf(url, sizeof(url), "%s/", d->url);
	if (chromium(bin, dir, url, dump, 1440, 900, dom, DOM_MAX, err_path) < 0) {
		grep_file(err_path, "");
		REQUIRE(0);
	}
	/* The program's row, with its heap in human units. */
	snprintf(row, sizeof(row), "<tr data-pid=\"%ld\"", pid);
	p = strstr(dom, row);
	CHECK(p != NULL);
	if (p != NULL) {
		end = strstr(p, "</tr>");
		CHECK(end != NULL);
		if (end != NULL) {
			*end = '\0';
			CHECK(strstr(p, ">alloc_hold<") != NULL);
			CHECK(strstr(p, ">16.0 MiB<") != NULL || strstr(p, ">16.1 MiB<") != NULL);
			CHECK(strstr(p, "selected") != NULL);
			*end = '<';
		}
	}
	/* The heap chart, with the points of the history drawn. */
	p = strstr(dom, "id=\"heap-chart\"");
	CHECK(p != NULL);
	if (p != NULL) {
		char *dp = strstr(p, "data-points=\"");
		char *line = strstr(p, "class=\"line heap\" points=\"");

		n = dp != NULL ? atoi(dp + 13) : 0;
		CHECK(n >= HISTORY_POINTS);
		CHECK(line != NULL && count_points(line + 26) == n);
		CHECK(strstr(p, "class=\"line peak\" points=\"") != NULL);
	}
	p = strstr(dom, "id=\"stack-chart\"");
	CHECK(p != NULL && strstr(p, "class=\"line stack\" points=\"") != NULL);
	/* The detail names the process; the units are said. */
	snprintf(row, sizeof(row), "alloc_hold \xc2\xb7 pid %ld", pid);
	CHECK(strstr(dom, row) != NULL);
	CHECK(strstr(dom, " MiB</text>") != NULL);
	/* Nothing the CSP refused, no script error. */
	CHECK(grep_file(err_path, "Content Security Policy") == 0);
	CHECK(grep_file(err_path, "Uncaught") == 0);
	if (harness_failures)
		fprintf(stderr, "  DOM (%zu bytes):\n%.4000s\n", strlen(dom), dom);

	/* A screenshot to look at: in the temp dir, copied to build/test-output. */
	snprintf(png, sizeof(png), "%s/page.png", dir);
	snprintf(shot, sizeof(shot), "--screenshot=%s", png);
	snprintf(url, sizeof(url), "%s/#pid=%ld", d->url, pid);
	if (chromium(bin, dir, url, shot, 1440, 900, dom, DOM_MAX, err_path) < 0) {
		grep_file(err_path, "");
		CHECK(0);
	}
	CHECK(stat(png, &st) == 0 && st.st_size > 10000);
	{
		FILE *f = fopen(png, "rb");
		unsigned char magic[8] = { 0 };

		CHECK(f != NULL && fread(magic, 1, 8, f) == 8 && memcmp(magic, "\x89PNG\r\n\x1a\n", 8) == 0);
		if (f != NULL)
			fclose(f);
	}
	snprintf(keep, sizeof(keep), "%s/test-output", itest.build);
	mkdir(keep, 0755);
	snprintf(keep, sizeof(keep), "%s/test-output/page.png", itest.build);
	CHECK(it_copy_file(png, keep, 0644) == 0);
out:
	it_proc_kill(&hold);
	page_end(&run);
}

/* ---- a phone, exited processes, formatted gauges ---- */

/*
 * Runs page_cdp.py: the page at URL in a PHONE_WIDTH x 844 viewport, its
 * DOM into OUT, then the DOM again once a click on #show-exited has brought
 * an exited row into the table. Headless
 * Chromium keeps windows at least 500 px wide, so --window-size cannot do.
 */
static int chromium_phone(char *bin, const char *dir, char *url, char *out, size_t size,
    const char *err_path)
{
	char profile[PATH_MAX], width[16];
	char *argv[] = { "/usr/bin/env", "python3", CDP_SCRIPT, bin, url, width, "844",
		profile, "show-exited", "document.querySelector('#procs tr.exited') !== null", NULL };

	snprintf(profile, sizeof(profile), "%s/cdp-profile", dir);
	snprintf(width, sizeof(width), "%d", PHONE_WIDTH);
	return run_browser(argv, CDP_SCRIPT, out, size, err_path);
}

struct gauge_wait {
	const char *url;
	long pid;
	const char *name;
	double want;
};

/* The process's gauge NAME has the value WANT. */
static int gauge_ready(void *arg)
{
	struct gauge_wait *w = arg;
	json_t *e = it_api_process(w->url, w->pid);
	json_t *v = json_object_get(json_object_get(e, "gauges"), w->name);
	int ok = json_is_number(v) && json_number_value(v) == w->want;

	json_decref(e);
	return ok;
}

/* The daemon keeps the process as exited. */
static int exited_ready(void *arg)
{
	struct proc_wait *w = arg;
	json_t *e = it_api_process(w->url, w->pid);
	int ok = it_json_str_is(e, "state", "exited");

	json_decref(e);
	return ok;
}

/* Starts py_agent.py reporting to SOCK and sets two gauges; returns its pid
 * or -1. */
static long py_gauges_start(struct it_proc *py, const char *sock, const char *url)
{
	char env_sock[PATH_MAX + 32], line[128];
	char *argv[] = { "/usr/bin/env", "python3", PY_SCRIPT, NULL };
	char *env[] = { env_sock, NULL };
	struct gauge_wait gw;
	long pid;

	snprintf(env_sock, sizeof(env_sock), "MEMPROBE_SOCKET=%s", sock);
	if (it_proc_start(py, argv, env, NULL) < 0 ||
	    it_proc_readline(py, line, sizeof(line), IT_TIMEOUT_MS) < 0 ||
	    strncmp(line, "ready ", 6) != 0)
		return -1;
	pid = strtol(line + 6, NULL, 10);
	if (it_proc_write(py, "gauge cache.bytes 3145728\n") < 0 ||
	    it_proc_readline(py, line, sizeof(line), IT_TIMEOUT_MS) < 0 ||
	    it_proc_write(py, "gauge queue.depth 1234567\n") < 0 ||
	    it_proc_readline(py, line, sizeof(line), IT_TIMEOUT_MS) < 0)
		return -1;
	gw = (struct gauge_wait){ url, pid, "queue.depth", 1234567 };
	return it_wait_until(gauge_ready, &gw, IT_TIMEOUT_MS) ? pid : -1;
}

/* Checks the DOM of the page at PHONE_WIDTH with the Python process PY
 * selected and the process GONE exited, then the DOM after "Show exited". */
static void check_phone_dom(char *dom, long py, long gone)
{
	char row[64], *clicked = strstr(dom, "<!-- clicked -->");
	const char *p;
	int width;

	CHECK(clicked != NULL);
	if (clicked == NULL)
		return;
	*clicked = '\0';
	clicked += 16;

	/* No sideways scroll on a phone. */
	p = strstr(dom, "data-scroll-width=\"");
	width = p != NULL ? atoi(p + 19) : 0;
	if (width <= 0 || width > PHONE_WIDTH)
		fprintf(stderr, "  scroll width %d at a %d px window\n", width, PHONE_WIDTH);
	CHECK(width > 0 && width <= PHONE_WIDTH);
	/* Exited processes are hidden by default, and counted by the toggle. */
	snprintf(row, sizeof(row), "<tr data-pid=\"%ld\"", gone);
	CHECK(strstr(dom, row) == NULL);
	CHECK(strstr(dom, "id=\"show-exited\"") != NULL);
	CHECK(strstr(dom, "id=\"show-exited-n\" class=\"muted\">(1)<") != NULL);
	snprintf(row, sizeof(row), "<tr data-pid=\"%ld\"", py);
	CHECK(strstr(dom, row) != NULL);
	/* Gauges as figures: bytes by their name, counts with separators. */
	p = strstr(dom, "Gauges (set by the program)");
	CHECK(p != NULL);
	if (p != NULL) {
		CHECK(strstr(p, "<td>cache.bytes</td><td class=\"num\" title=\"3145728\">3.0 MiB</td>") != NULL);
		CHECK(strstr(p, "<td>queue.depth</td><td class=\"num\" title=\"1234567\">1,234,567</td>") != NULL);
	}
	CHECK(strstr(dom, ">Python</h3>") != NULL);
	/* Shown, the exited row comes after the live one. */
	snprintf(row, sizeof(row), "<tr data-pid=\"%ld\"", gone);
	p = strstr(clicked, row);
	CHECK(p != NULL && strstr(p, ">exited ") != NULL);
	snprintf(row, sizeof(row), "<tr data-pid=\"%ld\"", py);
	CHECK(p != NULL && strstr(clicked, row) != NULL && strstr(clicked, row) < p);
}

static void page_phone(void)
{
	struct page_run run;
	struct it_daemon *d = &run.d;
	struct it_proc hold = { .in_fd = -1, .out_fd = -1 }, py = { .in_fd = -1, .out_fd = -1 };
	struct proc_wait ew;
	char url[128];
	long gone, pid;

	REQUIRE(page_begin(&run) == 0);
	gone = it_hold_start(&hold, d->sock, 16, 4096, NULL);
	REQUIRE(gone > 0);
	it_proc_kill(&hold);
	ew = (struct proc_wait){ d->url, gone };
	REQUIRE(it_wait_until(exited_ready, &ew, IT_TIMEOUT_MS));
	pid = py_gauges_start(&py, d->sock, d->url);
	REQUIRE(pid > 0);

	snprintf(url, sizeof(url), "%s/#pid=%ld", d->url, pid);
	if (chromium_phone(run.bin, run.dir, url, run.dom, DOM_MAX, run.err_path) < 0) {
		grep_file(run.err_path, "");
		REQUIRE(0);
	}
	check_phone_dom(run.dom, pid, gone);
	CHECK(grep_file(run.err_path, "Content Security Policy") == 0);
	CHECK(grep_file(run.err_path, "Uncaught") == 0);
	if (harness_failures)
		fprintf(stderr, "  DOM (%zu bytes):\n%.6000s\n", strlen(run.dom), run.dom);
out:
	it_proc_kill(&py);
	it_proc_kill(&hold);
	page_end(&run);
}

int itest_page_run(void)
{
	if (it_selected("page_headers"))
		RUN_TEST(page_headers);
	if (it_selected("page_chromium"))
		RUN_TEST(page_chromium);
	if (it_selected("page_phone"))
		RUN_TEST(page_phone);
	return harness_failed_tests;
}
