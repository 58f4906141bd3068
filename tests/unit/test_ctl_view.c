/* test_ctl_view.c: unit tests of memprobectl's views of the API's JSON (client/ctl/ctl_view.c). */
#include "ctl_view.h"
#include "harness.h"

#include <errno.h>
#include <stdlib.h>

/* Two processes as /api/v1/processes gives them: a big heap, a deep stack. */
static const char *const procs_json =
    "{\"processes\": ["
    "{\"pid\": 7, \"comm\": \"deep\", \"state\": \"live\", \"threads\": 2,"
    " \"heap\": {\"live_bytes\": 2048, \"live_blocks\": 3, \"peak_bytes\": 4096},"
    " \"stack\": {\"peak_bytes\": 1048576, \"main_peak_bytes\": 4096, \"limit_bytes\": 8388608},"
    " \"proc\": {\"resident_bytes\": 3145728}},"
    "{\"pid\": 4242, \"comm\": \"alloc_hold\", \"state\": \"exited\", \"threads\": 1,"
    " \"heap\": {\"live_bytes\": 67174408, \"live_blocks\": 4097, \"peak_bytes\": 67174408},"
    " \"stack\": {\"peak_bytes\": 2736, \"main_peak_bytes\": 2736, \"limit_bytes\": 8388608},"
    " \"proc\": null},"
    "{\"pid\": 9, \"comm\": \"new\", \"state\": \"live\", \"threads\": null,"
    " \"heap\": null, \"stack\": null, \"proc\": null}"
    "]}";

/* One process in full, as /api/v1/processes/{pid} gives it. */
static const char *const proc_json =
    "{\"pid\": 4242, \"start_time\": 1, \"comm\": \"evil\\u001b[2J\", \"exe\": \"/bin/x\","
    " \"uid\": 1000, \"agents\": [\"c\", \"python\"], \"connections\": 2, \"state\": \"live\","
    " \"exited_seconds_ago\": null, \"tracked_seconds\": 75.0, \"samples\": 70,"
    " \"samples_dropped\": 1, \"threads\": 3,"
    " \"heap\": {\"live_bytes\": 10016008, \"live_blocks\": 1001, \"peak_bytes\": 10016008,"
    "  \"allocations\": 1001, \"frees\": 0, \"allocated_bytes\": 10016008,"
    "  \"failed_allocations\": 0},"
    " \"mmap_live_bytes\": 0,"
    " \"stack\": {\"peak_bytes\": 7008, \"main_peak_bytes\": 7008, \"limit_bytes\": 0},"
    " \"python\": {\"allocated_blocks\": 5000, \"recursion_limit\": 1000,"
    "  \"stack_depth_peak\": 250, \"gc\": {\"collections\": [10, 2, 1],"
    "  \"collected\": [5, 0, 0], \"uncollectable\": [0, 0, 0], \"count\": [3, 1, 0]}},"
    " \"proc\": {\"resident_bytes\": 11800576, \"resident_peak_bytes\": 11800576,"
    "  \"stack_mapped_bytes\": 135168, \"data_bytes\": 10600000, \"threads\": 3},"
    " \"gauges\": {\"queue_depth\": 12.5, \"bad\": null}, \"gauges_dropped\": 0,"
    " \"histogram\": {\"buckets\": [{\"le\": 16, \"count\": 0}, {\"le\": 64, \"count\": 10},"
    "  {\"le\": 16384, \"count\": 1000}, {\"le\": null, \"count\": 1}],"
    "  \"sum\": 10016008, \"count\": 1011}}";

static json_t *
parse(const char *text)
{
	json_error_t err;
	json_t *j = json_loads(text, 0, &err);

	if (j == NULL)
		fprintf(stderr, "bad test JSON: %s (line %d)\n", err.text, err.line);
	return j;
}

/* Runs a view into a string; the caller free()s it. */
static char *
render(int (*fn)(FILE *, const json_t *, enum ctl_sort, bool), const json_t *j,
    enum ctl_sort sort, bool bytes, int *rc)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	if (f == NULL)
		return NULL;
	*rc = fn(f, j, sort, bytes);
	fclose(f);
	return out;
}

