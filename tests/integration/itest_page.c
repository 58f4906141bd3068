/* itest_page.c: the live page at "/": its headers, and headless Chromium rendering it from a live daemon, its flame graph included. */
#include "harness.h"
#include "itest_util.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
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
#define CDP_STEPS_MAX       32

/* page_cdp.py steps: the flame graph drawn, and what the tests read of it. */
#define FLAME_DRAWN "wait:document.getElementById('flame').dataset.state === 'graph'"
#define FLAME_IS(what) "wait:document.getElementById('flame-svg').dataset." what
#define DOM_JS "document.documentElement.outerHTML"
#define INFO_JS "print:document.getElementById('flame-info').textContent"
/* {width, zoom, mode, frames: [[path, rect width, aria-label, data-bytes]], fit}:
 * fit is whether every label is narrower than its cell. */
#define FRAMES_JS "print:(() => { const svg = document.getElementById('flame-svg'); " \
	"const gs = [...svg.querySelectorAll('g.frame')]; return { width: +svg.dataset.width, " \
	"zoom: svg.dataset.zoom, mode: svg.dataset.mode, frames: gs.map((g) => [g.dataset.path, " \
	"+g.querySelector('rect').getAttribute('width'), g.getAttribute('aria-label'), +g.dataset.bytes]), " \
	"fit: gs.every((g) => !g.querySelector('text') || g.querySelector('text').getComputedTextLength() " \
	"<= +g.querySelector('rect').getAttribute('width')) }; })()"
#define FRAME_SEL(leaf) "#flame-svg g[data-path$=';" leaf "']"
#define LEGEND_HIDDEN_JS "print:document.getElementById('flame-legend').hidden"
/* {py, mod, native: {path, cls, fill, text, title} of the frames of
 * load_rows, main.py's <module> and PyObject_Malloc; legend: hidden?;
 * legendText; sub: the line above the graph}. */
#define PY_FRAMES_JS "print:(() => { const f = (sel) => { const g = document.querySelector(" \
	"'#flame-svg g[data-path$=\"' + sel + '\"]'); if (!g) return null; const t = g.querySelector('text'); " \
	"return { path: g.dataset.path, cls: g.getAttribute('class'), " \
	"fill: g.querySelector('rect').getAttribute('fill'), text: t ? t.textContent : null, " \
	"title: g.querySelector('title').textContent }; }; const l = document.getElementById('flame-legend'); " \
	"return { py: f(';load_rows (rows.py)'), mod: f('Py_RunMain;<module> (main.py)'), " \
	"native: f(';PyObject_Malloc'), legend: l.hidden, legendText: l.textContent, " \
	"sub: document.getElementById('flame-sub').textContent }; })()"

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

/* ---- the DevTools protocol: a phone's width, clicks, canned answers ---- */

/*
 * Runs page_cdp.py on URL in a WIDTH x 844 viewport with STEPS (at most
 * CDP_STEPS_MAX; see the script) and returns what its print steps printed,
 * in order: a new JSON array the caller json_decref()s, or NULL having
 * printed the browser's stderr. Headless Chromium keeps windows at least
 * 500 px wide, so --window-size cannot do.
 */
static json_t *cdp_run(struct page_run *r, char *url, int width, char *const steps[])
{
	char profile[PATH_MAX], w[16];
	char *argv[9 + CDP_STEPS_MAX] = { "/usr/bin/env", "python3", CDP_SCRIPT, r->bin, url, w, "844",
		profile };
	json_t *out;
	int n = 8;

	snprintf(profile, sizeof(profile), "%s/cdp-profile", r->dir);
	snprintf(w, sizeof(w), "%d", width);
	for (int i = 0; steps[i] != NULL && i < CDP_STEPS_MAX; i++)
		argv[n++] = steps[i];
	argv[n] = NULL;
	if (run_browser(argv, CDP_SCRIPT, r->dom, DOM_MAX, r->err_path) < 0) {
		grep_file(r->err_path, "");
		return NULL;
	}
	out = json_array();
	for (char *line = strtok(r->dom, "\n"); line != NULL; line = strtok(NULL, "\n")) {
		json_error_t e;
		json_t *v = json_loads(line, JSON_DECODE_ANY, &e);

		if (v == NULL) {
			fprintf(stderr, "  page_cdp.py printed \"%.200s\": %s\n", line, e.text);
			json_decref(out);
			return NULL;
		}
		json_array_append_new(out, v);
	}
	return out;
}

