/* webauth.c: who may use the HTTP server: the per-request verdict of TLS client certificates (tls.c) and basic auth (basicauth.c), the answer to a refusal, and new rules on reload. */
#include "webauth.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "basicauth.h"
#include "clock.h"
#include "log.h"
#include "tls.h"

#define REALM "memprobe"

struct webauth {
	struct tls *tls;                /* NULL: plain HTTP */
	struct basicauth *basic;
	char **excluded;                /* auth_excluded_paths */
	size_t nexcluded;
	/*
	 * Replacing the rules (SIGHUP): the object made at start is the one
	 * the server holds; `cur` is the set in force. A request or a TLS
	 * connection takes a reference to cur for as long as it uses it; a
	 * replaced set is kept on `retired` until its last reference goes.
	 * All of these are the start object's, under its swap_lock.
	 */
	pthread_mutex_t swap_lock;
	struct webauth *cur;
	struct webauth *retired;        /* list, linked by next_retired */
	struct webauth *next_retired;
	unsigned refs;
};

/* ---- setting up ---- */

/* Copies wc's auth_excluded_paths into a. Returns 0 or -ENOMEM. */
static int copy_excluded(struct webauth *a, const struct webconf *wc)
{
	if (wc->nexcluded == 0)
		return 0;
	a->excluded = calloc(wc->nexcluded, sizeof(*a->excluded));
	if (a->excluded == NULL)
		return -ENOMEM;
	for (; a->nexcluded < wc->nexcluded; a->nexcluded++) {
		a->excluded[a->nexcluded] = strdup(wc->excluded[a->nexcluded]);
		if (a->excluded[a->nexcluded] == NULL)
			return -ENOMEM;
	}
	return 0;
}

static void webauth_free_one(struct webauth *a);

int webauth_new(struct webauth **out, const struct webconf *wc, char *err, size_t errsize)
{
	struct webauth *a = calloc(1, sizeof(*a));
	int r;

	if (a == NULL) {
		snprintf(err, errsize, "%s: out of memory", wc->path);
		return -ENOMEM;
	}
	pthread_mutex_init(&a->swap_lock, NULL);
	a->cur = a;
	r = wc->tls ? tls_new(&a->tls, wc, err, errsize) : 0;
	if (r == 0)
		r = basicauth_new(&a->basic, wc, err, errsize);
	if (r == 0 && copy_excluded(a, wc) < 0) {
		r = -ENOMEM;
		snprintf(err, errsize, "%s: out of memory", wc->path);
	}
	if (r < 0) {
		webauth_free_one(a);
		return r;
	}
	*out = a;
	return 0;
}

/* Frees one set of rules. */
static void webauth_free_one(struct webauth *a)
{
	tls_free(a->tls);
	basicauth_free(a->basic);
	for (size_t i = 0; i < a->nexcluded; i++)
		free(a->excluded[i]);
	free(a->excluded);
	pthread_mutex_destroy(&a->swap_lock);
	free(a);
}

void webauth_free(struct webauth *a)
{
	struct webauth *r, *next;

	if (a == NULL)
		return;
	/* The server has stopped: no reference is left to wait for. */
	for (r = a->retired; r != NULL; r = next) {
		next = r->next_retired;
		webauth_free_one(r);
	}
	if (a->cur != a)
		webauth_free_one(a->cur);
	webauth_free_one(a);
}

/* ---- replacing ---- */

/* The rules in force, with a reference for the caller. */
static struct webauth *webauth_acquire(struct webauth *root)
{
	struct webauth *a;

	pthread_mutex_lock(&root->swap_lock);
	a = root->cur;
	a->refs++;
	pthread_mutex_unlock(&root->swap_lock);
	return a;
}

/* Drops a reference, under root's swap_lock; returns a when that was the
 * last one of a replaced set, for the caller to free after unlocking. The
 * start object itself stays until webauth_free(): the server's TLS setup
 * points into it. */
static struct webauth *release_locked(struct webauth *root, struct webauth *a)
{
	if (--a->refs > 0 || a == root->cur || a == root)
		return NULL;
	for (struct webauth **pp = &root->retired; *pp != NULL; pp = &(*pp)->next_retired) {
		if (*pp == a) {
			*pp = a->next_retired;
			return a;
		}
	}
	return NULL;
}