static void
test_sort_keys(void)
{
	enum ctl_sort s;

	CHECK(ctl_sort_parse("heap", &s) == 0 && s == CTL_SORT_HEAP);
	CHECK(ctl_sort_parse("rss", &s) == 0 && s == CTL_SORT_RSS);
	CHECK(ctl_sort_parse("comm", &s) == 0 && s == CTL_SORT_COMM);
	CHECK(ctl_sort_parse("HEAP", &s) == -EINVAL);
	CHECK(ctl_sort_parse("", &s) == -EINVAL);
	CHECK_STR(ctl_sort_name(CTL_SORT_BLOCKS), "blocks");
}

static void
test_ps_table_by_heap(void)
{
	json_t *j = parse(procs_json);
	char *out;
	int rc = -1;

	out = render(ctl_view_ps, j, CTL_SORT_HEAP, false, &rc);
	CHECK(rc == 0);
	/* Largest heap first; a process with no figures yet last, with "-". */
	CHECK_STR(out,
	    " PID  COMM        STATE       HEAP      PEAK  BLOCKS    STACK    LIMIT  STACK%      RSS  THREADS\n"
	    "4242  alloc_hold  exited  64.1 MiB  64.1 MiB    4097  2.7 KiB  8.0 MiB   <0.1%        -        1\n"
	    "   7  deep        live     2.0 KiB   4.0 KiB       3  1.0 MiB  8.0 MiB     13%  3.0 MiB        2\n"
	    "   9  new         live           -         -       -        -        -       -        -        -\n");
	free(out);
	json_decref(j);
}

static void
test_ps_table_other_orders(void)
{
	json_t *j = parse(procs_json);
	char *out, *a, *b, *c;
	int rc = -1;

	out = render(ctl_view_ps, j, CTL_SORT_STACK, true, &rc);
	CHECK(rc == 0);
	a = strstr(out, "\n   7  deep");
	b = strstr(out, "\n4242  alloc_hold");
	c = strstr(out, "\n   9  new");
	CHECK(a != NULL && b != NULL && c != NULL && a < b && b < c);
	/* --bytes: raw counts */
	CHECK(strstr(out, "67174408  67174408") != NULL);
	CHECK(strstr(out, "1048576  8388608") != NULL);
	free(out);

	out = render(ctl_view_ps, j, CTL_SORT_PID, false, &rc);
	a = strstr(out, "\n   7  deep");
	b = strstr(out, "\n   9  new");
	c = strstr(out, "\n4242  alloc_hold");
	CHECK(a != NULL && b != NULL && c != NULL && a < b && b < c);
	free(out);

	out = render(ctl_view_ps, j, CTL_SORT_RSS, false, &rc);
	a = strstr(out, "\n   7  deep");
	b = strstr(out, "\n4242  alloc_hold");
	CHECK(a != NULL && b != NULL && a < b);
	free(out);
	json_decref(j);
}

static void
test_ps_rejects_non_api(void)
{
	json_t *j = parse("{\"error\": \"x\"}");
	char *out;
	int rc = 0;

	out = render(ctl_view_ps, j, CTL_SORT_HEAP, false, &rc);
	CHECK(rc == -EPROTO);
	free(out);
	json_decref(j);
}

static char *
render_process(const json_t *j, bool bytes)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	if (f == NULL)
		return NULL;
	CHECK(ctl_view_process(f, j, bytes) == 0);
	fclose(f);
	return out;
}

static void
test_process_in_full(void)
{
	json_t *j = parse(proc_json);
	char *out = render_process(j, false);

	CHECK(out != NULL);
	if (out == NULL)
		goto out;
	/* The escape sequence in comm never reaches the terminal. */
	CHECK(strchr(out, '\033') == NULL);
	CHECK(strstr(out, "evil?[2J, pid 4242: live, tracked for 1 min 15 s\n") != NULL);
	CHECK(strstr(out, "  agents         c, python (2 connections open)\n") != NULL);
	CHECK(strstr(out, "  live           9.6 MiB in 1001 blocks\n") != NULL);
	CHECK(strstr(out, "  allocations    1001, 9.6 MiB in all\n") != NULL);
	/* A limit of 0 is no limit: no percentage. */
	CHECK(strstr(out, "  deepest        6.8 KiB, the deepest of any thread\n") != NULL);
	CHECK(strstr(out, "none known (RLIMIT_STACK unlimited)") != NULL);
	CHECK(strstr(out, "not each thread's peak") != NULL);
	CHECK(strstr(out, "Process (/proc/4242/status)\n  resident       11.3 MiB, peak 11.3 MiB\n") != NULL);
	CHECK(strstr(out, "  stack depth    250 frames at most, of a recursion limit of 1000 (25%)\n") != NULL);
	CHECK(strstr(out, "    collections            10          2          1\n") != NULL);
	CHECK(strstr(out, "  queue_depth  12.5\n") != NULL);
	CHECK(strstr(out, "  bad          NaN or infinite\n") != NULL);
	/* The histogram: labels in binary units, the fullest bucket 40 columns. */
	CHECK(strstr(out, "Allocation sizes: 1011 allocations, 9.6 MiB in all\n") != NULL);
	CHECK(strstr(out, "    <= 16 B     0\n") != NULL);
	CHECK(strstr(out, "    <= 64 B    10    1.0%  #\n") != NULL);
	CHECK(strstr(out, "  <= 16 KiB  1000     99%  ########################################\n") != NULL);
	CHECK(strstr(out, "   > 16 KiB     1   <0.1%  #\n") != NULL);
	free(out);

	out = render_process(j, true);
	CHECK(out != NULL && strstr(out, "  live           10016008 B in 1001 blocks\n") != NULL);
	CHECK(out != NULL && strstr(out, "  <= 16384  1000") != NULL);
	free(out);
out:
	json_decref(j);
}

