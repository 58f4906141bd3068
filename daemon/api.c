/* api.c: the JSON API (/api/v1/...) built from a process-table snapshot. */
#include "api.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/*
 * Allocation policy: jansson constructors return NULL on ENOMEM and the
 * json_object_set_new()/json_array_append_new() calls accept NULL and fail;
 * each builder records any failure in its `ok` flag and the caller turns
 * it into -ENOMEM.
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

static json_t *api_u64_array(const uint64_t *v, size_t n, int *ok)
{
	json_t *a = json_array();

	if (a == NULL) {
		*ok = 0;
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		if (json_array_append_new(a, api_u64(v[i])) < 0)
			*ok = 0;
	return a;
}

static json_t *api_heap(const struct ptab_view *v, int *ok)
{
	json_t *o;

	if (!(v->have & PROTO_S_HEAP))
		return json_null();
	o = json_object();
	if (o == NULL) {
		*ok = 0;
		return NULL;
	}
	api_set(o, "live_bytes", api_u64(v->s.heap_live_bytes), ok);
	api_set(o, "live_blocks", api_u64(v->s.heap_live_blocks), ok);
	api_set(o, "peak_bytes", api_u64(v->s.heap_peak_bytes), ok);
	api_set(o, "allocations", api_u64(v->s.heap_allocations), ok);
	api_set(o, "frees", api_u64(v->s.heap_frees), ok);
	api_set(o, "allocated_bytes", api_u64(v->s.heap_allocated_bytes), ok);
	api_set(o, "failed_allocations", api_u64(v->s.heap_failed), ok);
	return o;
}

static json_t *api_stack(const struct ptab_view *v, int *ok)
{
	json_t *o;

	if (!(v->have & PROTO_S_STACK))
		return json_null();
	o = json_object();
	if (o == NULL) {
		*ok = 0;
		return NULL;
	}
	api_set(o, "peak_bytes", api_u64(v->s.stack_peak_bytes), ok);
	api_set(o, "main_peak_bytes", api_u64(v->s.stack_main_peak_bytes), ok);
	api_set(o, "limit_bytes", api_u64(v->s.stack_limit_bytes), ok);
	return o;
}

static json_t *api_python(const struct ptab_view *v, int *ok)
{
	json_t *o, *gc;

	if (!(v->have & PROTO_S_PYTHON))
		return json_null();
	o = json_object();
	gc = json_object();
	if (o == NULL || gc == NULL) {
		json_decref(o);
		json_decref(gc);
		*ok = 0;
		return NULL;
	}
	api_set(o, "allocated_blocks", api_u64(v->s.py_allocated_blocks), ok);
	api_set(o, "recursion_limit", api_u64(v->s.py_recursion_limit), ok);
	api_set(o, "stack_depth_peak", api_u64(v->s.py_stack_depth_peak), ok);
	api_set(gc, "collections", api_u64_array(v->s.py_gc_collections, 3, ok), ok);
	api_set(gc, "collected", api_u64_array(v->s.py_gc_collected, 3, ok), ok);
	api_set(gc, "uncollectable", api_u64_array(v->s.py_gc_uncollectable, 3, ok), ok);
	api_set(gc, "count", api_u64_array(v->s.py_gc_count, 3, ok), ok);
	api_set(o, "gc", gc, ok);
	return o;
}

static json_t *api_histogram(const struct ptab_view *v, int *ok)
{
	json_t *o, *buckets;
	uint64_t count = 0;

	if (!(v->have & PROTO_S_HIST))
		return json_null();
	o = json_object();
	buckets = json_array();
	if (o == NULL || buckets == NULL) {
		json_decref(o);
		json_decref(buckets);
		*ok = 0;
		return NULL;
	}
	for (unsigned k = 0; k < PROTO_HIST_BUCKETS; k++) {
		json_t *b = json_object();

		if (b == NULL) {
			*ok = 0;
			continue;
		}
		api_set(b, "le", k < PROTO_HIST_BUCKETS - 1 ? api_u64(proto_hist_bounds[k]) :
		    json_null(), ok);
		api_set(b, "count", api_u64(v->s.hist_count[k]), ok);
		if (json_array_append_new(buckets, b) < 0)
			*ok = 0;
		count += v->s.hist_count[k];
	}
	api_set(o, "buckets", buckets, ok);
	api_set(o, "sum", api_u64(v->s.hist_sum), ok);
	api_set(o, "count", api_u64(count), ok);
	return o;
}

static json_t *api_procfs(const struct ptab_view *v, int *ok)
{
	json_t *o;

	if (!v->have_procfs)
		return json_null();
	o = json_object();
	if (o == NULL) {
		*ok = 0;
		return NULL;
	}
	api_set(o, "resident_bytes", api_u64(v->pfs.resident), ok);
	api_set(o, "resident_peak_bytes", api_u64(v->pfs.resident_peak), ok);
	api_set(o, "stack_mapped_bytes", api_u64(v->pfs.stack_mapped), ok);
	api_set(o, "data_bytes", api_u64(v->pfs.data), ok);
	api_set(o, "threads", api_u64(v->pfs.threads), ok);
	return o;
}

/* A new PROCESS object (see api.h), or NULL when out of memory. */
static json_t *api_proc(const struct ptab_view *v, int full)
{
	json_t *o = json_object(), *agents = json_array(), *gauges = json_object();
	int ok = 1;

	if (o == NULL || agents == NULL || gauges == NULL) {
		json_decref(o);
		json_decref(agents);
		json_decref(gauges);
		return NULL;
	}
	if (v->agents & PTAB_AGENT_BIT(PROTO_AGENT_C))
		ok &= json_array_append_new(agents, json_string("c")) == 0;
	if (v->agents & PTAB_AGENT_BIT(PROTO_AGENT_PYTHON))
		ok &= json_array_append_new(agents, json_string("python")) == 0;
	for (size_t i = 0; i < v->ngauges; i++)
		api_set(gauges, v->gauges[i].name, api_double(v->gauges[i].value), &ok);

	api_set(o, "pid", json_integer(v->pid), &ok);
	api_set(o, "start_time", api_u64(v->start_time), &ok);
	/* ptab keeps comm and exe valid UTF-8, which json_string() needs. */
	api_set(o, "comm", json_string(v->comm), &ok);
	api_set(o, "exe", json_string(v->exe), &ok);
	api_set(o, "uid", api_u64(v->uid), &ok);
	api_set(o, "agents", agents, &ok);
	api_set(o, "connections", api_u64(v->connections), &ok);
	api_set(o, "state", json_string(v->exited ? "exited" : "live"), &ok);
	api_set(o, "exited_seconds_ago", v->exited ? api_seconds(v->exited_seconds) : json_null(), &ok);
	api_set(o, "tracked_seconds", api_seconds(v->age_seconds), &ok);
	api_set(o, "samples", api_u64(v->samples), &ok);
	api_set(o, "samples_dropped", api_u64(v->s.samples_dropped), &ok);
	api_set(o, "threads", v->have_threads ? api_u64(v->s.threads) : json_null(), &ok);
	api_set(o, "heap", api_heap(v, &ok), &ok);
	api_set(o, "mmap_live_bytes",
	    (v->have & PROTO_S_HEAP) ? api_u64(v->s.mmap_live_bytes) : json_null(), &ok);
	api_set(o, "stack", api_stack(v, &ok), &ok);
	api_set(o, "python", api_python(v, &ok), &ok);
	api_set(o, "proc", api_procfs(v, &ok), &ok);
	api_set(o, "gauges", gauges, &ok);
	api_set(o, "gauges_dropped", api_u64(v->gauges_dropped), &ok);
	if (full)
		api_set(o, "histogram", api_histogram(v, &ok), &ok);
	if (!ok) {
		json_decref(o);
		return NULL;
	}
	return o;
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
	json_t *root = json_object(), *list = json_array();
	int ok = 1;

	if (root == NULL || list == NULL) {
		json_decref(root);
		json_decref(list);
		return -ENOMEM;
	}
	for (size_t i = 0; i < snap->n; i++) {
		json_t *p = api_proc(&snap->procs[i], 0);

		if (p == NULL || json_array_append_new(list, p) < 0)
			ok = 0;
	}
	api_set(root, "processes", list, &ok);
	if (!ok) {
		json_decref(root);
		return -ENOMEM;
	}
	return api_dump(root, out, len);
}

int api_process(const struct ptab_snap *snap, pid_t pid, char **out, size_t *len)
{
	for (size_t i = 0; i < snap->n; i++)
		if (snap->procs[i].pid == pid)
			return api_dump(api_proc(&snap->procs[i], 1), out, len);
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
