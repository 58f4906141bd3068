/* ctl_sites.c: memprobectl's view of a process's sampled call sites: the summary and the table of `memprobectl top`. */
#include "ctl_sites.h"
#include "ctl_fmt.h"
#include "ctl_view.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define TEXT_LEN  1024          /* a function or a path: cut beyond this */
#define COMM_LEN  256
#define GAP       2             /* columns between two of the table's */
#define FUNC_MIN  16            /* columns FUNCTION keeps however narrow the width */
#define WHERE_MIN 16            /* and FILE:LINE, unless its cells are narrower */
#define PY_TAG    " [py]"       /* after a Python function's name */

/* The table's columns. */
enum { COL_FUNC, COL_WHERE, COL_SIZE, COL_COUNT, COL_SHARE, NCOLS };

/* One site as the table prints it: a cell not known (has false) prints as "-". */
struct site_row {
	char text[2][TEXT_LEN];                 /* COL_FUNC, COL_WHERE */
	char num[3][CTL_FMT_NUM_LEN];           /* COL_SIZE, COL_COUNT, COL_SHARE */
	bool has[NCOLS];
	bool py;                                /* a Python function: COL_FUNC ends in PY_TAG */
};

/* Row R's cell in column COL, or NULL when not known. */
static const char *
cell(const struct site_row *r, int col)
{
	if (!r->has[col])
		return NULL;
	return col <= COL_WHERE ? r->text[col] : r->num[col - COL_SIZE];
}

/* Where row R's cell in column COL is written, and its size in *SIZE. */
static char *
cell_buf(struct site_row *r, int col, size_t *size)
{
	*size = col <= COL_WHERE ? sizeof(r->text[0]) : sizeof(r->num[0]);
	return col <= COL_WHERE ? r->text[col] : r->num[col - COL_SIZE];
}

/* The string at obj[key] when it is a non-empty one, else NULL. */
static const char *
string_at(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s != NULL && *s != '\0' ? s : NULL;
}

/* Whether the daemon named SITE by a Python function (its "python"). */
static bool
site_is_py(const json_t *site)
{
	return json_is_object(json_object_get(site, "python"));
}

/*
 * The site's name into BUF: its function (a Python function's followed
 * by PY_TAG), or for one the daemon could not symbolize its leaf frame's
 * address and the file name of the mapping that holds it.
 */
static void
site_name(char *buf, size_t size, const json_t *site)
{
	const json_t *leaf = json_array_get(json_object_get(site, "frames"), 0);
	const char *fn = string_at(site, "function");
	const char *addr = string_at(leaf, "address"), *map = string_at(leaf, "mapping");
	char a[64], m[TEXT_LEN / 2], *slash;

	if (fn != NULL) {
		ctl_fmt_text(buf, size - strlen(PY_TAG), fn);
		if (site_is_py(site))
			strcat(buf, PY_TAG);
		return;
	}
	ctl_fmt_text(a, sizeof(a), addr != NULL ? addr : "?");
	if (map == NULL) {
		snprintf(buf, size, "%s", a);
		return;
	}
	ctl_fmt_text(m, sizeof(m), map);
	slash = strrchr(m, '/');
	snprintf(buf, size, "%s (%s)", a, slash != NULL && slash[1] != '\0' ? slash + 1 : m);
}

/* The site's "file:line" (or the file alone when the line is not known)
 * into BUF. Returns false when the file is not known. */
static bool
site_where(char *buf, size_t size, const json_t *site)
{
	const char *file = string_at(site, "file");
	struct ctl_fig line = ctl_fig_at(site, "line", NULL);
	char f[TEXT_LEN - CTL_FMT_NUM_LEN - 2];     /* room for ":LINE" */

	if (file == NULL)
		return false;
	ctl_fmt_text(f, sizeof(f), file);
	if (line.ok && line.v > 0)
		snprintf(buf, size, "%s:%" PRIu64, f, line.v);
	else
		snprintf(buf, size, "%s", f);
	return true;
}

/* The daemon's share (0 to 1) as a percentage into BUF. Returns false
 * when it is missing, negative or not a number. */
