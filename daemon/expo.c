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

static void expo_family(struct expo_w *w, const char *name, const char *type, const char *help)
{
	/* HELP text here is ours and holds no backslash or newline. */
	buf_printf(w->b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* `name{pid="..",comm=".."` without the closing brace. */
static void expo_proc_labels(struct buf *b, const char *name, const struct ptab_view *v)
{
	buf_printf(b, "%s{pid=\"%d\",comm=\"", name, (int)v->pid);
	expo_label_value(b, v->comm);
	buf_puts(b, "\"");
}

static void expo_u64_line(struct buf *b, uint64_t v)
{
	buf_printf(b, "} %" PRIu64 "\n", v);
}

static void expo_double_line(struct buf *b, double v)
{
	char num[32];

	expo_format_double(v, num);
	buf_printf(b, "} %s\n", num);
}

/* ---- per-process families read straight out of the latest sample ---- */

#define NEED_THREADS 0u         /* any SAMPLE carries the thread count */

struct expo_pfam {
	const char *name;
	const char *type;
	const char *help;
	uint32_t need;          /* PROTO_S_* section, or NEED_THREADS */
	size_t off;             /* of a uint64_t in struct proto_sample */
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
	{ "memprobe_python_allocated_blocks", "gauge",
	  "Blocks allocated by the Python interpreter (sys.getallocatedblocks()).", PROTO_S_PYTHON,
	  S_OFF(py_allocated_blocks) },
	{ "memprobe_python_recursion_limit", "gauge",
	  "Python recursion limit (sys.getrecursionlimit()).", PROTO_S_PYTHON, S_OFF(py_recursion_limit) },
	{ "memprobe_python_stack_depth_peak", "gauge",
	  "Deepest Python stack seen, in frames.", PROTO_S_PYTHON, S_OFF(py_stack_depth_peak) },
};

static int expo_has(const struct ptab_view *v, uint32_t need)
{
	return need == NEED_THREADS ? v->have_threads : (v->have & need) == need;
}

static uint64_t expo_field(const struct ptab_view *v, size_t off)
{
	uint64_t x;

	memcpy(&x, (const char *)&v->s + off, sizeof(x));
	return x;
}

/* A family whose lines exist only for processes that sent its section;
 * with none, the family is left out. */
static void expo_pfam(struct expo_w *w, const struct ptab_snap *snap, const struct expo_pfam *f)
{
	int opened = 0;

	for (size_t i = 0; i < snap->n; i++) {
		const struct ptab_view *v = &snap->procs[i];

		if (!expo_has(v, f->need))
			continue;
		if (!opened) {
			expo_family(w, f->name, f->type, f->help);
			opened = 1;
		}
		expo_proc_labels(w->b, f->name, v);
		expo_u64_line(w->b, expo_field(v, f->off));
	}
}

static void expo_histogram(struct expo_w *w, const struct ptab_snap *snap)
{
	static const char name[] = "memprobe_heap_allocation_size_bytes";
	int opened = 0;

	for (size_t i = 0; i < snap->n; i++) {
		const struct ptab_view *v = &snap->procs[i];
		uint64_t cum = 0;
		char le[32];

		if (!(v->have & PROTO_S_HIST))
			continue;
		if (!opened) {
			expo_family(w, name, "histogram",
			    "Sizes of the heap allocations of the process.");
			opened = 1;
		}
		for (unsigned k = 0; k < PROTO_HIST_BUCKETS; k++) {
			cum += v->s.hist_count[k];
			if (k < PROTO_HIST_BUCKETS - 1)
				expo_format_le(proto_hist_bounds[k], le, sizeof(le));
			else
				strcpy(le, "+Inf");
			expo_proc_labels(w->b, "memprobe_heap_allocation_size_bytes_bucket", v);
			buf_printf(w->b, ",le=\"%s\"", le);
			expo_u64_line(w->b, cum);
		}
		expo_proc_labels(w->b, "memprobe_heap_allocation_size_bytes_sum", v);
		expo_u64_line(w->b, v->s.hist_sum);
		expo_proc_labels(w->b, "memprobe_heap_allocation_size_bytes_count", v);
		expo_u64_line(w->b, cum);
	}
}

static void expo_python_gc(struct expo_w *w, const struct ptab_snap *snap)
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

	for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
		int opened = 0;

		for (size_t i = 0; i < snap->n; i++) {
			const struct ptab_view *v = &snap->procs[i];

			if (!(v->have & PROTO_S_PYTHON))
				continue;
			if (!opened) {
				expo_family(w, fams[f].name, "counter", fams[f].help);
				opened = 1;
			}
			for (unsigned g = 0; g < 3; g++) {
				expo_proc_labels(w->b, fams[f].name, v);
				buf_printf(w->b, ",generation=\"%u\"", g);
				expo_u64_line(w->b, expo_field(v, fams[f].off + g * sizeof(uint64_t)));
			}
		}
	}
}

