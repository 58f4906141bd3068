/* http.h: the HTTP server (libmicrohttpd): /metrics, /api/v1/..., /healthz. */
#ifndef MEMPROBE_HTTP_H
#define MEMPROBE_HTTP_H

#include <stddef.h>

#include "ingest.h"
#include "ptab.h"

struct http_conf {
	const char *listen_address;             /* HOST:PORT, see addr_parse() */
	unsigned max_connections;
	unsigned max_connections_per_ip;
	unsigned timeout;                       /* seconds an idle connection lives */
};

/* What the handlers read; both must outlive the server (http_stop() first). */
struct http_sources {
	struct ptab *pt;
	const struct ingest *ing;
};

struct http;

/*
 * Binds the listen address itself (so a failure names it) and starts
 * libmicrohttpd's polling thread on it. The caller must have ignored
 * SIGPIPE and blocked the signals it handles. Returns 0 and *out, or a
 * negative errno with a message in err ("--web.listen-address ADDR: bind:
 * Address already in use").
 */
int http_start(struct http **out, const struct http_conf *conf, const struct http_sources *src,
    char *err, size_t errsize);

/* The bound address as "A.B.C.D:PORT" or "[IPv6]:PORT" (the real port when
 * 0 was asked for). */
const char *http_address(const struct http *h);

/* Stops the server, waiting for requests in flight, and frees h. */
void http_stop(struct http *h);

#endif
