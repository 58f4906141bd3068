/* conneg.h: HTTP content negotiation for /metrics: Accept and Accept-Encoding with q-values. */
#ifndef MEMPROBE_CONNEG_H
#define MEMPROBE_CONNEG_H

/* The exposition formats /metrics can answer with. */
enum conneg_format {
	CONNEG_TEXT_004,                /* text/plain; version=0.0.4 */
	CONNEG_OPENMETRICS_100,         /* application/openmetrics-text; version=1.0.0 */
	CONNEG_OPENMETRICS_001,         /* the same body, asked for as version 0.0.1 */
};

/*
 * Picks the format for an Accept header value (NULL: none sent). Media
 * ranges are weighed by their q (RFC 9110 12.5.1; q=0 means "not this");
 * at equal q an exact type beats a wildcard, then the earlier one wins.
 * application/openmetrics-text matches with version 1.0.0, 0.0.1 or none;
 * text/plain with version 0.0.4 or none; * / * and text/ * mean the text
 * format. Malformed ranges are skipped. When nothing matches the answer is
 * the text format, as Prometheus expects, never an error.
 * Pure: no allocation, no global state, linear in the input.
 */
enum conneg_format conneg_format(const char *accept);

/* Whether an Accept-Encoding value (NULL: none sent) lets the body be
 * gzip-compressed: gzip, x-gzip or * with q > 0 and not below an
 * explicitly weighted identity. Pure, as above. */
int conneg_gzip(const char *accept_encoding);

#endif
