/* webauth.c: who may use the HTTP server: TLS through libmicrohttpd's GnuTLS, client certificates, basic auth with bcrypt (libxcrypt). */
#include "webauth.h"

#include <crypt.h>
#include <errno.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "addr.h"
#include "clock.h"
#include "log.h"

#define BCRYPT_LEN 60
#define REALM "memprobe"

struct webauth_user {
	char *name;
	char hash[BCRYPT_LEN + 1];
};

/* A verification that succeeded: a salted SHA-256 of user, password and
 * hash, never the password itself. */
struct webauth_seen {
	unsigned char key[32];
	double expires;                 /* 0: free */
};

struct webauth {
	/* TLS: the PEM text handed to libmicrohttpd, and how to treat client
	 * certificates. */
	int tls;
	char *cert_pem, *key_pem;
	char priorities[512];
	char tls_details[192];          /* for webauth_describe(): suites, curves */
	enum webconf_client_auth client_auth;
	int min_version, max_version;
	char **sans;                    /* client_allowed_sans; nsans 0: any */
	size_t nsans;
	char **excluded;                /* auth_excluded_paths */
	size_t nexcluded;
	/* Basic auth. */
	struct webauth_user *users;
	size_t nusers;
	char dummy[BCRYPT_LEN + 4];     /* for unknown users */
	unsigned char salt[16];         /* of the cache keys */
	pthread_mutex_t lock;           /* guards seen, next */
	struct webauth_seen seen[WEBAUTH_CACHE_SIZE];
	unsigned next;
	/* TLS state each new connection gets (webauth_notify()). */
	gnutls_certificate_credentials_t cred;
	gnutls_priority_t prio;
	/* With cipher_suites and both versions: the priorities a session
	 * that turns out TLS 1.2 is switched to (webauth_client_hello()),
	 * since those of TLS 1.3's ciphers would add TLS 1.2 suites. */
	gnutls_priority_t prio12;
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

/* Client certificates are for TLS clients (if they say what they are for). */
static const gnutls_typed_vdata_st webauth_purpose = {
	GNUTLS_DT_KEY_PURPOSE_OID, (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT, 0
};

/* ---- setting up ---- */

/* Appends ":item" to the priority string buf unless it holds it already.
 * Returns 0 or -ENOSPC. */
static int prio_add(char *buf, size_t size, const char *item)
{
	size_t n = strlen(buf), k = strlen(item);

	for (const char *p = buf; (p = strstr(p, item)) != NULL; p++)
		if (p > buf && p[-1] == ':' && (p[k] == ':' || p[k] == '\0'))
			return 0;
	if (n + 1 + k + 1 > size)
		return -ENOSPC;
	buf[n] = ':';
	memcpy(buf + n + 1, item, k + 1);
	return 0;
}

/* Adds "+FIELD" of each TLS 1.2 suite in use[] (field: kx, cipher, mac). */
static int prio_add_suites(char *buf, size_t size, const struct webconf_suite *const *use,
    size_t nuse, size_t field)
{
	char item[64];
	int r = 0;

	for (size_t i = 0; i < nuse && r == 0; i++) {
		const char *v = field == 0 ? use[i]->kx : field == 1 ? use[i]->cipher : use[i]->mac;

		snprintf(item, sizeof(item), "+%s", v);
		r = prio_add(buf, size, item);
	}
	return r;
}

/* Whether a TLS 1.2 key exchange can work with a certificate key of type pk. */
static int kx_fits(const char *kx, int pk)
{
	if (strcmp(kx, "RSA") == 0)
		return pk == GNUTLS_PK_RSA;
	if (strcmp(kx, "ECDHE-RSA") == 0)
		return pk == GNUTLS_PK_RSA || pk == GNUTLS_PK_RSA_PSS;
	return pk == GNUTLS_PK_ECDSA || pk == GNUTLS_PK_EDDSA_ED25519 ||
	    pk == GNUTLS_PK_EDDSA_ED448;
}

/*
 * Checks that the TLS 1.2 suites GnuTLS makes of prio are exactly use[]:
 * GnuTLS takes key exchanges, ciphers and MACs separately and offers every
 * combination it has, which may be more than was listed.
 */
static int suites_exact(gnutls_priority_t prio, const struct webconf_suite *const *use,
    size_t nuse, const struct webconf *wc, const char *keytype, char *err, size_t errsize)
{
	unsigned char seen[WEBCONF_MAX_SUITES] = { 0 };

	for (unsigned idx = 0; idx < 4096; idx++) {
		unsigned sidx, id;
		unsigned char cs[2];
		const struct webconf_suite *s;
		size_t k;
		int r = gnutls_priority_get_cipher_suite_index(prio, idx, &sidx);

		if (r == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (r < 0 || gnutls_cipher_suite_info(sidx, cs, NULL, NULL, NULL, NULL) == NULL)
			continue;
		id = (unsigned)cs[0] << 8 | cs[1];
		if (cs[0] == 0x13)
			continue;               /* TLS 1.3's */
		for (k = 0; k < nuse && use[k]->id != id; k++)
			;
		if (k < nuse) {
			seen[k] = 1;
			continue;
		}
		s = webconf_suite_by_id(id);
		snprintf(err, errsize, "%s:%d: tls_server_config.cipher_suites: GnuTLS cannot offer "
		    "exactly these suites: with the %s key of cert_file it would also offer %s "
		    "(list it too, or the same ciphers for each key exchange)", wc->path,
		    wc->suites_line, keytype, s != NULL ? s->name :
		    gnutls_cipher_suite_info(sidx, cs, NULL, NULL, NULL, NULL));
		return -EINVAL;
	}
	for (size_t k = 0; k < nuse; k++) {
		if (!seen[k]) {
			snprintf(err, errsize, "%s:%d: tls_server_config.cipher_suites: this GnuTLS "
			    "cannot offer %s", wc->path, wc->suites_line, use[k]->name);
			return -EINVAL;
		}
	}
	return 0;
}

/*
 * Makes the GnuTLS priority strings of the versions, cipher_suites,
 * curve_preferences and prefer_server_cipher_suites of wc for a
 * certificate key of type pk: *all for every session, and *tls12 (empty
 * when not needed) for sessions that negotiate TLS 1.2 while TLS 1.3 is
 * on. use[] gets the TLS 1.2 suites in force (*nuse, 0: GnuTLS's own).
 */
static int webauth_priorities(const struct webconf *wc, int pk, char *all, size_t allsize,
    char *tls12, size_t size12, const struct webconf_suite **use, size_t *nuse, char *err,
    size_t errsize)
{
	static const char *const tls13_ciphers[] = { "+AES-256-GCM", "+CHACHA20-POLY1305",
		"+AES-128-GCM" };
	const char *keytype = pk == GNUTLS_PK_RSA ? "RSA" : pk == GNUTLS_PK_RSA_PSS ? "RSA-PSS" :
	    pk == GNUTLS_PK_ECDSA ? "ECDSA" : pk == GNUTLS_PK_EDDSA_ED25519 ? "Ed25519" :
	    pk == GNUTLS_PK_EDDSA_ED448 ? "Ed448" : gnutls_pk_get_name((gnutls_pk_algorithm_t)pk);
	int v12 = wc->min_version <= WEBCONF_TLS12, v13 = wc->max_version >= WEBCONF_TLS13;
	int listed12 = 0, r = 0;
	char tail[160] = "";

	*nuse = 0;
	tls12[0] = '\0';
	for (size_t i = 0; i < wc->nsuites && v12; i++) {
		if (wc->suites[i]->kx == NULL)
			continue;
		listed12 = 1;
		if (kx_fits(wc->suites[i]->kx, pk))
			use[(*nuse)++] = wc->suites[i];
	}
	/* Only TLS 1.3 names: Go then has no TLS 1.2 suite (the parser said). */
	if (v12 && wc->nsuites > 0 && !listed12)
		v12 = 0;
	if (!v12 && !v13) {
		snprintf(err, errsize, "%s:%d: tls_server_config.cipher_suites: no TLS version "
		    "left", wc->path, wc->suites_line);
		return -EINVAL;
	}
	if (listed12 && *nuse == 0) {
		snprintf(err, errsize, "%s:%d: tls_server_config.cipher_suites: none of the TLS 1.2 "
		    "suites fits the %s key of cert_file %s (ECDHE_ECDSA suites need an ECDSA or "
		    "Ed25519 key, RSA ones an RSA key)", wc->path, wc->suites_line,
		    keytype != NULL ? keytype : "?", wc->cert_file);
		return -EINVAL;
	}
	if (wc->ncurves > 0)
		r = prio_add(tail, sizeof(tail), "-GROUP-ALL");
	for (size_t i = 0; i < wc->ncurves && r == 0; i++) {
		char item[40];

		snprintf(item, sizeof(item), "+%s", wc->curves[i]->group);
		r = prio_add(tail, sizeof(tail), item);
	}
	if (r == 0 && wc->prefer_server)
		r = prio_add(tail, sizeof(tail), "%SERVER_PRECEDENCE");
	snprintf(all, allsize, "NORMAL:-VERS-ALL%s%s", v13 ? ":+VERS-TLS1.3" : "",
	    v12 ? ":+VERS-TLS1.2" : "");
	if (*nuse > 0) {
		/* TLS 1.2 alone: exactly the suites listed (checked later). */
		snprintf(tls12, size12, "NORMAL:-VERS-ALL:+VERS-TLS1.2");
		if (r == 0)
			r = prio_add(tls12, size12, "-KX-ALL");
		if (r == 0)
			r = prio_add_suites(tls12, size12, use, *nuse, 0);
		if (r == 0)
			r = prio_add(tls12, size12, "-CIPHER-ALL");
		if (r == 0)
			r = prio_add_suites(tls12, size12, use, *nuse, 1);
		if (r == 0)
			r = prio_add(tls12, size12, "-MAC-ALL");
		if (r == 0)
			r = prio_add_suites(tls12, size12, use, *nuse, 2);
		/* Both versions: the same plus TLS 1.3's ciphers, which make
		 * TLS 1.2 suites too: a TLS 1.2 session gets tls12 instead. */
		for (size_t i = 0; i < 3 && v13 && r == 0; i++)
			r = prio_add(all, allsize, i == 0 ? "-KX-ALL" : i == 1 ? "-CIPHER-ALL" :
			    "-MAC-ALL");
		if (v13 && r == 0)
			r = prio_add_suites(all, allsize, use, *nuse, 0);
		for (size_t i = 0; i < 3 && v13 && r == 0; i++)
			r = prio_add(all, allsize, tls13_ciphers[i]);
		if (v13 && r == 0)
			r = prio_add_suites(all, allsize, use, *nuse, 1);
		if (v13 && r == 0)
			r = prio_add(all, allsize, "+AEAD");
		if (v13 && r == 0)
			r = prio_add_suites(all, allsize, use, *nuse, 2);
		if (r == 0 && !v13) {
			snprintf(all, allsize, "%s", tls12);
			tls12[0] = '\0';
		}
	} else if (wc->nsuites > 0 && v13) {
		/* TLS 1.3 only: Go's three suites (GnuTLS would add CCM). */
		r = prio_add(all, allsize, "-CIPHER-ALL");
		for (size_t i = 0; i < 3 && r == 0; i++)
			r = prio_add(all, allsize, tls13_ciphers[i]);
	}
	if (r == 0 && (strlen(all) + strlen(tail) >= allsize ||
	    strlen(tls12) + strlen(tail) >= size12))
		r = -ENOSPC;
	if (r == 0) {
		strcat(all, tail);
		if (tls12[0] != '\0')
			strcat(tls12, tail);
	}
	if (r < 0) {
		snprintf(err, errsize, "%s:%d: tls_server_config: the GnuTLS priority string "
		    "does not fit", wc->path, wc->tls_line);
		return r;
	}
	return 0;
}

/* What the log says of cipher_suites and curve_preferences, in a->tls_details:
 * " (TLS 1.2 cipher suites: 2 listed, curves X25519 CurveP256)". */
static void describe_tls(struct webauth *a, const struct webconf *wc, size_t nuse)
{
	char curves[64] = "";
	size_t n = 0;

	for (size_t i = 0; i < wc->ncurves; i++)
		n += (size_t)snprintf(curves + n, sizeof(curves) - n, " %s", wc->curves[i]->name);
	if (nuse == 0 && wc->ncurves == 0)
		a->tls_details[0] = '\0';
	else if (nuse == 0)
		snprintf(a->tls_details, sizeof(a->tls_details), " (curves%s)", curves);
	else
		snprintf(a->tls_details, sizeof(a->tls_details), " (TLS 1.2 cipher suites: %zu "
		    "listed%s%s%s)", nuse, wc->ncurves > 0 ? ", curves" : "", curves,
		    wc->prefer_server ? ", server's order" : "");
}

static int webauth_check_tls(struct webauth *a, const struct webconf *wc, char *err,
    size_t errsize)
{
	gnutls_certificate_credentials_t cred = NULL;
	gnutls_x509_crt_t *crts = NULL;
	gnutls_x509_privkey_t key = NULL;
	gnutls_priority_t prio = NULL, prio12 = NULL;
	const struct webconf_suite *use[WEBCONF_MAX_SUITES];
	char tls12[sizeof(a->priorities)];
	gnutls_datum_t c, k, ca;
	unsigned ncrts = 0;
	size_t nuse = 0;
	int pk;
	const char *errpos = NULL;
	int r, ret = -EINVAL;

	if (!MHD_is_feature_supported(MHD_FEATURE_TLS)) {
		snprintf(err, errsize, "%s:%d: tls_server_config: this libmicrohttpd was built "
		    "without TLS", wc->path, wc->tls_line);
		return -ENOTSUP;
	}
	c.data = (unsigned char *)wc->cert_pem;
	c.size = (unsigned)strlen(wc->cert_pem);
	k.data = (unsigned char *)wc->key_pem;
	k.size = (unsigned)strlen(wc->key_pem);
	r = gnutls_x509_crt_list_import2(&crts, &ncrts, &c, GNUTLS_X509_FMT_PEM, 0);
	if (r < 0 || ncrts == 0) {
		snprintf(err, errsize, "%s:%d: tls_server_config.cert_file: %s: %s", wc->path,
		    wc->cert_line, wc->cert_file, r < 0 ? gnutls_strerror(r) : "no certificate");
		goto out;
	}
	if (gnutls_x509_privkey_init(&key) < 0) {
		ret = -ENOMEM;
		snprintf(err, errsize, "%s: out of memory", wc->path);
		goto out;
	}
	r = gnutls_x509_privkey_import2(key, &k, GNUTLS_X509_FMT_PEM, NULL, 0);
	if (r < 0) {
		snprintf(err, errsize, "%s:%d: tls_server_config.key_file: %s: %s%s", wc->path,
		    wc->key_line, wc->key_file, gnutls_strerror(r),
		    r == GNUTLS_E_DECRYPTION_FAILED ? " (encrypted keys are not supported)" : "");
		goto out;
	}
	if (gnutls_certificate_allocate_credentials(&cred) < 0) {
		ret = -ENOMEM;
		snprintf(err, errsize, "%s: out of memory", wc->path);
		goto out;
	}
	r = gnutls_certificate_set_x509_key_mem2(cred, &c, &k, GNUTLS_X509_FMT_PEM, NULL, 0);
	if (r < 0) {
		snprintf(err, errsize, "%s:%d: tls_server_config: cert_file %s and key_file %s: %s",
		    wc->path, wc->tls_line, wc->cert_file, wc->key_file, gnutls_strerror(r));
		goto out;
	}
	if (wc->client_ca_pem != NULL) {
		ca.data = (unsigned char *)wc->client_ca_pem;
		ca.size = (unsigned)strlen(wc->client_ca_pem);
		r = gnutls_certificate_set_x509_trust_mem(cred, &ca, GNUTLS_X509_FMT_PEM);
		if (r <= 0) {
			snprintf(err, errsize, "%s:%d: tls_server_config.client_ca_file: %s: %s",
			    wc->path, wc->client_ca_line, wc->client_ca_file,
			    r < 0 ? gnutls_strerror(r) : "no certificate");
			goto out;
		}
	}
	pk = gnutls_x509_crt_get_pk_algorithm(crts[0], NULL);
	r = webauth_priorities(wc, pk, a->priorities, sizeof(a->priorities), tls12, sizeof(tls12),
	    use, &nuse, err, errsize);
	if (r < 0) {
		ret = r;
		goto out;
	}
	r = gnutls_priority_init(&prio, a->priorities, &errpos);
	if (r < 0) {
		snprintf(err, errsize, "%s:%d: tls_server_config: GnuTLS refuses the priorities "
		    "\"%s\": %s", wc->path, wc->tls_line, a->priorities, gnutls_strerror(r));
		goto out;
	}
	if (tls12[0] != '\0') {
		r = gnutls_priority_init(&prio12, tls12, &errpos);
		if (r < 0) {
			snprintf(err, errsize, "%s:%d: tls_server_config: GnuTLS refuses the "
			    "priorities \"%s\": %s", wc->path, wc->tls_line, tls12,
			    gnutls_strerror(r));
			goto out;
		}
	}
	if (nuse > 0 && suites_exact(prio12 != NULL ? prio12 : prio, use, nuse, wc,
	    pk == GNUTLS_PK_RSA ? "RSA" : "ECDSA", err, errsize) < 0)
		goto out;
	describe_tls(a, wc, nuse);
	/* Kept: every TLS connection is given these (webauth_notify()). */
	a->cred = cred;
	a->prio = prio;
	a->prio12 = prio12;
	cred = NULL;
	prio = NULL;
	prio12 = NULL;
	ret = 0;
out:
	if (prio12 != NULL)
		gnutls_priority_deinit(prio12);
	if (prio != NULL)
		gnutls_priority_deinit(prio);
	if (cred != NULL)
		gnutls_certificate_free_credentials(cred);
	if (key != NULL)
		gnutls_x509_privkey_deinit(key);
	for (unsigned i = 0; i < ncrts; i++)
		gnutls_x509_crt_deinit(crts[i]);
	gnutls_free(crts);
	return ret;
}

/* Copies n strings of src into a new array *dst; *dn counts those copied
 * (for freeing after a failure). Returns 0 or -ENOMEM. */
static int copy_strings(char *const *src, size_t n, char ***dst, size_t *dn)
{
	if (n == 0)
		return 0;
	*dst = calloc(n, sizeof(**dst));
	if (*dst == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		(*dst)[i] = strdup(src[i]);
		if ((*dst)[i] == NULL)
			return -ENOMEM;
		(*dn)++;
	}
	return 0;
}

int webauth_new(struct webauth **out, const struct webconf *wc, char *err, size_t errsize)
{
	struct webauth *a = calloc(1, sizeof(*a));
	int maxcost = 4, r;

	if (a == NULL) {
		snprintf(err, errsize, "%s: out of memory", wc->path);
		return -ENOMEM;
	}
	pthread_mutex_init(&a->lock, NULL);
	pthread_mutex_init(&a->swap_lock, NULL);
	a->cur = a;
	a->client_auth = wc->client_auth;
	a->min_version = wc->min_version;
	a->max_version = wc->max_version;
	if (wc->tls) {
		if (wc->cert_pem == NULL || wc->key_pem == NULL) {
			snprintf(err, errsize, "%s: the certificate files were not read", wc->path);
			r = -EINVAL;
			goto fail;
		}
		r = webauth_check_tls(a, wc, err, errsize);
		if (r < 0)
			goto fail;
		a->tls = 1;
		a->cert_pem = strdup(wc->cert_pem);
		a->key_pem = strdup(wc->key_pem);
		if (a->cert_pem == NULL || a->key_pem == NULL)
			goto oom;
		if (copy_strings(wc->sans, wc->nsans, &a->sans, &a->nsans) < 0)
			goto oom;
	}
	if (copy_strings(wc->excluded, wc->nexcluded, &a->excluded, &a->nexcluded) < 0)
		goto oom;
	if (wc->nusers > 0) {
		a->users = calloc(wc->nusers, sizeof(*a->users));
		if (a->users == NULL)
			goto oom;
	}
	for (size_t i = 0; i < wc->nusers; i++) {
		const struct webconf_user *u = &wc->users[i];
		int cost;

		/* The parser checked the form; libxcrypt has the last word. */
		if (!webconf_is_bcrypt(u->hash) || crypt_checksalt(u->hash) != CRYPT_SALT_OK) {
			snprintf(err, errsize, "%s:%d: basic_auth_users.%.64s: libxcrypt does not "
			    "take this hash", wc->path, u->line, u->name);
			r = -EINVAL;
			goto fail;
		}
		a->users[i].name = strdup(u->name);
		if (a->users[i].name == NULL)
			goto oom;
		memcpy(a->users[i].hash, u->hash, BCRYPT_LEN + 1);
		a->nusers++;
		cost = (u->hash[4] - '0') * 10 + (u->hash[5] - '0');
		if (cost > maxcost)
			maxcost = cost;
	}
	/* An unknown user costs what the dearest known one does; any salt
	 * and checksum do, the result is never a match. */
	snprintf(a->dummy, sizeof(a->dummy), "$2b$%02d$%s", maxcost,
	    "N9qo8uLOickgx2ZMRZoMyejCki5x.9vK3TW5Sf9xmjs1nHnIHO0xK");
	if (getrandom(a->salt, sizeof(a->salt), 0) != (ssize_t)sizeof(a->salt)) {
		r = -errno;
		snprintf(err, errsize, "getrandom: %s", strerror(-r));
		goto fail;
	}
	*out = a;
	return 0;
oom:
	r = -ENOMEM;
	snprintf(err, errsize, "%s: out of memory", wc->path);
fail:
	webauth_free(a);
	return r;
}

/* Frees one set of rules. */
static void webauth_free_one(struct webauth *a)
{
	free(a->cert_pem);
	if (a->key_pem != NULL) {
		explicit_bzero(a->key_pem, strlen(a->key_pem));
		free(a->key_pem);
	}
	for (size_t i = 0; i < a->nusers; i++)
		free(a->users[i].name);
	free(a->users);
	for (size_t i = 0; i < a->nsans; i++)
		free(a->sans[i]);
	free(a->sans);
	for (size_t i = 0; i < a->nexcluded; i++)
		free(a->excluded[i]);
	free(a->excluded);
	if (a->cred != NULL)
		gnutls_certificate_free_credentials(a->cred);
	if (a->prio != NULL)
		gnutls_priority_deinit(a->prio);
	if (a->prio12 != NULL)
		gnutls_priority_deinit(a->prio12);
	pthread_mutex_destroy(&a->lock);
	pthread_mutex_destroy(&a->swap_lock);
	explicit_bzero(a, sizeof(*a));
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

/* Drops a reference; a replaced set goes with its last one. The start
 * object itself stays until webauth_free(): the server's TLS setup points
 * into it. */
static void webauth_release(struct webauth *root, struct webauth *a)
{
	struct webauth **pp;
	int gone = 0;

	pthread_mutex_lock(&root->swap_lock);
	if (--a->refs == 0 && a != root->cur && a != root) {
		for (pp = &root->retired; *pp != NULL; pp = &(*pp)->next_retired)
			if (*pp == a) {
				*pp = a->next_retired;
				gone = 1;
				break;
			}
	}
	pthread_mutex_unlock(&root->swap_lock);
	if (gone)
		webauth_free_one(a);
}

int webauth_replace(struct webauth *root, struct webauth *next, char *err, size_t errsize)
{
	struct webauth *old;
	int gone = 0;

	if (next->tls != root->tls) {
		snprintf(err, errsize, "TLS %s: that takes effect at the next start",
		    next->tls ? "added" : "removed");
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
	return a != NULL && a->tls;
}

void webauth_describe(struct webauth *root, char *buf, size_t size)
{
	char tls[384] = "no TLS", users[64] = "no basic auth", sans[48] = "";
	struct webauth *a;

	if (root == NULL) {
		snprintf(buf, size, "no TLS, no basic auth");
		return;
	}
	a = webauth_acquire(root);
	if (a->nsans > 0)
		snprintf(sans, sizeof(sans), " with %zu allowed SAN%s", a->nsans,
		    a->nsans == 1 ? "" : "s");
	if (a->tls)
		snprintf(tls, sizeof(tls), "TLS 1.%d%s%s%s, client certificates %s%s",
		    a->min_version - 10, a->max_version != a->min_version ? " to 1." : "",
		    a->max_version != a->min_version ? (a->max_version == WEBCONF_TLS13 ? "3" : "2") :
		    "", a->tls_details, webconf_client_auth_name(a->client_auth), sans);
	if (a->nusers > 0)
		snprintf(users, sizeof(users), "basic auth (%zu user%s%s)", a->nusers,
		    a->nusers == 1 ? "" : "s", a->nexcluded > 0 ? "; some paths excluded" : "");
	snprintf(buf, size, "%s, %s", tls, users);
	webauth_release(root, a);
}

/* ---- libmicrohttpd ---- */

/* The handshake's check for VerifyClientCertIfGiven: a certificate, if one
 * came, must verify; GnuTLS's own check (gnutls_session_set_verify_cert2())
 * would also refuse a client that sends none. Non-zero fails the
 * handshake. */
static int webauth_verify_if_given(gnutls_session_t s)
{
	unsigned n = 0, status = 0;

	if (gnutls_certificate_get_peers(s, &n) == NULL || n == 0)
		return 0;
	if (gnutls_certificate_verify_peers(s, (gnutls_typed_vdata_st *)(uintptr_t)&webauth_purpose,
	    1, &status) < 0 || status != 0)
		return GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR;
	return 0;
}

/*
 * The rules a TLS session was given by webauth_notify(): libmicrohttpd
 * makes its connection the session's pointer (webauth_notify() checks),
 * and the rules are the connection's socket context. NULL: not found.
 */
static struct webauth *session_rules(gnutls_session_t s)
{
	struct MHD_Connection *conn = gnutls_session_get_ptr(s);
	const union MHD_ConnectionInfo *ci;

	if (conn == NULL)
		return NULL;
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci != NULL ? ci->socket_context : NULL;
}

/*
 * After the ClientHello is read, before a suite is chosen: a session that
 * negotiated TLS 1.2 gets the priorities of exactly the listed suites.
 * Non-zero fails the handshake.
 */
static int webauth_client_hello(gnutls_session_t s)
{
	struct webauth *a = session_rules(s);

	if (a == NULL || a->prio12 == NULL)
		return GNUTLS_E_INTERNAL_ERROR;
	if (gnutls_protocol_get_version(s) != GNUTLS_TLS1_2)
		return 0;
	return gnutls_priority_set(s, a->prio12);
}

/* Fails every handshake: the session cannot be tied to its rules. */
static int webauth_client_hello_fail(gnutls_session_t s)
{
	(void)s;
	return GNUTLS_E_INTERNAL_ERROR;
}

/* Writes an IP address SAN (4 or 16 bytes) as Go does: dotted IPv4 (also
 * for an IPv4-mapped IPv6 one), IPv6 with "::" for the first longest run
 * of two or more zero groups, lower-case hex. */
static void ip_text(const unsigned char *ip, size_t len, char *out, size_t size)
{
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	unsigned g[8];
	int best = -1, bestlen = 1;
	size_t n = 0;

	if (len == 16 && memcmp(ip, mapped, sizeof(mapped)) == 0) {
		ip += 12;
		len = 4;
	}
	if (len == 4) {
		snprintf(out, size, "%u.%u.%u.%u", ip[0], ip[1], ip[2], ip[3]);
		return;
	}
	out[0] = '\0';
	if (len != 16)
		return;
	for (int i = 0; i < 8; i++)
		g[i] = (unsigned)ip[2 * i] << 8 | ip[2 * i + 1];
	for (int i = 0; i < 8;) {
		int j = i;

		while (j < 8 && g[j] == 0)
			j++;
		if (j - i > bestlen) {
			best = i;
			bestlen = j - i;
		}
		i = j > i ? j : i + 1;
	}
	for (int i = 0; i < 8 && n < size; i++) {
		if (i == best) {
			n += (size_t)snprintf(out + n, size - n, "::");
			i += bestlen - 1;
			continue;
		}
		n += (size_t)snprintf(out + n, size - n, "%s%x",
		    i > 0 && i != best + bestlen ? ":" : "", g[i]);
	}
}

/*
 * Whether one Subject Alternative Name of the certificate der (DNS name,
 * email address, URI, or IP address in text form) is one of a->sans,
 * exactly, as exporter-toolkit checks client_allowed_sans.
 */
static int sans_match(const struct webauth *a, const gnutls_datum_t *der)
{
	gnutls_x509_crt_t crt;
	int found = 0;

	if (gnutls_x509_crt_init(&crt) < 0)
		return 0;
	if (gnutls_x509_crt_import(crt, der, GNUTLS_X509_FMT_DER) < 0)
		goto out;
	for (unsigned seq = 0; seq < 1024 && !found; seq++) {
		char buf[1024], ip[64];
		size_t size = sizeof(buf) - 1;
		unsigned type = 0, critical = 0;
		const char *name = buf;
		int r = gnutls_x509_crt_get_subject_alt_name2(crt, seq, buf, &size, &type,
		    &critical);

		if (r == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (r < 0)
			continue;               /* too long for any of ours, or odd */
		if (type == GNUTLS_SAN_IPADDRESS) {
			ip_text((const unsigned char *)buf, size, ip, sizeof(ip));
			name = ip;
			size = strlen(ip);
		} else if (type != GNUTLS_SAN_DNSNAME && type != GNUTLS_SAN_RFC822NAME &&
		    type != GNUTLS_SAN_URI) {
			continue;
		}
		/* Lengths compared too: a NUL inside a name matches nothing. */
		for (size_t i = 0; i < a->nsans && !found; i++)
			found = strlen(a->sans[i]) == size && memcmp(a->sans[i], name, size) == 0;
	}
out:
	gnutls_x509_crt_deinit(crt);
	return found;
}

/* The handshake's check with client_allowed_sans: the certificate is
 * verified (RequireAndVerifyClientCert) and one of its SANs is allowed. */
static int webauth_verify_sans(gnutls_session_t s)
{
	struct webauth *a = session_rules(s);
	const gnutls_datum_t *peers;
	unsigned n = 0, status = 0;

	peers = gnutls_certificate_get_peers(s, &n);
	if (a == NULL || peers == NULL || n == 0)
		return GNUTLS_E_CERTIFICATE_ERROR;
	if (a->client_auth == WEBCONF_REQUIRE_AND_VERIFY_CLIENT_CERT &&
	    (gnutls_certificate_verify_peers(s, (gnutls_typed_vdata_st *)(uintptr_t)&webauth_purpose,
	    1, &status) < 0 || status != 0))
		return GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR;
	return sans_match(a, &peers[0]) ? 0 : GNUTLS_E_CERTIFICATE_ERROR;
}

/*
 * Called for each new connection before its handshake, and when it closes.
 * The session gets the certificate, key, client CA and priorities of the
 * rules in force (so a SIGHUP reaches new connections), holding a
 * reference to them until it closes. libmicrohttpd would only ever ask for
 * a client certificate (and never check it); here the session is told to
 * require one and to verify it against the client CA, so a client without
 * a good certificate fails the handshake as with exporter-toolkit.
 * webauth_check() looks again on every request.
 */
static void webauth_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
    enum MHD_ConnectionNotificationCode toe)
{
	struct webauth *root = cls, *a;
	const union MHD_ConnectionInfo *ci;
	gnutls_session_t s;

	if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		if (*socket_context != NULL)
			webauth_release(root, *socket_context);
		*socket_context = NULL;
		return;
	}
	if (toe != MHD_CONNECTION_NOTIFY_STARTED)
		return;
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (ci == NULL || ci->tls_session == NULL)
		return;
	s = ci->tls_session;
	a = webauth_acquire(root);
	*socket_context = a;
	if (gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, a->cred) < 0 ||
	    gnutls_priority_set(s, a->prio) < 0)
		log_ratelimited("tls-setup", "http: cannot give a TLS session its credentials");
	/* The callbacks below find the rules through the session. */
	if ((a->prio12 != NULL || a->nsans > 0) && gnutls_session_get_ptr(s) != conn) {
		log_ratelimited("tls-setup", "http: TLS session not tied to its connection; "
		    "refusing it");
		gnutls_handshake_set_post_client_hello_function(s, &webauth_client_hello_fail);
		return;
	}
	if (a->prio12 != NULL)
		gnutls_handshake_set_post_client_hello_function(s, &webauth_client_hello);
	switch (a->client_auth) {
	case WEBCONF_NO_CLIENT_CERT:
		gnutls_certificate_server_set_request(s, GNUTLS_CERT_IGNORE);
		break;
	case WEBCONF_REQUEST_CLIENT_CERT:
		gnutls_certificate_server_set_request(s, GNUTLS_CERT_REQUEST);
		break;
	case WEBCONF_REQUIRE_ANY_CLIENT_CERT:
		gnutls_certificate_server_set_request(s, GNUTLS_CERT_REQUIRE);
		if (a->nsans > 0)
			gnutls_session_set_verify_function(s, &webauth_verify_sans);
		break;
	case WEBCONF_VERIFY_CLIENT_CERT_IF_GIVEN:
		gnutls_certificate_server_set_request(s, GNUTLS_CERT_REQUEST);
		gnutls_session_set_verify_function(s, &webauth_verify_if_given);
		break;
	case WEBCONF_REQUIRE_AND_VERIFY_CLIENT_CERT:
		gnutls_certificate_server_set_request(s, GNUTLS_CERT_REQUIRE);
		/* One verify function per session: with SANs to check, ours
		 * verifies too. */
		if (a->nsans > 0)
			gnutls_session_set_verify_function(s, &webauth_verify_sans);
		else
			gnutls_session_set_verify_cert2(s,
			    (gnutls_typed_vdata_st *)(uintptr_t)&webauth_purpose, 1, 0);
		break;
	}
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
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0, a->key_pem };
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0, a->cert_pem };
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_PRIORITIES, 0, a->priorities };
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_NOTIFY_CONNECTION,
		    (intptr_t)&webauth_notify, a };
	}
	opts[n] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
}

