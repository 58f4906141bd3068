/* ctl_view.c: memprobectl's text views of the API's JSON: the process table, one process in full, one-line summaries. */
#include "ctl_view.h"
#include "ctl_fmt.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define COMM_CELL_LEN 256   /* comm is at most 64 bytes; room for '?' expansion */
#define TEXT_LEN      1024  /* exe paths, gauge names: cut beyond this */
#define HIST_BAR      40    /* columns of the longest histogram bar */

struct ctl_fig
ctl_fig_at(const json_t *obj, const char *key, const char *sub)
{
	struct ctl_fig f = { 0, false };
	const json_t *j = json_object_get(obj, key);

	if (sub != NULL)
		j = json_object_get(j, sub);
	if (json_is_integer(j) && json_integer_value(j) >= 0) {
		f.v = (uint64_t)json_integer_value(j);
		f.ok = true;
	} else if (json_is_real(j)) {
		double d = json_real_value(j);

		/* 2^64 itself does not fit. */
		if (isfinite(d) && d >= 0 && d < 18446744073709551616.0) {
			f.v = (uint64_t)d;
			f.ok = true;
		}
	}
	return f;
}

/* Digits (15 to 17) with which v reads back as itself. */
static int
real_digits(double v)
{
	char buf[32];

	for (int digits = 15; digits < 17; digits++) {
		snprintf(buf, sizeof(buf), "%.*g", digits, v);
		if (strtod(buf, NULL) == v)
			return digits;
	}
	return 17;
}

/* The most digits any number in j needs (15 when it has none). */
static int
most_digits(const json_t *j)
{
	const char *key;
	const json_t *v;
	size_t i;
	int most = 15, d;

	if (json_is_real(j))
		return real_digits(json_real_value(j));
	if (json_is_object(j)) {
		json_object_foreach((json_t *)(uintptr_t)j, key, v)
			if ((d = most_digits(v)) > most)
				most = d;
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, v)
			if ((d = most_digits(v)) > most)
				most = d;
	}
	return most;
}

size_t
ctl_json_precision(const json_t *j)
{
	return JSON_REAL_PRECISION(most_digits(j));
}

static const char *const sort_names[CTL_SORT__COUNT] = {
	[CTL_SORT_HEAP] = "heap",
	[CTL_SORT_PEAK] = "peak",
	[CTL_SORT_BLOCKS] = "blocks",
	[CTL_SORT_STACK] = "stack",
	[CTL_SORT_RSS] = "rss",
	[CTL_SORT_PID] = "pid",
	[CTL_SORT_COMM] = "comm",
};

int
ctl_sort_parse(const char *name, enum ctl_sort *out)
{
	for (int i = 0; i < CTL_SORT__COUNT; i++)
		if (strcmp(sort_names[i], name) == 0) {
			*out = (enum ctl_sort)i;
			return 0;
		}
	return -EINVAL;
}

const char *
ctl_sort_name(enum ctl_sort s)
{
	return s < CTL_SORT__COUNT ? sort_names[s] : "?";
}

/* ---- the process table ---- */

/* One process as the table needs it; the strings point into the JSON. */
struct ps_row {
	struct ctl_fig pid, heap, peak, blocks, stack, limit, rss, threads;
	const char *comm;
	const char *state;
	const json_t *json;     /* the process object the row was read from */
};

static int
cmp_fig_desc(struct ctl_fig a, struct ctl_fig b)
{
	if (a.ok != b.ok)
		return a.ok ? -1 : 1;
	if (a.v != b.v)
		return a.v > b.v ? -1 : 1;
	return 0;
}

/* The tie-breaker for every order, so that output never depends on qsort. */
static int
cmp_pid(const void *pa, const void *pb)
{
	const struct ps_row *a = pa, *b = pb;

	if (a->pid.ok != b->pid.ok)
		return a->pid.ok ? -1 : 1;
	if (a->pid.v != b->pid.v)
		return a->pid.v < b->pid.v ? -1 : 1;
	return 0;
}

