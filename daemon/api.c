/* api.c: the JSON API (/api/v1/...) built from a process-table snapshot. */
#include "api.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "utf8.h"

/*
 * Every body is written by hand into a struct buf, whose failure the
 * caller checks once. Building and dumping a jansson tree of ten thousand
 * processes took a quarter of a second; writing them takes 7 ms
 * (BENCHMARKS.md, "Daemon" and "One JSON writer (issue 13)"). Each writer
 * asks buf_space() for the most it may write and fills it with the
 * api_put_*() helpers below, which return the new end.
 */

/* ---- values ---- */

static char *api_put(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

#define API_LIT(p, s) api_put((p), (s), sizeof(s) - 1)

/* An integer, clamped to 2^63-1 (api.h). */
static char *api_put_u64(char *p, uint64_t v)
{
	return buf_fmt_u64(p, v > (uint64_t)INT64_MAX ? (uint64_t)INT64_MAX : v);
}

static char *api_put_i64(char *p, int64_t v)
{
	if (v >= 0)
		return buf_fmt_u64(p, (uint64_t)v);
	*p++ = '-';
	return buf_fmt_u64(p, -(uint64_t)v);
}


/*
 * A finite real in the shortest %g text that reads back as v, as jansson
 * writes reals otherwise: ".0" added when the text would read back as an
 * integer, the exponent without '+' or leading zeros. Fifteen digits read
 * back for most figures, and are then the fewest (%g drops trailing
 * zeros); seventeen always do. Below DBL_MIN (subnormal) fewer digits
 * may, so those start at one. At most 32 bytes.
 */
static char *api_put_real(char *p, double v)
{
	char t[40], *e;
	int n = 0;

	for (int prec = (v < 0 ? -v : v) < DBL_MIN ? 1 : 15; prec <= 17; prec++) {
		n = snprintf(t, sizeof(t), "%.*g", prec, v);
		if (n < 0 || (size_t)n >= sizeof(t) - 3)
			return API_LIT(p, "null");
		if (strtod(t, NULL) == v)
			break;
	}
	e = strchr(t, 'e');
	if (e == NULL) {
		p = api_put(p, t, (size_t)n);
		return strchr(t, '.') == NULL ? API_LIT(p, ".0") : p;
	}
	p = api_put(p, t, (size_t)(++e - t));
	if (*e == '+')
		e++;
	else if (*e == '-')
		*p++ = *e++;
	while (*e == '0' && e[1] != '\0')
		e++;
	return api_put(p, e, strlen(e));
}

/* A real, or null when it is NaN or infinite. */
static char *api_put_double(char *p, double v)
{
	return isfinite(v) ? api_put_real(p, v) : API_LIT(p, "null");
}

/* A duration to the millisecond: more digits would be noise. Below 10^11
 * seconds the milliseconds have at most 14 digits and are written as
 * integers; past 10^12 seconds, or negative or NaN, the figure as it is. */
static char *api_put_seconds(char *p, double v)
{
	uint64_t ms;
	unsigned frac;

	if (!(v >= 0 && v < 1e12))
		return api_put_double(p, v);
	ms = (uint64_t)(int64_t)(v * 1000 + 0.5);
	if (ms >= 100000000000000ull)
		return api_put_real(p, (double)ms / 1000);
	p = buf_fmt_u64(p, ms / 1000);
	*p++ = '.';
	frac = (unsigned)(ms % 1000);
	*p++ = (char)('0' + frac / 100);
	if (frac % 100 != 0) {
		*p++ = (char)('0' + frac / 10 % 10);
		if (frac % 10 != 0)
			*p++ = (char)('0' + frac % 10);
	}
	return p;
}

/* A JSON string of s (valid UTF-8, as ptab keeps names): room for
 * 6 * strlen(s) + 2 bytes. Escapes what jansson escapes. */
static char *api_put_str(char *p, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	*p++ = '"';
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c >= 0x20 && c != '"' && c != '\\') {
			*p++ = (char)c;
			continue;
		}
		*p++ = '\\';
		switch (c) {
		case '"':  *p++ = '"'; break;
		case '\\': *p++ = '\\'; break;
		case '\b': *p++ = 'b'; break;
		case '\f': *p++ = 'f'; break;
		case '\n': *p++ = 'n'; break;
		case '\r': *p++ = 'r'; break;
		case '\t': *p++ = 't'; break;
		default:
			p = API_LIT(p, "u00");
			*p++ = hex[c >> 4];
			*p++ = hex[c & 15];
		}
	}
	*p++ = '"';
	return p;
}

