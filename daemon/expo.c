/* expo.c: the Prometheus exposition of a process-table snapshot and the daemon's own figures. */
#include "expo.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bycmd.h"
#include "metrics.h"

/* One scrape being written; the format decides how families open. */
struct expo_w {
	struct buf *b;
	enum expo_format fmt;
	int by_command;         /* labels: comm only */
	/* Each row's label text (`{pid="..",comm=".."` or `{comm=".."`),
	 * escaped once per scrape into one block: tens of families repeat it
	 * for thousands of rows. Row i's is lab[laboff[i]..laboff[i + 1]). */
	size_t nrows;
	const char *lab;
	const size_t *laboff;
};

/* The rows per-process families are written from: the snapshot's
 * processes, or one summed row per command (nlive, nexited set then). */
struct expo_rows {
	size_t n;
	const struct ptab_view *v;
	const unsigned *nlive, *nexited;        /* by_command only */
};

static char *expo_put(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

char *expo_escape(char *p, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"') {
			*p++ = '\\';
			*p++ = *s;
		} else if (*s == '\n') {
			*p++ = '\\';
			*p++ = 'n';
		} else {
			*p++ = *s;
		}
	}
	return p;
}

/* A label value with \\, " and newline escaped, appended to b. */
static void expo_label_value(struct buf *b, const char *s)
{
	char *p = buf_space(b, 2 * strlen(s));

	if (p != NULL)
		buf_commit(b, expo_escape(p, s));
}

void expo_format_double(double v, char *out)
{
	if (isnan(v)) {
		strcpy(out, "NaN");
		return;
	}
	if (isinf(v)) {
		strcpy(out, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(out, 32, "%.*g", prec, v);
		if (strtod(out, NULL) == v)
			return;
	}
}

/* A histogram bound as client libraries write `le`: Go's shortest float
 * form with ".0" on whole numbers ("16.0", "1.048576e+06"). */
static void expo_format_le(uint64_t bound, char *out, size_t size)
{
	char d[24];
	int nd = snprintf(d, sizeof(d), "%" PRIu64, bound);
	int last = nd;
	size_t o = 0;

	if (nd <= 6) {
		if (snprintf(out, size, "%s.0", d) < 0)
			out[0] = '\0';
		return;
	}
	/* d.ddd without trailing zeros, then the exponent; out holds 32. */
	while (last > 1 && d[last - 1] == '0')
		last--;
	out[o++] = d[0];
	if (last > 1) {
		out[o++] = '.';
		memcpy(out + o, d + 1, (size_t)(last - 1));
		o += (size_t)(last - 1);
	}
	if (snprintf(out + o, size - o, "e+%02d", nd - 1) < 0)
		out[0] = '\0';
}

static int expo_ends_with(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);

	return n > k && memcmp(s + n - k, suffix, k) == 0;
}

/*
 * Opens a family. `name` is the name its samples carry (with _total for a
 * counter). OpenMetrics names the family without _total and gives its
 * unit when the name ends in one; the text format keeps HELP then TYPE.
 */