#define CMP_DESC(name, field) \
static int \
name(const void *pa, const void *pb) \
{ \
	const struct ps_row *a = pa, *b = pb; \
	int c = cmp_fig_desc(a->field, b->field); \
\
	return c ? c : cmp_pid(pa, pb); \
}

CMP_DESC(cmp_heap, heap)
CMP_DESC(cmp_peak, peak)
CMP_DESC(cmp_blocks, blocks)
CMP_DESC(cmp_stack, stack)
CMP_DESC(cmp_rss, rss)

static int
cmp_comm(const void *pa, const void *pb)
{
	const struct ps_row *a = pa, *b = pb;
	int c;

	if ((a->comm != NULL) != (b->comm != NULL))
		return a->comm != NULL ? -1 : 1;
	c = a->comm != NULL ? strcmp(a->comm, b->comm) : 0;
	return c ? c : cmp_pid(pa, pb);
}

static int (*const sort_cmp[CTL_SORT__COUNT])(const void *, const void *) = {
	[CTL_SORT_HEAP] = cmp_heap,
	[CTL_SORT_PEAK] = cmp_peak,
	[CTL_SORT_BLOCKS] = cmp_blocks,
	[CTL_SORT_STACK] = cmp_stack,
	[CTL_SORT_RSS] = cmp_rss,
	[CTL_SORT_PID] = cmp_pid,
	[CTL_SORT_COMM] = cmp_comm,
};

static const char *
size_cell(char *buf, size_t size, struct ctl_fig f, bool bytes)
{
	if (!f.ok)
		return NULL;
	return bytes ? ctl_fmt_u64(buf, size, f.v) : ctl_fmt_bytes(buf, size, f.v);
}

static const char *
count_cell(char *buf, size_t size, struct ctl_fig f)
{
	return f.ok ? ctl_fmt_u64(buf, size, f.v) : NULL;
}

static const char *
text_cell(char *buf, size_t size, const char *s)
{
	return s != NULL && *s != '\0' ? ctl_fmt_text(buf, size, s) : NULL;
}

/* A stack limit of 0 means the agent found none (RLIMIT_STACK unlimited). */
static struct ctl_fig
limit_of(struct ctl_fig limit)
{
	if (limit.ok && limit.v == 0)
		limit.ok = false;
	return limit;
}

static void
row_of(struct ps_row *row, const json_t *p)
{
	row->pid = ctl_fig_at(p, "pid", NULL);
	row->comm = json_string_value(json_object_get(p, "comm"));
	row->state = json_string_value(json_object_get(p, "state"));
	row->heap = ctl_fig_at(p, "heap", "live_bytes");
	row->peak = ctl_fig_at(p, "heap", "peak_bytes");
	row->blocks = ctl_fig_at(p, "heap", "live_blocks");
	row->stack = ctl_fig_at(p, "stack", "peak_bytes");
	row->limit = limit_of(ctl_fig_at(p, "stack", "limit_bytes"));
	row->rss = ctl_fig_at(p, "proc", "resident_bytes");
	row->threads = ctl_fig_at(p, "threads", NULL);
	row->json = p;
}

#define PS_COLS 11