/* ---- checking a request ---- */

/* Equal strings, in a time that depends on their lengths only. */
static int ct_streq(const char *x, const char *y)
{
	size_t lx = strlen(x), ly = strlen(y);
	volatile unsigned char d = lx != ly;

	for (size_t i = 0; i < lx; i++)
		d |= (unsigned char)x[i] ^ (unsigned char)(i < ly ? y[i] : 0);
	return d == 0;
}

static int b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int webauth_parse_basic(const char *h, char *user, size_t usize, char *pass, size_t psize)
{
	unsigned char buf[(WEBAUTH_MAX_USER + WEBAUTH_MAX_PASSWORD + 2) * 2];
	size_t n = 0, len = 0, pad = 0, ulen;
	const unsigned char *colon;
	int r = -EINVAL;

	while (*h == ' ' || *h == '\t')
		h++;
	if (strncasecmp(h, "Basic", 5) != 0 || (h[5] != ' ' && h[5] != '\t'))
		return -EINVAL;
	h += 5;
	while (*h == ' ' || *h == '\t')
		h++;
	while (b64val(h[n]) >= 0)
		n++;
	while (h[n + pad] == '=' && pad < 2)
		pad++;
	for (const char *t = h + n + pad; *t != '\0'; t++)
		if (*t != ' ' && *t != '\t')
			return -EINVAL;
	/* Padding makes whole groups of four: n % 4 is 0, 2 or 3 with 0, 2
	 * or 1 '='. */
	if (n == 0 || (n % 4 == 0 && pad != 0) || n % 4 == 1 || (n % 4 == 2 && pad != 2) ||
	    (n % 4 == 3 && pad != 1) || (n + pad) / 4 * 3 > sizeof(buf))
		return -EINVAL;
	for (size_t i = 0; i < n; i += 4) {
		uint32_t v = 0;
		size_t k, m = n - i < 4 ? n - i : 4;

		for (k = 0; k < m; k++)
			v |= (uint32_t)b64val(h[i + k]) << (18 - 6 * k);
		/* m is 4, 3 (one '=') or 2 (two); unused bits must be 0. */
		if ((m == 3 && (v & 0xff) != 0) || (m == 2 && (v & 0xffff) != 0))
			goto out;
		buf[len++] = (unsigned char)(v >> 16);
		if (m > 2)
			buf[len++] = (unsigned char)(v >> 8);
		if (m > 3)
			buf[len++] = (unsigned char)v;
	}
	/* crypt() would stop at a NUL: "pw\0anything" must not pass for "pw". */
	if (memchr(buf, '\0', len) != NULL)
		goto out;
	colon = memchr(buf, ':', len);
	if (colon == NULL)
		goto out;
	ulen = (size_t)(colon - buf);
	if (ulen + 1 > usize || len - ulen - 1 + 1 > psize)
		goto out;
	memcpy(user, buf, ulen);
	user[ulen] = '\0';
	memcpy(pass, colon + 1, len - ulen - 1);
	pass[len - ulen - 1] = '\0';
	r = 0;
out:
	explicit_bzero(buf, sizeof(buf));
	return r;
}

