/* it_prom.c: samples of the Prometheus text format by name and label, and waits on /metrics. */
#include "it_prom.h"
#include "it_base.h"
#include "it_file.h"
#include "it_http.h"
#include "it_proc.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *it_label_value(const char *p, char *out, size_t size)
{
	size_t n = 0;

	for (;;) {
		char c = *p++;

		if (c == '\0' || c == '\n')
			return NULL;
		if (c == '"')
			break;
		if (c == '\\') {
			c = *p++;
			if (c == 'n')
				c = '\n';
			else if (c != '\\' && c != '"')
				return NULL;
		}
		if (n + 1 < size)
			out[n++] = c;
	}
	out[n] = '\0';
	return p;
}

/*
 * Whether the label set starting after '{' holds label="value". Label values
 * are compared unescaped (\\, \", \n). *end gets the character after '}',
 * or NULL when the set is malformed.
 */
static int labels_match(const char *p, const char *label, const char *value,
    const char **end)
{
	char v[1024];
	int match = label == NULL;

	*end = NULL;
	for (;;) {
		const char *name;
		size_t nlen;

		while (*p == ' ' || *p == ',')
			p++;
		if (*p == '}') {
			*end = p + 1;
			return match;
		}
		name = p;
		while (*p != '\0' && *p != '=' && *p != '}' && *p != '\n')
			p++;
		if (*p != '=' || p[1] != '"')
			return 0;
		nlen = (size_t)(p - name);
		p = it_label_value(p + 2, v, sizeof(v));
		if (p == NULL)
			return 0;
		if (label != NULL && strlen(label) == nlen && strncmp(name, label, nlen) == 0 &&
		    strcmp(v, value) == 0)
			match = 1;
	}
}

/* Calls fn for each sample of `name` whose labels match; returns how many. */
static int each_sample(const char *text, const char *name, const char *label,
    const char *value, void (*fn)(double, void *), void *arg)
{
	size_t nlen = strlen(name);
	const char *line = text;
	int n = 0;

	while (line != NULL && *line != '\0') {
		const char *next = strchr(line, '\n');
		const char *p = line + nlen;

		if (next != NULL)
			next++;
		if (*line == '#' || strncmp(line, name, nlen) != 0 || (*p != '{' && *p != ' ')) {
			line = next;
			continue;
		}
		if (*p == '{') {
			if (!labels_match(p + 1, label, value, &p) || p == NULL) {
				line = next;
				continue;
			}
		} else if (label != NULL) {
			line = next;
			continue;
		}
		while (*p == ' ')
			p++;
		fn(strtod(p, NULL), arg);
		n++;
		line = next;
	}
	return n;
}

static void keep_value(double v, void *arg)
{
	*(double *)arg = v;
}

static void add_value(double v, void *arg)
{
	*(double *)arg += v;
}

int it_metric(const char *text, const char *name, const char *label,
    const char *value, double *out)
{
	double v = 0;
	int n = each_sample(text, name, label, value, keep_value, &v);

	if (n > 0)
		*out = v;
	return n > 0;
}

int it_metric_pid(const char *text, const char *name, long pid, double *out)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%ld", pid);
	return it_metric(text, name, "pid", buf, out);
}

double it_metric_sum(const char *text, const char *name, const char *label,
    const char *value)
{
	double sum = 0;

	each_sample(text, name, label, value, add_value, &sum);
	return sum;
}

/* A wait on one series of /metrics. */
struct metric_wait {
	const char *url;
	const char *name;
	const char *label, *value;      /* NULL: any sample */
	double lo, hi;                  /* the range waited for */
	int absent;                     /* wait for the series to be gone instead */
	double last;                    /* last value seen; -1: never there */
};

/* Scrapes once: whether the series is in range (or gone, when absent). */
static int metric_ok(void *arg)
{
	struct metric_wait *w = arg;
	struct it_http r;
	int ok = 0, found;
	double v = 0;

	if (it_get(w->url, "/metrics", &r) == 0 && r.status == 200) {
		found = it_metric(r.body, w->name, w->label, w->value, &v);
		if (found)
			w->last = v;
		ok = w->absent ? !found : found && v >= w->lo && v <= w->hi;
	}
	it_http_free(&r);
	return ok;
}

/* Waits on w; says on stderr what was last seen when the bound passed. */
static int wait_metric(struct metric_wait *w, int timeout_ms)
{
	if (it_wait_until(metric_ok, w, timeout_ms))
		return 1;
	fprintf(stderr, "  %s{%s=\"%s\"}: ", w->name, w->label ? w->label : "",
	    w->value ? w->value : "");
	if (w->absent)
		fprintf(stderr, "still there (%g)\n", w->last);
	else
		fprintf(stderr, "last %g (-1: never there), want [%g, %g]\n", w->last, w->lo,
		    w->hi);
	return 0;
}

double it_metric_now(const char *base_url, const char *name, const char *label,
    const char *value)
{
	struct metric_wait w = { base_url, name, label, value, 0, 0, 0, -1 };

	metric_ok(&w);
	return w.last;
}

int it_wait_metric(const char *base_url, const char *name, long pid,
    double lo, double hi, int timeout_ms, double *last)
{
	char buf[32];
	struct metric_wait w = { base_url, name, "pid", buf, lo, hi, 0, -1 };
	int ok;

	snprintf(buf, sizeof(buf), "%ld", pid);
	/* Callers say themselves what they waited for. */
	ok = it_wait_until(metric_ok, &w, timeout_ms);
	if (last != NULL)
		*last = w.last;
	return ok;
}

int it_wait_metric_label(const char *base_url, const char *name, const char *label,
    const char *value, double lo, double hi)
{
	struct metric_wait w = { base_url, name, label, value, lo, hi, 0, -1 };

	return wait_metric(&w, IT_TIMEOUT_MS);
}

int it_wait_metric_min(const char *base_url, const char *name, const char *label,
    const char *value, double lo, double *last)
{
	struct metric_wait w = { base_url, name, label, value, lo, HUGE_VAL, 0, -1 };
	int ok = wait_metric(&w, IT_TIMEOUT_MS);

	if (last != NULL)
		*last = w.last;
	return ok;
}

int it_wait_metric_absent(const char *base_url, const char *name, const char *label,
    const char *value)
{
	struct metric_wait w = { base_url, name, label, value, 0, 0, 1, -1 };

	return wait_metric(&w, IT_TIMEOUT_MS);
}

int it_promtool_check(const char *dir, const char *body, char *out, size_t size)
{
	char path[PATH_MAX], cmd[PATH_MAX + 64];

	out[0] = '\0';
	if (snprintf(path, sizeof(path), "%s/metrics.txt", dir) >= (int)sizeof(path) ||
	    it_write_file(path, body) < 0)
		return -1;
	if (snprintf(cmd, sizeof(cmd), "promtool check metrics < '%s' 2>&1",
	    path) >= (int)sizeof(cmd))
		return -1;
	return it_shell(cmd, out, size);
}
