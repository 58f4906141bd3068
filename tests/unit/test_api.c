/* test_api.c: unit tests of the JSON API bodies (daemon/api.c) on hand-made snapshots. */
#include <errno.h>
#include <jansson.h>
#include <math.h>

#include "api.h"
#include "harness.h"

#define DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))

static struct ptab_gauge gauges[] = {
	{ "a.b-c", 0.5 },
	{ "big", 1e300 },
	{ "inf", INFINITY },
	{ "nan", NAN },
	{ "neg", -2.0 },
	{ "tiny", 5e-324 },
	{ "whole", 100 },
};

static struct ptab_view full_view(void)
{
	struct ptab_view v;

	memset(&v, 0, sizeof(v));
	v.pid = 42;
	v.start_time = 7;
	v.uid = 1000;
	v.comm = "demo";
	v.exe = "/usr/bin/demo";
	v.agents = PTAB_AGENT_BIT(PROTO_AGENT_C) | PTAB_AGENT_BIT(PROTO_AGENT_PYTHON);
	v.connections = 2;
	v.age_seconds = 12.3456;
	v.samples = 3;
	v.have = PROTO_S_HEAP | PROTO_S_STACK | PROTO_S_HIST | PROTO_S_PYTHON;
	v.have_threads = 1;
	v.s.threads = 3;
	v.s.samples_dropped = 1;
	v.s.heap_live_bytes = 4096;
	v.s.heap_live_blocks = 10;
	v.s.heap_peak_bytes = 8192;
	v.s.heap_allocations = 100;
	v.s.heap_frees = 90;
	v.s.heap_allocated_bytes = 18446744073709551615ull;     /* clamped */
	v.s.mmap_live_bytes = 65536;
	v.s.stack_peak_bytes = 12000;
	v.s.stack_main_peak_bytes = 11000;
	v.s.stack_limit_bytes = 8388608;
	for (unsigned k = 0; k < PROTO_HIST_BUCKETS; k++)
		v.s.hist_count[k] = k + 1;
	v.s.hist_sum = 123456;
	v.s.py_allocated_blocks = 5;
	v.s.py_recursion_limit = 1000;
	v.s.py_stack_depth_peak = 12;
	for (unsigned g = 0; g < 3; g++) {
		v.s.py_gc_collections[g] = 10 + g;
		v.s.py_gc_collected[g] = 20 + g;
		v.s.py_gc_uncollectable[g] = g;
		v.s.py_gc_count[g] = 30 + g;
	}
	v.have_procfs = 1;
	v.pfs.resident = 1 << 20;
	v.pfs.resident_peak = 2 << 20;
	v.pfs.stack_mapped = 135168;
	v.pfs.data = 3 << 20;
	v.pfs.threads = 4;
	v.ngauges = sizeof(gauges) / sizeof(gauges[0]);
	v.gauges = gauges;
	v.gauges_dropped = 2;
	return v;
}

/* Parses text as JSON and writes it back with the flags the API always
 * used: the body must come back byte for byte (valid JSON, keys in their
 * order, numbers as jansson writes them). Returns the parsed value. */
static json_t *check_canonical(const char *text, size_t len)
{
	json_error_t err;
	json_t *j = json_loadb(text, len, 0, &err);
	char *again;

	CHECK(j != NULL);
	if (j == NULL) {
		fprintf(stderr, "  not JSON: %s at %d: %.200s\n", err.text, err.position, text);
		return NULL;
	}
	again = json_dumps(j, DUMP_FLAGS);
	CHECK(again != NULL && strlen(again) == len && memcmp(again, text, len) == 0);
	if (again != NULL && (strlen(again) != len || memcmp(again, text, len) != 0))
		fprintf(stderr, "  ours:    %.400s\n  jansson: %.400s\n", text, again);
	free(again);
	return j;
}