/*
 * A canned /api/v1/processes/{pid}/sites answer, as the daemon's contract
 * has it: hold_big holds 16 MiB; hold_small holds 8 MiB and allocated 24
 * MiB; a frame with no symbol; a C++ name too long for any cell; [other].
 * Frames are leaf first.
 */
#define SITE_FRAME(fn, file, line, map) "{\"address\":\"0x55d0c0de1234\",\"function\":" fn \
	",\"file\":" file ",\"line\":" line ",\"mapping\":\"" map "\",\"build_id\":\"ab12\"}"
#define SITE_MAIN(line) SITE_FRAME("\"main\"", "\"flame_hold.c\"", line, "/usr/bin/flame_hold") "," \
	SITE_FRAME("\"__libc_start_call_main\"", "null", "null", "/usr/lib/x86_64-linux-gnu/libc.so.6")
#define SITE(fn, line, inuse, inuse_n, alloc, alloc_n, frames) "{\"function\":" fn \
	",\"file\":\"flame_hold.c\",\"line\":" line ",\"inuse_bytes\":" inuse ",\"inuse_objects\":" inuse_n \
	",\"alloc_bytes\":" alloc ",\"alloc_objects\":" alloc_n ",\"share\":0.5,\"frames\":[" frames "]}"
#define LONG_CXX "std::vector<std::pair<std::__cxx11::basic_string<char>, unsigned long>>::_M_realloc_insert"
static const char canned_sites_json[] =
	"{\"pid\":1,\"comm\":\"flame_hold\",\"exited\":false,\"rate\":16384,\"order\":\"inuse\","
	"\"samples\":1536,\"folded\":3,\"unwind_failed\":0,\"total\":{\"inuse_bytes\":25264128,"
	"\"inuse_objects\":3081,\"alloc_bytes\":42041344,\"alloc_objects\":5129},\"sites\":["
	SITE("\"hold_big\"", "20", "16777216", "2048", "16777216", "2048",
	    SITE_FRAME("\"hold_big\"", "\"src/flame_hold.c\"", "20", "/usr/bin/flame_hold") ","
	    SITE_MAIN("40")) ","
	SITE("\"hold_small\"", "28", "8388608", "1024", "25165824", "3072",
	    SITE_FRAME("\"hold_small\"", "\"src/flame_hold.c\"", "28", "/usr/bin/flame_hold") ","
	    SITE_MAIN("41")) ","
	SITE("null", "null", "65536", "4", "65536", "4",
	    SITE_FRAME("null", "null", "null", "/usr/lib/libweird.so.1") "," SITE_MAIN("42")) ","
	SITE("\"" LONG_CXX "\"", "7", "16384", "1", "16384", "1",
	    SITE_FRAME("\"" LONG_CXX "\"", "\"stl_vector.h\"", "7", "/usr/bin/flame_hold") ","
	    SITE_MAIN("43")) ","
	"{\"function\":\"[other]\",\"file\":null,\"line\":null,\"inuse_bytes\":16384,\"inuse_objects\":2,"
	"\"alloc_bytes\":16384,\"alloc_objects\":2,\"share\":0.001,\"frames\":[]}]}";
#define CANNED_ROOT_INUSE (16777216.0 + 8388608 + 65536 + 16384 + 16384)

/*
 * A Python program's sites, as memprobed names them: build_cache
 * (cache.py:8) holds 64 MiB, called from main.py's <module>; load_rows
 * (rows.py:12) 16 MiB, called from rows.py's <module> as main.py
 * imported it; the interpreter's native frames around them.
 */
#define NATIVE_FRAME(fn) "{\"kind\":\"native\",\"address\":\"0x55d0c0de1234\",\"function\":\"" fn \
	"\",\"file\":null,\"line\":0,\"mapping\":\"/usr/bin/python3.11\",\"build_id\":null}"
