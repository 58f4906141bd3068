/* it_prom.h: the Prometheus text format as the tests read it: samples by name and label, waits on /metrics. */
#ifndef MEMPROBE_IT_PROM_H
#define MEMPROBE_IT_PROM_H

#include <stddef.h>

/*
 * Reads one label value of the exposition at p (just after its opening
 * quote), unescaped, into out (cut to size - 1). Returns the character
 * after the closing quote, or NULL when the value is malformed.
 */
const char *it_label_value(const char *p, char *out, size_t size);

/*
 * Finds the sample of metric `name` (exactly, not a longer name) whose
 * labels include label="value" (unescaped), or any sample of it when label
 * is NULL. Stores its value in *out and returns 1; returns 0 if none.
 */
int it_metric(const char *text, const char *name, const char *label,
    const char *value, double *out);

/* A label wanted on a sample: name="value". */
struct it_label {
	const char *name;
	const char *value;      /* unescaped; for "le" compared as a number */
};
#define IT_LABELS_MAX 8

/* As it_metric() for the first sample that has every label of want[0..n)
 * (n at most IT_LABELS_MAX); a label "le" matches by its number. */
int it_metric_labels(const char *text, const char *name, const struct it_label *want, size_t n,
    double *out);

/* As it_metric() with label pid="pid". */
int it_metric_pid(const char *text, const char *name, long pid, double *out);

/* Sum of every sample of metric `name` whose labels include label="value"
 * (any sample when label is NULL); 0 when none. */
double it_metric_sum(const char *text, const char *name, const char *label,
    const char *value);

/*
 * The value of metric name{label="value"} (any sample when label is NULL)
 * in a scrape of base_url/metrics now, or -1 when it is not there.
 */
double it_metric_now(const char *base_url, const char *name, const char *label,
    const char *value);

/*
 * Polls base_url/metrics until metric `name` for pid is within [lo, hi].
 * Returns 1 if it was; 0 after timeout_ms. *last (may be NULL) gets the
 * last value seen, or -1 if the series was never there.
 */
int it_wait_metric(const char *base_url, const char *name, long pid,
    double lo, double hi, int timeout_ms, double *last);

/*
 * Polls base_url/metrics until name{label="value"} (any sample when label
 * is NULL) is within [lo, hi]. Returns 1 if it was; 0 after IT_TIMEOUT_MS,
 * having printed the last value.
 */
int it_wait_metric_label(const char *base_url, const char *name, const char *label,
    const char *value, double lo, double hi);

/* As it_wait_metric_label() for a value of at least lo; *last (may be
 * NULL) gets the last value seen, or -1 if the series was never there. */
int it_wait_metric_min(const char *base_url, const char *name, const char *label,
    const char *value, double lo, double *last);

/* Polls base_url/metrics until name{label="value"} is not there. Returns
 * 1 if so; 0 after IT_TIMEOUT_MS, having said so. */
int it_wait_metric_absent(const char *base_url, const char *name, const char *label,
    const char *value);

/*
 * Runs `promtool check metrics` on body (saved to a file in dir). Returns
 * promtool's exit status (-1 if it could not run) and puts what it printed
 * in out.
 */
int it_promtool_check(const char *dir, const char *body, char *out, size_t size);

#endif
