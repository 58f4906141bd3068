/* test_expo.c: unit tests of the Prometheus exposition (daemon/expo.c), its catalogue (metrics.c) and series = command sums (bycmd.c) on hand-made snapshots. */
#include <errno.h>
#include <math.h>

#include "bycmd.h"
#include "expo.h"
#include "harness.h"
#include "metrics.h"

/* Renders snap in fmt with empty daemon figures; the caller frees the text. */
static char *render_fmt(enum expo_format fmt, const struct ptab_snap *snap,
    const struct expo_daemon *d)
{
	struct buf b = BUF_INIT;
	struct expo_daemon none;
	size_t len;

	if (d == NULL) {
		memset(&none, 0, sizeof(none));
		d = &none;
	}
	CHECK(expo_render(&b, fmt, snap, d) == 0);
	return buf_steal(&b, &len);
}

static char *render(const struct ptab_snap *snap, const struct expo_daemon *d)
{
	return render_fmt(EXPO_TEXT_004, snap, d);
}

/* Nonzero if text holds `line` as a whole line. */
static int has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return 1;
	return 0;
}

static size_t count(const char *text, const char *needle)
{
	size_t n = 0;

	for (const char *p = text; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

#define CHECK_LINE(text, line) do { \
	if (!has_line((text), (line))) { \
		fprintf(stderr, "%s:%d: missing line: %s\n", __FILE__, __LINE__, (line)); \
		harness_failures++; \
	} \
} while (0)

static struct ptab_view full_view(void)
{
	struct ptab_view v;

	memset(&v, 0, sizeof(v));
	v.pid = 42;
	v.start_time = 7;
	v.comm = "demo";
	v.exe = "/usr/bin/demo";
	v.agents = PTAB_AGENT_BIT(PROTO_AGENT_C);
	v.connections = 1;
	v.samples = 3;
	v.have = PROTO_S_HEAP | PROTO_S_STACK | PROTO_S_HIST;
	v.have_threads = 1;
	v.s.threads = 3;
	v.s.heap_live_bytes = 4096;
	v.s.heap_live_blocks = 10;
	v.s.heap_peak_bytes = 8192;
	v.s.heap_allocations = 100;
	v.s.heap_frees = 90;
	v.s.heap_allocated_bytes = 18446744073709551615ull;  /* printed exactly */
	v.s.heap_failed = 0;
	v.s.mmap_live_bytes = 65536;
	v.s.stack_peak_bytes = 12000;
	v.s.stack_main_peak_bytes = 11000;
	v.s.stack_limit_bytes = 8388608;
	for (unsigned k = 0; k < PROTO_HIST_BUCKETS; k++)
		v.s.hist_count[k] = k + 1;      /* 1..12: 78 in all */
	v.s.hist_sum = 123456;
	return v;
}

static void test_process_lines(void)
{
	struct ptab_view v = full_view();
	struct ptab_snap snap;
	char *t;

	memset(&snap, 0, sizeof(snap));
	snap.n = 1;
	snap.procs = &v;
	t = render(&snap, NULL);
	CHECK(t != NULL);
	if (t == NULL)
		return;
	CHECK_LINE(t, "# TYPE memprobe_heap_live_bytes gauge");
	CHECK_LINE(t, "memprobe_heap_live_bytes{pid=\"42\",comm=\"demo\"} 4096");
	CHECK_LINE(t, "memprobe_heap_live_blocks{pid=\"42\",comm=\"demo\"} 10");
	CHECK_LINE(t, "memprobe_heap_peak_bytes{pid=\"42\",comm=\"demo\"} 8192");
	CHECK_LINE(t, "# TYPE memprobe_heap_allocations_total counter");
	CHECK_LINE(t, "memprobe_heap_allocations_total{pid=\"42\",comm=\"demo\"} 100");
	CHECK_LINE(t, "memprobe_heap_frees_total{pid=\"42\",comm=\"demo\"} 90");
	CHECK_LINE(t, "memprobe_heap_allocated_bytes_total{pid=\"42\",comm=\"demo\"} 18446744073709551615");
	CHECK_LINE(t, "memprobe_heap_failed_allocations_total{pid=\"42\",comm=\"demo\"} 0");
	CHECK_LINE(t, "memprobe_mmap_live_bytes{pid=\"42\",comm=\"demo\"} 65536");
	CHECK_LINE(t, "memprobe_stack_peak_bytes{pid=\"42\",comm=\"demo\"} 12000");
	CHECK_LINE(t, "memprobe_stack_main_peak_bytes{pid=\"42\",comm=\"demo\"} 11000");
	CHECK_LINE(t, "memprobe_stack_limit_bytes{pid=\"42\",comm=\"demo\"} 8388608");
	CHECK_LINE(t, "memprobe_threads{pid=\"42\",comm=\"demo\"} 3");
	CHECK_LINE(t, "memprobe_process_info{pid=\"42\",comm=\"demo\",exe=\"/usr/bin/demo\",agent=\"c\"} 1");
	CHECK_LINE(t, "memprobe_process_exited{pid=\"42\",comm=\"demo\"} 0");
	/* No Python section was sent: no Python family at all. */
	CHECK(strstr(t, "memprobe_python_") == NULL);
	CHECK(strstr(t, "memprobe_program_value") == NULL);
	free(t);
}

static void test_histogram(void)
{
	struct ptab_view v = full_view();
	struct ptab_snap snap;
	char *t;

	memset(&snap, 0, sizeof(snap));
	snap.n = 1;
	snap.procs = &v;
	t = render(&snap, NULL);
	if (t == NULL)
		return;
	CHECK_LINE(t, "# TYPE memprobe_heap_allocation_size_bytes histogram");
	CHECK_LINE(t, "memprobe_heap_allocation_size_bytes_bucket{pid=\"42\",comm=\"demo\",le=\"16.0\"} 1");
	CHECK_LINE(t, "memprobe_heap_allocation_size_bytes_bucket{pid=\"42\",comm=\"demo\",le=\"64.0\"} 3");
	CHECK_LINE(t, "memprobe_heap_allocation_size_bytes_bucket{pid=\"42\",comm=\"demo\",le=\"262144.0\"} 36");
	CHECK_LINE(t, "memprobe_heap_allocation_size_bytes_bucket{pid=\"42\",comm=\"demo\",le=\"1.048576e+06\"} 45");
	CHECK_LINE(t, "memprobe_heap_allocation_size_bytes_bucket{pid=\"42\",comm=\"demo\",le=\"1.6777216e+07\"} 66");
	CHECK_LINE(t, "memprobe_heap_allocation_size_bytes_bucket{pid=\"42\",comm=\"demo\",le=\"+Inf\"} 78");
	CHECK_LINE(t, "memprobe_heap_allocation_size_bytes_sum{pid=\"42\",comm=\"demo\"} 123456");
	CHECK_LINE(t, "memprobe_heap_allocation_size_bytes_count{pid=\"42\",comm=\"demo\"} 78");
	CHECK_U64(count(t, "memprobe_heap_allocation_size_bytes_bucket{"), ==, PROTO_HIST_BUCKETS);
	free(t);
}

static void test_label_escaping(void)
{
	struct ptab_view v = full_view();
	struct ptab_gauge g = { "queue.depth", 2.5 };
	struct ptab_snap snap;
	char *t;

	v.comm = "a\"b\\c\nd";
	v.exe = "/x\\y";
	v.gauges = &g;
	v.ngauges = 1;
	memset(&snap, 0, sizeof(snap));
	snap.n = 1;
	snap.procs = &v;
	t = render(&snap, NULL);
	if (t == NULL)
		return;
	CHECK_LINE(t, "memprobe_heap_live_bytes{pid=\"42\",comm=\"a\\\"b\\\\c\\nd\"} 4096");
	CHECK_LINE(t, "memprobe_process_info{pid=\"42\",comm=\"a\\\"b\\\\c\\nd\",exe=\"/x\\\\y\",agent=\"c\"} 1");
	CHECK_LINE(t, "memprobe_program_value{pid=\"42\",comm=\"a\\\"b\\\\c\\nd\",name=\"queue.depth\"} 2.5");
	free(t);
}

static void test_python_and_exited(void)
{
	struct ptab_view v[2];
	struct ptab_snap snap;
	char *t;

	memset(v, 0, sizeof(v));
	v[0].pid = 7;
	v[0].comm = "python3";
	v[0].exe = "";
	v[0].agents = PTAB_AGENT_BIT(PROTO_AGENT_C) | PTAB_AGENT_BIT(PROTO_AGENT_PYTHON);
	v[0].have = PROTO_S_PYTHON;
	v[0].s.py_allocated_blocks = 5000;
	v[0].s.py_recursion_limit = 1000;
	v[0].s.py_stack_depth_peak = 42;
	v[0].s.py_gc_collections[0] = 10;
	v[0].s.py_gc_collections[2] = 1;
	v[0].s.py_gc_collected[1] = 20;
	v[0].s.py_gc_uncollectable[2] = 3;
	v[1].pid = 8;
	v[1].comm = "gone";
	v[1].exe = "/bin/gone";
	v[1].agents = PTAB_AGENT_BIT(PROTO_AGENT_C);
	v[1].exited = 1;
	memset(&snap, 0, sizeof(snap));
	snap.n = 2;
	snap.procs = v;
	t = render(&snap, NULL);
	if (t == NULL)
		return;
	CHECK_LINE(t, "memprobe_python_allocated_blocks{pid=\"7\",comm=\"python3\"} 5000");
	CHECK_LINE(t, "memprobe_python_recursion_limit{pid=\"7\",comm=\"python3\"} 1000");
	CHECK_LINE(t, "memprobe_python_stack_depth_peak{pid=\"7\",comm=\"python3\"} 42");
	CHECK_LINE(t, "# TYPE memprobe_python_gc_collections_total counter");
	CHECK_LINE(t, "memprobe_python_gc_collections_total{pid=\"7\",comm=\"python3\",generation=\"0\"} 10");
	CHECK_LINE(t, "memprobe_python_gc_collections_total{pid=\"7\",comm=\"python3\",generation=\"1\"} 0");
	CHECK_LINE(t, "memprobe_python_gc_collections_total{pid=\"7\",comm=\"python3\",generation=\"2\"} 1");
	CHECK_LINE(t, "memprobe_python_gc_collected_total{pid=\"7\",comm=\"python3\",generation=\"1\"} 20");
	CHECK_LINE(t, "memprobe_python_gc_uncollectable_total{pid=\"7\",comm=\"python3\",generation=\"2\"} 3");
	CHECK_LINE(t, "memprobe_process_info{pid=\"7\",comm=\"python3\",exe=\"\",agent=\"c,python\"} 1");
	CHECK_LINE(t, "memprobe_process_exited{pid=\"7\",comm=\"python3\"} 0");
	CHECK_LINE(t, "memprobe_process_exited{pid=\"8\",comm=\"gone\"} 1");
	/* Sections nobody sent stay out; the exited process has no heap. */
	CHECK(strstr(t, "memprobe_heap_live_bytes") == NULL);
	CHECK(strstr(t, "memprobe_threads") == NULL);
	free(t);
}

static void test_daemon_families(void)
{
	struct ptab_snap snap;
	struct expo_daemon d;
	struct procfs_self self = { 1.5, 4096, 8192, 1700000000.25, 9, 1024 };
	char *t;

	memset(&snap, 0, sizeof(snap));
	snap.processes_refused = 4;
	memset(&d, 0, sizeof(d));
	d.ingest.agents_connected = 2;
	d.ingest.connections_refused = 1;
	d.ingest.received[PROTO_SAMPLE] = 17;
	d.ingest.rejected[PROTO_E_MAGIC] = 5;
	d.scrape_duration_seconds = 0.25;
	d.self = &self;
	t = render(&snap, &d);
	if (t == NULL)
		return;
	CHECK_LINE(t, "memprobe_daemon_agents_connected 2");
	CHECK_LINE(t, "memprobe_daemon_processes_tracked 0");
	CHECK_LINE(t, "memprobe_daemon_connections_refused_total 1");
	CHECK_LINE(t, "memprobe_daemon_processes_refused_total 4");
	CHECK_LINE(t, "memprobe_daemon_messages_received_total{type=\"hello\"} 0");
	CHECK_LINE(t, "memprobe_daemon_messages_received_total{type=\"sample\"} 17");
	CHECK_LINE(t, "memprobe_daemon_messages_received_total{type=\"bye\"} 0");
	/* Every reason exists from the start. */
	for (unsigned r = 1; r < INGEST_R__COUNT; r++) {
		char line[128];

		snprintf(line, sizeof(line), "memprobe_daemon_messages_rejected_total{reason=\"%s\"} %d",
		    ingest_reason_name(r), r == PROTO_E_MAGIC ? 5 : 0);
		CHECK_LINE(t, line);
	}
	CHECK_LINE(t, "memprobe_daemon_messages_rejected_total{reason=\"short\"} 0");
	CHECK_LINE(t, "memprobe_daemon_messages_rejected_total{reason=\"sequence\"} 0");
	CHECK_LINE(t, "# TYPE memprobe_daemon_scrape_duration_seconds gauge");
	CHECK_LINE(t, "memprobe_daemon_scrape_duration_seconds 0.25");
	CHECK_LINE(t, "memprobe_build_info{version=\"" MEMPROBE_VERSION "\"} 1");
	CHECK_LINE(t, "process_cpu_seconds_total 1.5");
	CHECK_LINE(t, "process_resident_memory_bytes 4096");
	CHECK_LINE(t, "process_virtual_memory_bytes 8192");
	CHECK_LINE(t, "process_start_time_seconds 1700000000.25");
	CHECK_LINE(t, "process_open_fds 9");
	CHECK_LINE(t, "process_max_fds 1024");
	/* No per-process family without processes. */
	CHECK(strstr(t, "memprobe_heap") == NULL);
	CHECK(strstr(t, "memprobe_process_info") == NULL);
	free(t);
}

/* Every family once, HELP before TYPE, and no line of a family apart
 * from the others. */
static void test_families_once_and_together(void)
{
	struct ptab_view v[3];
	struct ptab_gauge g[2] = { { "a", 1 }, { "b", 2 } };
	struct ptab_snap snap;
	char *t, *line, *save;
	char seen[64][96];
	size_t nseen = 0;
	char current[96] = "";
	int ok = 1;

	v[0] = full_view();
	v[1] = full_view();
	v[1].pid = 43;
	v[1].have |= PROTO_S_PYTHON;
	v[1].gauges = g;
	v[1].ngauges = 2;
	v[2] = full_view();
	v[2].pid = 44;
	v[2].exited = 1;
	memset(&snap, 0, sizeof(snap));
	snap.n = 3;
	snap.procs = v;
	t = render(&snap, NULL);
	if (t == NULL)
		return;
	for (line = strtok_r(t, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		char name[96];

		if (strncmp(line, "# HELP ", 7) == 0) {
			sscanf(line + 7, "%95s", name);
			for (size_t i = 0; i < nseen; i++)
				if (strcmp(seen[i], name) == 0)
					ok = 0;         /* a family twice */
			if (nseen < 64)
				snprintf(seen[nseen++], sizeof(seen[0]), "%s", name);
			snprintf(current, sizeof(current), "%s", name);
			continue;
		}
		if (strncmp(line, "# TYPE ", 7) == 0) {
			sscanf(line + 7, "%95s", name);
			if (strcmp(name, current) != 0)
				ok = 0;                 /* TYPE without its HELP */
			continue;
		}
		/* A sample belongs to the open family (histograms add suffixes). */
		if (strncmp(line, current, strlen(current)) != 0) {
			fprintf(stderr, "line outside its family %s: %s\n", current, line);
			ok = 0;
		}
	}
	CHECK(ok);
	CHECK(nseen > 30);
	free(t);
}

static void test_format_double(void)
{
	char out[32];

	expo_format_double(0.1, out);
	CHECK_STR(out, "0.1");
	expo_format_double(2.5, out);
	CHECK_STR(out, "2.5");
	expo_format_double(1e300, out);
	CHECK_STR(out, "1e+300");
	expo_format_double(-3, out);
	CHECK_STR(out, "-3");
	expo_format_double(1.0 / 3.0, out);
	CHECK(strtod(out, NULL) == 1.0 / 3.0);
	expo_format_double(NAN, out);
	CHECK_STR(out, "NaN");
	expo_format_double(INFINITY, out);
	CHECK_STR(out, "+Inf");
	expo_format_double(-INFINITY, out);
	CHECK_STR(out, "-Inf");
}

static void test_openmetrics(void)
{
	struct ptab_view v = full_view();
	struct ptab_snap snap;
	char *t;
	size_t n;

	v.have_procfs = 1;
	v.pfs.resident = 1 << 20;
	memset(&snap, 0, sizeof(snap));
	snap.n = 1;
	snap.procs = &v;
	t = render_fmt(EXPO_OPENMETRICS, &snap, NULL);
	if (t == NULL)
		return;
	/* TYPE, UNIT, HELP in that order, together. */
	CHECK(strstr(t, "# TYPE memprobe_heap_live_bytes gauge\n"
	    "# UNIT memprobe_heap_live_bytes bytes\n"
	    "# HELP memprobe_heap_live_bytes ") != NULL);
	/* Counters are declared without _total and sampled with it. */
	CHECK(strstr(t, "# TYPE memprobe_heap_allocations counter\n"
	    "# HELP memprobe_heap_allocations ") != NULL);
	CHECK_LINE(t, "memprobe_heap_allocations_total{pid=\"42\",comm=\"demo\"} 100");
	CHECK(strstr(t, "# TYPE memprobe_heap_allocations_total") == NULL);
	CHECK(strstr(t, "# TYPE memprobe_heap_allocated_bytes counter\n"
	    "# UNIT memprobe_heap_allocated_bytes bytes\n") != NULL);
	CHECK(strstr(t, "# TYPE memprobe_heap_allocation_size_bytes histogram\n"
	    "# UNIT memprobe_heap_allocation_size_bytes bytes\n") != NULL);
	CHECK(strstr(t, "# UNIT memprobe_daemon_scrape_duration_seconds seconds\n") != NULL);
	CHECK(strstr(t, "# TYPE memprobe_daemon_messages_rejected counter\n") != NULL);
	/* No UNIT for a name that does not end in one. */
	CHECK(strstr(t, "# UNIT memprobe_heap_live_blocks") == NULL);
	CHECK_LINE(t, "memprobe_process_resident_bytes{pid=\"42\",comm=\"demo\"} 1048576");
	/* Ends with # EOF and nothing after it. */
	n = strlen(t);
	CHECK(n > 6 && strcmp(t + n - 6, "# EOF\n") == 0);
	CHECK_U64(count(t, "# EOF"), ==, 1);
	free(t);
	/* The text format has no UNIT and no EOF. */
	t = render(&snap, NULL);
	if (t == NULL)
		return;
	CHECK(strstr(t, "# UNIT") == NULL);
	CHECK(strstr(t, "# EOF") == NULL);
	free(t);
}

static void test_by_command(void)
{
	struct ptab_view v[4];
	struct ptab_gauge g1 = { "q", 1.5 }, g2 = { "q", 2.0 };
	struct ptab_retired ret;
	struct ptab_snap snap;
	struct expo_daemon d;
	char *t;

	v[0] = full_view();                     /* worker, live */
	v[0].pid = 10;
	v[0].comm = "worker";
	v[0].gauges = &g1;
	v[0].ngauges = 1;
	v[0].have_procfs = 1;
	v[0].pfs.resident = 100;
	v[1] = full_view();                     /* worker, live, deeper stack */
	v[1].pid = 11;
	v[1].comm = "worker";
	v[1].s.stack_peak_bytes = 50000;
	v[1].gauges = &g2;
	v[1].ngauges = 1;
	v[1].have_procfs = 1;
	v[1].pfs.resident = 200;
	v[2] = full_view();                     /* worker, exited: counters only */
	v[2].pid = 12;
	v[2].comm = "worker";
	v[2].exited = 1;
	v[3] = full_view();
	v[3].pid = 13;
	v[3].comm = "other";
	memset(&ret, 0, sizeof(ret));           /* worker processes already gone */
	ret.comm = "worker";
	ret.have = PROTO_S_HEAP;
	ret.s.heap_allocations = 1000;
	memset(&snap, 0, sizeof(snap));
	snap.n = 4;
	snap.procs = v;
	snap.nretired = 1;
	snap.retired = &ret;
	memset(&d, 0, sizeof(d));
	d.by_command = 1;
	t = render(&snap, &d);
	if (t == NULL)
		return;
	CHECK(strstr(t, "pid=") == NULL);
	CHECK_LINE(t, "memprobe_heap_live_bytes{comm=\"worker\"} 8192");          /* 2 live */
	CHECK_LINE(t, "memprobe_heap_live_bytes{comm=\"other\"} 4096");
	CHECK_LINE(t, "memprobe_heap_allocations_total{comm=\"worker\"} 1300");    /* 3 + gone */
	CHECK_LINE(t, "memprobe_stack_peak_bytes{comm=\"worker\"} 50000");         /* the deepest */
	CHECK_LINE(t, "memprobe_process_resident_bytes{comm=\"worker\"} 300");
	CHECK_LINE(t, "memprobe_program_value{comm=\"worker\",name=\"q\"} 3.5");
	CHECK_LINE(t, "memprobe_heap_allocation_size_bytes_count{comm=\"worker\"} 234");
	CHECK_LINE(t, "memprobe_processes{comm=\"worker\"} 2");
	CHECK_LINE(t, "memprobe_processes_exited{comm=\"worker\"} 1");
	CHECK_LINE(t, "memprobe_processes{comm=\"other\"} 1");
	CHECK(strstr(t, "memprobe_process_info") == NULL);
	free(t);
}

/* Many rows: each line carries its own row's labels and value (labels are
 * escaped once per scrape, numbers written by hand), and a body written into
 * a buffer kept from an earlier scrape is the same as into a new one. */
static void test_rows_and_reuse(void)
{
	static const uint64_t vals[] = { 0, 1, 9, 10, 99, 100, 101, 999, 1000, 4294967295u,
		4294967296u, 9999999999999999999u, 10000000000000000000u, 18446744073709551615u };
	enum { N = 300 };
	static struct ptab_view v[N];
	static char comms[N][24];
	struct ptab_snap snap;
	struct buf b = BUF_INIT;
	struct expo_daemon none;
	char *fresh, line[160];
	size_t len;

	for (int i = 0; i < N; i++) {
		v[i] = full_view();
		v[i].pid = i == N - 1 ? 4194304 : 100 + i * 7;
		snprintf(comms[i], sizeof(comms[i]), "%.*s\"%d\n", i % 11, "abcdefghijk", i);
		v[i].comm = comms[i];
		v[i].s.heap_live_bytes = vals[i % (sizeof(vals) / sizeof(vals[0]))];
	}
	memset(&snap, 0, sizeof(snap));
	snap.n = N;
	snap.procs = v;
	fresh = render(&snap, NULL);
	if (fresh == NULL)
		return;
	for (int i = 0; i < N; i++) {
		snprintf(line, sizeof(line), "memprobe_heap_live_bytes{pid=\"%d\",comm=\"%.*s\\\"%d\\n\"} %" PRIu64,
		    (int)v[i].pid, i % 11, "abcdefghijk", i, v[i].s.heap_live_bytes);
		CHECK_LINE(fresh, line);
	}
	CHECK_U64(count(fresh, "memprobe_heap_allocation_size_bytes_bucket{"), ==, N * PROTO_HIST_BUCKETS);

	/* A kept buffer: filled once, emptied, written again. */
	memset(&none, 0, sizeof(none));
	CHECK(buf_reserve(&b, 1 << 20) == 0);
	CHECK(expo_render(&b, EXPO_OPENMETRICS, &snap, &none) == 0);
	b.len = 0;
	CHECK(expo_render(&b, EXPO_TEXT_004, &snap, &none) == 0);
	CHECK(b.len == strlen(fresh) && memcmp(b.data, fresh, b.len) == 0);
	free(buf_steal(&b, &len));
	free(fresh);
}

/* The one label escaper: \, " and newline, nothing else. */
static void test_escape(void)
{
	char out[64], *end;

	end = expo_escape(out, "a\"b\\c\nd\te/\xc3\xa9");
	*end = '\0';
	CHECK_STR(out, "a\\\"b\\\\c\\nd\te/\xc3\xa9");
	end = expo_escape(out, "\\\\\"\"\n\n");
	CHECK_U64(end - out, ==, 12);   /* the room asked for: twice the length */
	end = expo_escape(out, "");
	CHECK(end == out);
}

/* series = command sums on their own: counters of every section sent
 * (retired ones too), sizes of live processes, the largest peak, gauges
 * of one name summed, rows sorted by comm. */
static void test_bycmd_rows(void)
{
	struct ptab_view v[3];
	struct ptab_gauge ga[2] = { { "z", 1 }, { "a", 2 } }, gb[1] = { { "a", 0.5 } };
	struct ptab_retired ret[2];
	struct ptab_snap snap;
	struct proto_sample d, s;
	struct bycmd bc;

	v[0] = full_view();
	v[0].comm = "b";
	v[0].gauges = ga;
	v[0].ngauges = 2;
	v[1] = full_view();
	v[1].comm = "b";
	v[1].s.stack_peak_bytes = 1;
	v[1].gauges = gb;
	v[1].ngauges = 1;
	v[2] = full_view();
	v[2].comm = "b";
	v[2].exited = 1;
	memset(ret, 0, sizeof(ret));
	ret[0].comm = "c";                      /* a command with no process left */
	ret[0].have = PROTO_S_PYTHON;
	ret[0].s.py_gc_collected[2] = 9;
	ret[0].s.heap_allocations = 5;          /* no heap section: not summed */
	ret[1].comm = "a";
	ret[1].have = PROTO_S_HEAP;
	ret[1].s.heap_frees = 4;
	memset(&snap, 0, sizeof(snap));
	snap.n = 3;
	snap.procs = v;
	snap.nretired = 2;
	snap.retired = ret;
	if (bycmd_build(&snap, &bc) != 0) {
		CHECK(0);
		return;
	}
	CHECK_U64(bc.n, ==, 3);
	CHECK_STR(bc.v[0].comm, "a");
	CHECK_U64(bc.v[0].s.heap_frees, ==, 4);
	CHECK_U64(bc.nlive[0] + bc.nexited[0], ==, 0);
	CHECK_STR(bc.v[1].comm, "b");
	CHECK_U64(bc.nlive[1], ==, 2);
	CHECK_U64(bc.nexited[1], ==, 1);
	CHECK_U64(bc.v[1].s.heap_allocations, ==, 300);      /* the exited one's too */
	CHECK_U64(bc.v[1].s.heap_live_bytes, ==, 8192);       /* live ones only */
	CHECK_U64(bc.v[1].s.stack_peak_bytes, ==, 12000);     /* the largest */
	CHECK_U64(bc.v[1].ngauges, ==, 2);
	CHECK_STR(bc.v[1].gauges[0].name, "a");
	CHECK(bc.v[1].gauges[0].value == 2.5);
	CHECK_STR(bc.v[2].comm, "c");
	CHECK_U64(bc.v[2].s.py_gc_collected[2], ==, 9);
	CHECK_U64(bc.v[2].s.heap_allocations, ==, 0);
	bycmd_free(&bc);

	/* Only the sections in `have` are added; samples_dropped always is. */
	memset(&d, 0, sizeof(d));
	memset(&s, 0, sizeof(s));
	s.samples_dropped = 1;
	s.heap_failed = 2;
	s.hist_sum = 3;
	s.py_gc_collections[0] = 4;
	s.heap_live_bytes = 5;                  /* a gauge: never added */
	bycmd_add_counters(&d, &s, PROTO_S_HIST);
	CHECK_U64(d.samples_dropped, ==, 1);
	CHECK_U64(d.heap_failed, ==, 0);
	CHECK_U64(d.hist_sum, ==, 3);
	CHECK_U64(d.py_gc_collections[0], ==, 0);
	bycmd_add_counters(&d, &s, PROTO_S_HEAP | PROTO_S_PYTHON);
	CHECK_U64(d.heap_failed, ==, 2);
	CHECK_U64(d.py_gc_collections[0], ==, 4);
	CHECK_U64(d.heap_live_bytes, ==, 0);
}

/* The catalogue: every family named, typed and described; counters end
 * in _total; one-value families read their figure where it lies. */
static void test_catalogue(void)
{
	struct ptab_view v = full_view();

	for (int id = 0; id < METRIC__COUNT; id++) {
		const struct metric *m = metric_get((enum metric_id)id);
		size_t n = m->name != NULL ? strlen(m->name) : 0;

		CHECK(n > 0 && m->help != NULL && m->type != NULL);
		if (n > 0 && strcmp(m->type, "counter") == 0)
			CHECK(n > 6 && strcmp(m->name + n - 6, "_total") == 0);
	}
	v.have_procfs = 1;
	v.pfs.data = 77;
	CHECK(metric_has(&v, metric_get(METRIC_PROCESS_DATA_BYTES)));
	CHECK_U64(metric_value(&v, metric_get(METRIC_PROCESS_DATA_BYTES), 0), ==, 77);
	CHECK_U64(metric_value(&v, metric_get(METRIC_HEAP_FREES), 0), ==, 90);
	CHECK(!metric_has(&v, metric_get(METRIC_PYTHON_ALLOCATED_BLOCKS)));
	v.s.py_gc_collected[2] = 8;
	CHECK_U64(metric_value(&v, metric_get(METRIC_PYTHON_GC_COLLECTED), 2), ==, 8);
}

int main(void)
{
	RUN_TEST(test_process_lines);
	RUN_TEST(test_histogram);
	RUN_TEST(test_label_escaping);
	RUN_TEST(test_python_and_exited);
	RUN_TEST(test_daemon_families);
	RUN_TEST(test_families_once_and_together);
	RUN_TEST(test_format_double);
	RUN_TEST(test_openmetrics);
	RUN_TEST(test_by_command);
	RUN_TEST(test_rows_and_reuse);
	RUN_TEST(test_escape);
	RUN_TEST(test_bycmd_rows);
	RUN_TEST(test_catalogue);
	return HARNESS_EXIT();
}
