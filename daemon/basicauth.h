/* basicauth.h: HTTP Basic authentication: the Authorization header, bcrypt (libxcrypt) and a cache of recent successes. */
#ifndef MEMPROBE_BASICAUTH_H
#define MEMPROBE_BASICAUTH_H

#include <stddef.h>

#include "webconf.h"

struct basicauth;

/* How long a successful verification is remembered. */
#define BASICAUTH_CACHE_SECONDS 60
#define BASICAUTH_CACHE_SIZE 64
/* Longest user name and password taken from an Authorization header. */
#define BASICAUTH_MAX_USER 256
#define BASICAUTH_MAX_PASSWORD 1024

/*
 * The users of wc's basic_auth_users (none: *out still made, with no
 * users), each hash checked with libxcrypt. Copies what it keeps. Returns
 * 0 and *out, or a negative errno with one line in err naming the file,
 * line and user.
 */
int basicauth_new(struct basicauth **out, const struct webconf *wc, char *err, size_t errsize);

/* Frees b (NULL: nothing). */
void basicauth_free(struct basicauth *b);

/* How many users b has; 0: basic auth is off. */
size_t basicauth_users(const struct basicauth *b);

/*
 * Decodes an Authorization header value "Basic BASE64(user:password)"
 * (scheme case-insensitive, strict base64 with padding, GnuTLS's decoder)
 * into user and pass. Returns 0, or -EINVAL when it is not that, holds a
 * NUL, has no ':' or does not fit (usize, psize include the NUL). A pure
 * function.
 */
int basicauth_parse(const char *header, char *user, size_t usize, char *pass, size_t psize);

/*
 * Whether user and pass are a configured user and their password: bcrypt
 * of pass against the user's hash, or against a dummy hash of the highest
 * configured cost for an unknown user, compared in constant time; a
 * success is remembered BASICAUTH_CACHE_SECONDS (keyed by a salted SHA-256
 * of user, password and hash) so scrapes do not pay bcrypt each time.
 * now is CLOCK_MONOTONIC seconds. Returns 1 or 0. Thread-safe.
 */
int basicauth_password_ok(struct basicauth *b, const char *user, const char *pass, double now);

#endif