#define PY_FRAME(fn, file, line) "{\"kind\":\"python\",\"address\":null,\"function\":\"" fn \
	"\",\"file\":\"" file "\",\"line\":" line ",\"mapping\":null,\"build_id\":null}"
#define PY_SITE(fn, file, line, bytes, n, frames) "{\"function\":\"" fn "\",\"file\":\"" file \
	"\",\"line\":" line ",\"inuse_bytes\":" bytes ",\"inuse_objects\":" n ",\"alloc_bytes\":" bytes \
	",\"alloc_objects\":" n ",\"share\":0.5,\"python\":{\"function\":\"" fn "\",\"file\":\"" file \
	"\",\"line\":" line "},\"frames\":[" frames "," NATIVE_FRAME("Py_RunMain") "," NATIVE_FRAME("main") "]}"
static const char canned_py_sites_json[] =
	"{\"pid\":1,\"comm\":\"python3\",\"exited\":false,\"rate\":524288,\"order\":\"inuse\","
	"\"samples\":200,\"folded\":0,\"py_samples\":180,\"pyfuncs_dropped\":0,\"unwind_failed\":0,"
	"\"total\":{\"inuse_bytes\":83886080,\"inuse_objects\":19884,\"alloc_bytes\":83886080,"
	"\"alloc_objects\":19884},\"sites\":["
	PY_SITE("build_cache", "/srv/app/cache.py", "8", "67108864", "16384",
	    NATIVE_FRAME("PyBytes_FromStringAndSize") "," PY_FRAME("build_cache", "/srv/app/cache.py", "8") ","
	    PY_FRAME("<module>", "/srv/app/main.py", "30")) ","
	PY_SITE("load_rows", "/srv/app/rows.py", "12", "16777216", "3500",
	    NATIVE_FRAME("PyObject_Malloc") "," PY_FRAME("load_rows", "/srv/app/rows.py", "12") ","
	    PY_FRAME("<module>", "/srv/app/rows.py", "40") "," PY_FRAME("<module>", "/srv/app/main.py", "2"))
	"]}";

/* Writes JSON into R's temp dir as NAME and the page_cdp.py steps that
 * serve it for the page's in-use and allocated requests. */
static int canned_json(struct page_run *r, const char *name, const char *json, char *inuse,
    size_t isize, char *alloc, size_t asize)
{
	char path[PATH_MAX];

	if (it_write_file_in(r->dir, name, json, path, sizeof(path)) < 0)
		return -1;
	snprintf(inuse, isize, "serve:*/sites?top=65536&order=inuse=200:%s", path);
	snprintf(alloc, asize, "serve:*/sites?top=65536&order=alloc=200:%s", path);
	return 0;
}

/* canned_sites_json, served (canned_json()). */
static int canned_sites(struct page_run *r, char *inuse, size_t isize, char *alloc, size_t asize)
{
	return canned_json(r, "sites.json", canned_sites_json, inuse, isize, alloc, asize);
}

/* Prints what cdp_run() printed, for a failed test. */
static void cdp_dump(json_t *out)
{
	char *text = json_dumps(out, JSON_COMPACT);

	fprintf(stderr, "  page_cdp.py printed: %.6000s\n", text != NULL ? text : "?");
	free(text);
}

/* The string printed by step I of cdp_run(), or "". */
static const char *cdp_str(json_t *out, size_t i)
{
	const char *s = json_string_value(json_array_get(out, i));

	return s != NULL ? s : "";
}

/* ---- a phone, exited processes, formatted gauges ---- */

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
 * selected and the process GONE exited, then the DOM CLICKED after "Show
 * exited". */
