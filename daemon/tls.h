/* tls.h: TLS for the HTTP server with libmicrohttpd's GnuTLS: priorities, certificates, client-certificate checks and their SANs. */
#ifndef MEMPROBE_TLS_H
#define MEMPROBE_TLS_H

#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <stddef.h>

#include "webconf.h"

struct tls;

/*
 * The TLS of a loaded web configuration with tls_server_config
 * (webconf_load(), which read the PEM files): checks that the certificate,
 * key and client CA are what GnuTLS can use and belong together, that
 * libmicrohttpd has TLS, and makes the GnuTLS priorities of the versions,
 * cipher_suites, curve_preferences and prefer_server_cipher_suites.
 * Copies what it keeps. Returns 0 and *out, or a negative errno with one
 * line in err naming the file, line and key.
 */
int tls_new(struct tls **out, const struct webconf *wc, char *err, size_t errsize);

/* Frees t and wipes its key (NULL: nothing). */
void tls_free(struct tls *t);

/* A line for the log: "TLS 1.2 to 1.3, client certificates
 * RequireAndVerifyClientCert with 1 allowed SAN". */
void tls_describe(const struct tls *t, char *buf, size_t size);

/*
 * Writes the options libmicrohttpd needs to start TLS (key, certificate,
 * priorities: 3 items, pointing into t) to opts; returns how many.
 */
size_t tls_mhd_options(const struct tls *t, struct MHD_OptionItem *opts);

/*
 * Readies the TLS session s of a new connection conn, before its
 * handshake: t's credentials and priorities, and client certificates
 * asked for, required and verified as client_auth_type says (with
 * client_allowed_sans checked in the handshake). The handshake's callbacks
 * find t as conn's socket context, which must stay t while the session
 * lives. Returns 0; -EIO when GnuTLS would not take the credentials or
 * priorities (the handshake goes on without them); -EPROTO when the
 * session is not tied to conn, so its callbacks could not find t (the
 * handshake then fails).
 */
int tls_session_start(struct tls *t, struct MHD_Connection *conn, gnutls_session_t s);

/*
 * Whether the client certificate of conn passes client_auth_type (and
 * client_allowed_sans), checked again on a request after the handshake.
 * On a refusal writes the reason into why.
 */
int tls_cert_ok(const struct tls *t, struct MHD_Connection *conn, char *why, size_t whysize);

/* The GnuTLS priority items that make a TLS 1.2 cipher suite of
 * cipher_suites (by IANA number), or NULL (a TLS 1.3 one, or unknown). */
struct tls_suite_items {
	unsigned id;                    /* 0xc02f */
	const char *kx, *cipher, *mac;  /* "ECDHE-RSA", "AES-128-GCM", "AEAD" */
};
const struct tls_suite_items *tls_suite_items(unsigned id);

/* The GnuTLS group of a curve of curve_preferences ("X25519":
 * "GROUP-X25519"), or NULL. */
const char *tls_curve_group(const char *name);

#endif