static void
test_process_not_reported(void)
{
	json_t *j = parse("{\"pid\": 9, \"comm\": \"new\", \"state\": \"exited\","
	    " \"exited_seconds_ago\": 3.0, \"heap\": null, \"stack\": null, \"proc\": null,"
	    " \"python\": null, \"gauges\": {}, \"histogram\": null}");
	char *out = render_process(j, false);

	CHECK(out != NULL && strstr(out, "new, pid 9: exited 3.0 s ago\n") != NULL);
	CHECK(out != NULL && strstr(out, "\nHeap\n  not reported yet\n") != NULL);
	CHECK(out != NULL && strstr(out, "\nStack\n  not reported yet\n") != NULL);
	CHECK(out != NULL && strstr(out, "\nAllocation sizes\n  not reported yet\n") != NULL);
	CHECK(out != NULL && strstr(out, "Python") == NULL);
	free(out);
	json_decref(j);
}

static void
test_lines(void)
{
	json_t *j = parse(procs_json);
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	CHECK(ctl_view_lines(f, j, CTL_SORT_HEAP, false, "12:00:01") == 0);
	fclose(f);
	CHECK_STR(out,
	    "12:00:01 4242 alloc_hold exited heap 64.1 MiB peak 64.1 MiB blocks 4097"
	    " stack 2.7 KiB of 8.0 MiB (<0.1%) rss - threads 1\n"
	    "12:00:01 7 deep live heap 2.0 KiB peak 4.0 KiB blocks 3"
	    " stack 1.0 MiB of 8.0 MiB (13%) rss 3.0 MiB threads 2\n"
	    "12:00:01 9 new live heap - peak - blocks - stack - rss - threads -\n");
	free(out);
	json_decref(j);
}

/* --json prints numbers as the daemon wrote them: no float noise. */
static void
test_json_reprinted_exactly(void)
{
	json_t *j = json_loads("{\"a\":262.555,\"b\":[0.25,{\"c\":1e-3}],\"n\":3}", 0, NULL);
	json_t *k = json_loads("{\"a\":0.1,\"b\":0.30000000000000004}", 0, NULL);
	char *out;

	REQUIRE(j != NULL && k != NULL);
	CHECK(ctl_json_precision(j) == JSON_REAL_PRECISION(15));
	out = json_dumps(j, JSON_COMPACT | ctl_json_precision(j));
	CHECK_STR(out, "{\"a\":262.555,\"b\":[0.25,{\"c\":0.001}],\"n\":3}");
	free(out);
	/* One number that needs 17 digits: all get 17, each still exact. */
	CHECK(ctl_json_precision(k) == JSON_REAL_PRECISION(17));
	out = json_dumps(k, JSON_COMPACT | ctl_json_precision(k));
	CHECK_STR(out, "{\"a\":0.10000000000000001,\"b\":0.30000000000000004}");
	free(out);
out:
	json_decref(j);
	json_decref(k);
}

int
main(void)
{
	RUN_TEST(test_sort_keys);
	RUN_TEST(test_ps_table_by_heap);
	RUN_TEST(test_ps_table_other_orders);
	RUN_TEST(test_ps_rejects_non_api);
	RUN_TEST(test_process_in_full);
	RUN_TEST(test_process_not_reported);
	RUN_TEST(test_lines);
	RUN_TEST(test_json_reprinted_exactly);
	return HARNESS_EXIT();
}