static int
ps_print(FILE *f, const struct ps_row *rows, size_t n, bool bytes)
{
	static const char *const headers[PS_COLS] = {
		"PID", "COMM", "STATE", "HEAP", "PEAK", "BLOCKS", "STACK", "LIMIT", "STACK%",
		"RSS", "THREADS",
	};
	static const enum ctl_align align[PS_COLS] = {
		CTL_ALIGN_RIGHT, CTL_ALIGN_LEFT, CTL_ALIGN_LEFT, CTL_ALIGN_RIGHT,
		CTL_ALIGN_RIGHT, CTL_ALIGN_RIGHT, CTL_ALIGN_RIGHT, CTL_ALIGN_RIGHT,
		CTL_ALIGN_RIGHT, CTL_ALIGN_RIGHT, CTL_ALIGN_RIGHT,
	};
	char pid[CTL_FMT_NUM_LEN], comm[COMM_CELL_LEN], state[32];
	char heap[CTL_FMT_NUM_LEN], peak[CTL_FMT_NUM_LEN], blocks[CTL_FMT_NUM_LEN];
	char stack[CTL_FMT_NUM_LEN], limit[CTL_FMT_NUM_LEN], pct[CTL_FMT_NUM_LEN];
	char rss[CTL_FMT_NUM_LEN], threads[CTL_FMT_NUM_LEN];
	struct ctl_table *t;
	int rc = -ENOMEM;

	t = ctl_table_new(PS_COLS, headers, align);
	if (t == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct ps_row *r = &rows[i];
		const char *cells[PS_COLS] = {
			count_cell(pid, sizeof(pid), r->pid),
			text_cell(comm, sizeof(comm), r->comm),
			text_cell(state, sizeof(state), r->state),
			size_cell(heap, sizeof(heap), r->heap, bytes),
			size_cell(peak, sizeof(peak), r->peak, bytes),
			count_cell(blocks, sizeof(blocks), r->blocks),
			size_cell(stack, sizeof(stack), r->stack, bytes),
			size_cell(limit, sizeof(limit), r->limit, bytes),
			r->stack.ok && r->limit.ok ?
			    ctl_fmt_pct(pct, sizeof(pct), r->stack.v, r->limit.v) : NULL,
			size_cell(rss, sizeof(rss), r->rss, bytes),
			count_cell(threads, sizeof(threads), r->threads),
		};

		if (ctl_table_add(t, cells) < 0)
			goto out;
	}
	rc = ctl_table_print(t, f);
out:
	ctl_table_free(t);
	return rc;
}

/* The rows of ROOT's "processes" in the order SORT: a new array (the
 * caller free()s it) of *n rows, or NULL with *err -EPROTO or -ENOMEM. */
static struct ps_row *
sorted_rows(const json_t *root, enum ctl_sort sort, size_t *n, int *err)
{
	const json_t *procs = json_object_get(root, "processes"), *p;
	struct ps_row *rows;
	size_t i;

	*n = 0;
	if (!json_is_array(procs)) {
		*err = -EPROTO;
		return NULL;
	}
	rows = calloc(json_array_size(procs) + 1, sizeof(*rows));
	if (rows == NULL) {
		*err = -ENOMEM;
		return NULL;
	}
	json_array_foreach(procs, i, p) {
		if (json_is_object(p))
			row_of(&rows[(*n)++], p);
	}
	qsort(rows, *n, sizeof(*rows), sort_cmp[sort < CTL_SORT__COUNT ? sort : CTL_SORT_HEAP]);
	return rows;
}

int
ctl_view_ps(FILE *f, const json_t *root, enum ctl_sort sort, bool bytes)
{
	struct ps_row *rows;
	size_t n;
	int rc;

	rows = sorted_rows(root, sort, &n, &rc);
	if (rows == NULL)
		return rc;
	rc = ps_print(f, rows, n, bytes);
	free(rows);
	return rc;
}

int
ctl_view_lines(FILE *f, const json_t *root, enum ctl_sort sort, bool bytes,
    const char *prefix)
{
	struct ps_row *rows;
	size_t n;
	int rc = 0;

	rows = sorted_rows(root, sort, &n, &rc);
	if (rows == NULL)
		return rc;
	for (size_t i = 0; i < n && rc == 0; i++) {
		fprintf(f, "%s ", prefix);
		rc = ctl_view_line(f, rows[i].json, bytes);
	}
	free(rows);
	return rc;
}

/* ---- one process in full ---- */

static const char *
or_dash(const char *s)
{
	return s != NULL ? s : "-";
}

const char *
ctl_fig_size(char *buf, size_t size, struct ctl_fig fig, bool bytes)
{
	if (!fig.ok)
		snprintf(buf, size, "-");
	else if (bytes)
		snprintf(buf, size, "%" PRIu64 " B", fig.v);
	else
		ctl_fmt_bytes(buf, size, fig.v);
	return buf;
}

const char *
ctl_fig_count(char *buf, size_t size, struct ctl_fig fig)
{
	if (!fig.ok)
		snprintf(buf, size, "-");
	else
		ctl_fmt_u64(buf, size, fig.v);
	return buf;
}

