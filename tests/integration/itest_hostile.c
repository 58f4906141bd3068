/* itest_hostile.c: the daemon against hostile input and starved resources (issue 12). */
#include "harness.h"
#include "itest_util.h"

#include <errno.h>
#include <grp.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define HOLD_BLOCKS 256
#define HOLD_SIZE   65536   /* 16 MiB held */

/*
 * A {pid} segment with a NUL (sent as %00, which libmicrohttpd would decode
 * into a string-ending NUL) or any byte after the digits is 400 with a JSON
 * error on every endpoint that takes a pid, even for the pid of a tracked
 * process; the same paths without the junk are 200.
 */
static void pid_nul_400(void)
{
	static const char *const bad[] = {
		"/api/v1/processes/%ld%%00junk", "/api/v1/processes/%ld%%00",
		"/api/v1/processes/%ld%%00junk/history", "/api/v1/processes/%ld%%00/history",
		"/api/v1/processes/%ld%%20", "/api/v1/processes/%ld%%0a/history",
		"/api/v1/processes/%ldjunk",
	};
	struct it_daemon d;
	struct it_proc hold = { .in_fd = -1, .out_fd = -1 };
	struct it_http r = { 0 };
	char path[128];
	long pid;

	REQUIRE(it_daemon_start(&d, 60) == 0);
	pid = it_hold_start(&hold, d.sock, HOLD_BLOCKS, HOLD_SIZE, NULL);
	REQUIRE(pid > 0);
	REQUIRE(it_wait_api_num(d.url, pid, "heap.live_bytes", HOLD_BLOCKS * (double)HOLD_SIZE));

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(path, sizeof(path), bad[i], pid);
		CHECK(it_get(d.url, path, &r) == 0);
		if (r.status != 400 || !it_is_json_error(&r))
			fprintf(stderr, "  GET %s: %ld %.200s\n", path, r.status, r.body ? r.body : "");
		CHECK(r.status == 400);
		CHECK(it_is_json_error(&r));
		it_http_free(&r);
	}
	/* A NUL after a good pid and endpoint names no endpoint. */
	snprintf(path, sizeof(path), "/api/v1/processes/%ld/history%%00", pid);
	CHECK(it_get(d.url, path, &r) == 0);
	CHECK(r.status == 404 && it_is_json_error(&r));
	it_http_free(&r);
	/* Control: the same pid without the junk is served. */
	snprintf(path, sizeof(path), "/api/v1/processes/%ld", pid);
	CHECK(it_get(d.url, path, &r) == 0 && r.status == 200);
	it_http_free(&r);
	snprintf(path, sizeof(path), "/api/v1/processes/%ld/history", pid);
	CHECK(it_get(d.url, path, &r) == 0 && r.status == 200);
	it_http_free(&r);
	/* Digits sent escaped (%3N) are digits. */
	{
		char digits[24];
		size_t n = (size_t)snprintf(path, sizeof(path), "/api/v1/processes/");

		snprintf(digits, sizeof(digits), "%ld", pid);
		for (const char *c = digits; *c != '\0'; c++)
			n += (size_t)snprintf(path + n, sizeof(path) - n, "%%3%c", *c);
	}
	CHECK(it_get(d.url, path, &r) == 0 && r.status == 200);
out:
	it_http_free(&r);
	it_proc_kill(&hold);
	it_daemon_finish(&d, harness_failures);
}

#define MANY_GROUPS 2000

/*
 * A program in 2,000 supplementary groups has a /proc/PID/status of about
 * 14 KiB, past one 4 KiB read; its /proc figures (resident bytes at least
 * the 16 MiB it holds) still show in /api/v1/processes/{pid}. Needs root
 * for setgroups(2): the test process takes the groups for the moment it
 * starts the program, which inherits them, and gives them back.
 */
static void proc_many_groups(void)
{
	static gid_t saved[NGROUPS_MAX + 1], many[MANY_GROUPS];
	struct it_daemon d;
	struct it_proc hold = { .in_fd = -1, .out_fd = -1 };
	char path[64], *status = NULL;
	int nsaved = -1, set;
	long pid;

	d.dir[0] = '\0';
	d.proc.pid = 0;
	if (geteuid() != 0) {
		printf("info proc_many_groups: not root (setgroups needs it); skipped\n");
		return;
	}
	REQUIRE(it_daemon_start(&d, 60) == 0);
	nsaved = getgroups(NGROUPS_MAX + 1, saved);
	REQUIRE(nsaved >= 0);
	for (int i = 0; i < MANY_GROUPS; i++)
		many[i] = (gid_t)(200000 + i);
	set = setgroups(MANY_GROUPS, many);
	REQUIRE(set == 0);
	pid = it_hold_start(&hold, d.sock, HOLD_BLOCKS, HOLD_SIZE, NULL);
	REQUIRE(setgroups((size_t)nsaved, saved) == 0);
	nsaved = -1;
	REQUIRE(pid > 0);

	/* The premise: its status file is longer than one read took. */
	status = malloc(65536);
	REQUIRE(status != NULL);
	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	it_slurp(path, status, 65536);
	CHECK(strlen(status) > 3 * 4096);
	CHECK(strstr(status, "\nVmRSS:") != NULL);

	CHECK(it_wait_api_num(d.url, pid, "heap.live_bytes", HOLD_BLOCKS * (double)HOLD_SIZE));
	CHECK(it_wait_api_num(d.url, pid, "proc.resident_bytes", HOLD_BLOCKS * (double)HOLD_SIZE));
	CHECK(it_wait_api_num(d.url, pid, "proc.threads", 1));
out:
	if (nsaved >= 0 && setgroups((size_t)nsaved, saved) != 0)
		fprintf(stderr, "  proc_many_groups: could not restore our groups\n");
	free(status);
	it_proc_kill(&hold);
	if (d.dir[0] != '\0')
		it_daemon_finish(&d, harness_failures);
}

int itest_hostile_run(void)
{
	if (it_selected("pid_nul_400"))
		RUN_TEST(pid_nul_400);
	if (it_selected("proc_many_groups"))
		RUN_TEST(proc_many_groups);
	return harness_failed_tests;
}