static void check_phone_dom(const char *dom, const char *clicked, long py, long gone)
{
	char row[64];
	const char *p;
	int width;

	/* No sideways scroll on a phone, the flame graph drawn too. */
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
	/* Which depth figure is sampled, said plainly. */
	CHECK(strstr(dom, "Stack depth in frames is sampled by the Python agent once per interval") != NULL);
	CHECK(strstr(dom, "Stack bytes are ") != NULL);
	CHECK(strstr(dom, "data-path=\"__libc_start_call_main;main;hold_small\"") != NULL);
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
	char url[128], serve[PATH_MAX + 64], serve_alloc[PATH_MAX + 64];
	char *steps[] = { serve, serve_alloc, FLAME_DRAWN, "print:" DOM_JS, "click:#show-exited",
		"wait:document.querySelector('#procs tr.exited') !== null", "print:" DOM_JS, NULL };
	json_t *out = NULL;
	long gone, pid;

	REQUIRE(page_begin(&run) == 0);
	gone = it_hold_start(&hold, d->sock, 16, 4096, NULL);
	REQUIRE(gone > 0);
	it_proc_kill(&hold);
	ew = (struct proc_wait){ d->url, gone };
	REQUIRE(it_wait_until(exited_ready, &ew, IT_TIMEOUT_MS));
	pid = py_gauges_start(&py, d->sock, d->url);
	REQUIRE(pid > 0);

	REQUIRE(canned_sites(&run, serve, sizeof(serve), serve_alloc, sizeof(serve_alloc)) == 0);
	snprintf(url, sizeof(url), "%s/#pid=%ld", d->url, pid);
	out = cdp_run(&run, url, PHONE_WIDTH, steps);
	REQUIRE(out != NULL);
	check_phone_dom(cdp_str(out, 0), cdp_str(out, 1), pid, gone);
	CHECK(grep_file(run.err_path, "Content Security Policy") == 0);
	CHECK(grep_file(run.err_path, "Uncaught") == 0);
	if (harness_failures)
		fprintf(stderr, "  DOM (%zu bytes):\n%.6000s\n", strlen(cdp_str(out, 0)), cdp_str(out, 0));
out:
	json_decref(out);
	it_proc_kill(&py);
	it_proc_kill(&hold);
	page_end(&run);
}

/* ---- the flame graph ---- */

/* The frame [path, width, label, bytes] of FRAMES_JS's result V whose path
 * ends in the function LEAF, or NULL. */
static json_t *frame_of(json_t *v, const char *leaf)
{
	json_t *frames = json_object_get(v, "frames"), *f;
	size_t i, n = strlen(leaf);

	json_array_foreach(frames, i, f) {
		const char *path = json_string_value(json_array_get(f, 0));
		size_t len = path != NULL ? strlen(path) : 0;

		if (len >= n && strcmp(path + len - n, leaf) == 0 && (len == n || path[len - n - 1] == ';'))
			return f;
	}
	return NULL;
}

static double frame_num(json_t *f, size_t i)
{
	return json_number_value(json_array_get(f, i));
}

static double graph_width(json_t *v)
{
	return json_number_value(json_object_get(v, "width"));
}

/* Whether frame LEAF of V spans the graph's width (its rect is a pixel
 * short: the gap between cells). */
static int frame_spans(json_t *v, const char *leaf)
{
	json_t *f = frame_of(v, leaf);

	return f != NULL && graph_width(v) > 100 && frame_num(f, 1) >= graph_width(v) - 1;
}

/* The first graph: every function named in a frame's label, widths by
 * bytes, labels that fit their cells. */