static void expo_gauges(struct expo_w *w, const struct ptab_snap *snap)
{
	int opened = 0;

	for (size_t i = 0; i < snap->n; i++) {
		const struct ptab_view *v = &snap->procs[i];

		for (size_t k = 0; k < v->ngauges; k++) {
			if (!opened) {
				/* The contract's name; promtool's lint objects to
				 * any family named "..._gauge", whatever its TYPE. */
				expo_family(w, "memprobe_program_value", "gauge",
				    "Gauges the program sets itself (memprobe_gauge_set()).");
				opened = 1;
			}
			expo_proc_labels(w->b, "memprobe_program_value", v);
			buf_puts(w->b, ",name=\"");
			expo_label_value(w->b, v->gauges[k].name);
			buf_puts(w->b, "\"");
			expo_double_line(w->b, v->gauges[k].value);
		}
	}
}

/* "c", "python" or "c,python". */
static void expo_agents(char *out, size_t size, unsigned agents)
{
	snprintf(out, size, "%s%s%s",
	    (agents & PTAB_AGENT_BIT(PROTO_AGENT_C)) ? "c" : "",
	    (agents & PTAB_AGENT_BIT(PROTO_AGENT_C)) &&
	    (agents & PTAB_AGENT_BIT(PROTO_AGENT_PYTHON)) ? "," : "",
	    (agents & PTAB_AGENT_BIT(PROTO_AGENT_PYTHON)) ? "python" : "");
}

static void expo_info(struct expo_w *w, const struct ptab_snap *snap)
{
	char agents[32];

	if (snap->n == 0)
		return;
	expo_family(w, "memprobe_process_info", "gauge",
	    "Always 1: descriptive labels of each tracked process.");
	for (size_t i = 0; i < snap->n; i++) {
		const struct ptab_view *v = &snap->procs[i];

		expo_agents(agents, sizeof(agents), v->agents);
		expo_proc_labels(w->b, "memprobe_process_info", v);
		buf_puts(w->b, ",exe=\"");
		expo_label_value(w->b, v->exe);
		buf_printf(w->b, "\",agent=\"%s\"", agents);
		expo_u64_line(w->b, 1);
	}
	expo_family(w, "memprobe_process_exited", "gauge",
	    "1 while a process that exited is still kept (exited_ttl), else 0.");
	for (size_t i = 0; i < snap->n; i++) {
		expo_proc_labels(w->b, "memprobe_process_exited", &snap->procs[i]);
		expo_u64_line(w->b, snap->procs[i].exited ? 1 : 0);
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
	    "Agent connections open past their HELLO.", is->agents_connected);
	expo_scalar_u64(w, "memprobe_daemon_processes_tracked", "gauge",
	    "Processes in the table, exited ones included.", snap->n);
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
	expo_scalar_double(w, "memprobe_daemon_scrape_duration_seconds", "gauge",
	    "Time the previous scrape of /metrics took to build.", d->scrape_duration_seconds);
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

int expo_render(struct buf *b, enum expo_format fmt, const struct ptab_snap *snap,
    const struct expo_daemon *d)
{
	struct expo_w w = { b, fmt };
	size_t i;

	for (i = 0; i < sizeof(expo_heap_fams) / sizeof(expo_heap_fams[0]); i++)
		expo_pfam(&w, snap, &expo_heap_fams[i]);
	expo_histogram(&w, snap);
	for (i = 0; i < sizeof(expo_other_fams) / sizeof(expo_other_fams[0]); i++)
		expo_pfam(&w, snap, &expo_other_fams[i]);
	expo_python_gc(&w, snap);
	expo_gauges(&w, snap);
	expo_info(&w, snap);
	expo_daemon_own(&w, snap, d);
	return buf_failed(b) ? -ENOMEM : 0;
}