/* An exact power-of-1024 multiple without decimals ("16 KiB"), else as ctl_fmt_bytes(). */
static const char *
bound_text(char *buf, size_t size, uint64_t v, bool bytes)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	unsigned k = 0;
	uint64_t q = v;

	if (bytes) {
		snprintf(buf, size, "%" PRIu64, v);
		return buf;
	}
	while (q >= 1024 && q % 1024 == 0 && k + 1 < sizeof(units) / sizeof(units[0])) {
		q /= 1024;
		k++;
	}
	if (q < 1024)
		snprintf(buf, size, "%" PRIu64 " %s", q, units[k]);
	else
		ctl_fmt_bytes(buf, size, v);
	return buf;
}

#define KV(f, key, ...) do { \
	fprintf((f), "  %-14s ", (key)); \
	fprintf((f), __VA_ARGS__); \
	fputc('\n', (f)); \
} while (0)

static void
view_identity(FILE *f, const json_t *p, bool bytes)
{
	char comm[COMM_CELL_LEN], text[TEXT_LEN], a[CTL_FMT_NUM_LEN], b[CTL_FMT_NUM_LEN];
	const char *state = json_string_value(json_object_get(p, "state"));
	const json_t *agents = json_object_get(p, "agents"), *ag;
	struct ctl_fig pid = ctl_fig_at(p, "pid", NULL);
	struct ctl_fig conns = ctl_fig_at(p, "connections", NULL);
	struct ctl_fig code = ctl_fig_at(p, "exit_code", NULL);
	struct ctl_fig sig = ctl_fig_at(p, "exit_signal", NULL);
	const json_t *ago = json_object_get(p, "exited_seconds_ago");
	const json_t *tracked = json_object_get(p, "tracked_seconds");
	size_t i;

	(void)bytes;
	fprintf(f, "%s, pid %s: %s", or_dash(text_cell(comm, sizeof(comm),
	    json_string_value(json_object_get(p, "comm")))), ctl_fig_count(a, sizeof(a), pid),
	    state != NULL ? ctl_fmt_text(text, sizeof(text), state) : "?");
	if (json_is_number(ago))
		fprintf(f, " %s ago", ctl_fmt_duration(a, sizeof(a), json_number_value(ago)));
	if (json_is_number(tracked))
		fprintf(f, ", tracked for %s", ctl_fmt_duration(b, sizeof(b),
		    json_number_value(tracked)));
	fputc('\n', f);

	KV(f, "exe", "%s", or_dash(text_cell(text, sizeof(text),
	    json_string_value(json_object_get(p, "exe")))));
	KV(f, "uid", "%s", ctl_fig_count(a, sizeof(a), ctl_fig_at(p, "uid", NULL)));
	fprintf(f, "  %-14s ", "agents");
	if (json_array_size(agents) == 0)
		fputs("-", f);
	json_array_foreach(agents, i, ag)
		fprintf(f, "%s%s", i > 0 ? ", " : "",
		    ctl_fmt_text(text, sizeof(text), or_dash(json_string_value(ag))));
	if (conns.ok)
		fprintf(f, " (%" PRIu64 " connection%s open)", conns.v, conns.v == 1 ? "" : "s");
	fputc('\n', f);
	/* How it ended, where the daemon could tell. */
	if (code.ok)
		KV(f, "ended", "exit status %s", ctl_fig_count(a, sizeof(a), code));
	else if (sig.ok)
		KV(f, "ended", "killed by signal %s (%s)", ctl_fig_count(a, sizeof(a), sig),
		    strsignal((int)sig.v));
	KV(f, "threads", "%s", ctl_fig_count(a, sizeof(a), ctl_fig_at(p, "threads", NULL)));
}