static void webauth_release(struct webauth *root, struct webauth *a)
{
	struct webauth *gone;

	pthread_mutex_lock(&root->swap_lock);
	gone = release_locked(root, a);
	pthread_mutex_unlock(&root->swap_lock);
	if (gone != NULL)
		webauth_free_one(gone);
}

/* Drops the reference a TLS connection holds through t, the TLS of one
 * of root's sets. */
static void webauth_release_tls(struct webauth *root, const struct tls *t)
{
	struct webauth *a = NULL, *gone = NULL;

	pthread_mutex_lock(&root->swap_lock);
	if (root->tls == t)
		a = root;
	else if (root->cur->tls == t)
		a = root->cur;
	for (struct webauth *r = root->retired; r != NULL && a == NULL; r = r->next_retired)
		if (r->tls == t)
			a = r;
	if (a != NULL)
		gone = release_locked(root, a);
	pthread_mutex_unlock(&root->swap_lock);
	if (gone != NULL)
		webauth_free_one(gone);
}

int webauth_replace(struct webauth *root, struct webauth *next, char *err, size_t errsize)
{
	struct webauth *old;
	int gone = 0;

	if ((next->tls != NULL) != (root->tls != NULL)) {
		snprintf(err, errsize, "TLS %s: that takes effect at the next start",
		    next->tls != NULL ? "added" : "removed");
		webauth_free_one(next);
		return -EINVAL;
	}
	pthread_mutex_lock(&root->swap_lock);
	old = root->cur;
	root->cur = next;
	if (old != root) {
		if (old->refs == 0) {
			gone = 1;
		} else {
			old->next_retired = root->retired;
			root->retired = old;
		}
	}
	pthread_mutex_unlock(&root->swap_lock);
	if (gone)
		webauth_free_one(old);
	return 0;
}

int webauth_tls(const struct webauth *a)
{
	return a != NULL && a->tls != NULL;
}

void webauth_describe(struct webauth *root, char *buf, size_t size)
{
	char tls[384] = "no TLS", users[64] = "no basic auth";
	struct webauth *a;
	size_t n;

	if (root == NULL) {
		snprintf(buf, size, "no TLS, no basic auth");
		return;
	}
	a = webauth_acquire(root);
	if (a->tls != NULL)
		tls_describe(a->tls, tls, sizeof(tls));
	n = basicauth_users(a->basic);
	if (n > 0)
		snprintf(users, sizeof(users), "basic auth (%zu user%s%s)", n, n == 1 ? "" : "s",
		    a->nexcluded > 0 ? "; some paths excluded" : "");
	snprintf(buf, size, "%s, %s", tls, users);
	webauth_release(root, a);
}

/* ---- libmicrohttpd ---- */

/*
 * Called for each new connection before its handshake, and when it closes.
 * The session is readied with the TLS of the rules in force (so a SIGHUP
 * reaches new connections), whose reference it holds until it closes;
 * that TLS is the connection's socket context (tls_session_start()).
 * webauth_check() looks at the client certificate again on every request.
 */
static void webauth_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
    enum MHD_ConnectionNotificationCode toe)
{
	struct webauth *root = cls, *a;
	const union MHD_ConnectionInfo *ci;
	int r;

	if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		if (*socket_context != NULL)
			webauth_release_tls(root, *socket_context);
		*socket_context = NULL;
		return;
	}
	if (toe != MHD_CONNECTION_NOTIFY_STARTED)
		return;
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (ci == NULL || ci->tls_session == NULL)
		return;
	a = webauth_acquire(root);
	*socket_context = a->tls;
	r = tls_session_start(a->tls, conn, ci->tls_session);
	if (r == -EPROTO)
		log_ratelimited("tls-setup", "http: TLS session not tied to its connection; "
		    "refusing it");
	else if (r < 0)
		log_ratelimited("tls-setup", "http: cannot give a TLS session its credentials");
}

unsigned webauth_mhd_flags(const struct webauth *a)
{
	return webauth_tls(a) ? MHD_USE_TLS : 0;
}

