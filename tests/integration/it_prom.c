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

/* Whether label value v is the wanted w: "le" (a bucket bound) compares
 * as a number, so that 1e+06 is 1000000. */
static int label_is(const char *name, size_t nlen, const char *v, const struct it_label *w)
{
	if (strlen(w->name) != nlen || strncmp(name, w->name, nlen) != 0)
		return 0;
	if (strcmp(w->name, "le") == 0)
		return strtod(v, NULL) == strtod(w->value, NULL);
	return strcmp(v, w->value) == 0;
}

/*
 * Whether the label set starting after '{' holds every label="value" of
 * want[0..n). Label values are compared unescaped (\\, \", \n). *end gets
 * the character after '}', or NULL when the set is malformed.
 */
static int labels_match(const char *p, const struct it_label *want, size_t n,
    const char **end)
{
	char v[1024];
	unsigned found = 0;     /* bit i: want[i] seen */

	*end = NULL;
	for (;;) {
		const char *name;
		size_t nlen;

		while (*p == ' ' || *p == ',')
			p++;
		if (*p == '}') {
			*end = p + 1;
			return found == (1u << n) - 1;
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
		for (size_t i = 0; i < n; i++)
			if (label_is(name, nlen, v, &want[i]))
				found |= 1u << i;
	}
}

/* Calls fn for each sample of `name` whose labels include want[0..n);
 * returns how many. */
static int each_sample(const char *text, const char *name, const struct it_label *want,
    size_t n, void (*fn)(double, void *), void *arg)
{
	size_t nlen = strlen(name);
	const char *line = text;
	int count = 0;

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
			if (!labels_match(p + 1, want, n, &p) || p == NULL) {
				line = next;
				continue;
			}
		} else if (n > 0) {
			line = next;
			continue;
		}
		while (*p == ' ')
			p++;
		fn(strtod(p, NULL), arg);
		count++;
		line = next;
	}
	return count;
}

static void keep_value(double v, void *arg)
{
	*(double *)arg = v;
}

static void add_value(double v, void *arg)
{
	*(double *)arg += v;
}

/* The first value of a sample, for it_metric_labels(). */
struct first {
	double v;
	int seen;
};

static void keep_first(double v, void *arg)
{
	struct first *f = arg;

	if (!f->seen)
		f->v = v;
	f->seen = 1;
}

int it_metric_labels(const char *text, const char *name, const struct it_label *want, size_t n,
    double *out)
{
	struct first f = { 0, 0 };

	if (n > IT_LABELS_MAX || each_sample(text, name, want, n, keep_first, &f) == 0)
		return 0;
	*out = f.v;
	return 1;
}

int it_metric(const char *text, const char *name, const char *label,
    const char *value, double *out)
{
	struct it_label want = { label, value };
	double v = 0;
	int n = each_sample(text, name, &want, label != NULL, keep_value, &v);

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
	struct it_label want = { label, value };
	double sum = 0;

	each_sample(text, name, &want, label != NULL, add_value, &sum);
	return sum;
}

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
