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
}

static void unknown_paths(void)
{
	pid_t pid;
	int ok;

	CHECK(route_match("/metrics/", &pid, &ok) == ROUTE_NONE);
	CHECK(route_match("/METRICS", &pid, &ok) == ROUTE_NONE);
	CHECK(route_match("/api/v1/processes/1/histories", &pid, &ok) == ROUTE_NONE);
	CHECK(route_match("/api/v1/processes/1/history/", &pid, &ok) == ROUTE_NONE);
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

int main(void)
{
	RUN_TEST(known_paths);
	RUN_TEST(unknown_paths);
	RUN_TEST(bad_pids_are_400_not_404);
	return HARNESS_EXIT();
}