static void check_flame_drawn(json_t *v)
{
	json_t *big = frame_of(v, "hold_big"), *small = frame_of(v, "hold_small");
	double w = graph_width(v);

	CHECK(it_json_str_is(v, "mode", "inuse") && it_json_str_is(v, "zoom", ""));
	CHECK(big != NULL && small != NULL);
	if (big == NULL || small == NULL)
		return;
	/* Icicle: the outermost caller under the root, malloc's caller at the bottom. */
	CHECK(strcmp(json_string_value(json_array_get(small, 0)),
	    "__libc_start_call_main;main;hold_small") == 0);
	CHECK(frame_spans(v, "__libc_start_call_main") == 0);
	CHECK(fabs(frame_num(big, 1) + 1 - w * 16777216 / CANNED_ROOT_INUSE) <= 1);
	CHECK(fabs(frame_num(small, 1) + 1 - w * 8388608 / CANNED_ROOT_INUSE) <= 1);
	CHECK(frame_num(big, 3) == 16777216 && frame_num(small, 3) == 8388608);
	CHECK(strcmp(json_string_value(json_array_get(small, 2)), "hold_small \xc2\xb7 flame_hold.c:28 "
	    "\xc2\xb7 8.0 MiB in use \xc2\xb7 1,024 objects \xc2\xb7 33% of the total") == 0);
	/* main called malloc's callers from four lines: no one line is its. */
	CHECK(frame_of(v, "main") != NULL &&
	    strstr(json_string_value(json_array_get(frame_of(v, "main"), 2)), "flame_hold.c \xc2\xb7") != NULL);
	CHECK(frame_of(v, "0x55d0c0de1234 (libweird.so.1)") != NULL);
	CHECK(frame_of(v, "[other]") != NULL);
	CHECK(frame_of(v, LONG_CXX) != NULL);
	CHECK(json_is_true(json_object_get(v, "fit")));
}

static const char *flame_info_small =
	"hold_small \xc2\xb7 flame_hold.c:28 \xc2\xb7 8.0 MiB in use \xc2\xb7 1,024 objects \xc2\xb7 33% of the total";

/* The hue of a frame's fill "hsl(H, S%, L%)", or -1. */
static int fill_hue(json_t *frame)
{
	const char *fill = json_string_value(json_object_get(frame, "fill"));

	return fill != NULL && strncmp(fill, "hsl(", 4) == 0 ? atoi(fill + 4) : -1;
}

static const char *frame_str(json_t *frame, const char *key)
{
	const char *s = json_string_value(json_object_get(frame, key));

	return s != NULL ? s : "";
}

/*
 * A Python program's canned sites at a laptop's width, for the process
 * at URL: Python frames in blues with class "py", labelled with
 * file:line (the file alone for <module>, which ran several lines),
 * merged by function and file, the tooltip and the pointed-at line
 * saying "Python"; native frames in warm hues; the legend shown; the
 * samples in Python code counted above the graph.
 */
static void check_flame_python(struct page_run *run, char *url)
{
	char serve[PATH_MAX + 64], serve_alloc[PATH_MAX + 64];
	char *steps[] = { serve, serve_alloc, FLAME_DRAWN, PY_FRAMES_JS,
		"hover:#flame-svg g[data-path$=';load_rows (rows.py)']", INFO_JS, NULL };
	json_t *out = NULL, *v, *py, *mod, *native;

	REQUIRE(canned_json(run, "py_sites.json", canned_py_sites_json, serve, sizeof(serve),
	    serve_alloc, sizeof(serve_alloc)) == 0);
	out = cdp_run(run, url, 1440, steps);
	REQUIRE(out != NULL && json_array_size(out) == 2);
	v = json_array_get(out, 0);
	py = json_object_get(v, "py");
	mod = json_object_get(v, "mod");
	native = json_object_get(v, "native");
	REQUIRE(json_is_object(py) && json_is_object(mod) && json_is_object(native));
	CHECK_STR(frame_str(py, "path"), "main;Py_RunMain;<module> (main.py);<module> (rows.py);load_rows (rows.py)");
	CHECK(strstr(frame_str(py, "cls"), " py") != NULL && strstr(frame_str(native, "cls"), " py") == NULL);
	CHECK(fill_hue(py) >= 190 && fill_hue(py) < 235);
	CHECK(fill_hue(mod) >= 190 && fill_hue(mod) < 235);
	CHECK(fill_hue(native) >= 0 && fill_hue(native) < 55);
	CHECK_STR(frame_str(py, "text"), "load_rows rows.py:12");
	CHECK_STR(frame_str(mod, "text"), "<module> main.py");
	CHECK(strstr(frame_str(py, "title"), "load_rows \xc2\xb7 rows.py:12 \xc2\xb7 Python \xc2\xb7 ") != NULL);
	CHECK(strstr(frame_str(native, "title"), "Python") == NULL);
	CHECK(json_is_false(json_object_get(v, "legend")));
	CHECK(strstr(frame_str(v, "legendText"), "Python") != NULL);
	CHECK(strstr(frame_str(v, "sub"), "180 in Python code") != NULL);
	CHECK_STR(cdp_str(out, 1), "load_rows \xc2\xb7 rows.py:12 \xc2\xb7 Python \xc2\xb7 16.0 MiB in use "
	    "\xc2\xb7 3,500 objects \xc2\xb7 20% of the total");
	CHECK(grep_file(run->err_path, "Uncaught") == 0);
	if (harness_failures)
		cdp_dump(out);
out:
	json_decref(out);
}

