/* itest_http.c: the daemon's HTTP surface: exposition checked by promtool, errors, health, a clean stop. */
#include "harness.h"
#include "itest_util.h"

#include <errno.h>
#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define TEXT_004 "text/plain; version=0.0.4; charset=utf-8"

/* Checks one scrape: status, exact Content-Type, promtool's verdict. */
static void check_scrape(const struct it_daemon *d, const char *when)
{
	struct it_http r;
	char ctype[128] = "", lint[4096];
	int st;

	if (it_get(d->url, "/metrics", &r) < 0 || r.status != 200) {
		fprintf(stderr, "  GET /metrics %s: status %ld\n", when, r.status);
		CHECK(0);
		goto out;
	}
	CHECK(it_http_header(&r, "Content-Type", ctype, sizeof(ctype)));
	CHECK_STR(ctype, TEXT_004);
	st = it_promtool_check(d->dir, r.body, lint, sizeof(lint));
	if (st != 0 || lint[0] != '\0') {
		fprintf(stderr, "  promtool check metrics %s: exit %d:\n%s\n", when, st, lint);
		if (st == 127)
			fprintf(stderr, "  (promtool missing: run `make deps`)\n");
	}
	CHECK(st == 0);
	CHECK_STR(lint, "");
out:
	it_http_free(&r);
}

static void promtool(void)
{
	struct it_daemon d;
	struct it_proc hold = { .in_fd = -1, .out_fd = -1 };
	long pid;

	REQUIRE(it_daemon_start(&d, 60) == 0);
	check_scrape(&d, "with no process");
	pid = it_hold_start(&hold, d.sock, 64, 1024, NULL);
	REQUIRE(pid > 0);
	REQUIRE(it_wait_metric(d.url, "memprobe_heap_live_blocks", pid, 64, 1e12,
	    IT_TIMEOUT_MS, NULL));
	check_scrape(&d, "with a live process");

	/* An exited process has its own series (memprobe_process_exited 1). */
	it_proc_close_stdin(&hold);
	REQUIRE(it_proc_wait(&hold, IT_TIMEOUT_MS) == 0);
	REQUIRE(it_wait_metric(d.url, "memprobe_process_exited", pid, 1, 1,
	    IT_TIMEOUT_MS, NULL));
	check_scrape(&d, "with an exited process");
out:
	it_proc_kill(&hold);
	CHECK(it_daemon_finish(&d, harness_failures) == 0);
}

/* Checks that r is a JSON error: {"error": "..."} with the given status. */
static void check_json_error(const struct it_http *r, long status, const char *what)
{
	json_t *root = json_loadb(r->body, r->len, 0, NULL);
	json_t *err = json_object_get(root, "error");

	if (r->status != status || !json_is_string(err))
		fprintf(stderr, "  %s: status %ld, body \"%s\"\n", what, r->status, r->body);
	CHECK_U64(r->status, ==, status);
	CHECK(json_is_string(err) && json_string_length(err) > 0);
	json_decref(root);
}

/* Sends req as is to 127.0.0.1:port and reads until the server closes.
 * Returns 0 or -1. */
static int send_raw(int port, const char *req)
{
	struct sockaddr_in sin;
	char buf[1024];
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), r = -1;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    write(fd, req, strlen(req)) == (ssize_t)strlen(req)) {
		while (read(fd, buf, sizeof(buf)) > 0)
			;
		r = 0;
	}
	if (fd >= 0)
		close(fd);
	return r;
}

static void http_errors(void)
{
	struct it_daemon d;
	struct it_http r = { 0 };
	char url[128], allow[128] = "";

	REQUIRE(it_daemon_start(&d, 60) == 0);

	REQUIRE(it_get(d.url, "/healthz", &r) == 0);
	CHECK_U64(r.status, ==, 200);
	CHECK(strcmp(r.body, "ok") == 0 || strcmp(r.body, "ok\n") == 0);
	it_http_free(&r);

	REQUIRE(it_get(d.url, "/no/such/path", &r) == 0);
	check_json_error(&r, 404, "GET /no/such/path");
	it_http_free(&r);

	REQUIRE(it_get(d.url, "/api/v1/processes/999999999", &r) == 0);
	check_json_error(&r, 404, "GET /api/v1/processes/999999999");
	it_http_free(&r);

	snprintf(url, sizeof(url), "%s/metrics", d.url);
	REQUIRE(it_http("POST", url, &r) == 0);
	check_json_error(&r, 405, "POST /metrics");
	CHECK(it_http_header(&r, "Allow", allow, sizeof(allow)));
	if (strstr(allow, "GET") == NULL)
		fprintf(stderr, "  POST /metrics: Allow \"%s\" lacks GET\n", allow);
	CHECK(strstr(allow, "GET") != NULL);
	it_http_free(&r);

	/* A malformed request: libmicrohttpd answers 400 with an HTML page;
	 * the log says it in one plain line, without the HTML. */
	REQUIRE(send_raw(d.port, "GET /metrics HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n") == 0);
	CHECK(it_wait_log(d.log, "http: refused a request with status 400 (Your HTTP request "
	    "was syntactically incorrect); connection closed"));
	CHECK(!it_file_has(d.log, "<html>"));

	/* The daemon still serves after the errors. */
	REQUIRE(it_get(d.url, "/metrics", &r) == 0);
	CHECK_U64(r.status, ==, 200);
out:
	it_http_free(&r);
	CHECK(it_daemon_finish(&d, harness_failures) == 0);
}

static void daemon_sigterm(void)
{
	struct it_daemon d;
	struct stat st;

	REQUIRE(it_daemon_start(&d, 60) == 0);
	REQUIRE(stat(d.sock, &st) == 0);
	REQUIRE(it_proc_stop(&d.proc, SIGTERM, IT_TIMEOUT_MS) == 0);
	if (!WIFEXITED(d.proc.status) || WEXITSTATUS(d.proc.status) != 0)
		fprintf(stderr, "  memprobed after SIGTERM: wait status 0x%x\n", d.proc.status);
	CHECK(WIFEXITED(d.proc.status) && WEXITSTATUS(d.proc.status) == 0);
	/* It removes its agent socket on the way out. */
	CHECK(stat(d.sock, &st) < 0 && errno == ENOENT);
out:
	CHECK(it_daemon_finish(&d, harness_failures) == 0);
}

int itest_http_run(void)
{
	if (it_selected("promtool"))
		RUN_TEST(promtool);
	if (it_selected("http_errors"))
		RUN_TEST(http_errors);
	if (it_selected("daemon_sigterm"))
		RUN_TEST(daemon_sigterm);
	return harness_failed_tests;
}
