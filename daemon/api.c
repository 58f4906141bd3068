/* api.c: the JSON API (/api/v1/...) built from a process-table snapshot. */
#include "api.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"

/*
 * PROCESS objects (the list and one process) are written by hand into a
 * struct buf, whose failure the caller checks once; the small bodies
 * (status, history, errors) are jansson trees.
 *
 * Allocation policy for those: jansson constructors return NULL on ENOMEM
 * and the json_object_set_new()/json_array_append_new() calls accept NULL
 * and fail; each builder records any failure in its `ok` flag and the
 * caller turns it into -ENOMEM.
 */

static json_t *api_u64(uint64_t v)
{
	return json_integer(v > (uint64_t)INT64_MAX ? (json_int_t)INT64_MAX : (json_int_t)v);
}

static json_t *api_double(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

/* Durations to the millisecond: more digits would be noise. (By hand:
 * the daemon does not link libm.) */
static json_t *api_seconds(double v)
{
	if (!(v >= 0 && v < 1e12))
		return api_double(v);
	return json_real((double)(int64_t)(v * 1000 + 0.5) / 1000);
}

static void api_set(json_t *o, const char *key, json_t *v, int *ok)
{
	if (json_object_set_new(o, key, v) < 0)
		*ok = 0;
}

/* ---- PROCESS objects, written by hand: building and dumping a jansson
 * tree of ten thousand processes took a quarter of a second, writing them
 * takes 7 ms. The bytes are those json_dumps(JSON_COMPACT |
 * JSON_REAL_PRECISION(15)) wrote (tests/unit/test_api.c checks). ---- */

static char *api_put(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

#define API_LIT(p, s) api_put((p), (s), sizeof(s) - 1)

/* An integer, clamped to 2^63-1 as api_u64() does. */
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

/* A finite real as jansson writes it: %.15g, ".0" added when the text
 * would read back as an integer, the exponent without '+' or leading
 * zeros. At most 32 bytes. */
static char *api_put_real(char *p, double v)
{
	char t[40], *e;
	int n = snprintf(t, sizeof(t), "%.15g", v);

	if (n < 0 || (size_t)n >= sizeof(t) - 3)
		return API_LIT(p, "null");
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

static char *api_put_double(char *p, double v)
{
	return isfinite(v) ? api_put_real(p, v) : API_LIT(p, "null");
}

/* A duration as api_seconds() makes it: to the millisecond. Below 10^11
 * seconds the milliseconds have at most 14 digits, which %.15g prints
 * exactly, so they are written as integers. */
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

/* Writes the PROCESS object of v (see api.h) at p, which has room for
 * api_proc_size(v) bytes; `full` adds the histogram. Returns the end. */
static char *api_put_proc(char *p, const struct ptab_view *v, int full)
{
	const struct proto_sample *s = &v->s;

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
	if (v->agents & PTAB_AGENT_BIT(PROTO_AGENT_C))
		p = API_LIT(p, "\"c\"");
	if ((v->agents & PTAB_AGENT_BIT(PROTO_AGENT_C)) &&
	    (v->agents & PTAB_AGENT_BIT(PROTO_AGENT_PYTHON)))
		*p++ = ',';
	if (v->agents & PTAB_AGENT_BIT(PROTO_AGENT_PYTHON))
		p = API_LIT(p, "\"python\"");
	p = API_LIT(p, "],\"connections\":");
	p = api_put_u64(p, v->connections);
	p = v->exited ? API_LIT(p, ",\"state\":\"exited\",\"exited_seconds_ago\":") :
	    API_LIT(p, ",\"state\":\"live\",\"exited_seconds_ago\":");
	p = v->exited ? api_put_seconds(p, v->exited_seconds) : API_LIT(p, "null");
	/* How it ended, where known: its exit status, or the signal. */
	p = API_LIT(p, ",\"exit_code\":");
	p = v->exited && v->exit.known && v->exit.signal == 0 ? api_put_u64(p, (uint64_t)v->exit.code) :
	    API_LIT(p, "null");
	p = API_LIT(p, ",\"exit_signal\":");
	p = v->exited && v->exit.known && v->exit.signal != 0 ?
	    api_put_u64(p, (uint64_t)v->exit.signal) : API_LIT(p, "null");
	p = API_LIT(p, ",\"size_source\":");
	p = v->size_source != NULL ? api_put_str(p, v->size_source) : API_LIT(p, "null");
	p = API_LIT(p, ",\"tracked_seconds\":");
	p = api_put_seconds(p, v->age_seconds);
	p = API_LIT(p, ",\"samples\":");
	p = api_put_u64(p, v->samples);
	p = API_LIT(p, ",\"samples_dropped\":");
	p = api_put_u64(p, s->samples_dropped);
	p = API_LIT(p, ",\"threads\":");
	p = v->have_threads ? api_put_u64(p, s->threads) : API_LIT(p, "null");
	p = API_LIT(p, ",\"heap\":");
	if (v->have & PROTO_S_HEAP) {
		p = API_LIT(p, "{\"live_bytes\":");
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
		p = api_put_u64(p, s->mmap_live_bytes);
	} else {
		p = API_LIT(p, "null,\"mmap_live_bytes\":null");
	}
	p = API_LIT(p, ",\"stack\":");
	if (v->have & PROTO_S_STACK) {
		p = API_LIT(p, "{\"peak_bytes\":");
		p = api_put_u64(p, s->stack_peak_bytes);
		p = API_LIT(p, ",\"main_peak_bytes\":");
		p = api_put_u64(p, s->stack_main_peak_bytes);
		p = API_LIT(p, ",\"limit_bytes\":");
		p = api_put_u64(p, s->stack_limit_bytes);
		/* Where the resident-page floor of the peaks came from. */
		p = v->stack_source == PTAB_STACK_PAGEMAP ?
		    API_LIT(p, ",\"resident_source\":\"pagemap\"}") :
		    v->stack_source == PTAB_STACK_VMSTK ?
		    API_LIT(p, ",\"resident_source\":\"vmstk\"}") :
		    API_LIT(p, ",\"resident_source\":null}");
	} else {
		p = API_LIT(p, "null");
	}
	p = API_LIT(p, ",\"python\":");
	if (v->have & PROTO_S_PYTHON) {
		p = API_LIT(p, "{\"allocated_blocks\":");
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
		p = API_LIT(p, "}}");
	} else {
		p = API_LIT(p, "null");
	}
	p = API_LIT(p, ",\"proc\":");
	if (v->have_procfs) {
		p = API_LIT(p, "{\"resident_bytes\":");
		p = api_put_u64(p, v->pfs.resident);
		p = API_LIT(p, ",\"resident_peak_bytes\":");
		p = api_put_u64(p, v->pfs.resident_peak);
		p = API_LIT(p, ",\"stack_mapped_bytes\":");
		p = api_put_u64(p, v->pfs.stack_mapped);
		p = API_LIT(p, ",\"data_bytes\":");
		p = api_put_u64(p, v->pfs.data);
		p = API_LIT(p, ",\"threads\":");
		p = api_put_u64(p, v->pfs.threads);
		*p++ = '}';
	} else {
		p = API_LIT(p, "null");
	}
	p = API_LIT(p, ",\"gauges\":{");
	for (size_t i = 0; i < v->ngauges; i++) {
		if (i > 0)
			*p++ = ',';
		p = api_put_str(p, v->gauges[i].name);
		*p++ = ':';
		p = api_put_double(p, v->gauges[i].value);
	}
	p = API_LIT(p, "},\"gauges_dropped\":");
	p = api_put_u64(p, v->gauges_dropped);
	if (full) {
		p = API_LIT(p, ",\"histogram\":");
		if (v->have & PROTO_S_HIST) {
			uint64_t count = 0;

			p = API_LIT(p, "{\"buckets\":[");
			for (unsigned k = 0; k < PROTO_HIST_BUCKETS; k++) {
				p = API_LIT(p, "{\"le\":");
				p = k < PROTO_HIST_BUCKETS - 1 ?
				    api_put_u64(p, proto_hist_bounds[k]) : API_LIT(p, "null");
				p = API_LIT(p, ",\"count\":");
				p = api_put_u64(p, s->hist_count[k]);
				p = k < PROTO_HIST_BUCKETS - 1 ? API_LIT(p, "},") : API_LIT(p, "}");
				count += s->hist_count[k];
			}
			p = API_LIT(p, "],\"sum\":");
			p = api_put_u64(p, s->hist_sum);
			p = API_LIT(p, ",\"count\":");
			p = api_put_u64(p, count);
			*p++ = '}';
		} else {
			p = API_LIT(p, "null");
		}
	}
	*p++ = '}';
	return p;
}

/* Serializes and releases root. */
static int api_dump(json_t *root, char **out, size_t *len)
{
	char *s;

	if (root == NULL)
		return -ENOMEM;
	s = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(15));
	json_decref(root);
	if (s == NULL)
		return -ENOMEM;
	*out = s;
	*len = strlen(s);
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
	if (buf_failed(&b)) {
		buf_free(&b);
		return -ENOMEM;
	}
	*out = buf_steal(&b, len);
	return 0;
}

int api_process(const struct ptab_snap *snap, pid_t pid, char **out, size_t *len)
{
	for (size_t i = 0; i < snap->n; i++) {
		const struct ptab_view *v = &snap->procs[i];
		struct buf b = BUF_INIT;
		char *p;

		if (v->pid != pid)
			continue;
		p = buf_space(&b, api_proc_size(v));
		if (p == NULL)
			return -ENOMEM;
		buf_commit(&b, api_put_proc(p, v, 1));
		*out = buf_steal(&b, len);
		return 0;
	}
	return -ENOENT;
}

int api_error(const char *msg, char **out, size_t *len)
{
	json_t *root = json_object(), *s = json_string(msg);
	int ok = 1;

	/* json_string() refuses invalid UTF-8, which a quoted URL may hold. */
	if (s == NULL)
		s = json_string("bad request");
	if (root == NULL) {
		json_decref(s);
		return -ENOMEM;
	}
	api_set(root, "error", s, &ok);
	if (!ok) {
		json_decref(root);
		return -ENOMEM;
	}
	return api_dump(root, out, len);
}

int api_history(const struct ptab_hist *h, double mono_now, double wall_now,
    char **out, size_t *len)
{
	json_t *root = json_object(), *list = json_array();
	int ok = 1;

	if (root == NULL || list == NULL) {
		json_decref(root);
		json_decref(list);
		return -ENOMEM;
	}
	for (size_t i = 0; i < h->n; i++) {
		const struct ptab_hpoint *p = &h->points[i];
		json_t *o = json_object();

		if (o == NULL) {
			ok = 0;
			break;
		}
		api_set(o, "time", api_seconds(wall_now - (mono_now - p->t)), &ok);
		api_set(o, "heap_live_bytes", api_u64(p->heap_live_bytes), &ok);
		api_set(o, "heap_peak_bytes", api_u64(p->heap_peak_bytes), &ok);
		api_set(o, "heap_live_blocks", api_u64(p->heap_live_blocks), &ok);
		api_set(o, "stack_peak_bytes", api_u64(p->stack_peak_bytes), &ok);
		api_set(o, "mmap_live_bytes", api_u64(p->mmap_live_bytes), &ok);
		api_set(o, "resident_bytes", api_u64(p->resident_bytes), &ok);
		api_set(o, "threads", api_u64(p->threads), &ok);
		if (json_array_append_new(list, o) < 0)
			ok = 0;
	}
	api_set(root, "pid", json_integer(h->pid), &ok);
	api_set(root, "start_time", api_u64(h->start_time), &ok);
	api_set(root, "comm", json_string(h->comm), &ok);
	api_set(root, "state", json_string(h->exited ? "exited" : "live"), &ok);
	api_set(root, "samples", list, &ok);
	if (!ok) {
		json_decref(root);
		return -ENOMEM;
	}
	return api_dump(root, out, len);
}

int api_status(const struct api_status *st, char **out, size_t *len)
{
	json_t *root = json_object(), *counts = json_object(), *limits = json_object();
	json_t *settings = json_object(), *memory = json_object();
	int ok = 1;

	if (root == NULL || counts == NULL || limits == NULL || settings == NULL ||
	    memory == NULL) {
		json_decref(root);
		json_decref(counts);
		json_decref(limits);
		json_decref(settings);
		json_decref(memory);
		return -ENOMEM;
	}
	api_set(counts, "processes_tracked", api_u64(st->processes_tracked), &ok);
	api_set(counts, "processes_live", api_u64(st->processes_live), &ok);
	api_set(counts, "processes_exited",
	    api_u64(st->processes_tracked - st->processes_live), &ok);
	api_set(counts, "agents_connected", api_u64(st->agents_connected), &ok);
	api_set(counts, "connections_open", api_u64(st->connections_open), &ok);
	api_set(counts, "messages_received", api_u64(st->messages_received), &ok);
	api_set(counts, "messages_rejected", api_u64(st->messages_rejected), &ok);
	api_set(counts, "processes_refused", api_u64(st->processes_refused), &ok);
	api_set(counts, "connections_refused", api_u64(st->connections_refused), &ok);
	api_set(counts, "gauges_dropped", api_u64(st->gauges_dropped), &ok);
	api_set(limits, "max_connections", api_u64(st->max_connections), &ok);
	api_set(limits, "max_processes", api_u64(st->max_processes), &ok);
	api_set(limits, "max_gauges", api_u64(st->max_gauges), &ok);
	api_set(limits, "max_message_rate", api_u64(st->max_message_rate), &ok);
	api_set(limits, "http_max_connections", api_u64(st->http_max_connections), &ok);
	api_set(limits, "http_max_connections_per_ip", api_u64(st->http_max_connections_per_ip), &ok);
	api_set(limits, "http_timeout", api_u64(st->http_timeout), &ok);
	api_set(settings, "series", json_string(st->series), &ok);
	api_set(settings, "exited_ttl", api_u64(st->exited_ttl), &ok);
	api_set(settings, "history_length", api_u64(st->history_length), &ok);
	api_set(settings, "proc_interval", api_u64(st->proc_interval), &ok);
	api_set(memory, "table_bytes", api_u64(st->table_bytes), &ok);
	api_set(root, "version", json_string(st->version), &ok);
	api_set(root, "uptime_seconds", api_seconds(st->uptime_seconds), &ok);
	api_set(root, "started_at", api_seconds(st->started_at), &ok);
	api_set(root, "counts", counts, &ok);
	api_set(root, "limits", limits, &ok);
	api_set(root, "settings", settings, &ok);
	api_set(root, "memory", memory, &ok);
	api_set(root, "procfs_refresh_seconds", api_double(st->procfs_seconds), &ok);
	if (!ok) {
		json_decref(root);
		return -ENOMEM;
	}
	return api_dump(root, out, len);
}