/* `[a,b,c]` of three counters. */
static char *api_put_u64x3(char *p, const uint64_t *v)
{
	*p++ = '[';
	p = api_put_u64(p, v[0]);
	*p++ = ',';
	p = api_put_u64(p, v[1]);
	*p++ = ',';
	p = api_put_u64(p, v[2]);
	*p++ = ']';
	return p;
}

/* Bytes api_put_proc() may write for v, at most: names escaped six bytes
 * a byte, every number at its longest. */
static size_t api_proc_size(const struct ptab_view *v)
{
	size_t n = 4096 + 6 * (strlen(v->comm) + strlen(v->exe));

	for (size_t i = 0; i < v->ngauges; i++)
		n += 6 * strlen(v->gauges[i].name) + 48;
	return n;
}

/* ---- PROCESS objects ---- */

/* pid, start_time, comm, exe, uid and agents. */
static char *api_put_identity(char *p, const struct ptab_view *v)
{
	int c = (v->agents & PTAB_AGENT_BIT(PROTO_AGENT_C)) != 0;
	int py = (v->agents & PTAB_AGENT_BIT(PROTO_AGENT_PYTHON)) != 0;

	p = API_LIT(p, "{\"pid\":");
	p = api_put_i64(p, v->pid);
	p = API_LIT(p, ",\"start_time\":");
	p = api_put_u64(p, v->start_time);
	p = API_LIT(p, ",\"comm\":");
	p = api_put_str(p, v->comm);
	p = API_LIT(p, ",\"exe\":");
	p = api_put_str(p, v->exe);
	p = API_LIT(p, ",\"uid\":");
	p = api_put_u64(p, v->uid);
	p = API_LIT(p, ",\"agents\":[");
	if (c)
		p = API_LIT(p, "\"c\"");
	if (c && py)
		*p++ = ',';
	if (py)
		p = API_LIT(p, "\"python\"");
	return API_LIT(p, "]");
}

/* connections, state and how the process ended, where known: its exit
 * status, or the signal. */
static char *api_put_state(char *p, const struct ptab_view *v)
{
	int known = v->exited && v->exit.known;

	p = API_LIT(p, ",\"connections\":");
	p = api_put_u64(p, v->connections);
	p = v->exited ? API_LIT(p, ",\"state\":\"exited\",\"exited_seconds_ago\":") :
	    API_LIT(p, ",\"state\":\"live\",\"exited_seconds_ago\":");
	p = v->exited ? api_put_seconds(p, v->exited_seconds) : API_LIT(p, "null");
	p = API_LIT(p, ",\"exit_code\":");
	p = known && v->exit.signal == 0 ? api_put_u64(p, (uint64_t)v->exit.code) :
	    API_LIT(p, "null");
	p = API_LIT(p, ",\"exit_signal\":");
	return known && v->exit.signal != 0 ? api_put_u64(p, (uint64_t)v->exit.signal) :
	    API_LIT(p, "null");
}

/* size_source, tracked_seconds, samples, samples_dropped and threads. */
static char *api_put_reporting(char *p, const struct ptab_view *v)
{
	p = API_LIT(p, ",\"size_source\":");
	p = v->size_source != NULL ? api_put_str(p, v->size_source) : API_LIT(p, "null");
	p = API_LIT(p, ",\"tracked_seconds\":");
	p = api_put_seconds(p, v->age_seconds);
	p = API_LIT(p, ",\"samples\":");
	p = api_put_u64(p, v->samples);
	p = API_LIT(p, ",\"samples_dropped\":");
	p = api_put_u64(p, v->s.samples_dropped);
	p = API_LIT(p, ",\"threads\":");
	return v->have_threads ? api_put_u64(p, v->s.threads) : API_LIT(p, "null");
}