static void cache_key(const struct webauth *a, const char *user, const char *pass,
    const char *hash, unsigned char key[32])
{
	gnutls_hash_hd_t hd;

	if (gnutls_hash_init(&hd, GNUTLS_DIG_SHA256) < 0) {
		/* No cache then: a key nothing else has. */
		memset(key, 0, 32);
		return;
	}
	gnutls_hash(hd, a->salt, sizeof(a->salt));
	gnutls_hash(hd, user, strlen(user) + 1);
	gnutls_hash(hd, pass, strlen(pass) + 1);
	gnutls_hash(hd, hash, strlen(hash));
	gnutls_hash_deinit(hd, key);
}

static int cache_has(struct webauth *a, const unsigned char key[32], double now)
{
	static const unsigned char zero[32];
	int hit = 0;

	if (memcmp(key, zero, 32) == 0)
		return 0;
	pthread_mutex_lock(&a->lock);
	for (unsigned i = 0; i < WEBAUTH_CACHE_SIZE; i++)
		if (a->seen[i].expires > now && memcmp(a->seen[i].key, key, 32) == 0)
			hit = 1;
	pthread_mutex_unlock(&a->lock);
	return hit;
}

static void cache_put(struct webauth *a, const unsigned char key[32], double now)
{
	unsigned slot = WEBAUTH_CACHE_SIZE;

	pthread_mutex_lock(&a->lock);
	for (unsigned i = 0; i < WEBAUTH_CACHE_SIZE && slot == WEBAUTH_CACHE_SIZE; i++)
		if (a->seen[i].expires <= now)
			slot = i;
	/* Full of live entries: replace in turn. Only right passwords get
	 * here, so strangers cannot push a scraper's entry out. */
	if (slot == WEBAUTH_CACHE_SIZE)
		slot = a->next++ % WEBAUTH_CACHE_SIZE;
	memcpy(a->seen[slot].key, key, 32);
	a->seen[slot].expires = now + WEBAUTH_CACHE_SECONDS;
	pthread_mutex_unlock(&a->lock);
}