static void
view_heap(FILE *f, const json_t *p, bool bytes)
{
	const json_t *h = json_object_get(p, "heap");
	char a[CTL_FMT_NUM_LEN + 2], b[CTL_FMT_NUM_LEN + 2];

	fputs("\nHeap\n", f);
	if (!json_is_object(h)) {
		fputs("  not reported yet\n", f);
		return;
	}
	KV(f, "live", "%s in %s blocks",
	    ctl_fig_size(a, sizeof(a), ctl_fig_at(h, "live_bytes", NULL), bytes),
	    ctl_fig_count(b, sizeof(b), ctl_fig_at(h, "live_blocks", NULL)));
	KV(f, "peak", "%s", ctl_fig_size(a, sizeof(a), ctl_fig_at(h, "peak_bytes", NULL), bytes));
	KV(f, "allocations", "%s, %s in all",
	    ctl_fig_count(a, sizeof(a), ctl_fig_at(h, "allocations", NULL)),
	    ctl_fig_size(b, sizeof(b), ctl_fig_at(h, "allocated_bytes", NULL), bytes));
	KV(f, "frees", "%s", ctl_fig_count(a, sizeof(a), ctl_fig_at(h, "frees", NULL)));
	KV(f, "failed", "%s", ctl_fig_count(a, sizeof(a), ctl_fig_at(h, "failed_allocations", NULL)));
	KV(f, "mmap live", "%s (anonymous mappings the program made itself; not heap)",
	    ctl_fig_size(a, sizeof(a), ctl_fig_at(p, "mmap_live_bytes", NULL), bytes));
}

static void
view_stack(FILE *f, const json_t *p, bool bytes)
{
	const json_t *s = json_object_get(p, "stack");
	struct ctl_fig peak, main_peak, limit;
	char a[CTL_FMT_NUM_LEN + 2], b[CTL_FMT_NUM_LEN + 2], pct[CTL_FMT_NUM_LEN];

	fputs("\nStack\n", f);
	if (!json_is_object(s)) {
		fputs("  not reported yet\n", f);
		return;
	}
	peak = ctl_fig_at(s, "peak_bytes", NULL);
	main_peak = ctl_fig_at(s, "main_peak_bytes", NULL);
	limit = limit_of(ctl_fig_at(s, "limit_bytes", NULL));
	if (limit.ok && peak.ok)
		KV(f, "deepest", "%s of %s (%s), the deepest of any thread",
		    ctl_fig_size(a, sizeof(a), peak, bytes), ctl_fig_size(b, sizeof(b), limit, bytes),
		    ctl_fmt_pct(pct, sizeof(pct), peak.v, limit.v));
	else
		KV(f, "deepest", "%s, the deepest of any thread", ctl_fig_size(a, sizeof(a), peak, bytes));
	if (limit.ok && main_peak.ok)
		KV(f, "main thread", "%s (%s of the limit)",
		    ctl_fig_size(a, sizeof(a), main_peak, bytes),
		    ctl_fmt_pct(pct, sizeof(pct), main_peak.v, limit.v));
	else
		KV(f, "main thread", "%s", ctl_fig_size(a, sizeof(a), main_peak, bytes));
	KV(f, "limit", "%s", limit.ok ? ctl_fig_size(a, sizeof(a), limit, bytes) :
	    "none known (RLIMIT_STACK unlimited)");
	fputs("  (the limit is the main thread's RLIMIT_STACK; the agent reports the deepest\n"
	    "  thread and the main thread, not each thread's peak)\n", f);
}

static void
view_procfs(FILE *f, const json_t *p, bool bytes)
{
	const json_t *pr = json_object_get(p, "proc");
	char a[CTL_FMT_NUM_LEN + 2], b[CTL_FMT_NUM_LEN + 2];

	fprintf(f, "\nProcess (/proc/%s/status)\n",
	    ctl_fig_count(a, sizeof(a), ctl_fig_at(p, "pid", NULL)));
	if (!json_is_object(pr)) {
		fputs("  not read yet\n", f);
		return;
	}
	KV(f, "resident", "%s, peak %s",
	    ctl_fig_size(a, sizeof(a), ctl_fig_at(pr, "resident_bytes", NULL), bytes),
	    ctl_fig_size(b, sizeof(b), ctl_fig_at(pr, "resident_peak_bytes", NULL), bytes));
	KV(f, "stack mapped", "%s", ctl_fig_size(a, sizeof(a),
	    ctl_fig_at(pr, "stack_mapped_bytes", NULL), bytes));
	KV(f, "data", "%s", ctl_fig_size(a, sizeof(a), ctl_fig_at(pr, "data_bytes", NULL), bytes));
	KV(f, "threads", "%s", ctl_fig_count(a, sizeof(a), ctl_fig_at(pr, "threads", NULL)));
}

