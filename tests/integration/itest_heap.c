/* itest_heap.c: end to end: a program holding a known heap, seen through the real agent, daemon and HTTP. */
#include "harness.h"
#include "itest_util.h"

#include <jansson.h>
#include <sys/wait.h>

#define HOLD_BLOCKS 4096
#define HOLD_SIZE   16384
#define MIB         (1024.0 * 1024.0)
/* 64 MiB asked for; glibc's usable size of a 16 KiB block is 16392 B, and
 * the program holds a few other blocks, so allow 2% above. */
#define HOLD_LO     ((double)HOLD_BLOCKS * HOLD_SIZE)
#define HOLD_HI     (HOLD_LO * 1.02)

struct api_wait {
	const char *url;
	long pid;
	const char *state;      /* wanted "state", or NULL */
	double lo, hi;          /* wanted heap.live_bytes */
	json_t *last;           /* last entry seen; owned */
};

static int api_matches(void *arg)
{
	struct api_wait *w = arg;
	double live;

	json_decref(w->last);
	w->last = it_api_process(w->url, w->pid);
	if (w->last == NULL || !it_json_num(w->last, "heap.live_bytes", &live))
		return 0;
	if (w->state != NULL && !it_json_str_is(w->last, "state", w->state))
		return 0;
	return live >= w->lo && live <= w->hi;
}

/* Prints the last API entry seen, after a failed wait. */
static void show_entry(json_t *e)
{
	char *s = e != NULL ? json_dumps(e, JSON_COMPACT) : NULL;

	fprintf(stderr, "  last API entry: %s\n", s != NULL ? s : "(none)");
	free(s);
}