static void test_process_fields(void)
{
	struct ptab_view v = full_view();
	struct ptab_snap snap;
	json_t *j, *p, *g;
	char *out;
	size_t len;

	memset(&snap, 0, sizeof(snap));
	snap.n = 1;
	snap.procs = &v;
	CHECK(api_processes(&snap, &out, &len) == 0);
	CHECK_U64(strlen(out), ==, len);
	j = check_canonical(out, len);
	free(out);
	if (j == NULL)
		return;
	p = json_array_get(json_object_get(j, "processes"), 0);
	CHECK(json_integer_value(json_object_get(p, "pid")) == 42);
	CHECK_STR(json_string_value(json_object_get(p, "comm")), "demo");
	CHECK_STR(json_string_value(json_object_get(p, "state")), "live");
	CHECK(json_is_null(json_object_get(p, "exited_seconds_ago")));
	CHECK(json_real_value(json_object_get(p, "tracked_seconds")) == 12.346);
	CHECK(json_integer_value(json_object_get(json_object_get(p, "heap"), "allocated_bytes")) ==
	    INT64_MAX);
	CHECK(json_array_size(json_object_get(p, "agents")) == 2);
	CHECK(json_integer_value(json_array_get(json_object_get(json_object_get(
	    json_object_get(p, "python"), "gc"), "count"), 2)) == 32);
	CHECK(json_integer_value(json_object_get(json_object_get(p, "proc"), "threads")) == 4);
	g = json_object_get(p, "gauges");
	CHECK(json_object_size(g) == 7);
	CHECK(json_is_null(json_object_get(g, "inf")) && json_is_null(json_object_get(g, "nan")));
	CHECK(json_real_value(json_object_get(g, "tiny")) == 5e-324);
	CHECK(json_real_value(json_object_get(g, "whole")) == 100);
	/* The list leaves the histogram out; one process has it. */
	CHECK(json_object_get(p, "histogram") == NULL);
	json_decref(j);

	CHECK(api_process(&snap, 42, &out, &len) == 0);
	j = check_canonical(out, len);
	free(out);
	if (j == NULL)
		return;
	p = json_object_get(j, "histogram");
	CHECK(json_array_size(json_object_get(p, "buckets")) == PROTO_HIST_BUCKETS);
	CHECK(json_integer_value(json_object_get(json_array_get(json_object_get(p, "buckets"), 0),
	    "le")) == 16);
	CHECK(json_is_null(json_object_get(json_array_get(json_object_get(p, "buckets"),
	    PROTO_HIST_BUCKETS - 1), "le")));
	CHECK(json_integer_value(json_object_get(p, "count")) == 78);
	CHECK(json_integer_value(json_object_get(p, "sum")) == 123456);
	json_decref(j);
	CHECK(api_process(&snap, 43, &out, &len) == -ENOENT);
}