/* heap and mmap_live_bytes, null until the heap section came. */
static char *api_put_heap(char *p, const struct ptab_view *v)
{
	const struct proto_sample *s = &v->s;

	if (!(v->have & PROTO_S_HEAP))
		return API_LIT(p, ",\"heap\":null,\"mmap_live_bytes\":null");
	p = API_LIT(p, ",\"heap\":{\"live_bytes\":");
	p = api_put_u64(p, s->heap_live_bytes);
	p = API_LIT(p, ",\"live_blocks\":");
	p = api_put_u64(p, s->heap_live_blocks);
	p = API_LIT(p, ",\"peak_bytes\":");
	p = api_put_u64(p, s->heap_peak_bytes);
	p = API_LIT(p, ",\"allocations\":");
	p = api_put_u64(p, s->heap_allocations);
	p = API_LIT(p, ",\"frees\":");
	p = api_put_u64(p, s->heap_frees);
	p = API_LIT(p, ",\"allocated_bytes\":");
	p = api_put_u64(p, s->heap_allocated_bytes);
	p = API_LIT(p, ",\"failed_allocations\":");
	p = api_put_u64(p, s->heap_failed);
	p = API_LIT(p, "},\"mmap_live_bytes\":");
	return api_put_u64(p, s->mmap_live_bytes);
}

static char *api_put_stack(char *p, const struct ptab_view *v)
{
	const struct proto_sample *s = &v->s;

	if (!(v->have & PROTO_S_STACK))
		return API_LIT(p, ",\"stack\":null");
	p = API_LIT(p, ",\"stack\":{\"peak_bytes\":");
	p = api_put_u64(p, s->stack_peak_bytes);
	p = API_LIT(p, ",\"main_peak_bytes\":");
	p = api_put_u64(p, s->stack_main_peak_bytes);
	p = API_LIT(p, ",\"limit_bytes\":");
	p = api_put_u64(p, s->stack_limit_bytes);
	/* Where the resident-page floor of the peaks came from. */
	return v->stack_source == PTAB_STACK_PAGEMAP ?
	    API_LIT(p, ",\"resident_source\":\"pagemap\"}") :
	    v->stack_source == PTAB_STACK_VMSTK ?
	    API_LIT(p, ",\"resident_source\":\"vmstk\"}") :
	    API_LIT(p, ",\"resident_source\":null}");
}

static char *api_put_python(char *p, const struct ptab_view *v)
{
	const struct proto_sample *s = &v->s;

	if (!(v->have & PROTO_S_PYTHON))
		return API_LIT(p, ",\"python\":null");
	p = API_LIT(p, ",\"python\":{\"allocated_blocks\":");
	p = api_put_u64(p, s->py_allocated_blocks);
	p = API_LIT(p, ",\"recursion_limit\":");
	p = api_put_u64(p, s->py_recursion_limit);
	p = API_LIT(p, ",\"stack_depth_peak\":");
	p = api_put_u64(p, s->py_stack_depth_peak);
	p = API_LIT(p, ",\"gc\":{\"collections\":");
	p = api_put_u64x3(p, s->py_gc_collections);
	p = API_LIT(p, ",\"collected\":");
	p = api_put_u64x3(p, s->py_gc_collected);
	p = API_LIT(p, ",\"uncollectable\":");
	p = api_put_u64x3(p, s->py_gc_uncollectable);
	p = API_LIT(p, ",\"count\":");
	p = api_put_u64x3(p, s->py_gc_count);
	return API_LIT(p, "}}");
}

