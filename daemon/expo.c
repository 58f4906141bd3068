/* expo.c: the Prometheus exposition of a process-table snapshot and the daemon's own figures. */
#include "expo.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* A label value with \, " and newline escaped. */
static void expo_label_value(struct buf *b, const char *s)
{
	const char *run = s;

	for (; *s != '\0'; s++) {
		const char *esc = NULL;

		if (*s == '\\')
			esc = "\\\\";
		else if (*s == '"')
			esc = "\\\"";
		else if (*s == '\n')
			esc = "\\n";
		if (esc != NULL) {
			buf_append(b, run, (size_t)(s - run));
			buf_puts(b, esc);
			run = s + 1;
		}
	}
	buf_append(b, run, (size_t)(s - run));
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
static void expo_family(struct expo_w *w, const char *name, const char *type, const char *help)
{
	size_t n = strlen(name);
	const char *unit = NULL;

	/* HELP text here is ours and holds no backslash, quote or newline. */
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

/* Writes s with \, " and newline escaped at p, which has room for twice
 * its length; returns the end. */
static char *expo_escape(char *p, const char *s)
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

static char *expo_put(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
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

/* ---- per-process families read straight out of the latest sample ---- */

#define NEED_THREADS 0u         /* any SAMPLE carries the thread count */
#define NEED_PROCFS  (1u << 31) /* /proc was read */

struct expo_pfam {
	const char *name;
	const char *type;
	const char *help;
	uint32_t need;          /* PROTO_S_* section, NEED_THREADS or NEED_PROCFS */
	size_t off;             /* of a uint64_t in struct proto_sample, or in
	                         * struct procfs_status for NEED_PROCFS */
};

#define S_OFF(f) offsetof(struct proto_sample, f)

static const struct expo_pfam expo_heap_fams[] = {
	{ "memprobe_heap_live_bytes", "gauge",
	  "Usable bytes of the live heap blocks of the process.", PROTO_S_HEAP, S_OFF(heap_live_bytes) },
	{ "memprobe_heap_live_blocks", "gauge",
	  "Live heap blocks of the process.", PROTO_S_HEAP, S_OFF(heap_live_blocks) },
	{ "memprobe_heap_peak_bytes", "gauge",
	  "Highest live heap bytes of the process so far.", PROTO_S_HEAP, S_OFF(heap_peak_bytes) },
	{ "memprobe_heap_allocations_total", "counter",
	  "Heap allocations made by the process.", PROTO_S_HEAP, S_OFF(heap_allocations) },
	{ "memprobe_heap_frees_total", "counter",
	  "Heap blocks freed by the process.", PROTO_S_HEAP, S_OFF(heap_frees) },
	{ "memprobe_heap_allocated_bytes_total", "counter",
	  "Bytes allocated on the heap by the process, freed or not.", PROTO_S_HEAP,
	  S_OFF(heap_allocated_bytes) },
	{ "memprobe_heap_failed_allocations_total", "counter",
	  "Heap allocations of the process that returned no memory.", PROTO_S_HEAP, S_OFF(heap_failed) },
};

static const struct expo_pfam expo_other_fams[] = {
	{ "memprobe_mmap_live_bytes", "gauge",
	  "Bytes of anonymous mappings the program itself made and has not unmapped.", PROTO_S_HEAP,
	  S_OFF(mmap_live_bytes) },
	{ "memprobe_stack_peak_bytes", "gauge",
	  "Deepest stack use of any thread of the process.", PROTO_S_STACK, S_OFF(stack_peak_bytes) },
	{ "memprobe_stack_main_peak_bytes", "gauge",
	  "Deepest stack use of the main thread of the process.", PROTO_S_STACK,
	  S_OFF(stack_main_peak_bytes) },
	{ "memprobe_stack_limit_bytes", "gauge",
	  "Stack size limit of the main thread of the process.", PROTO_S_STACK, S_OFF(stack_limit_bytes) },
	{ "memprobe_threads", "gauge",
	  "Threads of the process that the agent knows of.", NEED_THREADS, S_OFF(threads) },
	{ "memprobe_agent_samples_dropped_total", "counter",
	  "Samples a client of the legacy HELLO/SAMPLE messages said it could not send (agents that share a region send none).",
	  NEED_THREADS, S_OFF(samples_dropped) },
	{ "memprobe_python_allocated_blocks", "gauge",
	  "Blocks allocated by the Python interpreter (sys.getallocatedblocks()).", PROTO_S_PYTHON,
	  S_OFF(py_allocated_blocks) },
	{ "memprobe_python_recursion_limit", "gauge",
	  "Python recursion limit (sys.getrecursionlimit()).", PROTO_S_PYTHON, S_OFF(py_recursion_limit) },
	{ "memprobe_python_stack_depth_peak", "gauge",
	  "Deepest Python stack seen, in frames.", PROTO_S_PYTHON, S_OFF(py_stack_depth_peak) },
};

#define P_OFF(f) offsetof(struct procfs_status, f)

static const struct expo_pfam expo_procfs_fams[] = {
	{ "memprobe_process_resident_bytes", "gauge",
	  "Resident memory of the process (VmRSS in /proc/PID/status).", NEED_PROCFS, P_OFF(resident) },
	{ "memprobe_process_resident_peak_bytes", "gauge",
	  "Highest resident memory of the process (VmHWM in /proc/PID/status).", NEED_PROCFS,
	  P_OFF(resident_peak) },
	{ "memprobe_process_stack_mapped_bytes", "gauge",
	  "Size of the main thread's stack mapping (VmStk in /proc/PID/status).", NEED_PROCFS,
	  P_OFF(stack_mapped) },
	{ "memprobe_process_data_bytes", "gauge",
	  "Data segment and private anonymous mappings of the process (VmData in /proc/PID/status).",
	  NEED_PROCFS, P_OFF(data) },
	{ "memprobe_process_threads", "gauge",
	  "Threads of the process (Threads in /proc/PID/status).", NEED_PROCFS, P_OFF(threads) },
};

static int expo_has(const struct ptab_view *v, uint32_t need)
{
	if (need == NEED_THREADS)
		return v->have_threads;
	if (need == NEED_PROCFS)
		return v->have_procfs;
	return (v->have & need) == need;
}

static uint64_t expo_field(const struct ptab_view *v, size_t off)
{
	uint64_t x;

	memcpy(&x, (const char *)&v->s + off, sizeof(x));
	return x;
}

static uint64_t expo_pfam_value(const struct ptab_view *v, const struct expo_pfam *f)
{
	uint64_t x;

	if (f->need != NEED_PROCFS)
		return expo_field(v, f->off);
	memcpy(&x, (const char *)&v->pfs + f->off, sizeof(x));
	return x;
}

/* A family whose lines exist only for processes that sent its section;
 * with none, the family is left out. */
static void expo_pfam(struct expo_w *w, const struct expo_rows *rows, const struct expo_pfam *f)
{
	size_t nlen = strlen(f->name);
	int opened = 0;

	for (size_t i = 0; i < rows->n; i++) {
		const struct ptab_view *v = &rows->v[i];
		char *p;

		if (!expo_has(v, f->need))
			continue;
		if (!opened) {
			expo_family(w, f->name, f->type, f->help);
			opened = 1;
		}
		if ((p = expo_line(w, f->name, nlen, i, 0)) == NULL)
			return;
		expo_end(w, p, expo_pfam_value(v, f));
	}
}

static void expo_histogram(struct expo_w *w, const struct expo_rows *rows)
{
	static const char name[] = "memprobe_heap_allocation_size_bytes";
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
			expo_family(w, name, "histogram",
			    "Sizes of the heap allocations of the process.");
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
	static const struct {
		const char *name;
		const char *help;
		size_t off;
	} fams[] = {
		{ "memprobe_python_gc_collections_total",
		  "Python garbage collector runs, by generation.", S_OFF(py_gc_collections) },
		{ "memprobe_python_gc_collected_total",
		  "Objects the Python garbage collector freed, by generation.", S_OFF(py_gc_collected) },
		{ "memprobe_python_gc_uncollectable_total",
		  "Objects the Python garbage collector found uncollectable, by generation.",
		  S_OFF(py_gc_uncollectable) },
	};
	static const char gen[3][16] = {
		",generation=\"0\"", ",generation=\"1\"", ",generation=\"2\"",
	};
	const size_t glen = strlen(gen[0]);

	for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
		size_t nlen = strlen(fams[f].name);
		int opened = 0;

		for (size_t i = 0; i < rows->n; i++) {
			const struct ptab_view *v = &rows->v[i];

			if (!(v->have & PROTO_S_PYTHON))
				continue;
			if (!opened) {
				expo_family(w, fams[f].name, "counter", fams[f].help);
				opened = 1;
			}
			for (unsigned g = 0; g < 3; g++) {
				char *p = expo_line(w, fams[f].name, nlen, i, glen);

				if (p == NULL)
					return;
				expo_end(w, expo_put(p, gen[g], glen),
				    expo_field(v, fams[f].off + g * sizeof(uint64_t)));
			}
		}
	}
}

static void expo_gauges(struct expo_w *w, const struct expo_rows *rows)
{
	static const char name[] = "memprobe_program_value";
	int opened = 0;

	for (size_t i = 0; i < rows->n; i++) {
		const struct ptab_view *v = &rows->v[i];

		for (size_t k = 0; k < v->ngauges; k++) {
			char *p;

			if (!opened) {
				/* The contract's name; promtool's lint objects to
				 * any family named "..._gauge", whatever its TYPE. */
				expo_family(w, name, "gauge",
				    "Gauges the program sets itself (memprobe_gauge_set()).");
				opened = 1;
			}
			if ((p = expo_line(w, name, sizeof(name) - 1, i, 0)) == NULL)
				return;
			buf_commit(w->b, p);
			buf_puts(w->b, ",name=\"");
			expo_label_value(w->b, v->gauges[k].name);
			buf_puts(w->b, "\"");
			expo_double_line(w->b, v->gauges[k].value);
		}
	}
}

/* "c", "python" or "c,python". */
static const char *expo_agents(unsigned agents)
{
	int c = (agents & PTAB_AGENT_BIT(PROTO_AGENT_C)) != 0;
	int py = (agents & PTAB_AGENT_BIT(PROTO_AGENT_PYTHON)) != 0;

	return c && py ? "c,python" : c ? "c" : py ? "python" : "";
}

/* series = command: how many processes of each command are kept. */
static void expo_command_counts(struct expo_w *w, const struct expo_rows *rows)
{
	static const char live[] = "memprobe_processes";
	static const char exited[] = "memprobe_processes_exited";
	char *p;

	if (rows->n == 0)
		return;
	expo_family(w, live, "gauge",
	    "Tracked live processes of the command (series = command).");
	for (size_t i = 0; i < rows->n; i++) {
		if ((p = expo_line(w, live, sizeof(live) - 1, i, 0)) == NULL)
			return;
		expo_end(w, p, rows->nlive[i]);
	}
	expo_family(w, exited, "gauge",
	    "Exited processes of the command still kept (exited_ttl).");
	for (size_t i = 0; i < rows->n; i++) {
		if ((p = expo_line(w, exited, sizeof(exited) - 1, i, 0)) == NULL)
			return;
		expo_end(w, p, rows->nexited[i]);
	}
}

static void expo_info(struct expo_w *w, const struct ptab_snap *snap)
{
	static const char info[] = "memprobe_process_info";
	static const char exited[] = "memprobe_process_exited";
	char *p;

	if (snap->n == 0)
		return;
	expo_family(w, info, "gauge",
	    "Always 1: descriptive labels of each tracked process.");
	for (size_t i = 0; i < snap->n; i++) {
		const struct ptab_view *v = &snap->procs[i];
		const char *agents = expo_agents(v->agents);

		p = expo_line(w, info, sizeof(info) - 1, i, 2 * strlen(v->exe) + 32);
		if (p == NULL)
			return;
		p = expo_put(p, ",exe=\"", 6);
		p = expo_escape(p, v->exe);
		p = expo_put(p, "\",agent=\"", 9);
		p = expo_put(p, agents, strlen(agents));
		*p++ = '"';
		expo_end(w, p, 1);
	}
	expo_family(w, exited, "gauge",
	    "1 while a process that exited is still kept (exited_ttl), else 0.");
	for (size_t i = 0; i < snap->n; i++) {
		if ((p = expo_line(w, exited, sizeof(exited) - 1, i, 0)) == NULL)
			return;
		expo_end(w, p, snap->procs[i].exited ? 1 : 0);
	}
}

static void expo_scalar_u64(struct expo_w *w, const char *name, const char *type,
    const char *help, uint64_t v)
{
	expo_family(w, name, type, help);
	buf_printf(w->b, "%s %" PRIu64 "\n", name, v);
}

static void expo_scalar_double(struct expo_w *w, const char *name, const char *type,
    const char *help, double v)
{
	char num[32];

	expo_format_double(v, num);
	expo_family(w, name, type, help);
	buf_printf(w->b, "%s %s\n", name, num);
}

static void expo_daemon_own(struct expo_w *w, const struct ptab_snap *snap,
    const struct expo_daemon *d)
{
	const struct ingest_stats *is = &d->ingest;

	expo_scalar_u64(w, "memprobe_daemon_agents_connected", "gauge",
	    "Processes reporting: a shared region mapped and the process live, or a legacy connection past its HELLO.",
	    is->agents_connected);
	expo_scalar_u64(w, "memprobe_daemon_processes_tracked", "gauge",
	    "Processes in the table, exited ones included.", snap->n);
	expo_scalar_u64(w, "memprobe_daemon_processes_live", "gauge",
	    "Processes in the table still running with an agent reporting.", snap->live);
	expo_scalar_u64(w, "memprobe_daemon_connections_accepted_total", "counter",
	    "Agent connections accepted.", is->connections_accepted);
	expo_scalar_u64(w, "memprobe_daemon_connections_refused_total", "counter",
	    "Agent connections refused at the max_connections limit or for lack of descriptors.",
	    is->connections_refused);
	expo_family(w, "memprobe_daemon_messages_received_total", "counter",
	    "Valid agent messages received, by type.");
	for (unsigned t = 1; t < INGEST_NTYPES; t++)
		buf_printf(w->b, "memprobe_daemon_messages_received_total{type=\"%s\"} %" PRIu64 "\n",
		    ingest_type_name(t), is->received[t]);
	expo_family(w, "memprobe_daemon_messages_rejected_total", "counter",
	    "Agent messages rejected, by reason.");
	for (unsigned r = 1; r < INGEST_R__COUNT; r++)
		buf_printf(w->b, "memprobe_daemon_messages_rejected_total{reason=\"%s\"} %" PRIu64 "\n",
		    ingest_reason_name(r), is->rejected[r]);
	expo_scalar_u64(w, "memprobe_daemon_processes_refused_total", "counter",
	    "Processes refused at the max_processes limit.", snap->processes_refused);
	expo_scalar_u64(w, "memprobe_daemon_gauges_dropped_total", "counter",
	    "Program gauge updates dropped at the max_gauges limit.", snap->gauges_dropped);
	expo_scalar_u64(w, "memprobe_daemon_processes_limit", "gauge",
	    "Processes the table may hold (max_processes).", snap->limits.max_processes);
	expo_scalar_u64(w, "memprobe_daemon_connections_limit", "gauge",
	    "Agent connections the daemon accepts at once (max_connections).", d->max_connections);
	expo_scalar_double(w, "memprobe_daemon_scrape_duration_seconds", "gauge",
	    "Time the previous scrape of /metrics took to build.", d->scrape_duration_seconds);
	expo_scalar_double(w, "memprobe_daemon_procfs_refresh_duration_seconds", "gauge",
	    "Time the latest read of /proc for every live process took.", d->procfs_seconds);
	expo_family(w, "memprobe_build_info", "gauge",
	    "Always 1: the version of memprobed.");
	buf_puts(w->b, "memprobe_build_info{version=\"");
	expo_label_value(w->b, MEMPROBE_VERSION);
	buf_puts(w->b, "\"} 1\n");

	if (d->self == NULL)
		return;
	expo_scalar_double(w, "process_cpu_seconds_total", "counter",
	    "Total user and system CPU time spent in seconds.", d->self->cpu_seconds);
	expo_scalar_u64(w, "process_resident_memory_bytes", "gauge",
	    "Resident memory size in bytes.", d->self->resident_bytes);
	expo_scalar_u64(w, "process_virtual_memory_bytes", "gauge",
	    "Virtual memory size in bytes.", d->self->virtual_bytes);
	expo_scalar_double(w, "process_start_time_seconds", "gauge",
	    "Start time of the process since unix epoch in seconds.", d->self->start_time_seconds);
	expo_scalar_u64(w, "process_open_fds", "gauge",
	    "Number of open file descriptors.", d->self->open_fds);
	expo_scalar_u64(w, "process_max_fds", "gauge",
	    "Maximum number of open file descriptors.", d->self->max_fds);
}

/* ---- series = command: one summed row per comm ---- */

static int expo_cmp_view_comm(const void *a, const void *b)
{
	const struct ptab_view *const *x = a, *const *y = b;

	return strcmp((*x)->comm, (*y)->comm);
}

static int expo_cmp_ret_comm(const void *a, const void *b)
{
	const struct ptab_retired *const *x = a, *const *y = b;

	return strcmp((*x)->comm, (*y)->comm);
}

static int expo_cmp_gauge(const void *a, const void *b)
{
	const struct ptab_gauge *x = a, *y = b;

	return strcmp(x->name, y->name);
}

static void expo_max(uint64_t *d, uint64_t v)
{
	if (v > *d)
		*d = v;
}

/* Adds the counters of s (sections in `have`) into d. */
static void expo_add_counters(struct proto_sample *d, const struct proto_sample *s, uint32_t have)
{
	d->samples_dropped += s->samples_dropped;
	if (have & PROTO_S_HEAP) {
		d->heap_allocations += s->heap_allocations;
		d->heap_frees += s->heap_frees;
		d->heap_allocated_bytes += s->heap_allocated_bytes;
		d->heap_failed += s->heap_failed;
	}
	if (have & PROTO_S_HIST) {
		for (unsigned k = 0; k < PROTO_HIST_BUCKETS; k++)
			d->hist_count[k] += s->hist_count[k];
		d->hist_sum += s->hist_sum;
	}
	if (have & PROTO_S_PYTHON) {
		for (unsigned g = 0; g < 3; g++) {
			d->py_gc_collections[g] += s->py_gc_collections[g];
			d->py_gc_collected[g] += s->py_gc_collected[g];
			d->py_gc_uncollectable[g] += s->py_gc_uncollectable[g];
		}
	}
}

/* Adds a live process's gauges into d: sizes sum, peaks and limits take
 * the largest. Exited processes hold no memory: only their counters count. */
static void expo_add_gauges(struct ptab_view *d, const struct ptab_view *v)
{
	struct proto_sample *a = &d->s;
	const struct proto_sample *s = &v->s;

	a->heap_live_bytes += s->heap_live_bytes;
	a->heap_live_blocks += s->heap_live_blocks;
	a->heap_peak_bytes += s->heap_peak_bytes;
	a->mmap_live_bytes += s->mmap_live_bytes;
	a->threads += s->threads;
	a->py_allocated_blocks += s->py_allocated_blocks;
	expo_max(&a->stack_peak_bytes, s->stack_peak_bytes);
	expo_max(&a->stack_main_peak_bytes, s->stack_main_peak_bytes);
	expo_max(&a->stack_limit_bytes, s->stack_limit_bytes);
	expo_max(&a->py_recursion_limit, s->py_recursion_limit);
	expo_max(&a->py_stack_depth_peak, s->py_stack_depth_peak);
	if (v->have_procfs) {
		d->pfs.resident += v->pfs.resident;
		d->pfs.resident_peak += v->pfs.resident_peak;
		d->pfs.stack_mapped += v->pfs.stack_mapped;
		d->pfs.data += v->pfs.data;
		d->pfs.threads += v->pfs.threads;
	}
}

/* The summed rows of `snap`, one per comm, sorted by comm; every array is
 * in the single allocation *mem (the caller frees it). */
static int expo_by_command(const struct ptab_snap *snap, struct expo_rows *rows, void **mem)
{
	size_t nv = snap->n, nr = snap->nretired, ng = 0, i = 0, j = 0, n = 0;
	const struct ptab_view **pv;
	const struct ptab_retired **pr;
	struct ptab_view *out;
	struct ptab_gauge *g;
	unsigned *nlive, *nexited;
	char *m;

	for (size_t k = 0; k < nv; k++)
		ng += snap->procs[k].ngauges;
	m = calloc(1, (nv + nr) * (sizeof(*pv) + sizeof(*out) + 2 * sizeof(unsigned)) +
	    nr * sizeof(*pr) + ng * sizeof(*g) + 64);
	if (m == NULL)
		return -ENOMEM;
	*mem = m;
	out = (struct ptab_view *)(void *)m;
	g = (struct ptab_gauge *)(void *)(out + nv + nr);
	pv = (const struct ptab_view **)(void *)(g + ng);
	pr = (const struct ptab_retired **)(void *)(pv + nv);
	nlive = (unsigned *)(void *)(pr + nr);
	nexited = nlive + nv + nr;
	for (size_t k = 0; k < nv; k++)
		pv[k] = &snap->procs[k];
	for (size_t k = 0; k < nr; k++)
		pr[k] = &snap->retired[k];
	qsort(pv, nv, sizeof(*pv), expo_cmp_view_comm);
	qsort(pr, nr, sizeof(*pr), expo_cmp_ret_comm);

	/* Merge the two sorted lists, one row per comm. */
	while (i < nv || j < nr) {
		const char *comm;
		struct ptab_view *d = &out[n];
		size_t g0;

		if (j >= nr || (i < nv && strcmp(pv[i]->comm, pr[j]->comm) <= 0))
			comm = pv[i]->comm;
		else
			comm = pr[j]->comm;
		d->comm = comm;
		d->exe = "";
		d->gauges = g;
		g0 = 0;
		for (; i < nv && strcmp(pv[i]->comm, comm) == 0; i++) {
			const struct ptab_view *v = pv[i];

			d->have |= v->have;
			d->have_threads |= v->have_threads;
			d->have_procfs |= v->have_procfs;
			expo_add_counters(&d->s, &v->s, v->have);
			if (v->exited) {
				nexited[n]++;
				continue;
			}
			nlive[n]++;
			expo_add_gauges(d, v);
			for (size_t k = 0; k < v->ngauges; k++)
				g[g0++] = v->gauges[k];
		}
		for (; j < nr && strcmp(pr[j]->comm, comm) == 0; j++) {
			d->have |= pr[j]->have;
			expo_add_counters(&d->s, &pr[j]->s, pr[j]->have);
		}
		/* Program gauges of one name sum across the processes. */
		qsort(g, g0, sizeof(*g), expo_cmp_gauge);
		d->ngauges = 0;
		for (size_t k = 0; k < g0; k++) {
			if (d->ngauges > 0 && strcmp(g[d->ngauges - 1].name, g[k].name) == 0)
				g[d->ngauges - 1].value += g[k].value;
			else
				g[d->ngauges++] = g[k];
		}
		g += d->ngauges;
		n++;
	}
	rows->n = n;
	rows->v = out;
	rows->nlive = nlive;
	rows->nexited = nexited;
	return 0;
}

int expo_render(struct buf *b, enum expo_format fmt, const struct ptab_snap *snap,
    const struct expo_daemon *d)
{
	struct expo_w w = { b, fmt, d->by_command, 0, NULL, NULL };
	struct expo_rows rows = { snap->n, snap->procs, NULL, NULL };
	struct buf lab = BUF_INIT;
	size_t *laboff = NULL;
	void *mem = NULL;
	size_t i;
	int r = -ENOMEM;

	if (w.by_command && expo_by_command(snap, &rows, &mem) < 0)
		return -ENOMEM;
	laboff = malloc((rows.n + 1) * sizeof(*laboff));
	if (laboff == NULL || expo_labels_build(&w, &rows, &lab, laboff) < 0)
		goto out;
	w.nrows = rows.n;
	w.lab = lab.data;
	w.laboff = laboff;
	for (i = 0; i < sizeof(expo_heap_fams) / sizeof(expo_heap_fams[0]); i++)
		expo_pfam(&w, &rows, &expo_heap_fams[i]);
	expo_histogram(&w, &rows);
	for (i = 0; i < sizeof(expo_other_fams) / sizeof(expo_other_fams[0]); i++)
		expo_pfam(&w, &rows, &expo_other_fams[i]);
	for (i = 0; i < sizeof(expo_procfs_fams) / sizeof(expo_procfs_fams[0]); i++)
		expo_pfam(&w, &rows, &expo_procfs_fams[i]);
	expo_python_gc(&w, &rows);
	expo_gauges(&w, &rows);
	if (w.by_command)
		expo_command_counts(&w, &rows);
	else
		expo_info(&w, snap);
	expo_daemon_own(&w, snap, d);
	if (fmt == EXPO_OPENMETRICS)
		buf_puts(b, "# EOF\n");
	r = buf_failed(b) ? -ENOMEM : 0;
out:
	buf_free(&lab);
	free(laboff);
	free(mem);
	return r;
}
