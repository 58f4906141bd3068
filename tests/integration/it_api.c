/* it_api.c: entries of /api/v1/processes and waits on them. */
#include "it_api.h"
#include "it_base.h"

#include <stdio.h>
#include <string.h>

/* GETs base_url/api/v1/processes: its body parsed (a new reference the
 * caller json_decref()s), or NULL when there was no 200 answer. */
static json_t *get_processes(const char *base_url)
{
	struct it_http r;
	json_t *root = NULL;

	if (it_get(base_url, "/api/v1/processes", &r) == 0 && r.status == 200)
		root = json_loadb(r.body, r.len, 0, NULL);
	it_http_free(&r);
	return root;
}

json_t *it_api_process(const char *base_url, long pid)
{
	json_t *root = get_processes(base_url), *entry, *found = NULL;
	json_t *list = json_object_get(root, "processes");
	size_t i;

	json_array_foreach(list, i, entry) {
		json_t *p = json_object_get(entry, "pid");

		if (json_is_integer(p) && json_integer_value(p) == pid) {
			found = json_incref(entry);
			break;
		}
	}
	json_decref(root);
	return found;
}

int it_json_num(json_t *obj, const char *path, double *out)
{
	char key[128];
	const char *dot;

	while ((dot = strchr(path, '.')) != NULL) {
		size_t n = (size_t)(dot - path);

		if (n >= sizeof(key))
			return 0;
		memcpy(key, path, n);
		key[n] = '\0';
		obj = json_object_get(obj, key);
		path = dot + 1;
	}
	obj = json_object_get(obj, path);
	if (!json_is_number(obj))
		return 0;
	*out = json_number_value(obj);
	return 1;
}

int it_json_str_is(json_t *obj, const char *key, const char *want)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s != NULL && strcmp(s, want) == 0;
}

struct api_num_wait {
	const char *url;
	long pid;
	const char *path;
	double lo;
	double last;            /* -1: not seen */
};

static int api_num_reached(void *arg)
{
	struct api_num_wait *w = arg;
	json_t *e = it_api_process(w->url, w->pid);
	double v;

	if (e != NULL && it_json_num(e, w->path, &v))
		w->last = v;
	json_decref(e);
	return w->last >= w->lo;
}

int it_wait_api_num(const char *base_url, long pid, const char *path, double lo)
{
	struct api_num_wait w = { base_url, pid, path, lo, -1 };

	if (it_wait_until(api_num_reached, &w, IT_TIMEOUT_MS))
		return 1;
	fprintf(stderr, "  /api/v1/processes pid %ld: %s last %g (-1: never there), want >= %g\n",
	    pid, path, w.last, lo);
	return 0;
}

int it_is_json_error(const struct it_http *r)
{
	char ctype[128];
	json_t *root = json_loadb(r->body, r->len, 0, NULL);
	int ok = json_is_object(root) && json_is_string(json_object_get(root, "error")) &&
	    it_http_header(r, "Content-Type", ctype, sizeof(ctype)) &&
	    strncmp(ctype, "application/json", 16) == 0;

	json_decref(root);
	return ok;
}

struct seen_wait {
	const char *url;
	long pid;               /* wanted pid, or 0 */
	const char *comm;       /* wanted comm, or NULL */
	int min;                /* at least this many entries of comm */
	int count;              /* last count */
	int or_gone;            /* exited entries named "?" count too */
};

/* Counts entries of /api/v1/processes with w->comm, or finds w->pid. */
static int seen(void *arg)
{
	struct seen_wait *w = arg;
	json_t *root = get_processes(w->url), *e;
	json_t *list = json_object_get(root, "processes");
	size_t i;

	w->count = 0;
	json_array_foreach(list, i, e) {
		json_t *pid = json_object_get(e, "pid");
		const char *comm = json_string_value(json_object_get(e, "comm"));

		if (w->pid > 0 && json_integer_value(pid) == w->pid)
			w->count++;
		else if (w->comm != NULL && comm != NULL && strcmp(comm, w->comm) == 0)
			w->count++;
		else if (w->or_gone && comm != NULL && strcmp(comm, "?") == 0 &&
		    it_json_str_is(e, "state", "exited"))
			w->count++;
	}
	json_decref(root);
	return w->count >= w->min;
}

int it_wait_seen_pid(const char *base_url, long pid, const char *what)
{
	struct seen_wait w = { base_url, pid, NULL, 1, 0, 0 };

	if (it_wait_until(seen, &w, IT_TIMEOUT_MS))
		return 1;
	fprintf(stderr, "  %s (pid %ld) never appeared in /api/v1/processes\n", what, pid);
	return 0;
}

static int wait_seen_named(const char *base_url, const char *comm, int min, int or_gone)
{
	struct seen_wait w = { base_url, 0, comm, min, 0, or_gone };

	if (it_wait_until(seen, &w, IT_TIMEOUT_MS))
		return 1;
	fprintf(stderr, "  /api/v1/processes: %d processes named %s%s, want at least %d\n",
	    w.count, comm, or_gone ? " or ended unnamed" : "", min);
	return 0;
}

int it_wait_seen_comm(const char *base_url, const char *comm, int min)
{
	return wait_seen_named(base_url, comm, min, 0);
}

int it_wait_seen_short(const char *base_url, const char *comm, int min)
{
	return wait_seen_named(base_url, comm, min, 1);
}