/* Sections never sent are null; names with every byte JSON escapes. */
static void test_nulls_and_escapes(void)
{
	static char comm[64];
	struct ptab_view v[3];
	struct ptab_snap snap;
	json_t *j, *p;
	char *out;
	size_t len, n = 0;

	for (int c = 1; c < 0x20; c++)
		comm[n++] = (char)c;
	memcpy(comm + n, "\"\\/\x7f\xc3\xa9\xf0\x9f\x98\x80", 11);
	memset(v, 0, sizeof(v));
	v[0].pid = 1;
	v[0].comm = comm;
	v[0].exe = "";
	v[0].exited = 1;
	v[0].exited_seconds = 0.0004;   /* rounds to 0 ms */
	v[0].age_seconds = 1e12;        /* past the millisecond range */
	v[1] = full_view();
	v[1].pid = 2;
	v[1].have = PROTO_S_STACK;
	v[1].agents = PTAB_AGENT_BIT(PROTO_AGENT_PYTHON);
	v[1].age_seconds = NAN;
	v[1].ngauges = 0;
	v[2].pid = 3;
	v[2].comm = "";
	v[2].exe = "x";
	v[2].age_seconds = -1;
	memset(&snap, 0, sizeof(snap));
	snap.n = 3;
	snap.procs = v;
	CHECK(api_processes(&snap, &out, &len) == 0);
	j = check_canonical(out, len);
	free(out);
	if (j == NULL)
		return;
	p = json_array_get(json_object_get(j, "processes"), 0);
	CHECK_STR(json_string_value(json_object_get(p, "comm")), comm);
	CHECK_STR(json_string_value(json_object_get(p, "state")), "exited");
	CHECK(json_real_value(json_object_get(p, "exited_seconds_ago")) == 0);
	CHECK(json_is_null(json_object_get(p, "heap")) && json_is_null(json_object_get(p, "stack")) &&
	    json_is_null(json_object_get(p, "python")) && json_is_null(json_object_get(p, "proc")) &&
	    json_is_null(json_object_get(p, "threads")) &&
	    json_is_null(json_object_get(p, "mmap_live_bytes")));
	CHECK(json_array_size(json_object_get(p, "agents")) == 0);
	p = json_array_get(json_object_get(j, "processes"), 1);
	CHECK(json_is_null(json_object_get(p, "heap")) && json_is_object(json_object_get(p, "stack")));
	CHECK(json_is_null(json_object_get(p, "tracked_seconds")));
	CHECK_STR(json_string_value(json_array_get(json_object_get(p, "agents"), 0)), "python");
	json_decref(j);

	snap.n = 0;
	CHECK(api_processes(&snap, &out, &len) == 0);
	CHECK_STR(out, "{\"processes\":[]}");
	free(out);
}

/* Durations are written to the millisecond by hand; jansson's %.15g is the
 * reference for each. */
static void test_seconds_exact(void)
{
	enum { N = 4000 };
	static struct ptab_view v[N];
	struct ptab_snap snap;
	uint64_t x = 88172645463325252ull;
	json_t *j, *list;
	char *out;
	size_t len;

	for (int i = 0; i < N; i++) {
		static const double mags[] = { 1e-4, 1e-3, 1e-2, 0.1, 1, 10, 1e2, 1e3, 1e4, 1e5,
			1e6, 1e7, 1e8, 1e9, 1e10, 1e11 };
		double mag, r;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		r = (double)(x >> 11) / 9007199254740992.0;
		mag = mags[i % 16];
		memset(&v[i], 0, sizeof(v[i]));
		v[i].pid = i + 1;
		v[i].comm = "t";
		v[i].exe = "";
		v[i].age_seconds = i % 7 == 0 ? (double)(x % 100000) / 1000 + 0.0005 : r * mag;
		v[i].exited = i % 2;
		v[i].exited_seconds = i % 5 == 0 ? (double)(x % 1000) : r * mag * 10;
	}
	memset(&snap, 0, sizeof(snap));
	snap.n = N;
	snap.procs = v;
	CHECK(api_processes(&snap, &out, &len) == 0);
	j = check_canonical(out, len);
	if (j == NULL) {
		free(out);
		return;
	}
	list = json_object_get(j, "processes");
	CHECK(json_array_size(list) == N);
	for (int i = 0; i < N; i++) {
		json_t *p = json_array_get(list, i);
		double want = (double)(int64_t)(v[i].age_seconds * 1000 + 0.5) / 1000;

		if (json_real_value(json_object_get(p, "tracked_seconds")) != want) {
			fprintf(stderr, "  tracked_seconds of %.17g: %.17g, want %.17g\n",
			    v[i].age_seconds, json_real_value(json_object_get(p, "tracked_seconds")), want);
			harness_failures++;
			break;
		}
	}
	json_decref(j);
	free(out);
}

int main(void)
{
	RUN_TEST(test_process_fields);
	RUN_TEST(test_nulls_and_escapes);
	RUN_TEST(test_seconds_exact);
	return HARNESS_EXIT();
}