/* One row of the gc table: "  collections  g0  g1  g2". */
static void
gc_row(FILE *f, const json_t *gc, const char *key, const char *label)
{
	const json_t *arr = json_object_get(gc, key);
	char a[CTL_FMT_NUM_LEN];

	fprintf(f, "    %-14s", label);
	for (size_t g = 0; g < 3; g++) {
		const json_t *v = json_array_get(arr, g);
		struct ctl_fig fig = { 0, false };

		if (json_is_integer(v) && json_integer_value(v) >= 0)
			fig = (struct ctl_fig){ (uint64_t)json_integer_value(v), true };
		fprintf(f, " %10s", ctl_fig_count(a, sizeof(a), fig));
	}
	fputc('\n', f);
}

static void
view_python(FILE *f, const json_t *p)
{
	const json_t *py = json_object_get(p, "python"), *gc;
	struct ctl_fig depth, limit;
	char a[CTL_FMT_NUM_LEN], b[CTL_FMT_NUM_LEN], pct[CTL_FMT_NUM_LEN];

	if (!json_is_object(py))
		return;
	fputs("\nPython\n", f);
	KV(f, "blocks", "%s (sys.getallocatedblocks())",
	    ctl_fig_count(a, sizeof(a), ctl_fig_at(py, "allocated_blocks", NULL)));
	depth = ctl_fig_at(py, "stack_depth_peak", NULL);
	limit = ctl_fig_at(py, "recursion_limit", NULL);
	if (depth.ok && limit.ok && limit.v > 0)
		KV(f, "stack depth", "%s frames at most, of a recursion limit of %s (%s)",
		    ctl_fig_count(a, sizeof(a), depth), ctl_fig_count(b, sizeof(b), limit),
		    ctl_fmt_pct(pct, sizeof(pct), depth.v, limit.v));
	else
		KV(f, "stack depth", "%s frames at most, recursion limit %s",
		    ctl_fig_count(a, sizeof(a), depth), ctl_fig_count(b, sizeof(b), limit));
	gc = json_object_get(py, "gc");
	if (!json_is_object(gc))
		return;
	fprintf(f, "  gc %13s %10s %10s %10s\n", "", "gen 0", "gen 1", "gen 2");
	gc_row(f, gc, "collections", "collections");
	gc_row(f, gc, "collected", "collected");
	gc_row(f, gc, "uncollectable", "uncollectable");
	gc_row(f, gc, "count", "pending now");
}

static void
view_gauges(FILE *f, const json_t *p)
{
	json_t *g = json_object_get(p, "gauges"), *v;
	struct ctl_fig dropped = ctl_fig_at(p, "gauges_dropped", NULL);
	char name[TEXT_LEN];
	const char *key;
	size_t width = 0;

	if (json_object_size(g) == 0 && !(dropped.ok && dropped.v > 0))
		return;
	fputs("\nGauges (set by the program)\n", f);
	json_object_foreach(g, key, v) {
		size_t w = ctl_fmt_width(ctl_fmt_text(name, sizeof(name), key));

		if (w > width)
			width = w;
	}
	json_object_foreach(g, key, v) {
		ctl_fmt_text(name, sizeof(name), key);
		fprintf(f, "  %s%*s  ", name, (int)(width - ctl_fmt_width(name)), "");
		if (json_is_number(v))
			fprintf(f, "%.15g\n", json_number_value(v));
		else
			fputs("NaN or infinite\n", f);
	}
	if (dropped.ok && dropped.v > 0)
		fprintf(f, "  (%" PRIu64 " updates dropped at memprobed's max_gauges)\n", dropped.v);
}

