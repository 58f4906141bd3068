/* ctl_http.h: the one HTTP request memprobectl makes, a GET over libcurl, for JSON or a binary profile. */
#ifndef MEMPROBE_CTL_HTTP_H
#define MEMPROBE_CTL_HTTP_H

#include <stddef.h>

/* Largest response body accepted; a larger one fails with -EMSGSIZE. */
#define CTL_HTTP_MAX_BODY ((size_t)64 << 20)

struct ctl_http_reply {
	long status;    /* HTTP status code */
	char *body;     /* owned, NUL-terminated (the NUL not counted in len) */
	size_t len;
};

/*
 * How to reach a daemon behind its web config (TLS, client certificates,
 * basic auth); every field may be NULL.
 */
struct ctl_http_access {
	const char *ca_file;        /* CA to verify an https server against;
				     * NULL: the system's */
	const char *cert, *key;     /* client certificate and key (PEM) */
	const char *user;           /* basic auth user; password with it */
	const char *password;
};

/* Sets libcurl up; call once before any other ctl_http_*. Returns 0 or -ENOMEM. */
int ctl_http_init(void);

/* Uses ACCESS (copied by pointer: its strings must outlive the requests)
 * for every later ctl_http_get(). */
void ctl_http_set_access(const struct ctl_http_access *access);

/* Releases what ctl_http_init() set up. */
void ctl_http_fini(void);

/*
 * GETs URL ("http://" or "https://"; a URL without a scheme is taken as
 * http) with TIMEOUT_MS for the whole exchange, Accept: ACCEPT (a media
 * type, as "application/json"), no redirects followed, and no proxy for loopback hosts (other hosts obey
 * the usual *_proxy variables).
 *
 * Returns 0 when a response of any status arrived, with *REPLY filled (the
 * caller frees it with ctl_http_reply_free()), or a negative errno with a
 * reason for one line of output in ERR (ERRLEN bytes), REPLY untouched:
 *   -EINVAL    URL is malformed or not http(s)
 *   -EMSGSIZE  the body exceeds CTL_HTTP_MAX_BODY
 *   -ENOMEM    out of memory
 *   -EPROTO    the server answered in something that is not HTTP
 *   -ECONNREFUSED  no connection: refused, unresolved, timed out
 *   -EPROTONOSUPPORT  an https URL, and the server answered the TLS
 *              handshake in something that is not TLS (plain HTTP)
 *   -EIO       anything else: TLS, a connection closed early, ... (libcurl's
 *              detail)
 */
int ctl_http_get(const char *url, const char *accept, long timeout_ms, struct ctl_http_reply *reply,
    char *err, size_t errlen);

/* Frees what ctl_http_get() put in REPLY. */
void ctl_http_reply_free(struct ctl_http_reply *reply);

#endif
