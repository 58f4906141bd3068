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

/*
 * Runs headless Chromium on URL with the last argument ACTION
 * ("--dump-dom" or "--screenshot=PATH"); its stdout into OUT, its stderr
 * (console messages included) into ERR_PATH. Returns 0 when it exited 0.
 */
static int chromium(char *bin, const char *dir, char *url, char *action,
    char *out, size_t size, const char *err_path)
{
	char profile[PATH_MAX + 32];
	char *argv[] = {
		bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update",
		"--disable-sync", "--no-proxy-server", "--hide-scrollbars", "--mute-audio",
		"--enable-logging=stderr", "--v=0", profile, "--window-size=1440,900",
		"--virtual-time-budget=5000", action, url, NULL,
	};
	struct it_proc p;
	long n;

	snprintf(profile, sizeof(profile), "--user-data-dir=%s/profile", dir);
	if (it_proc_start(&p, argv, NULL, err_path) < 0)
		return -1;
	it_proc_close_stdin(&p);
	n = it_proc_read_all(&p, out, size, CHROMIUM_TIMEOUT_MS);
	if (n < 0 || it_proc_wait(&p, CHROMIUM_TIMEOUT_MS) < 0) {
		fprintf(stderr, "  chromium %s did not finish within %d ms\n", action,
		    CHROMIUM_TIMEOUT_MS);
		it_proc_kill(&p);
		return -1;
	}
	it_proc_kill(&p);
	if (!WIFEXITED(p.status) || WEXITSTATUS(p.status) != 0) {
		fprintf(stderr, "  chromium %s: wait status 0x%x\n", action, p.status);
		return -1;
	}
	return 0;
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

struct hist_wait {
	const char *url;
	long pid;
};

/* The program's heap is in range and its history has a few points. */
static int history_ready(void *arg)
{
	struct hist_wait *w = arg;
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
	struct it_daemon d = { .proc = { .in_fd = -1, .out_fd = -1 } };
	struct it_proc hold = { .in_fd = -1, .out_fd = -1 };
	struct hist_wait hw;
	char bin[PATH_MAX], dir[64] = "", url[128], err_path[PATH_MAX], shot[PATH_MAX + 16];
	char png[PATH_MAX], keep[PATH_MAX + 32], row[64], dump[] = "--dump-dom", *dom = NULL, *p, *end;
	struct stat st;
	long pid;
	int n;

	if (find_chromium(bin, sizeof(bin)) < 0) {
		fprintf(stderr, "  chromium not found (the Debian package chromium; `make deps` "
		    "installs it, or set MEMPROBE_CHROMIUM)\n");
		CHECK(0);
		return;
	}
	dom = malloc(DOM_MAX);
	REQUIRE(dom != NULL);
	REQUIRE(it_tmpdir(dir, sizeof(dir)) == 0);
	snprintf(err_path, sizeof(err_path), "%s/chromium.log", dir);
	REQUIRE(it_daemon_start(&d, 60) == 0);
	pid = it_hold_start(&hold, d.sock, HOLD_BLOCKS, HOLD_SIZE, NULL);
	REQUIRE(pid > 0);
	hw = (struct hist_wait){ d.url, pid };
	REQUIRE(it_wait_until(history_ready, &hw, IT_TIMEOUT_MS));

	/* The page picks the process with the largest heap by itself. */
	snprintf(url, sizeof(url), "%s/", d.url);
	if (chromium(bin, dir, url, dump, dom, DOM_MAX, err_path) < 0) {
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
	snprintf(url, sizeof(url), "%s/#pid=%ld", d.url, pid);
	if (chromium(bin, dir, url, shot, dom, DOM_MAX, err_path) < 0) {
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
	free(dom);
	it_proc_kill(&hold);
	CHECK(it_daemon_finish(&d, harness_failures) == 0);
	it_rmtree(dir);
}

int itest_page_run(void)
{
	if (it_selected("page_headers"))
		RUN_TEST(page_headers);
	if (it_selected("page_chromium"))
		RUN_TEST(page_chromium);
	return harness_failed_tests;
}
