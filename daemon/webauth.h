/* webauth.h: who may use the HTTP server: the rules of a web config (TLS from tls.h, basic auth from basicauth.h), checked per request and replaced on reload. */
#ifndef MEMPROBE_WEBAUTH_H
#define MEMPROBE_WEBAUTH_H

#include <microhttpd.h>
#include <stddef.h>

#include "webconf.h"

struct webauth;

enum webauth_verdict {
	WEBAUTH_OK,
	WEBAUTH_NO_CREDENTIALS,         /* 401: no (or a malformed) Authorization header */
	WEBAUTH_BAD_CREDENTIALS,        /* 401: unknown user or wrong password */
	WEBAUTH_BAD_CERT,               /* 403: client certificate missing or not verified */
};

/*
 * Builds the access rules of a loaded web configuration (webconf_load(),
 * which read the PEM files): its TLS (tls_new()), its basic auth users
 * (basicauth_new()) and auth_excluded_paths. Copies what it keeps; wc
 * may be freed afterwards. Returns 0 and *out, or a negative errno with
 * one line in err naming the file, line and key.
 */
int webauth_new(struct webauth **out, const struct webconf *wc, char *err, size_t errsize);

/* Frees a, every set of rules that replaced it and the ones they replaced
 * (and wipes the keys they held), once the server has stopped. NULL:
 * nothing. */
void webauth_free(struct webauth *a);

/*
 * Puts the rules `next` (from webauth_new()) in force in place of those of
 * `a` (the object made at start, which the server holds), for requests and
 * TLS connections that start from now on; those under way finish with the
 * rules they began with, which are freed after them. Takes `next` in any
 * case. TLS can be neither added nor removed while the server runs:
 * -EINVAL with a line in err, and the rules stay as they were. Thread-safe
 * against the server's threads; called by one thread at a time.
 */
int webauth_replace(struct webauth *a, struct webauth *next, char *err, size_t errsize);

/* Whether connections are TLS. NULL: no. */
int webauth_tls(const struct webauth *a);

/* A line for the log, of the rules in force: "TLS 1.2 to 1.3, client
 * certificates RequireAndVerifyClientCert, basic auth (2 users)". */
void webauth_describe(struct webauth *a, char *buf, size_t size);

/*
 * What MHD_start_daemon() needs for TLS: flags to add (MHD_USE_TLS) and
 * options (key, certificate, priorities, and a connection callback that
 * gives each TLS session the credentials, client CA and priorities of the
 * rules in force and makes the handshake ask for and verify client
 * certificates), written to opts (room for max, at least 8) and ended by
 * MHD_OPTION_END. The options point into a, which must outlive the daemon.
 * a may be NULL: no flags, no options.
 */
unsigned webauth_mhd_flags(const struct webauth *a);
void webauth_mhd_options(struct webauth *a, struct MHD_OptionItem *opts, size_t max);

/*
 * Checks a request for path (the URL's path) against the rules in force:
 * the client certificate (again, after the handshake) as client_auth_type
 * says, then the basic auth credentials unless path is one of
 * auth_excluded_paths. Thread-safe.
 * On a refusal writes a reason for the log into why (peer address, the
 * user name escaped; never the password).
 */
enum webauth_verdict webauth_check(struct webauth *a, struct MHD_Connection *conn,
    const char *path, char *why, size_t whysize);

/* Queues the answer to a refused request: 401 with
 * `WWW-Authenticate: Basic realm="memprobe"` or 403, a JSON error body. */
enum MHD_Result webauth_respond(struct MHD_Connection *conn, enum webauth_verdict v);

#endif