static void e2e_heap(void)
{
	struct it_daemon d;
	struct it_proc hold = { .in_fd = -1, .out_fd = -1 };
	struct api_wait aw = { 0 };
	struct it_http r = { 0 };
	char line[64];
	double v = 0;
	long pid;

	REQUIRE(it_daemon_start(&d, 60) == 0);
	pid = it_hold_start(&hold, d.sock, HOLD_BLOCKS, HOLD_SIZE, NULL);
	REQUIRE(pid > 0);
	CHECK_U64(pid, ==, hold.pid);

	/* Held: 64 MiB in 4096 blocks, in /metrics ... */
	if (!it_wait_metric(d.url, "memprobe_heap_live_bytes", pid, HOLD_LO, HOLD_HI,
	    IT_TIMEOUT_MS, &v)) {
		fprintf(stderr, "  memprobe_heap_live_bytes{pid=\"%ld\"}: last %.0f, want [%.0f, %.0f]\n",
		    pid, v, HOLD_LO, HOLD_HI);
		REQUIRE(0);
	}
	/* A sample taken while the blocks were still being allocated can pass
	 * 64 MiB with a block or two missing: wait for the count as well. */
	if (!it_wait_metric(d.url, "memprobe_heap_live_blocks", pid, HOLD_BLOCKS,
	    HOLD_BLOCKS + 64, IT_TIMEOUT_MS, &v)) {
		fprintf(stderr, "  memprobe_heap_live_blocks{pid=\"%ld\"}: last %.0f, want [%d, %d]\n",
		    pid, v, HOLD_BLOCKS, HOLD_BLOCKS + 64);
		CHECK(0);
	}
	REQUIRE(it_get(d.url, "/metrics", &r) == 0 && r.status == 200);
	CHECK(it_metric_pid(r.body, "memprobe_heap_live_bytes", pid, &v));
	CHECK_U64(v, >=, HOLD_LO);
	CHECK_U64(v, <=, HOLD_HI);
	CHECK(it_metric_pid(r.body, "memprobe_heap_peak_bytes", pid, &v));
	CHECK_U64(v, >=, HOLD_LO);
	CHECK(it_metric_pid(r.body, "memprobe_heap_allocations_total", pid, &v));
	CHECK_U64(v, >=, HOLD_BLOCKS);
	CHECK(it_metric_pid(r.body, "memprobe_heap_allocated_bytes_total", pid, &v));
	CHECK_U64(v, >=, HOLD_LO);
	CHECK(it_metric_pid(r.body, "memprobe_process_exited", pid, &v));
	CHECK_U64(v, ==, 0);
	/* The comm label is the program's name. */
	CHECK(it_metric(r.body, "memprobe_heap_live_bytes", "comm", "alloc_hold", &v));
	it_http_free(&r);

	/* ... and in the JSON API. */
	aw = (struct api_wait){ d.url, pid, "live", HOLD_LO, HOLD_HI, NULL };
	if (!it_wait_until(api_matches, &aw, IT_TIMEOUT_MS)) {
		show_entry(aw.last);
		CHECK(0);
	}
	if (aw.last != NULL) {
		json_t *comm = json_object_get(aw.last, "comm");

		CHECK_STR(json_string_value(comm), "alloc_hold");
		CHECK(it_json_num(aw.last, "heap.live_blocks", &v));
		CHECK_U64(v, >=, HOLD_BLOCKS);
		CHECK(it_json_num(aw.last, "heap.peak_bytes", &v));
		CHECK_U64(v, >=, HOLD_LO);
		CHECK(it_json_num(aw.last, "heap.allocations", &v));
		CHECK_U64(v, >=, HOLD_BLOCKS);
		CHECK(it_json_num(aw.last, "heap.allocated_bytes", &v));
		CHECK_U64(v, >=, HOLD_LO);
	}

	/* Freed: live bytes fall under 1 MiB, the peak stays. */
	REQUIRE(it_proc_write(&hold, "free\n") == 0);
	REQUIRE(it_proc_readline(&hold, line, sizeof(line), IT_TIMEOUT_MS) >= 0);
	CHECK_STR(line, "freed");
	/* Every free counted first, so no sample from mid-loop is looked at. */
	if (!it_wait_metric(d.url, "memprobe_heap_frees_total", pid, HOLD_BLOCKS, 1e12,
	    IT_TIMEOUT_MS, &v)) {
		fprintf(stderr, "  memprobe_heap_frees_total after free: last %.0f, want >= %d\n",
		    v, HOLD_BLOCKS);
		CHECK(0);
	}
	if (!it_wait_metric(d.url, "memprobe_heap_live_bytes", pid, 0, MIB - 1,
	    IT_TIMEOUT_MS, &v)) {
		fprintf(stderr, "  live bytes after free: last %.0f, want < 1 MiB\n", v);
		CHECK(0);
	}
	REQUIRE(it_get(d.url, "/metrics", &r) == 0 && r.status == 200);
	CHECK(it_metric_pid(r.body, "memprobe_heap_peak_bytes", pid, &v));
	CHECK_U64(v, >=, HOLD_LO);
	CHECK(it_metric_pid(r.body, "memprobe_heap_live_blocks", pid, &v));
	CHECK_U64(v, <, 64);
	it_http_free(&r);

	/* Exited: the program ends cleanly and stays visible as exited. */
	it_proc_close_stdin(&hold);
	REQUIRE(it_proc_wait(&hold, IT_TIMEOUT_MS) == 0);
	CHECK(WIFEXITED(hold.status) && WEXITSTATUS(hold.status) == 0);
	if (!it_wait_metric(d.url, "memprobe_process_exited", pid, 1, 1, IT_TIMEOUT_MS, &v)) {
		fprintf(stderr, "  memprobe_process_exited{pid=\"%ld\"}: last %.0f, want 1\n", pid, v);
		CHECK(0);
	}
	aw.state = "exited";
	aw.lo = 0;
	aw.hi = MIB - 1;
	if (!it_wait_until(api_matches, &aw, IT_TIMEOUT_MS)) {
		show_entry(aw.last);
		CHECK(0);
	}
	/* Its final figures are kept while it is listed as exited. */
	REQUIRE(it_get(d.url, "/metrics", &r) == 0 && r.status == 200);
	CHECK(it_metric_pid(r.body, "memprobe_heap_peak_bytes", pid, &v));
	CHECK_U64(v, >=, HOLD_LO);
out:
	it_http_free(&r);
	json_decref(aw.last);
	it_proc_kill(&hold);
	CHECK(it_daemon_finish(&d, harness_failures) == 0);
}

int itest_heap_run(void)
{
	if (it_selected("e2e_heap"))
		RUN_TEST(e2e_heap);
	return harness_failed_tests;
}