static void
view_histogram(FILE *f, const json_t *p, bool bytes)
{
	const json_t *h = json_object_get(p, "histogram");
	const json_t *buckets = json_object_get(h, "buckets"), *bk;
	char label[64][32], bound[CTL_FMT_NUM_LEN], a[CTL_FMT_NUM_LEN + 2];
	char pct[CTL_FMT_NUM_LEN], bar[HIST_BAR + 1];
	uint64_t count[64], total = 0, max = 0;
	size_t i, n = 0, lw = 0, cw = 1;

	fputs("\nAllocation sizes", f);
	if (!json_is_array(buckets) || json_array_size(buckets) == 0) {
		fputs("\n  not reported yet\n", f);
		return;
	}
	json_array_foreach(buckets, i, bk) {
		struct ctl_fig le = ctl_fig_at(bk, "le", NULL);
		struct ctl_fig c = ctl_fig_at(bk, "count", NULL);

		if (n == sizeof(count) / sizeof(count[0]))
			break;
		if (le.ok)
			snprintf(label[n], sizeof(label[n]), "<= %s", bound_text(bound, sizeof(bound),
			    le.v, bytes));
		else if (n > 0)
			/* +Inf: above the previous bound. */
			snprintf(label[n], sizeof(label[n]), "> %s", label[n - 1] + 3);
		else
			snprintf(label[n], sizeof(label[n]), "any");
		count[n] = c.ok ? c.v : 0;
		total += count[n];
		if (count[n] > max)
			max = count[n];
		if (strlen(label[n]) > lw)
			lw = strlen(label[n]);
		if (strlen(ctl_fmt_u64(a, sizeof(a), count[n])) > cw)
			cw = strlen(a);
		n++;
	}
	fprintf(f, ": %" PRIu64 " allocation%s, %s in all\n", total, total == 1 ? "" : "s",
	    ctl_fig_size(a, sizeof(a), ctl_fig_at(h, "sum", NULL), bytes));
	for (i = 0; i < n; i++) {
		ctl_fmt_pct(pct, sizeof(pct), count[i], total);
		ctl_fmt_bar(bar, sizeof(bar), count[i], max, HIST_BAR);
		fprintf(f, "  %*s  %*" PRIu64, (int)lw, label[i], (int)cw, count[i]);
		if (count[i] > 0)
			fprintf(f, "  %6s  %s", pct, bar);
		fputc('\n', f);
	}
}

int
ctl_view_process(FILE *f, const json_t *proc, bool bytes)
{
	view_identity(f, proc, bytes);
	view_heap(f, proc, bytes);
	view_stack(f, proc, bytes);
	view_procfs(f, proc, bytes);
	view_python(f, proc);
	view_gauges(f, proc);
	view_histogram(f, proc, bytes);
	return ferror(f) ? -EIO : 0;
}

/* ---- one line ---- */

int
ctl_view_line(FILE *f, const json_t *proc, bool bytes)
{
	struct ps_row r;
	char comm[COMM_CELL_LEN], state[32], a[CTL_FMT_NUM_LEN + 2], b[CTL_FMT_NUM_LEN + 2];
	char pct[CTL_FMT_NUM_LEN];

	row_of(&r, proc);
	fprintf(f, "%s %s %s", ctl_fig_count(a, sizeof(a), r.pid),
	    or_dash(text_cell(comm, sizeof(comm), r.comm)),
	    or_dash(text_cell(state, sizeof(state), r.state)));
	fprintf(f, " heap %s", ctl_fig_size(a, sizeof(a), r.heap, bytes));
	fprintf(f, " peak %s", ctl_fig_size(a, sizeof(a), r.peak, bytes));
	fprintf(f, " blocks %s", ctl_fig_count(a, sizeof(a), r.blocks));
	fprintf(f, " stack %s", ctl_fig_size(a, sizeof(a), r.stack, bytes));
	if (r.stack.ok && r.limit.ok)
		fprintf(f, " of %s (%s)", ctl_fig_size(b, sizeof(b), r.limit, bytes),
		    ctl_fmt_pct(pct, sizeof(pct), r.stack.v, r.limit.v));
	fprintf(f, " rss %s", ctl_fig_size(a, sizeof(a), r.rss, bytes));
	fprintf(f, " threads %s\n", ctl_fig_count(a, sizeof(a), r.threads));
	return ferror(f) ? -EIO : 0;
}
