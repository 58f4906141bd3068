/* test_api.c: unit tests of the JSON API bodies (daemon/api.c) on hand-made snapshots. */
#include <errno.h>
#include <jansson.h>
#include <math.h>

#include "api.h"
#include "harness.h"

#define DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(17))

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

/* Significant digits of the number text s (n bytes): leading and
 * trailing zeros of its mantissa left out. */
static int sig_digits(const char *s, size_t n)
{
	char d[64];
	size_t k = 0, a = 0;

	for (size_t i = 0; i < n && s[i] != 'e' && s[i] != 'E'; i++)
		if (s[i] >= '0' && s[i] <= '9' && k < sizeof(d))
			d[k++] = s[i];
	while (a < k && d[a] == '0')
		a++;
	while (k > a && d[k - 1] == '0')
		k--;
	return (int)(k - a);
}

/* The fewest significant digits that read back as v. */
static int fewest_digits(double v)
{
	char t[40];

	for (int prec = 1; prec < 17; prec++) {
		snprintf(t, sizeof(t), "%.*g", prec, v);
		if (strtod(t, NULL) == v)
			return sig_digits(t, strlen(t));
	}
	return 17;
}

/* Whether the number texts a (ours) and b (jansson's, %.17g) match:
 * integers byte for byte; a real read back as b's value, in the fewest
 * digits that do, and written as a real (".0" or an exponent). */
static int same_number(const char *a, size_t na, const char *b, size_t nb)
{
	double va = strtod(a, NULL), vb = strtod(b, NULL);
	int real = memchr(b, '.', nb) != NULL || memchr(b, 'e', nb) != NULL;

	if (!real)
		return na == nb && memcmp(a, b, na) == 0;
	return (memchr(a, '.', na) != NULL || memchr(a, 'e', na) != NULL) && va == vb &&
	    sig_digits(a, na) == fewest_digits(vb);
}

/* Parses text as JSON and writes it back compact with every digit of
 * each real: the body must come back byte for byte (valid JSON, keys in
 * their order, strings as jansson escapes them), but for reals, which
 * ours writes in the fewest digits that read back. Returns the parsed
 * value. */