static void expo_family(struct expo_w *w, enum metric_id id)
{
	const struct metric *m = metric_get(id);
	const char *name = m->name, *type = m->type, *help = m->help;
	size_t n = strlen(name);
	const char *unit = NULL;

	/* HELP text is the catalogue's and holds no backslash, quote or newline. */
	if (w->fmt != EXPO_OPENMETRICS) {
		buf_printf(w->b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
		return;
	}
	if (strcmp(type, "counter") == 0 && expo_ends_with(name, n, "_total"))
		n -= 6;
	if (expo_ends_with(name, n, "_bytes"))
		unit = "bytes";
	else if (expo_ends_with(name, n, "_seconds"))
		unit = "seconds";
	buf_printf(w->b, "# TYPE %.*s %s\n", (int)n, name, type);
	if (unit != NULL)
		buf_printf(w->b, "# UNIT %.*s %s\n", (int)n, name, unit);
	buf_printf(w->b, "# HELP %.*s %s\n", (int)n, name, help);
}

/* Escapes every row's label text once into lab; laboff (rows->n + 1
 * entries) gets where each starts. Returns 0 or -ENOMEM. */
static int expo_labels_build(struct expo_w *w, const struct expo_rows *rows, struct buf *lab,
    size_t *laboff)
{
	for (size_t i = 0; i < rows->n; i++) {
		const struct ptab_view *v = &rows->v[i];
		char *p = buf_space(lab, 2 * strlen(v->comm) + 40);

		if (p == NULL)
			return -ENOMEM;
		laboff[i] = lab->len;
		if (w->by_command) {
			p = expo_put(p, "{comm=\"", 7);
		} else {
			p = expo_put(p, "{pid=\"", 6);
			if (v->pid < 0)
				*p++ = '-';
			p = buf_fmt_u64(p, v->pid < 0 ? -(uint64_t)v->pid : (uint64_t)v->pid);
			p = expo_put(p, "\",comm=\"", 8);
		}
		p = expo_escape(p, v->comm);
		*p++ = '"';
		buf_commit(lab, p);
	}
	laboff[rows->n] = lab->len;
	return 0;
}

/* What follows a line's labels: "} ", the value and "\n". */
#define EXPO_END_MAX (BUF_U64_MAX + 3)

/*
 * Starts a line of row i: `name{pid="..",comm=".."` (or `name{comm=".."`)
 * without the closing brace, with room for `extra` more bytes and the end.
 * Returns where they go, or NULL once the buffer has failed.
 */
static char *expo_line(struct expo_w *w, const char *name, size_t nlen, size_t i, size_t extra)
{
	size_t ll = w->laboff[i + 1] - w->laboff[i];
	char *p = buf_space(w->b, nlen + ll + extra + EXPO_END_MAX);

	if (p == NULL)
		return NULL;
	p = expo_put(p, name, nlen);
	return expo_put(p, w->lab + w->laboff[i], ll);
}

/* Ends the line begun by expo_line() at p with `} v\n`. */
static void expo_end(struct expo_w *w, char *p, uint64_t v)
{
	*p++ = '}';
	*p++ = ' ';
	p = buf_fmt_u64(p, v);
	*p++ = '\n';
	buf_commit(w->b, p);
}

static void expo_double_line(struct buf *b, double v)
{
	char num[32];

	expo_format_double(v, num);
	buf_printf(b, "} %s\n", num);
}

/* ---- per-process families ---- */

/* A one-value family whose lines exist only for processes that sent its
 * section; with none, the family is left out. */
static void expo_pfam(struct expo_w *w, const struct expo_rows *rows, enum metric_id id)
{
	const struct metric *m = metric_get(id);
	size_t nlen = strlen(m->name);
	int opened = 0;

	for (size_t i = 0; i < rows->n; i++) {
		const struct ptab_view *v = &rows->v[i];
		char *p;

		if (!metric_has(v, m))
			continue;
		if (!opened) {
			expo_family(w, id);
			opened = 1;
		}
		if ((p = expo_line(w, m->name, nlen, i, 0)) == NULL)
			return;
		expo_end(w, p, metric_value(v, m, 0));
	}
}

/* The one-value families of ids [first, end). */
static void expo_pfams(struct expo_w *w, const struct expo_rows *rows, enum metric_id first,
    enum metric_id end)
{
	for (enum metric_id id = first; id < end; id++)
		expo_pfam(w, rows, id);
}

static void expo_histogram(struct expo_w *w, const struct expo_rows *rows)
{
	static const char bucket[] = "memprobe_heap_allocation_size_bytes_bucket";
	static const char sum[] = "memprobe_heap_allocation_size_bytes_sum";
	static const char count[] = "memprobe_heap_allocation_size_bytes_count";
	char le[PROTO_HIST_BUCKETS][48];
	size_t lelen[PROTO_HIST_BUCKETS];
	int opened = 0;

	/* `,le=".."` of each bucket, the same for every row. */
	for (unsigned k = 0; k < PROTO_HIST_BUCKETS; k++) {
		char num[32];

		if (k < PROTO_HIST_BUCKETS - 1)
			expo_format_le(proto_hist_bounds[k], num, sizeof(num));
		else
			strcpy(num, "+Inf");
		lelen[k] = (size_t)snprintf(le[k], sizeof(le[k]), ",le=\"%s\"", num);
	}
	for (size_t i = 0; i < rows->n; i++) {
		const struct ptab_view *v = &rows->v[i];
		uint64_t cum = 0;
		char *p;

		if (!(v->have & PROTO_S_HIST))
			continue;
		if (!opened) {
			expo_family(w, METRIC_HEAP_ALLOCATION_SIZE);
			opened = 1;
		}
		for (unsigned k = 0; k < PROTO_HIST_BUCKETS; k++) {
			cum += v->s.hist_count[k];
			if ((p = expo_line(w, bucket, sizeof(bucket) - 1, i, lelen[k])) == NULL)
				return;
			expo_end(w, expo_put(p, le[k], lelen[k]), cum);
		}
		if ((p = expo_line(w, sum, sizeof(sum) - 1, i, 0)) == NULL)
			return;
		expo_end(w, p, v->s.hist_sum);
		if ((p = expo_line(w, count, sizeof(count) - 1, i, 0)) == NULL)
			return;
		expo_end(w, p, cum);
	}
}

static void expo_python_gc(struct expo_w *w, const struct expo_rows *rows)
{
	static const char gen[3][16] = {
		",generation=\"0\"", ",generation=\"1\"", ",generation=\"2\"",
	};
	const size_t glen = strlen(gen[0]);

	for (enum metric_id id = METRIC_PYTHON_GC_COLLECTIONS; id <= METRIC_PYTHON_GC_UNCOLLECTABLE;
	    id++) {
		const struct metric *m = metric_get(id);
		size_t nlen = strlen(m->name);
		int opened = 0;

		for (size_t i = 0; i < rows->n; i++) {
			const struct ptab_view *v = &rows->v[i];

			if (!metric_has(v, m))
				continue;
			if (!opened) {
				expo_family(w, id);
				opened = 1;
			}
			for (unsigned g = 0; g < 3; g++) {
				char *p = expo_line(w, m->name, nlen, i, glen);

				if (p == NULL)
					return;
				expo_end(w, expo_put(p, gen[g], glen), metric_value(v, m, g));
			}
		}
	}
}

static void expo_gauges(struct expo_w *w, const struct expo_rows *rows)
{
	const char *name = metric_get(METRIC_PROGRAM_VALUE)->name;
	size_t nlen = strlen(name);
	int opened = 0;

	for (size_t i = 0; i < rows->n; i++) {
		const struct ptab_view *v = &rows->v[i];

		for (size_t k = 0; k < v->ngauges; k++) {
			char *p;

			if (!opened) {
				expo_family(w, METRIC_PROGRAM_VALUE);
				opened = 1;
			}
			if ((p = expo_line(w, name, nlen, i, 0)) == NULL)
				return;
			buf_commit(w->b, p);
			buf_puts(w->b, ",name=\"");
			expo_label_value(w->b, v->gauges[k].name);
			buf_puts(w->b, "\"");
			expo_double_line(w->b, v->gauges[k].value);
		}
	}
}

/* memprobe_heap_site_inuse_bytes{pid,comm,site}, when asked for. */
static void expo_sites(struct expo_w *w, const struct expo_daemon *d)
{
	const char *name = metric_get(METRIC_HEAP_SITE_INUSE_BYTES)->name;

	if (d->nsites == 0)
		return;
	expo_family(w, METRIC_HEAP_SITE_INUSE_BYTES);
	for (size_t i = 0; i < d->nsites; i++) {
		const struct expo_site *s = &d->sites[i];

		buf_printf(w->b, "%s{pid=\"%d\",comm=\"", name, s->pid);
		expo_label_value(w->b, s->comm);
		buf_puts(w->b, "\",site=\"");
		expo_label_value(w->b, s->site);
		buf_printf(w->b, "\"} %" PRId64 "\n", s->inuse_bytes);
	}
}

/* "c", "python" or "c,python". */
static const char *expo_agents(unsigned agents)
{
	int c = (agents & PTAB_AGENT_BIT(PROTO_AGENT_C)) != 0;
	int py = (agents & PTAB_AGENT_BIT(PROTO_AGENT_PYTHON)) != 0;

	return c && py ? "c,python" : c ? "c" : py ? "python" : "";
}

/* A family of one integer a row, count[i] for row i. */
static void expo_row_counts(struct expo_w *w, enum metric_id id, size_t n, const unsigned *count)
{
	const char *name = metric_get(id)->name;
	size_t nlen = strlen(name);
	char *p;

	expo_family(w, id);
	for (size_t i = 0; i < n; i++) {
		if ((p = expo_line(w, name, nlen, i, 0)) == NULL)
			return;
		expo_end(w, p, count[i]);
	}
}

/* series = command: how many processes of each command are kept. */
static void expo_command_counts(struct expo_w *w, const struct expo_rows *rows)
{
	if (rows->n == 0)
		return;
	expo_row_counts(w, METRIC_PROCESSES, rows->n, rows->nlive);
	expo_row_counts(w, METRIC_PROCESSES_EXITED, rows->n, rows->nexited);
}

static void expo_info(struct expo_w *w, const struct ptab_snap *snap)
{
	const char *info = metric_get(METRIC_PROCESS_INFO)->name;
	const char *exited = metric_get(METRIC_PROCESS_EXITED)->name;
	size_t ilen = strlen(info), elen = strlen(exited);
	char *p;

	if (snap->n == 0)
		return;
	expo_family(w, METRIC_PROCESS_INFO);
	for (size_t i = 0; i < snap->n; i++) {
		const struct ptab_view *v = &snap->procs[i];
		const char *agents = expo_agents(v->agents);

		p = expo_line(w, info, ilen, i, 2 * strlen(v->exe) + 32);
		if (p == NULL)
			return;
		p = expo_put(p, ",exe=\"", 6);
		p = expo_escape(p, v->exe);
		p = expo_put(p, "\",agent=\"", 9);
		p = expo_put(p, agents, strlen(agents));
		*p++ = '"';
		expo_end(w, p, 1);
	}
	expo_family(w, METRIC_PROCESS_EXITED);
	for (size_t i = 0; i < snap->n; i++) {
		if ((p = expo_line(w, exited, elen, i, 0)) == NULL)
			return;
		expo_end(w, p, snap->procs[i].exited ? 1 : 0);
	}
}

static void expo_scalar_u64(struct expo_w *w, enum metric_id id, uint64_t v)
{
	expo_family(w, id);
	buf_printf(w->b, "%s %" PRIu64 "\n", metric_get(id)->name, v);
}

static void expo_scalar_double(struct expo_w *w, enum metric_id id, double v)
{
	char num[32];

	expo_format_double(v, num);
	expo_family(w, id);
	buf_printf(w->b, "%s %s\n", metric_get(id)->name, num);
}

/* Agent messages by type and by reason. */
static void expo_messages(struct expo_w *w, const struct ingest_stats *is)
{
	const char *rec = metric_get(METRIC_DAEMON_MESSAGES_RECEIVED)->name;
	const char *rej = metric_get(METRIC_DAEMON_MESSAGES_REJECTED)->name;

	expo_family(w, METRIC_DAEMON_MESSAGES_RECEIVED);
	for (unsigned t = 1; t < INGEST_NTYPES; t++)
		buf_printf(w->b, "%s{type=\"%s\"} %" PRIu64 "\n", rec, ingest_type_name(t),
		    is->received[t]);
	expo_family(w, METRIC_DAEMON_MESSAGES_REJECTED);
	for (unsigned r = 1; r < INGEST_R__COUNT; r++)
		buf_printf(w->b, "%s{reason=\"%s\"} %" PRIu64 "\n", rej, ingest_reason_name(r),
		    is->rejected[r]);
}

/* The daemon's own process, as client libraries' process collector has it. */
static void expo_self(struct expo_w *w, const struct procfs_self *self)
{
	expo_scalar_double(w, METRIC_SELF_CPU_SECONDS, self->cpu_seconds);
	expo_scalar_u64(w, METRIC_SELF_RESIDENT_MEMORY, self->resident_bytes);
	expo_scalar_u64(w, METRIC_SELF_VIRTUAL_MEMORY, self->virtual_bytes);
	expo_scalar_double(w, METRIC_SELF_START_TIME, self->start_time_seconds);
	expo_scalar_u64(w, METRIC_SELF_OPEN_FDS, self->open_fds);
	expo_scalar_u64(w, METRIC_SELF_MAX_FDS, self->max_fds);
}

static void expo_daemon_own(struct expo_w *w, const struct ptab_snap *snap,
    const struct expo_daemon *d)
{
	const struct ingest_stats *is = &d->ingest;

	expo_scalar_u64(w, METRIC_DAEMON_AGENTS_CONNECTED, is->agents_connected);
	expo_scalar_u64(w, METRIC_DAEMON_PROCESSES_TRACKED, snap->n);
	expo_scalar_u64(w, METRIC_DAEMON_PROCESSES_LIVE, snap->live);
	expo_scalar_u64(w, METRIC_DAEMON_CONNECTIONS_ACCEPTED, is->connections_accepted);
	expo_scalar_u64(w, METRIC_DAEMON_CONNECTIONS_REFUSED, is->connections_refused);
	expo_messages(w, is);
	expo_scalar_u64(w, METRIC_DAEMON_PROCESSES_REFUSED, snap->processes_refused);
	expo_scalar_u64(w, METRIC_DAEMON_GAUGES_DROPPED, snap->gauges_dropped);
	expo_scalar_u64(w, METRIC_DAEMON_PROCESSES_LIMIT, snap->limits.max_processes);
	expo_scalar_u64(w, METRIC_DAEMON_CONNECTIONS_LIMIT, d->max_connections);
	expo_scalar_double(w, METRIC_DAEMON_SCRAPE_DURATION, d->scrape_duration_seconds);
	expo_scalar_double(w, METRIC_DAEMON_PROCFS_REFRESH_DURATION, d->procfs_seconds);
	expo_scalar_u64(w, METRIC_DAEMON_PROFILE_BYTES, d->profile_bytes);
	expo_scalar_u64(w, METRIC_DAEMON_PROFILES_KEPT, d->profiles_kept);
	expo_family(w, METRIC_BUILD_INFO);
	buf_printf(w->b, "%s{version=\"", metric_get(METRIC_BUILD_INFO)->name);
	expo_label_value(w->b, MEMPROBE_VERSION);
	buf_puts(w->b, "\"} 1\n");
	if (d->self != NULL)
		expo_self(w, d->self);
}

/* Every family of the rows, in catalogue order. */
static void expo_families(struct expo_w *w, const struct expo_rows *rows,
    const struct ptab_snap *snap, const struct expo_daemon *d)
{
	expo_pfams(w, rows, METRIC_PROC_HEAP_FIRST, METRIC_PROC_HEAP_END);
	expo_histogram(w, rows);
	expo_pfams(w, rows, METRIC_PROC_OTHER_FIRST, METRIC_PROC_OTHER_END);
	expo_pfams(w, rows, METRIC_PROC_PROCFS_FIRST, METRIC_PROC_PROCFS_END);
	expo_python_gc(w, rows);
	expo_gauges(w, rows);
	expo_sites(w, d);
	if (w->by_command)
		expo_command_counts(w, rows);
	else
		expo_info(w, snap);
	expo_daemon_own(w, snap, d);
}

int expo_render(struct buf *b, enum expo_format fmt, const struct ptab_snap *snap,
    const struct expo_daemon *d)
{
	struct expo_w w = { b, fmt, d->by_command, 0, NULL, NULL };
	struct expo_rows rows = { snap->n, snap->procs, NULL, NULL };
	struct bycmd bc = { 0, NULL, NULL, NULL, NULL };
	struct buf lab = BUF_INIT;
	size_t *laboff = NULL;
	int r = -ENOMEM;

	if (w.by_command) {
		if (bycmd_build(snap, &bc) < 0)
			return -ENOMEM;
		rows.n = bc.n;
		rows.v = bc.v;
		rows.nlive = bc.nlive;
		rows.nexited = bc.nexited;
	}
	laboff = malloc((rows.n + 1) * sizeof(*laboff));
	if (laboff == NULL || expo_labels_build(&w, &rows, &lab, laboff) < 0)
		goto out;
	w.nrows = rows.n;
	w.lab = lab.data;
	w.laboff = laboff;
	expo_families(&w, &rows, snap, d);
	if (fmt == EXPO_OPENMETRICS)
		buf_puts(b, "# EOF\n");
	r = buf_failed(b) ? -ENOMEM : 0;
out:
	buf_free(&lab);
	free(laboff);
	bycmd_free(&bc);
	return r;
}