static bool
share_text(char *buf, size_t size, const json_t *site)
{
	const json_t *j = json_object_get(site, "share");
	double d = json_number_value(j);

	if (!json_is_number(j) || !(d >= 0))
		return false;
	/* In millionths; a share far above the whole is clamped. */
	if (d > 1e6)
		d = 1e6;
	ctl_fmt_pct(buf, size, (uint64_t)(d * 1e6 + 0.5), 1000000);
	return true;
}

static void
row_of(struct site_row *r, const json_t *site, const struct ctl_sites_view *v)
{
	struct ctl_fig size = ctl_fig_at(site, v->alloc ? "alloc_bytes" : "inuse_bytes", NULL);
	struct ctl_fig count = ctl_fig_at(site, v->alloc ? "alloc_objects" : "inuse_objects", NULL);
	char *buf;
	size_t len;

	buf = cell_buf(r, COL_FUNC, &len);
	site_name(buf, len, site);
	r->has[COL_FUNC] = true;
	r->py = site_is_py(site) && string_at(site, "function") != NULL;
	buf = cell_buf(r, COL_WHERE, &len);
	r->has[COL_WHERE] = site_where(buf, len, site);
	buf = cell_buf(r, COL_SIZE, &len);
	if ((r->has[COL_SIZE] = size.ok))
		v->bytes ? ctl_fmt_u64(buf, len, size.v) : ctl_fmt_bytes(buf, len, size.v);
	buf = cell_buf(r, COL_COUNT, &len);
	if ((r->has[COL_COUNT] = count.ok))
		ctl_fmt_u64(buf, len, count.v);
	buf = cell_buf(r, COL_SHARE, &len);
	r->has[COL_SHARE] = share_text(buf, len, site);
}

/* The summary above the table. */
static void
print_summary(FILE *f, const json_t *root, const struct ctl_sites_view *v)
{
	const json_t *total = json_object_get(root, "total");
	const char *comm = string_at(root, "comm");
	struct ctl_fig folded = ctl_fig_at(root, "folded", NULL);
	struct ctl_fig failed = ctl_fig_at(root, "unwind_failed", NULL);
	struct ctl_fig py = ctl_fig_at(root, "py_samples", NULL);
	struct ctl_fig pydrop = ctl_fig_at(root, "pyfuncs_dropped", NULL);
	char name[COMM_LEN], a[CTL_FMT_NUM_LEN + 2], b[CTL_FMT_NUM_LEN + 2];
	char c[CTL_FMT_NUM_LEN + 2], d[CTL_FMT_NUM_LEN + 2], in_py[CTL_FMT_NUM_LEN + 32] = "";

	if (py.ok && py.v > 0)
		snprintf(in_py, sizeof(in_py), " (%s in Python code)", ctl_fig_count(d, sizeof(d), py));
	fprintf(f, "%s (pid %s, %s): %s samples%s, one per %s allocated on average\n",
	    comm != NULL ? ctl_fmt_text(name, sizeof(name), comm) : "?",
	    ctl_fig_count(a, sizeof(a), ctl_fig_at(root, "pid", NULL)),
	    json_is_true(json_object_get(root, "exited")) ? "exited" : "live",
	    ctl_fig_count(b, sizeof(b), ctl_fig_at(root, "samples", NULL)), in_py,
	    ctl_fig_size(c, sizeof(c), ctl_fig_at(root, "rate", NULL), v->bytes));
	fprintf(f, "estimated: %s in use in %s objects, %s allocated in %s objects\n",
	    ctl_fig_size(a, sizeof(a), ctl_fig_at(total, "inuse_bytes", NULL), v->bytes),
	    ctl_fig_count(b, sizeof(b), ctl_fig_at(total, "inuse_objects", NULL)),
	    ctl_fig_size(c, sizeof(c), ctl_fig_at(total, "alloc_bytes", NULL), v->bytes),
	    ctl_fig_count(d, sizeof(d), ctl_fig_at(total, "alloc_objects", NULL)));
	if (folded.ok && folded.v > 0)
		fprintf(f, "%" PRIu64 " samples folded into [other]: the agent's table of stacks "
		    "is full\n", folded.v);
	if (failed.ok && failed.v > 0)
		fprintf(f, "%" PRIu64 " samples whose stack could not be unwound\n", failed.v);
	if (pydrop.ok && pydrop.v > 0)
		fprintf(f, "%" PRIu64 " Python functions beyond the agent's table: shown as "
		    "[python]\n", pydrop.v);
	fputc('\n', f);
}