/* The /proc/PID/status figures. */
static char *api_put_procfs(char *p, const struct ptab_view *v)
{
	if (!v->have_procfs)
		return API_LIT(p, ",\"proc\":null");
	p = API_LIT(p, ",\"proc\":{\"resident_bytes\":");
	p = api_put_u64(p, v->pfs.resident);
	p = API_LIT(p, ",\"resident_peak_bytes\":");
	p = api_put_u64(p, v->pfs.resident_peak);
	p = API_LIT(p, ",\"stack_mapped_bytes\":");
	p = api_put_u64(p, v->pfs.stack_mapped);
	p = API_LIT(p, ",\"data_bytes\":");
	p = api_put_u64(p, v->pfs.data);
	p = API_LIT(p, ",\"threads\":");
	p = api_put_u64(p, v->pfs.threads);
	return API_LIT(p, "}");
}

/* The program's gauges and how many were dropped. */
static char *api_put_gauges(char *p, const struct ptab_view *v)
{
	p = API_LIT(p, ",\"gauges\":{");
	for (size_t i = 0; i < v->ngauges; i++) {
		if (i > 0)
			*p++ = ',';
		p = api_put_str(p, v->gauges[i].name);
		*p++ = ':';
		p = api_put_double(p, v->gauges[i].value);
	}
	p = API_LIT(p, "},\"gauges_dropped\":");
	return api_put_u64(p, v->gauges_dropped);
}

/* Allocation sizes: each bucket's own count, the sum and the total. */
static char *api_put_histogram(char *p, const struct ptab_view *v)
{
	const struct proto_sample *s = &v->s;
	uint64_t count = 0;

	if (!(v->have & PROTO_S_HIST))
		return API_LIT(p, ",\"histogram\":null");
	p = API_LIT(p, ",\"histogram\":{\"buckets\":[");
	for (unsigned k = 0; k < PROTO_HIST_BUCKETS; k++) {
		p = API_LIT(p, "{\"le\":");
		p = k < PROTO_HIST_BUCKETS - 1 ? api_put_u64(p, proto_hist_bounds[k]) :
		    API_LIT(p, "null");
		p = API_LIT(p, ",\"count\":");
		p = api_put_u64(p, s->hist_count[k]);
		p = k < PROTO_HIST_BUCKETS - 1 ? API_LIT(p, "},") : API_LIT(p, "}");
		count += s->hist_count[k];
	}
	p = API_LIT(p, "],\"sum\":");
	p = api_put_u64(p, s->hist_sum);
	p = API_LIT(p, ",\"count\":");
	p = api_put_u64(p, count);
	return API_LIT(p, "}");
}

/* Writes the PROCESS object of v (see api.h) at p, which has room for
 * api_proc_size(v) bytes; `full` adds the histogram. Returns the end. */
static char *api_put_proc(char *p, const struct ptab_view *v, int full)
{
	p = api_put_identity(p, v);
	p = api_put_state(p, v);
	p = api_put_reporting(p, v);
	p = api_put_heap(p, v);
	p = api_put_stack(p, v);
	p = api_put_python(p, v);
	p = api_put_procfs(p, v);
	p = api_put_gauges(p, v);
	if (full)
		p = api_put_histogram(p, v);
	return API_LIT(p, "}");
}

/* Hands a finished body over: 0 and *out, or -ENOMEM (b is freed). */
static int api_finish(struct buf *b, char **out, size_t *len)
{
	if (buf_failed(b)) {
		buf_free(b);
		return -ENOMEM;
	}
	*out = buf_steal(b, len);
	return 0;
}

int api_processes(const struct ptab_snap *snap, char **out, size_t *len)
{
	struct buf b = BUF_INIT;

	/* About 640 bytes a process with every section, and the room
	 * api_proc_size() asks for the last: one allocation. */
	buf_reserve(&b, snap->n * 700 + 8192);
	buf_puts(&b, "{\"processes\":[");
	for (size_t i = 0; i < snap->n; i++) {
		const struct ptab_view *v = &snap->procs[i];
		char *p = buf_space(&b, api_proc_size(v) + 1);

		if (p == NULL)
			break;
		if (i > 0)
			*p++ = ',';
		buf_commit(&b, api_put_proc(p, v, 0));
	}
	buf_puts(&b, "]}");
	return api_finish(&b, out, len);
}

