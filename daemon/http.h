/* http.h: the HTTP server (libmicrohttpd): /metrics, /api/v1/..., /healthz. */
#ifndef MEMPROBE_HTTP_H
#define MEMPROBE_HTTP_H

#include <stddef.h>

#include "ingest.h"
#include "ptab.h"
#include "refresh.h"

struct webauth;

struct http_conf {
	const char *listen_address;             /* HOST:PORT, see addr_parse() */
	int fd;                                 /* a listening socket passed by socket
						 * activation, or -1: bind listen_address */
	unsigned max_connections;
	unsigned max_connections_per_ip;
	unsigned timeout;                       /* seconds an idle connection lives */
	struct webauth *auth;                   /* TLS and who may ask (webauth.h): must
						 * outlive the server; NULL: plain and open */
};

/* What the handlers read; all must outlive the server (http_stop() first).
 * refresh may be NULL. */
struct http_sources {
	struct ptab *pt;
	const struct ingest *ing;
	struct refresh *refresh;
};

/* Settings the handlers follow that SIGHUP may change; also what
 * /api/v1/status reports. */
struct http_settings {
	int by_command;                         /* series = command */
	unsigned exited_ttl, history_length, proc_interval;
	unsigned max_connections, max_processes, max_gauges, max_message_rate;
	unsigned http_max_connections, http_max_connections_per_ip, http_timeout;
	unsigned profile_top_sites;             /* memprobe_heap_site_inuse_bytes; 0: off */
};

struct http;

/*
 * Binds the listen address itself (so a failure names it), or takes
 * conf->fd (owned by the server from the call on, even when it fails), and
 * starts libmicrohttpd's threads on it. The caller must have ignored SIGPIPE and
 * blocked the signals it handles. Returns 0 and *out, or a negative errno
 * with a message in err ("--web.listen-address ADDR: bind: Address already
 * in use").
 */
int http_start(struct http **out, const struct http_conf *conf, const struct http_sources *src,
    const struct http_settings *set, char *err, size_t errsize);

/* Replaces the settings; requests that start afterwards see them. */
void http_set_settings(struct http *h, const struct http_settings *set);

/* The bound address as "A.B.C.D:PORT" or "[IPv6]:PORT" (the real port when
 * 0 was asked for). */
const char *http_address(const struct http *h);

/* Stops accepting connections, lets the requests in flight finish (at most
 * a few seconds), stops the server and frees h. */
void http_stop(struct http *h);

#endif