/* Columns of the widest cell of column COL, the header's included. */
static size_t
col_width(const struct site_row *rows, size_t n, int col, const char *header)
{
	size_t w = ctl_fmt_width(header);

	for (size_t i = 0; i < n; i++) {
		const char *c = cell(&rows[i], col);
		size_t cw = ctl_fmt_width(c != NULL ? c : "-");

		if (cw > w)
			w = cw;
	}
	return w;
}

/*
 * Cuts the FUNCTION and FILE:LINE cells of ROWS so that a line fits in
 * WIDTH columns (0: no limit): FILE:LINE gets up to two fifths of what the
 * figures leave, FUNCTION the rest, each at least its minimum.
 */
static void
fit_rows(struct site_row *rows, size_t n, size_t width, const char *const *headers)
{
	size_t fixed = (NCOLS - 1) * GAP, avail, wf, ww, bf, bw;
	char tmp[TEXT_LEN];

	if (width == 0)
		return;
	for (int col = COL_SIZE; col < NCOLS; col++)
		fixed += col_width(rows, n, col, headers[col]);
	avail = width > fixed ? width - fixed : 0;
	wf = col_width(rows, n, COL_FUNC, headers[COL_FUNC]);
	ww = col_width(rows, n, COL_WHERE, headers[COL_WHERE]);
	if (wf + ww <= avail)
		return;
	bw = avail * 2 / 5 > WHERE_MIN ? avail * 2 / 5 : WHERE_MIN;
	if (bw > ww)
		bw = ww;
	bf = avail > bw + FUNC_MIN ? avail - bw : FUNC_MIN;
	if (bf > wf)
		bf = wf;
	for (size_t i = 0; i < n; i++) {
		char *func = rows[i].text[COL_FUNC], *where = rows[i].text[COL_WHERE];
		size_t tag = rows[i].py ? strlen(PY_TAG) : 0;

		/* A Python function keeps its tag: its name is cut before it. */
		snprintf(tmp, sizeof(tmp), "%.*s", (int)(strlen(func) - tag), func);
		ctl_fmt_fit(func, TEXT_LEN - tag, tmp, bf - tag, false);
		if (tag > 0)
			strcat(func, PY_TAG);
		snprintf(tmp, sizeof(tmp), "%s", where);
		ctl_fmt_fit(where, TEXT_LEN, tmp, bw, true);
	}
}

static int
print_table(FILE *f, const struct site_row *rows, size_t n, const char *const *headers)
{
	static const enum ctl_align align[NCOLS] = {
		CTL_ALIGN_LEFT, CTL_ALIGN_LEFT, CTL_ALIGN_RIGHT, CTL_ALIGN_RIGHT, CTL_ALIGN_RIGHT,
	};
	struct ctl_table *t = ctl_table_new(NCOLS, headers, align);
	int rc = -ENOMEM;

	if (t == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *cells[NCOLS];

		for (int col = 0; col < NCOLS; col++)
			cells[col] = cell(&rows[i], col);

		if (ctl_table_add(t, cells) < 0)
			goto out;
	}
	rc = ctl_table_print(t, f);
out:
	ctl_table_free(t);
	return rc;
}

int
ctl_view_sites(FILE *f, const json_t *root, const struct ctl_sites_view *v)
{
	const char *const headers[NCOLS] = {
		"FUNCTION", "FILE:LINE", v->alloc ? "ALLOCATED" : "IN USE", "OBJECTS", "SHARE",
	};
	const json_t *sites = json_object_get(root, "sites"), *site;
	struct site_row *rows;
	size_t i, n = 0, max;
	int rc;

	if (!json_is_array(sites))
		return -EPROTO;
	print_summary(f, root, v);
	max = json_array_size(sites);
	if (v->limit > 0 && v->limit < max)
		max = v->limit;
	if (max == 0) {
		fputs("no call sites sampled yet\n", f);
		return ferror(f) ? -EIO : 0;
	}
	rows = calloc(max, sizeof(*rows));
	if (rows == NULL)
		return -ENOMEM;
	json_array_foreach(sites, i, site) {
		if (n == max)
			break;
		if (json_is_object(site))
			row_of(&rows[n++], site, v);
	}
	fit_rows(rows, n, v->width, headers);
	rc = print_table(f, rows, n, headers);
	free(rows);
	return rc;
}