int api_process(const struct ptab_snap *snap, pid_t pid, char **out, size_t *len)
{
	for (size_t i = 0; i < snap->n; i++) {
		const struct ptab_view *v = &snap->procs[i];
		struct buf b = BUF_INIT;
		char *p;

		if (v->pid != pid)
			continue;
		if ((p = buf_space(&b, api_proc_size(v))) != NULL)
			buf_commit(&b, api_put_proc(p, v, 1));
		return api_finish(&b, out, len);
	}
	return -ENOENT;
}

/* ---- the small bodies ---- */

/* Whether s is well-formed UTF-8 without control characters, as every
 * message the daemon writes is. */
static int api_printable(const char *s)
{
	while (*s != '\0') {
		size_t n = utf8_char_len(s, 4);

		if (n == 0 || (unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
			return 0;
		s += n;
	}
	return 1;
}

int api_error(const char *msg, char **out, size_t *len)
{
	struct buf b = BUF_INIT;
	char *p;

	/* Whatever else (a quoted URL, say) is not echoed. */
	if (!api_printable(msg))
		msg = "bad request";
	if ((p = buf_space(&b, 2 * strlen(msg) + 16)) != NULL) {
		p = API_LIT(p, "{\"error\":");
		p = api_put_str(p, msg);
		buf_commit(&b, API_LIT(p, "}"));
	}
	return api_finish(&b, out, len);
}

/* Bytes api_put_hpoint() may write, at most. */
#define API_HPOINT_MAX 400

static char *api_put_hpoint(char *p, const struct ptab_hpoint *pt, double mono_now,
    double wall_now)
{
	p = API_LIT(p, "{\"time\":");
	p = api_put_seconds(p, wall_now - (mono_now - pt->t));
	p = API_LIT(p, ",\"heap_live_bytes\":");
	p = api_put_u64(p, pt->heap_live_bytes);
	p = API_LIT(p, ",\"heap_peak_bytes\":");
	p = api_put_u64(p, pt->heap_peak_bytes);
	p = API_LIT(p, ",\"heap_live_blocks\":");
	p = api_put_u64(p, pt->heap_live_blocks);
	p = API_LIT(p, ",\"stack_peak_bytes\":");
	p = api_put_u64(p, pt->stack_peak_bytes);
	p = API_LIT(p, ",\"mmap_live_bytes\":");
	p = api_put_u64(p, pt->mmap_live_bytes);
	p = API_LIT(p, ",\"resident_bytes\":");
	p = pt->have_resident ? api_put_u64(p, pt->resident_bytes) : API_LIT(p, "null");
	p = API_LIT(p, ",\"threads\":");
	p = api_put_u64(p, pt->threads);
	return API_LIT(p, "}");
}

int api_history(const struct ptab_hist *h, double mono_now, double wall_now,
    char **out, size_t *len)
{
	struct buf b = BUF_INIT;
	char *p;

	buf_reserve(&b, h->n * API_HPOINT_MAX + 6 * strlen(h->comm) + 256);
	if ((p = buf_space(&b, 6 * strlen(h->comm) + 256)) != NULL) {
		p = API_LIT(p, "{\"pid\":");
		p = api_put_i64(p, h->pid);
		p = API_LIT(p, ",\"start_time\":");
		p = api_put_u64(p, h->start_time);
		p = API_LIT(p, ",\"comm\":");
		p = api_put_str(p, h->comm);
		p = h->exited ? API_LIT(p, ",\"state\":\"exited\",\"samples\":[") :
		    API_LIT(p, ",\"state\":\"live\",\"samples\":[");
		buf_commit(&b, p);
	}
	for (size_t i = 0; i < h->n; i++) {
		if ((p = buf_space(&b, API_HPOINT_MAX + 1)) == NULL)
			break;
		if (i > 0)
			*p++ = ',';
		buf_commit(&b, api_put_hpoint(p, &h->points[i], mono_now, wall_now));
	}
	buf_puts(&b, "]}");
	return api_finish(&b, out, len);
}

/* One integer member of a status object. */
struct api_member {
	const char *key;
	uint64_t v;
};

/* `"k1":v1,"k2":v2...`, each member after a comma unless it is the
 * object's first. Keys are at most 32 bytes. */
static char *api_put_members(char *p, const struct api_member *m, size_t n, int first)
{
	for (size_t i = 0; i < n; i++) {
		p = first && i == 0 ? API_LIT(p, "\"") : API_LIT(p, ",\"");
		p = api_put(p, m[i].key, strlen(m[i].key));
		p = API_LIT(p, "\":");
		p = api_put_u64(p, m[i].v);
	}
	return p;
}

/* `,"key":{...}` of n integer members. */
static char *api_put_object(char *p, const char *key, const struct api_member *m, size_t n)
{
	p = API_LIT(p, ",\"");
	p = api_put(p, key, strlen(key));
	p = API_LIT(p, "\":{");
	return API_LIT(api_put_members(p, m, n, 1), "}");
}

#define API_NMEMB(a) (sizeof(a) / sizeof((a)[0]))

int api_status(const struct api_status *st, char **out, size_t *len)
{
	const struct api_member counts[] = {
		{ "processes_tracked", st->processes_tracked },
		{ "processes_live", st->processes_live },
		{ "processes_exited", st->processes_tracked - st->processes_live },
		{ "agents_connected", st->agents_connected },
		{ "connections_open", st->connections_open },
		{ "messages_received", st->messages_received },
		{ "messages_rejected", st->messages_rejected },
		{ "processes_refused", st->processes_refused },
		{ "connections_refused", st->connections_refused },
		{ "gauges_dropped", st->gauges_dropped },
		{ "profiles_kept", st->profiles_kept },
	}, limits[] = {
		{ "max_connections", st->max_connections },
		{ "max_processes", st->max_processes },
		{ "max_gauges", st->max_gauges },
		{ "max_message_rate", st->max_message_rate },
		{ "http_max_connections", st->http_max_connections },
		{ "http_max_connections_per_ip", st->http_max_connections_per_ip },
		{ "http_timeout", st->http_timeout },
	}, settings[] = {
		{ "exited_ttl", st->exited_ttl },
		{ "history_length", st->history_length },
		{ "proc_interval", st->proc_interval },
	}, memory[] = {
		{ "table_bytes", st->table_bytes },
		{ "profile_bytes", st->profile_bytes },
	};
	struct buf b = BUF_INIT;
	char *p = buf_space(&b, 4096 + 6 * (strlen(st->version) + strlen(st->series)));

	if (p != NULL) {
		p = API_LIT(p, "{\"version\":");
		p = api_put_str(p, st->version);
		p = API_LIT(p, ",\"uptime_seconds\":");
		p = api_put_seconds(p, st->uptime_seconds);
		p = API_LIT(p, ",\"started_at\":");
		p = api_put_seconds(p, st->started_at);
		p = api_put_object(p, "counts", counts, API_NMEMB(counts));
		p = api_put_object(p, "limits", limits, API_NMEMB(limits));
		p = API_LIT(p, ",\"settings\":{\"series\":");
		p = api_put_str(p, st->series);
		p = API_LIT(api_put_members(p, settings, API_NMEMB(settings), 0), "}");
		p = api_put_object(p, "memory", memory, API_NMEMB(memory));
		p = API_LIT(p, ",\"procfs_refresh_seconds\":");
		p = api_put_double(p, st->procfs_seconds);
		buf_commit(&b, API_LIT(p, "}"));
	}
	return api_finish(&b, out, len);
}