void webauth_mhd_options(struct webauth *a, struct MHD_OptionItem *opts, size_t max)
{
	size_t n = 0;

	if (max < 8)
		fatalx("webauth_mhd_options: room for %zu options, 8 needed", max);
	if (webauth_tls(a)) {
		/* libmicrohttpd's own credentials, needed to start; each
		 * connection is then given those of the rules in force. */
		n = tls_mhd_options(a->tls, opts);
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_NOTIFY_CONNECTION,
		    (intptr_t)&webauth_notify, a };
	}
	opts[n] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
}

/* ---- checking a request ---- */

/* "A.B.C.D:PORT" of the peer, for the log. */
static void peer_name(struct MHD_Connection *conn, char *buf, size_t size)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

	if (ci != NULL && ci->client_addr != NULL)
		addr_format(ci->client_addr, buf, size);
	else
		snprintf(buf, size, "?");
}

/* Whether path is one of auth_excluded_paths. */
static int path_excluded(const struct webauth *a, const char *path)
{
	for (size_t i = 0; i < a->nexcluded; i++)
		if (strcmp(a->excluded[i], path) == 0)
			return 1;
	return 0;
}

/* The basic auth part of webauth_check(). */
static enum webauth_verdict check_password(struct webauth *a, struct MHD_Connection *conn,
    char *why, size_t whysize)
{
	char user[BASICAUTH_MAX_USER + 1], pass[BASICAUTH_MAX_PASSWORD + 1];
	char peer[64], esc[4 * 64 + 8];
	const char *h;
	int ok;

	h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if (h == NULL || basicauth_parse(h, user, sizeof(user), pass, sizeof(pass)) < 0) {
		peer_name(conn, peer, sizeof(peer));
		snprintf(why, whysize, "from %s: %s", peer, h == NULL ? "no credentials" :
		    "malformed Authorization header");
		return WEBAUTH_NO_CREDENTIALS;
	}
	ok = basicauth_password_ok(a->basic, user, pass, clock_mono());
	explicit_bzero(pass, sizeof(pass));
	if (ok)
		return WEBAUTH_OK;
	peer_name(conn, peer, sizeof(peer));
	/* The name may be a password typed in the wrong field: cut short. */
	user[64] = '\0';
	snprintf(why, whysize, "from %s: wrong user or password (user \"%s\")", peer,
	    log_escape(user, esc, sizeof(esc)));
	return WEBAUTH_BAD_CREDENTIALS;
}

enum webauth_verdict webauth_check(struct webauth *root, struct MHD_Connection *conn,
    const char *path, char *why, size_t whysize)
{
	struct webauth *a = webauth_acquire(root);
	enum webauth_verdict v = WEBAUTH_OK;
	char peer[64], reason[96];

	if (a->tls != NULL && !tls_cert_ok(a->tls, conn, reason, sizeof(reason))) {
		peer_name(conn, peer, sizeof(peer));
		snprintf(why, whysize, "from %s: %s", peer, reason);
		v = WEBAUTH_BAD_CERT;
	} else if (basicauth_users(a->basic) > 0 && !path_excluded(a, path)) {
		v = check_password(a, conn, why, whysize);
	}
	webauth_release(root, a);
	return v;
}

enum MHD_Result webauth_respond(struct MHD_Connection *conn, enum webauth_verdict v)
{
	static const char unauthorized[] = "{\"error\":\"unauthorized\"}";
	static const char forbidden[] =
	    "{\"error\":\"forbidden: a valid client certificate is required\"}";
	const char *body = v == WEBAUTH_BAD_CERT ? forbidden : unauthorized;
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(strlen(body), (void *)(uintptr_t)body,
	    MHD_RESPMEM_PERSISTENT);
	if (resp == NULL)
		return MHD_NO;
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json") !=
	    MHD_YES || (v != WEBAUTH_BAD_CERT && MHD_add_response_header(resp,
	    MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Basic realm=\"" REALM "\", charset=\"UTF-8\"") !=
	    MHD_YES)) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	ret = MHD_queue_response(conn, v == WEBAUTH_BAD_CERT ? MHD_HTTP_FORBIDDEN :
	    MHD_HTTP_UNAUTHORIZED, resp);
	MHD_destroy_response(resp);
	return ret;
}