int webauth_password_ok(struct webauth *a, const char *user, const char *pass, double now)
{
	const char *hash = a->dummy;
	struct crypt_data *cd;
	unsigned char key[32];
	const char *out;
	volatile unsigned char d = 0;
	int known = 0, ok;

	/* Every user is compared, with no early exit. */
	for (size_t i = 0; i < a->nusers; i++) {
		if (ct_streq(a->users[i].name, user)) {
			hash = a->users[i].hash;
			known = 1;
		}
	}
	/* Looked up for unknown users too (the dummy hash in the key never
	 * matches), so that both take the same path. */
	cache_key(a, user, pass, hash, key);
	if (cache_has(a, key, now) && known)
		return 1;
	cd = calloc(1, sizeof(*cd));
	if (cd == NULL)
		return 0;
	out = crypt_rn(pass, hash, cd, (int)sizeof(*cd));
	if (out == NULL || strlen(out) != BCRYPT_LEN)
		d = 1;
	else
		for (size_t i = 0; i < BCRYPT_LEN; i++)
			d |= (unsigned char)out[i] ^ (unsigned char)hash[i];
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	ok = known && d == 0;
	if (ok)
		cache_put(a, key, now);
	explicit_bzero(key, sizeof(key));
	return ok;
}

/* Whether the connection's client certificate passes client_auth_type. */
static int webauth_cert_ok(const struct webauth *a, struct MHD_Connection *conn, char *why,
    size_t whysize)
{
	const union MHD_ConnectionInfo *ci;
	gnutls_session_t s;
	unsigned n = 0, status = 0;
	const gnutls_datum_t *peers;
	int have, verified, ok = 0;

	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (ci == NULL || ci->tls_session == NULL) {
		snprintf(why, whysize, "no TLS session");
		return 0;
	}
	s = ci->tls_session;
	peers = gnutls_certificate_get_peers(s, &n);
	have = peers != NULL && n > 0;
	verified = have && gnutls_certificate_verify_peers(s,
	    (gnutls_typed_vdata_st *)(uintptr_t)&webauth_purpose, 1, &status) == 0 && status == 0;
	switch (a->client_auth) {
	case WEBCONF_NO_CLIENT_CERT:
	case WEBCONF_REQUEST_CLIENT_CERT:
		return 1;
	case WEBCONF_REQUIRE_ANY_CLIENT_CERT:
		ok = have;
		break;
	case WEBCONF_VERIFY_CLIENT_CERT_IF_GIVEN:
		if (!have || verified)
			return 1;
		break;
	case WEBCONF_REQUIRE_AND_VERIFY_CLIENT_CERT:
		ok = verified;
		break;
	}
	/* client_allowed_sans comes only with the two modes that need a
	 * certificate: have holds when ok does. */
	if (ok && a->nsans > 0 && !sans_match(a, &peers[0])) {
		snprintf(why, whysize, "client certificate SANs do not match "
		    "client_allowed_sans");
		return 0;
	}
	if (ok)
		return 1;
	if (have)
		snprintf(why, whysize, "client certificate not verified (GnuTLS status 0x%x)",
		    status);
	else
		snprintf(why, whysize, "no client certificate");
	return 0;
}

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

