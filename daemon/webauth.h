/* webauth.h: who may use the HTTP server: TLS through libmicrohttpd's GnuTLS, client certificates, basic auth with bcrypt (libxcrypt). */
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

/* How long a successful basic auth verification is remembered. */
#define WEBAUTH_CACHE_SECONDS 60
#define WEBAUTH_CACHE_SIZE 64
/* Longest user name and password taken from an Authorization header. */
#define WEBAUTH_MAX_USER 256
#define WEBAUTH_MAX_PASSWORD 1024

/*
 * Builds the access rules of a loaded web configuration (webconf_load(),
 * which read the PEM files): checks that the certificate, key and client
 * CA are what GnuTLS can use and belong together, that libmicrohttpd has
 * TLS and that libxcrypt takes each bcrypt hash. Copies what it keeps; wc
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

/*
 * Decodes an Authorization header value "Basic BASE64(user:password)"
 * (scheme case-insensitive, strict base64 with padding) into user and
 * pass. Returns 0, or -EINVAL when it is not that, holds a NUL, has no
 * ':' or does not fit (usize, psize include the NUL). A pure function.
 */
int webauth_parse_basic(const char *header, char *user, size_t usize, char *pass, size_t psize);

/*
 * Whether user and pass are a configured user and their password: bcrypt
 * of pass against the user's hash, or against a dummy hash of the highest
 * configured cost for an unknown user, compared in constant time; a
 * success is remembered WEBAUTH_CACHE_SECONDS (keyed by a salted SHA-256
 * of user, password and hash) so scrapes do not pay bcrypt each time.
 * now is CLOCK_MONOTONIC seconds. Returns 1 or 0. Thread-safe.
 */
int webauth_password_ok(struct webauth *a, const char *user, const char *pass, double now);

#endif
