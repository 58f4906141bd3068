/* ctl_ps.c: `memprobectl ps`, one line per tracked process. */
#include "ctl_cmd.h"
#include "ctl_fmt.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define COMM_CELL_LEN 256   /* comm is at most 64 bytes; room for '?' expansion */

/* A figure the daemon may leave out: printed as "-" and sorted last. */
struct figure {
	uint64_t v;
	bool ok;
};

/* One process as the table needs it; the strings point into the JSON. */
struct ps_row {
	struct figure pid, heap, peak, blocks, stack, threads;
	const char *comm;
	const char *state;
};

/*
 * The figure at obj[key] (or obj[key][sub] when SUB is not NULL). Missing,
 * negative or non-numeric values are left out rather than guessed at.
 */
static struct figure
figure_at(const json_t *obj, const char *key, const char *sub)
{
	struct figure f = { 0, false };
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

static int
cmp_figure_desc(struct figure a, struct figure b)
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

static int
cmp_heap(const void *pa, const void *pb)
{
	const struct ps_row *a = pa, *b = pb;
	int c = cmp_figure_desc(a->heap, b->heap);

	return c ? c : cmp_pid(pa, pb);
}

static int
cmp_peak(const void *pa, const void *pb)
{
	const struct ps_row *a = pa, *b = pb;
	int c = cmp_figure_desc(a->peak, b->peak);

	return c ? c : cmp_pid(pa, pb);
}

static int
cmp_stack(const void *pa, const void *pb)
{
	const struct ps_row *a = pa, *b = pb;
	int c = cmp_figure_desc(a->stack, b->stack);

	return c ? c : cmp_pid(pa, pb);
}

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

static const struct {
	const char *key;
	int (*cmp)(const void *, const void *);
} sort_keys[] = {
	{ "heap",  cmp_heap },
	{ "peak",  cmp_peak },
	{ "stack", cmp_stack },
	{ "pid",   cmp_pid },
	{ "comm",  cmp_comm },
};

static const char *
size_cell(char *buf, size_t size, struct figure f, bool bytes)
{
	if (!f.ok)
		return NULL;
	return bytes ? ctl_fmt_u64(buf, size, f.v) : ctl_fmt_bytes(buf, size, f.v);
}

static const char *
count_cell(char *buf, size_t size, struct figure f)
{
	return f.ok ? ctl_fmt_u64(buf, size, f.v) : NULL;
}

static const char *
text_cell(char *buf, size_t size, const char *s)
{
	return s != NULL && *s != '\0' ? ctl_fmt_text(buf, size, s) : NULL;
}

/* Builds and prints the table of ROWS. Returns an exit code. */
static int
print_table(const struct ps_row *rows, size_t n, bool bytes)
{
	static const char *const headers[] = {
		"PID", "COMM", "STATE", "HEAP", "PEAK", "BLOCKS", "STACK", "THREADS",
	};
	static const enum ctl_align align[] = {
		CTL_ALIGN_RIGHT, CTL_ALIGN_LEFT, CTL_ALIGN_LEFT, CTL_ALIGN_RIGHT,
		CTL_ALIGN_RIGHT, CTL_ALIGN_RIGHT, CTL_ALIGN_RIGHT, CTL_ALIGN_RIGHT,
	};
	char pid[CTL_FMT_NUM_LEN], comm[COMM_CELL_LEN], state[32];
	char heap[CTL_FMT_NUM_LEN], peak[CTL_FMT_NUM_LEN], blocks[CTL_FMT_NUM_LEN];
	char stack[CTL_FMT_NUM_LEN], threads[CTL_FMT_NUM_LEN];
	struct ctl_table *t;
	size_t i;
	int rc;

	t = ctl_table_new(8, headers, align);
	if (t == NULL)
		goto nomem;
	for (i = 0; i < n; i++) {
		const struct ps_row *r = &rows[i];
		const char *cells[8] = {
			count_cell(pid, sizeof(pid), r->pid),
			text_cell(comm, sizeof(comm), r->comm),
			text_cell(state, sizeof(state), r->state),
			size_cell(heap, sizeof(heap), r->heap, bytes),
			size_cell(peak, sizeof(peak), r->peak, bytes),
			count_cell(blocks, sizeof(blocks), r->blocks),
			size_cell(stack, sizeof(stack), r->stack, bytes),
			count_cell(threads, sizeof(threads), r->threads),
		};

		if (ctl_table_add(t, cells) < 0)
			goto nomem;
	}
	rc = ctl_table_print(t, stdout);
	ctl_table_free(t);
	if (rc == -ENOMEM)
		goto nomem_freed;
	/* A write error is reported once, by main, when it flushes stdout. */
	return CTL_EXIT_OK;
nomem:
	ctl_table_free(t);
nomem_freed:
	ctl_errx("out of memory");
	return CTL_EXIT_INTERNAL;
}

int
ctl_cmd_ps(int argc, char **argv, struct ctl_opts *o)
{
	int (*cmp)(const void *, const void *) = cmp_heap;
	const char *sort = NULL;
	const json_t *procs, *p;
	struct ps_row *rows = NULL;
	json_t *root = NULL;
	size_t i, n = 0;
	int a, r, rc;

	for (a = 1; a < argc; a++) {
		if (strcmp(argv[a], "--") == 0) {
			a++;
			break;
		}
		r = ctl_opt_value(argc, argv, &a, "--sort", &sort);
		if (r < 0)
			return CTL_EXIT_USAGE;
		if (r > 0)
			continue;
		r = ctl_opt_global(o, argc, argv, &a, &rc);
		if (r < 0)
			return rc;
		if (r > 0)
			continue;
		return ctl_bad_arg("ps", argv[a]);
	}
	if (a < argc)
		return ctl_bad_arg("ps", argv[a]);
	if (sort != NULL) {
		for (i = 0; i < sizeof(sort_keys) / sizeof(sort_keys[0]); i++)
			if (strcmp(sort_keys[i].key, sort) == 0)
				break;
		if (i == sizeof(sort_keys) / sizeof(sort_keys[0])) {
			ctl_errx("ps: unknown sort key '%s' (heap, peak, stack, pid or comm)", sort);
			return CTL_EXIT_USAGE;
		}
		cmp = sort_keys[i].cmp;
	}

	rc = ctl_api_get(o, "/api/v1/processes", &root);
	if (rc != CTL_EXIT_OK)
		return rc;
	/* --json shows the API as it is: unsorted, unconverted. */
	if (o->json) {
		rc = ctl_print_json(root);
		goto out;
	}
	procs = json_object_get(root, "processes");
	if (!json_is_array(procs)) {
		ctl_errx("bad response from memprobed at %s: no \"processes\" array", o->url);
		rc = CTL_EXIT_UNREACHABLE;
		goto out;
	}

	rows = calloc(json_array_size(procs) + 1, sizeof(*rows));
	if (rows == NULL) {
		ctl_errx("out of memory");
		rc = CTL_EXIT_INTERNAL;
		goto out;
	}
	json_array_foreach(procs, i, p) {
		struct ps_row *row = &rows[n];

		if (!json_is_object(p))
			continue;
		row->pid = figure_at(p, "pid", NULL);
		row->comm = json_string_value(json_object_get(p, "comm"));
		row->state = json_string_value(json_object_get(p, "state"));
		row->heap = figure_at(p, "heap", "live_bytes");
		row->peak = figure_at(p, "heap", "peak_bytes");
		row->blocks = figure_at(p, "heap", "live_blocks");
		row->stack = figure_at(p, "stack", "peak_bytes");
		row->threads = figure_at(p, "threads", NULL);
		n++;
	}
	qsort(rows, n, sizeof(*rows), cmp);
	rc = print_table(rows, n, o->bytes);
out:
	free(rows);
	json_decref(root);
	return rc;
}