/* Canned call sites at a laptop's width: drawn, pointed at, zoomed by a
 * click and by Enter, zoomed out by the root, switched to allocated bytes;
 * then a process with no profile; then a Python program's. */
static void page_flame(void)
{
	struct page_run run;
	struct it_proc hold = { .in_fd = -1, .out_fd = -1 };
	char url[128], serve[PATH_MAX + 64], serve_alloc[PATH_MAX + 64], none[PATH_MAX + 64], path[PATH_MAX];
	char *steps[] = { serve, serve_alloc, FLAME_DRAWN, FRAMES_JS,
		"hover:" FRAME_SEL("hold_small"), INFO_JS,
		"click:" FRAME_SEL("hold_small"), FLAME_IS("zoom.endsWith('hold_small')"), FRAMES_JS,
		"click:#flame-svg g.root", FLAME_IS("zoom === ''"), FRAMES_JS,
		"click:input[value=alloc]", FLAME_IS("mode === 'alloc'"), "hover:" FRAME_SEL("hold_small"), INFO_JS,
		"key:Enter:" FRAME_SEL("hold_big"), FLAME_IS("zoom.endsWith('hold_big')"), FRAMES_JS,
		"print:document.activeElement.dataset.path", LEGEND_HIDDEN_JS, NULL };
	char *steps_none[] = { none, "wait:document.getElementById('flame').dataset.state === 'none'",
		"print:document.getElementById('flame-note').textContent",
		"print:document.getElementById('flame-graph').hidden", NULL };
	json_t *out = NULL, *v;
	long pid;

	REQUIRE(page_begin(&run) == 0);
	pid = it_hold_start(&hold, run.d.sock, 16, 4096, NULL);
	REQUIRE(pid > 0);
	REQUIRE(it_wait_seen_pid(run.d.url, pid, "alloc_hold"));
	REQUIRE(canned_sites(&run, serve, sizeof(serve), serve_alloc, sizeof(serve_alloc)) == 0);
	snprintf(url, sizeof(url), "%s/#pid=%ld", run.d.url, pid);
	out = cdp_run(&run, url, 1440, steps);
	REQUIRE(out != NULL && json_array_size(out) == 8);

	check_flame_drawn(json_array_get(out, 0));
	CHECK(strcmp(cdp_str(out, 1), flame_info_small) == 0);
	/* Zoomed: hold_small and its callers span the graph, hold_big is gone. */
	v = json_array_get(out, 2);
	CHECK(frame_spans(v, "hold_small") && frame_spans(v, "main") && frame_of(v, "hold_big") == NULL);
	v = json_array_get(out, 3);
	CHECK(frame_of(v, "hold_big") != NULL && !frame_spans(v, "hold_small"));
	/* Allocated bytes: hold_small's 24 MiB, now 60% of 40.1 MiB. */
	CHECK(strstr(cdp_str(out, 4), "hold_small \xc2\xb7 flame_hold.c:28 \xc2\xb7 24.0 MiB allocated "
	    "\xc2\xb7 3,072 objects \xc2\xb7 60% of the total") != NULL);
	/* Enter zooms, and the frame keeps the focus through the redraw. */
	v = json_array_get(out, 5);
	CHECK(it_json_str_is(v, "mode", "alloc") && frame_spans(v, "hold_big") && frame_of(v, "hold_small") == NULL);
	CHECK(strcmp(cdp_str(out, 6), "__libc_start_call_main;main;hold_big") == 0);
	/* No Python frame, no legend for them. */
	CHECK(json_is_true(json_array_get(out, 7)));
	CHECK(grep_file(run.err_path, "Content Security Policy") == 0);
	CHECK(grep_file(run.err_path, "Uncaught") == 0);
	if (harness_failures)
		cdp_dump(out);
	json_decref(out);

	/* No profile (404): a note in place of the graph. */
	REQUIRE(it_write_file_in(run.dir, "none.json", "{\"error\":\"no heap profile\"}", path, sizeof(path)) == 0);
	snprintf(none, sizeof(none), "serve:*/sites?*=404:%s", path);
	out = cdp_run(&run, url, 1440, steps_none);
	REQUIRE(out != NULL && json_array_size(out) == 2);
	CHECK(strncmp(cdp_str(out, 0), "No heap profile for this process", 32) == 0);
	CHECK(json_is_true(json_array_get(out, 1)));
	json_decref(out);
	out = NULL;
	check_flame_python(&run, url);
out:
	json_decref(out);
	it_proc_kill(&hold);
	page_end(&run);
}