static enum webauth_verdict webauth_check_with(struct webauth *a, struct MHD_Connection *conn,
    const char *path, char *why, size_t whysize)
{
	char user[WEBAUTH_MAX_USER + 1], pass[WEBAUTH_MAX_PASSWORD + 1];
	char peer[64], reason[96], esc[4 * 64 + 8];
	const char *h;
	int ok;

	if (a->tls && a->client_auth != WEBCONF_NO_CLIENT_CERT &&
	    !webauth_cert_ok(a, conn, reason, sizeof(reason))) {
		peer_name(conn, peer, sizeof(peer));
		snprintf(why, whysize, "from %s: %s", peer, reason);
		return WEBAUTH_BAD_CERT;
	}
	if (a->nusers == 0 || path_excluded(a, path))
		return WEBAUTH_OK;
	h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if (h == NULL || webauth_parse_basic(h, user, sizeof(user), pass, sizeof(pass)) < 0) {
		peer_name(conn, peer, sizeof(peer));
		snprintf(why, whysize, "from %s: %s", peer, h == NULL ? "no credentials" :
		    "malformed Authorization header");
		return WEBAUTH_NO_CREDENTIALS;
	}
	ok = webauth_password_ok(a, user, pass, clock_mono());
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
	enum webauth_verdict v = webauth_check_with(a, conn, path, why, whysize);

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
