/* test_route.c: the HTTP router maps paths to endpoints and checks pids. */
#include "harness.h"
#include "route.h"

static void known_paths(void)
{
	pid_t pid;
	int ok;

	CHECK(route_match("/metrics", &pid, &ok) == ROUTE_METRICS);
	CHECK(route_match("/healthz", &pid, &ok) == ROUTE_HEALTHZ);
	CHECK(route_match("/-/healthy", &pid, &ok) == ROUTE_HEALTHZ);
	CHECK(route_match("/-/ready", &pid, &ok) == ROUTE_HEALTHZ);
	CHECK(route_match("/", &pid, &ok) == ROUTE_PAGE);
	CHECK(route_match("/api/v1/status", &pid, &ok) == ROUTE_STATUS);
	CHECK(route_match("/api/v1/processes", &pid, &ok) == ROUTE_PROCESSES);
	CHECK(route_match("/api/v1/processes/4242", &pid, &ok) == ROUTE_PROCESS);
	CHECK(ok && pid == 4242);
	CHECK(route_match("/api/v1/processes/7/history", &pid, &ok) == ROUTE_HISTORY);
	CHECK(ok && pid == 7);
	CHECK(route_match("/api/v1/processes/8/profile", &pid, &ok) == ROUTE_PROFILE);
	CHECK(ok && pid == 8);
	CHECK(route_match("/api/v1/processes/9/sites", &pid, &ok) == ROUTE_SITES);
	CHECK(ok && pid == 9);
	CHECK(route_match("/api/v1/processes/x/sites", &pid, &ok) == ROUTE_SITES);
	CHECK(!ok);
	CHECK(route_match("/api/v1/profile", &pid, &ok) == ROUTE_PROFILE_QUERY);
}

static void unknown_paths(void)
{
	pid_t pid;
	int ok;

	CHECK(route_match("/metrics/", &pid, &ok) == ROUTE_NONE);
	CHECK(route_match("/METRICS", &pid, &ok) == ROUTE_NONE);
	CHECK(route_match("/api/v1/processes/1/histories", &pid, &ok) == ROUTE_NONE);
	CHECK(route_match("/api/v1/processes/1/history/", &pid, &ok) == ROUTE_NONE);
	CHECK(route_match("/api/v1/processes/1/profile/", &pid, &ok) == ROUTE_NONE);
	CHECK(route_match("/api/v1/processes/1/site", &pid, &ok) == ROUTE_NONE);
	CHECK(route_match("/api/v1/profile/1", &pid, &ok) == ROUTE_NONE);
	CHECK(route_match("/api/v1/processesx", &pid, &ok) == ROUTE_NONE);
	CHECK(route_match("", &pid, &ok) == ROUTE_NONE);
}

static void bad_pids_are_400_not_404(void)
{
	static const char *const bad[] = {
		"/api/v1/processes/", "/api/v1/processes/0", "/api/v1/processes/-1",
		"/api/v1/processes/+5", "/api/v1/processes/007", "/api/v1/processes/2147483648",
		"/api/v1/processes/12a", "/api/v1/processes/ 1", "/api/v1/processes//history",
	};
	pid_t pid;
	int ok;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		enum route r = route_match(bad[i], &pid, &ok);

		CHECK(r == ROUTE_PROCESS || r == ROUTE_HISTORY);
		CHECK(!ok);
	}
	CHECK(route_match("/api/v1/processes/2147483647", &pid, &ok) == ROUTE_PROCESS);
	CHECK(ok && pid == 2147483647);
}

/* route_unescape() of in is want (of length strlen(want)). */
static void check_unescape(const char *in, const char *want)
{
	char buf[128];
	size_t n;

	snprintf(buf, sizeof(buf), "%s", in);
	n = route_unescape(buf);
	CHECK_STR(buf, want);
	CHECK_U64(n, ==, strlen(want));
}

static void unescape_like_mhd_but_nul(void)
{
	check_unescape("/api/v1/processes/%31%32", "/api/v1/processes/12");
	check_unescape("/a%2fb%2Fc", "/a/b/c");
	check_unescape("/%41%zz%4", "/A%zz%4");
	check_unescape("/%%41", "/%A");
	check_unescape("/x%0a", "/x\n");
	check_unescape("", "");
	/* %00 stays as written, in any case and wherever it is. */
	check_unescape("/api/v1/processes/1%00junk", "/api/v1/processes/1%00junk");
	check_unescape("%00", "%00");
	check_unescape("/%000%41", "/%000A");
	check_unescape("/%2500", "/%00");
}

/* What the router gets for a path a client sent, once unescaped. */
static enum route match_sent(const char *sent, pid_t *pid, int *ok)
{
	static char buf[256];

	snprintf(buf, sizeof(buf), "%s", sent);
	route_unescape(buf);
	return route_match(buf, pid, ok);
}

static void nul_or_trailing_bytes_after_pid_are_400(void)
{
	static const char *const bad[] = {
		"/api/v1/processes/1%00junk", "/api/v1/processes/1%00",
		"/api/v1/processes/%00", "/api/v1/processes/1%00/history",
		"/api/v1/processes/1%20", "/api/v1/processes/1%0a", "/api/v1/processes/1%0d%0a",
		"/api/v1/processes/1.0", "/api/v1/processes/1junk", "/api/v1/processes/1%2b",
		"/api/v1/processes/1%09/history", "/api/v1/processes/1%ff",
	};
	pid_t pid;
	int ok;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		enum route r = match_sent(bad[i], &pid, &ok);

		if (!(r == ROUTE_PROCESS || r == ROUTE_HISTORY) || ok)
			fprintf(stderr, "  %s: route %d, pid ok %d\n", bad[i], (int)r, ok);
		CHECK(r == ROUTE_PROCESS || r == ROUTE_HISTORY);
		CHECK(!ok);
	}
	/* After a good pid, a NUL elsewhere names no endpoint. */
	CHECK(match_sent("/api/v1/processes/1/history%00", &pid, &ok) == ROUTE_NONE);
	CHECK(match_sent("/api/v1/processes/1%2fhistory%00junk", &pid, &ok) == ROUTE_NONE);
	CHECK(match_sent("/metrics%00", &pid, &ok) == ROUTE_NONE);
	CHECK(match_sent("/healthz%00junk", &pid, &ok) == ROUTE_NONE);
	/* Escapes of digits are the digits. */
	CHECK(match_sent("/api/v1/processes/%34%32", &pid, &ok) == ROUTE_PROCESS);
	CHECK(ok && pid == 42);
}

int main(void)
{
	RUN_TEST(known_paths);
	RUN_TEST(unknown_paths);
	RUN_TEST(bad_pids_are_400_not_404);
	RUN_TEST(unescape_like_mhd_but_nul);
	RUN_TEST(nul_or_trailing_bytes_after_pid_are_400);
	return HARNESS_EXIT();
}