/* ---- the flame graph from a real profile ---- */

#define FLAME_RATE     "16384"  /* about 1,000 samples in hold_big's 16 MiB */
#define FLAME_BIG      16777216.0
#define FLAME_SMALL    8388608.0
#define FLAME_ERR      0.25     /* more than 5 standard errors at FLAME_RATE */

/* Whether the site named FN is in the /sites answer SITES. */
static int has_site(json_t *sites, const char *fn)
{
	json_t *s;
	size_t i;

	json_array_foreach(json_object_get(sites, "sites"), i, s)
		if (it_json_str_is(s, "function", fn))
			return 1;
	return 0;
}

/* memprobed's call sites of the process have hold_big and hold_small. */
static int sites_ready(void *arg)
{
	struct proc_wait *w = arg;
	struct it_http r = { 0 };
	char path[96];
	json_t *j = NULL;
	int ok = 0;

	snprintf(path, sizeof(path), "/api/v1/processes/%ld/sites?top=65536&order=inuse", w->pid);
	if (it_get(w->url, path, &r) == 0 && r.status == 200) {
		j = json_loadb(r.body, r.len, 0, NULL);
		ok = has_site(j, "hold_big") && has_site(j, "hold_small");
	}
	json_decref(j);
	it_http_free(&r);
	return ok;
}

/* Starts flame_hold sampled at FLAME_RATE, reporting to SOCK; its pid or -1. */
static long flame_hold_start(struct it_proc *p, const char *sock)
{
	char bin[PATH_MAX + 32], storage[2 * PATH_MAX + 64], rate[] = "MEMPROBE_PROFILE_RATE=" FLAME_RATE, line[64];
	char *argv[] = { bin, NULL };
	char *env[5] = { NULL };

	snprintf(bin, sizeof(bin), "%s/tests/progs/flame_hold", itest.build);
	it_agent_env(env, storage, sock);
	env[3] = rate;
	if (it_proc_start(p, argv, env, NULL) < 0 || it_proc_readline(p, line, sizeof(line), IT_TIMEOUT_MS) < 0 ||
	    strncmp(line, "ready ", 6) != 0)
		return -1;
	return strtol(line + 6, NULL, 10);
}

/* Whether frame LEAF of V has about WANT bytes. */
static int frame_near(json_t *v, const char *leaf, double want)
{
	json_t *f = frame_of(v, leaf);
	double got = f != NULL ? frame_num(f, 3) : 0;

	if (fabs(got - want) > want * FLAME_ERR)
		fprintf(stderr, "  %s: %.0f bytes, want %.0f within %.0f%%\n", leaf, got, want, FLAME_ERR * 100);
	return fabs(got - want) <= want * FLAME_ERR;
}