static json_t *check_canonical(const char *text, size_t len)
{
	static const char numch[] = "0123456789+-.eE";
	json_error_t err;
	json_t *j = json_loadb(text, len, 0, &err);
	char *again;
	size_t i = 0, k = 0, alen;
	int instr = 0, same = 1;

	CHECK(j != NULL);
	if (j == NULL) {
		fprintf(stderr, "  not JSON: %s at %d: %.200s\n", err.text, err.position, text);
		return NULL;
	}
	again = json_dumps(j, DUMP_FLAGS);
	CHECK(again != NULL);
	if (again == NULL)
		return j;
	alen = strlen(again);
	while (same && i < len && k < alen) {
		if (!instr && (text[i] == '-' || (text[i] >= '0' && text[i] <= '9'))) {
			size_t na = strspn(text + i, numch), nb = strspn(again + k, numch);

			same = same_number(text + i, na, again + k, nb);
			i += na;
			k += nb;
			continue;
		}
		if (text[i] != again[k])
			same = 0;
		else if (instr && text[i] == '\\')
			same = text[++i] == again[++k];
		else if (text[i] == '"')
			instr = !instr;
		i++;
		k++;
	}
	same = same && i == len && k == alen;
	CHECK(same);
	if (!same)
		fprintf(stderr, "  ours:    %.400s\n  jansson: %.400s\n  at %zu: %.60s\n", text, again,
		    i, text + (i > 20 ? i - 20 : 0));
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

/* Reals in the fewest digits that read back: no "262.55500000000001". */
static void test_reals_shortest(void)
{
	static struct ptab_gauge g[] = {
		{ "a", 262.555 }, { "b", 0.1 + 0.2 }, { "c", 1.0 / 3.0 }, { "d", 1e21 }, { "e", -0.0 },
	};
	struct ptab_view v = full_view();
	struct ptab_snap snap;
	json_t *j;
	char *out;
	size_t len;

	v.gauges = g;
	v.ngauges = sizeof(g) / sizeof(g[0]);
	memset(&snap, 0, sizeof(snap));
	snap.n = 1;
	snap.procs = &v;
	CHECK(api_process(&snap, 42, &out, &len) == 0);
	CHECK(strstr(out, "\"a\":262.555,") != NULL);
	CHECK(strstr(out, "\"b\":0.30000000000000004,") != NULL);
	CHECK(strstr(out, "\"c\":0.3333333333333333,") != NULL);
	CHECK(strstr(out, "\"d\":1e21,") != NULL);
	CHECK(strstr(out, "\"e\":-0.0}") != NULL);
	j = check_canonical(out, len);
	json_decref(j);
	free(out);
}

/* The small bodies: status, history and errors. */
static void test_small_bodies(void)
{
	struct ptab_hpoint pts[2] = {
		{ 100.25, 1, 2, 3, 4, 5, 6, 7, 1 },
		{ 101.5, 18446744073709551615ull, 0, 0, 0, 0, 0, 1, 0 },
	};
	struct ptab_hist h = { 42, 7, "de\"mo", 1, 2, pts };
	struct api_status st;
	json_t *j;
	char *out;
	size_t len;

	CHECK(api_history(&h, 102.0, 1700000000.5, &out, &len) == 0);
	j = check_canonical(out, len);
	free(out);
	if (j != NULL) {
		json_t *p0 = json_array_get(json_object_get(j, "samples"), 0);

		CHECK(json_integer_value(json_object_get(j, "pid")) == 42);
		CHECK_STR(json_string_value(json_object_get(j, "comm")), "de\"mo");
		CHECK_STR(json_string_value(json_object_get(j, "state")), "exited");
		CHECK(json_real_value(json_object_get(p0, "time")) == 1699999998.75);
		CHECK(json_integer_value(json_object_get(p0, "resident_bytes")) == 6);
		CHECK(json_integer_value(json_object_get(json_array_get(json_object_get(j, "samples"),
		    1), "heap_live_bytes")) == INT64_MAX);
		/* /proc not read yet: null, not 0. */
		CHECK(json_is_null(json_object_get(json_array_get(json_object_get(j, "samples"), 1),
		    "resident_bytes")));
		json_decref(j);
	}
	h.n = 0;
	h.exited = 0;
	CHECK(api_history(&h, 102.0, 1700000000.5, &out, &len) == 0);
	CHECK_STR(out, "{\"pid\":42,\"start_time\":7,\"comm\":\"de\\\"mo\",\"state\":\"live\",\"samples\":[]}");
	free(out);

	memset(&st, 0, sizeof(st));
	st.version = "1.2.3";
	st.series = "process";
	st.uptime_seconds = 12.3456;
	st.started_at = 1700000000.25;
	st.processes_tracked = 5;
	st.processes_live = 3;
	st.http_timeout = 10;
	st.proc_interval = 5;
	st.table_bytes = 4096;
	st.procfs_seconds = 262.555;
	CHECK(api_status(&st, &out, &len) == 0);
	j = check_canonical(out, len);
	free(out);
	if (j != NULL) {
		CHECK_STR(json_string_value(json_object_get(j, "version")), "1.2.3");
		CHECK(json_real_value(json_object_get(j, "uptime_seconds")) == 12.346);
		CHECK(json_integer_value(json_object_get(json_object_get(j, "counts"),
		    "processes_exited")) == 2);
		CHECK(json_integer_value(json_object_get(json_object_get(j, "limits"),
		    "http_timeout")) == 10);
		CHECK_STR(json_string_value(json_object_get(json_object_get(j, "settings"), "series")),
		    "process");
		CHECK(json_integer_value(json_object_get(json_object_get(j, "memory"),
		    "table_bytes")) == 4096);
		CHECK(json_real_value(json_object_get(j, "procfs_refresh_seconds")) == 262.555);
		json_decref(j);
	}

	CHECK(api_error("no \"such\" thing", &out, &len) == 0);
	CHECK_STR(out, "{\"error\":\"no \\\"such\\\" thing\"}");
	free(out);
	CHECK(api_error("caf\xc3\xa9\x01", &out, &len) == 0);
	CHECK_STR(out, "{\"error\":\"bad request\"}");
	free(out);
	CHECK(api_error("no caf\xc3\xa9", &out, &len) == 0);
	CHECK_STR(out, "{\"error\":\"no caf\xc3\xa9\"}");
	free(out);
	CHECK(api_error("overlong \xc0\xaf", &out, &len) == 0);
	CHECK_STR(out, "{\"error\":\"bad request\"}");
	free(out);
}

int main(void)
{
	RUN_TEST(test_process_fields);
	RUN_TEST(test_nulls_and_escapes);
	RUN_TEST(test_seconds_exact);
	RUN_TEST(test_reals_shortest);
	RUN_TEST(test_small_bodies);
	return HARNESS_EXIT();
}