/* Frame LEAF of V is called by main, and its label names it first. */
static int frame_named(json_t *v, const char *leaf)
{
	json_t *f = frame_of(v, leaf);
	const char *path = json_string_value(json_array_get(f, 0));
	const char *label = json_string_value(json_array_get(f, 2));
	char caller[64], name[64];
	size_t n;

	if (path == NULL || label == NULL)
		return 0;
	snprintf(caller, sizeof(caller), "main;%s", leaf);
	snprintf(name, sizeof(name), "%s \xc2\xb7 ", leaf);
	n = strlen(caller);
	if (strlen(path) < n || strcmp(path + strlen(path) - n, caller) != 0) {
		fprintf(stderr, "  %s's stack: %s\n", leaf, path);
		return 0;
	}
	return strncmp(label, name, strlen(name)) == 0;
}

/* flame_hold sampled by the agent, at a phone's width: the graph names
 * both functions with about their bytes, hover says them, a click zooms,
 * "allocated" shows hold_small's churn, and nothing scrolls sideways. */
static void page_flame_live(void)
{
	struct page_run run;
	struct it_proc prog = { .in_fd = -1, .out_fd = -1 };
	struct proc_wait sw;
	char url[128];
	char *steps[] = { FLAME_DRAWN, FRAMES_JS, "hover:" FRAME_SEL("hold_small"), INFO_JS,
		"click:" FRAME_SEL("hold_small"), FLAME_IS("zoom.endsWith('hold_small')"), FRAMES_JS,
		"click:#flame-svg g.root", FLAME_IS("zoom === ''"),
		"click:input[value=alloc]", FLAME_IS("mode === 'alloc'"), FRAMES_JS,
		"print:document.documentElement.scrollWidth", NULL };
	json_t *out = NULL, *v;
	double small_inuse;

	REQUIRE(page_begin(&run) == 0);
	sw.url = run.d.url;
	sw.pid = flame_hold_start(&prog, run.d.sock);
	REQUIRE(sw.pid > 0);
	REQUIRE(it_wait_until(sites_ready, &sw, IT_TIMEOUT_MS));
	snprintf(url, sizeof(url), "%s/#pid=%ld", run.d.url, sw.pid);
	out = cdp_run(&run, url, PHONE_WIDTH, steps);
	REQUIRE(out != NULL && json_array_size(out) == 5);

	v = json_array_get(out, 0);
	CHECK(frame_named(v, "hold_big") && frame_named(v, "hold_small"));
	CHECK(frame_near(v, "hold_big", FLAME_BIG) && frame_near(v, "hold_small", FLAME_SMALL));
	CHECK(json_is_true(json_object_get(v, "fit")));
	small_inuse = frame_of(v, "hold_small") != NULL ? frame_num(frame_of(v, "hold_small"), 3) : 0;
	CHECK(strncmp(cdp_str(out, 1), "hold_small \xc2\xb7 ", 13) == 0 &&
	    strstr(cdp_str(out, 1), " MiB in use \xc2\xb7 ") != NULL && strstr(cdp_str(out, 1), "% of the total") != NULL);
	v = json_array_get(out, 2);
	CHECK(frame_spans(v, "hold_small") && frame_of(v, "hold_big") == NULL);
	/* Allocated: hold_small's 24 MiB, three times what it holds. */
	v = json_array_get(out, 3);
	CHECK(it_json_str_is(v, "mode", "alloc") && frame_near(v, "hold_big", FLAME_BIG) &&
	    frame_near(v, "hold_small", 3 * FLAME_SMALL));
	CHECK(frame_of(v, "hold_small") != NULL && frame_num(frame_of(v, "hold_small"), 3) > 2 * small_inuse);
	CHECK(json_integer_value(json_array_get(out, 4)) > 0 && json_integer_value(json_array_get(out, 4)) <= PHONE_WIDTH);
	CHECK(grep_file(run.err_path, "Content Security Policy") == 0);
	CHECK(grep_file(run.err_path, "Uncaught") == 0);
	if (harness_failures)
		cdp_dump(out);
out:
	json_decref(out);
	it_proc_kill(&prog);
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
	if (it_selected("page_flame"))
		RUN_TEST(page_flame);
	if (it_selected("page_flame_live"))
		RUN_TEST(page_flame_live);
	return harness_failed_tests;
}
