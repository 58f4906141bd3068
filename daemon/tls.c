/* tls.c: TLS for the HTTP server with libmicrohttpd's GnuTLS: priorities, certificates, client-certificate checks and their SANs. */
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/x509.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tls {
	/* The PEM text handed to libmicrohttpd, and its priorities. */
	char *cert_pem, *key_pem;
	char priorities[512];
	char details[192];              /* for tls_describe(): suites, curves */
	enum webconf_client_auth client_auth;
	int min_version, max_version;
	char **sans;                    /* client_allowed_sans; nsans 0: any */
	size_t nsans;
	/* What each new session gets (tls_session_start()). */
	gnutls_certificate_credentials_t cred;
	gnutls_priority_t prio;
	/* With cipher_suites and both versions: the priorities a session
	 * that turns out TLS 1.2 is switched to (client_hello()), since
	 * those of TLS 1.3's ciphers would add TLS 1.2 suites. */
	gnutls_priority_t prio12;
};

/* Client certificates are for TLS clients (if they say what they are for). */
static const gnutls_typed_vdata_st client_purpose = {
	GNUTLS_DT_KEY_PURPOSE_OID, (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT, 0
};
#define PURPOSE ((gnutls_typed_vdata_st *)(uintptr_t)&client_purpose)

/* ---- Go's names in GnuTLS's terms ---- */

/* How GnuTLS makes each TLS 1.2 suite of webconf's table. */
static const struct tls_suite_items suite_items[] = {
	{ 0x002f, "RSA", "AES-128-CBC", "SHA1" },
	{ 0x0035, "RSA", "AES-256-CBC", "SHA1" },
	{ 0x009c, "RSA", "AES-128-GCM", "AEAD" },
	{ 0x009d, "RSA", "AES-256-GCM", "AEAD" },
	{ 0xc009, "ECDHE-ECDSA", "AES-128-CBC", "SHA1" },
	{ 0xc00a, "ECDHE-ECDSA", "AES-256-CBC", "SHA1" },
	{ 0xc013, "ECDHE-RSA", "AES-128-CBC", "SHA1" },
	{ 0xc014, "ECDHE-RSA", "AES-256-CBC", "SHA1" },
	{ 0xc02b, "ECDHE-ECDSA", "AES-128-GCM", "AEAD" },
	{ 0xc02c, "ECDHE-ECDSA", "AES-256-GCM", "AEAD" },
	{ 0xc02f, "ECDHE-RSA", "AES-128-GCM", "AEAD" },
	{ 0xc030, "ECDHE-RSA", "AES-256-GCM", "AEAD" },
	{ 0xcca8, "ECDHE-RSA", "CHACHA20-POLY1305", "AEAD" },
	{ 0xcca9, "ECDHE-ECDSA", "CHACHA20-POLY1305", "AEAD" },
};

static const struct {
	const char *name, *group;
} curve_groups[] = {
	{ "CurveP256", "GROUP-SECP256R1" },
	{ "CurveP384", "GROUP-SECP384R1" },
	{ "CurveP521", "GROUP-SECP521R1" },
	{ "X25519", "GROUP-X25519" },
};

const struct tls_suite_items *tls_suite_items(unsigned id)
{
	for (size_t i = 0; i < sizeof(suite_items) / sizeof(suite_items[0]); i++)
		if (suite_items[i].id == id)
			return &suite_items[i];
	return NULL;
}

const char *tls_curve_group(const char *name)
{
	for (size_t i = 0; i < sizeof(curve_groups) / sizeof(curve_groups[0]); i++)
		if (strcmp(curve_groups[i].name, name) == 0)
			return curve_groups[i].group;
	return NULL;
}

/* ---- priorities ---- */

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

static const char *key_type(int pk)
{
	const char *s = pk == GNUTLS_PK_RSA ? "RSA" : pk == GNUTLS_PK_RSA_PSS ? "RSA-PSS" :
	    pk == GNUTLS_PK_ECDSA ? "ECDSA" : pk == GNUTLS_PK_EDDSA_ED25519 ? "Ed25519" :
	    pk == GNUTLS_PK_EDDSA_ED448 ? "Ed448" : gnutls_pk_get_name((gnutls_pk_algorithm_t)pk);

	return s != NULL ? s : "?";
}

/* What the priorities are made of: the versions on, and the TLS 1.2
 * suites listed that fit the key (nuse 0: GnuTLS's own). */
struct plan {
	int v12, v13;
	const struct webconf_suite *use[WEBCONF_MAX_SUITES];
	const struct tls_suite_items *items[WEBCONF_MAX_SUITES];
	size_t nuse;
};

/* Picks the versions and the TLS 1.2 suites of wc for a key of type pk. */
static int plan_make(struct plan *pl, const struct webconf *wc, int pk, char *err,
    size_t errsize)
{
	int listed12 = 0;

	pl->v12 = wc->min_version <= WEBCONF_TLS12;
	pl->v13 = wc->max_version >= WEBCONF_TLS13;
	pl->nuse = 0;
	for (size_t i = 0; i < wc->nsuites && pl->v12; i++) {
		const struct tls_suite_items *it = tls_suite_items(wc->suites[i]->id);

		if (!wc->suites[i]->tls12 || it == NULL)
			continue;
		listed12 = 1;
		if (kx_fits(it->kx, pk)) {
			pl->use[pl->nuse] = wc->suites[i];
			pl->items[pl->nuse++] = it;
		}
	}
	/* Only TLS 1.3 names: Go then has no TLS 1.2 suite (the parser said). */
	if (pl->v12 && wc->nsuites > 0 && !listed12)
		pl->v12 = 0;
	if (!pl->v12 && !pl->v13) {
		snprintf(err, errsize, "%s:%d: tls_server_config.cipher_suites: no TLS version "
		    "left", wc->path, wc->suites_line);
		return -EINVAL;
	}
	if (listed12 && pl->nuse == 0) {
		snprintf(err, errsize, "%s:%d: tls_server_config.cipher_suites: none of the TLS 1.2 "
		    "suites fits the %s key of cert_file %s (ECDHE_ECDSA suites need an ECDSA or "
		    "Ed25519 key, RSA ones an RSA key)", wc->path, wc->suites_line, key_type(pk),
		    wc->cert_file);
		return -EINVAL;
	}
	return 0;
}

/*
 * Adds the key exchanges, ciphers and MACs of the planned suites, each
 * kind replacing GnuTLS's own; with13, TLS 1.3's ciphers (Go's three) and
 * AEAD go with them.
 */
static int prio_add_suites(char *buf, size_t size, const struct plan *pl, int with13)
{
	static const char *const all[3] = { "-KX-ALL", "-CIPHER-ALL", "-MAC-ALL" };
	static const char *const tls13[3][4] = { { NULL },
		{ "+AES-256-GCM", "+CHACHA20-POLY1305", "+AES-128-GCM", NULL },
		{ "+AEAD", NULL } };
	char item[64];
	int r = 0;

	for (int f = 0; f < 3 && r == 0; f++) {
		r = prio_add(buf, size, all[f]);
		for (int k = 0; with13 && tls13[f][k] != NULL && r == 0; k++)
			r = prio_add(buf, size, tls13[f][k]);
		for (size_t i = 0; i < pl->nuse && r == 0; i++) {
			const struct tls_suite_items *it = pl->items[i];

			snprintf(item, sizeof(item), "+%s", f == 0 ? it->kx : f == 1 ? it->cipher :
			    it->mac);
			r = prio_add(buf, size, item);
		}
	}
	return r;
}

/* curve_preferences and prefer_server_cipher_suites, for every string. */
static int prio_tail(char *tail, size_t size, const struct webconf *wc)
{
	char item[40];
	int r = 0;

	if (wc->ncurves > 0)
		r = prio_add(tail, size, "-GROUP-ALL");
	for (size_t i = 0; i < wc->ncurves && r == 0; i++) {
		snprintf(item, sizeof(item), "+%s", tls_curve_group(wc->curves[i]->name));
		r = prio_add(tail, size, item);
	}
	if (r == 0 && wc->prefer_server)
		r = prio_add(tail, size, "%SERVER_PRECEDENCE");
	return r;
}

/*
 * Makes the GnuTLS priority strings of the plan: all for every session,
 * and tls12 (empty when not needed) for sessions that negotiate TLS 1.2
 * while TLS 1.3 is on.
 */
static int prio_strings(const struct plan *pl, const struct webconf *wc, char *all,
    size_t allsize, char *tls12, size_t size12)
{
	char tail[160] = "";
	int r = prio_tail(tail, sizeof(tail), wc);

	tls12[0] = '\0';
	snprintf(all, allsize, "NORMAL:-VERS-ALL%s%s", pl->v13 ? ":+VERS-TLS1.3" : "",
	    pl->v12 ? ":+VERS-TLS1.2" : "");
	if (pl->nuse > 0 && !pl->v13) {
		/* TLS 1.2 alone: exactly the suites listed (checked later). */
		if (r == 0)
			r = prio_add_suites(all, allsize, pl, 0);
	} else if (pl->nuse > 0) {
		/* Both versions: TLS 1.3's ciphers make TLS 1.2 suites too, so
		 * a TLS 1.2 session is switched to tls12. */
		snprintf(tls12, size12, "NORMAL:-VERS-ALL:+VERS-TLS1.2");
		if (r == 0)
			r = prio_add_suites(tls12, size12, pl, 0);
		if (r == 0)
			r = prio_add_suites(all, allsize, pl, 1);
	} else if (wc->nsuites > 0 && pl->v13) {
		/* TLS 1.3 only: Go's three suites (GnuTLS would add CCM). */
		r = prio_add(all, allsize, "-CIPHER-ALL");
		for (size_t i = 0; i < 3 && r == 0; i++)
			r = prio_add(all, allsize, i == 0 ? "+AES-256-GCM" : i == 1 ?
			    "+CHACHA20-POLY1305" : "+AES-128-GCM");
	}
	if (r == 0 && (strlen(all) + strlen(tail) >= allsize ||
	    strlen(tls12) + strlen(tail) >= size12))
		r = -ENOSPC;
	if (r < 0)
		return r;
	strcat(all, tail);
	if (tls12[0] != '\0')
		strcat(tls12, tail);
	return 0;
}

/*
 * Checks that the TLS 1.2 suites GnuTLS makes of prio are exactly those
 * planned: GnuTLS takes key exchanges, ciphers and MACs separately and
 * offers every combination it has, which may be more than was listed.
 */
static int suites_exact(gnutls_priority_t prio, const struct plan *pl,
    const struct webconf *wc, const char *keytype, char *err, size_t errsize)
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
		for (k = 0; k < pl->nuse && pl->use[k]->id != id; k++)
			;
		if (k < pl->nuse) {
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
	for (size_t k = 0; k < pl->nuse; k++) {
		if (!seen[k]) {
			snprintf(err, errsize, "%s:%d: tls_server_config.cipher_suites: this GnuTLS "
			    "cannot offer %s", wc->path, wc->suites_line, pl->use[k]->name);
			return -EINVAL;
		}
	}
	return 0;
}

/* GnuTLS's priorities of the string s into *prio. */
static int prio_init(gnutls_priority_t *prio, const char *s, const struct webconf *wc,
    char *err, size_t errsize)
{
	const char *errpos = NULL;
	int r = gnutls_priority_init(prio, s, &errpos);

	if (r < 0) {
		*prio = NULL;
		snprintf(err, errsize, "%s:%d: tls_server_config: GnuTLS refuses the priorities "
		    "\"%s\": %s", wc->path, wc->tls_line, s, gnutls_strerror(r));
		return -EINVAL;
	}
	return 0;
}

/* What the log says of cipher_suites and curve_preferences, in t->details:
 * " (TLS 1.2 cipher suites: 2 listed, curves X25519 CurveP256)". */
static void describe_details(struct tls *t, const struct webconf *wc, size_t nuse)
{
	char curves[64] = "";
	size_t n = 0;

	for (size_t i = 0; i < wc->ncurves; i++)
		n += (size_t)snprintf(curves + n, sizeof(curves) - n, " %s", wc->curves[i]->name);
	if (nuse == 0 && wc->ncurves == 0)
		t->details[0] = '\0';
	else if (nuse == 0)
		snprintf(t->details, sizeof(t->details), " (curves%s)", curves);
	else
		snprintf(t->details, sizeof(t->details), " (TLS 1.2 cipher suites: %zu "
		    "listed%s%s%s)", nuse, wc->ncurves > 0 ? ", curves" : "", curves,
		    wc->prefer_server ? ", server's order" : "");
}

/* The priorities of wc for the certificate's key type pk, in t->prio and
 * t->prio12, checked to make exactly the suites listed. */
static int make_priorities(struct tls *t, const struct webconf *wc, int pk, char *err,
    size_t errsize)
{
	char tls12[sizeof(t->priorities)];
	struct plan pl;
	int r = plan_make(&pl, wc, pk, err, errsize);

	if (r < 0)
		return r;
	if (prio_strings(&pl, wc, t->priorities, sizeof(t->priorities), tls12,
	    sizeof(tls12)) < 0) {
		snprintf(err, errsize, "%s:%d: tls_server_config: the GnuTLS priority string "
		    "does not fit", wc->path, wc->tls_line);
		return -ENOSPC;
	}
	if (prio_init(&t->prio, t->priorities, wc, err, errsize) < 0 ||
	    (tls12[0] != '\0' && prio_init(&t->prio12, tls12, wc, err, errsize) < 0))
		return -EINVAL;
	if (pl.nuse > 0 && suites_exact(t->prio12 != NULL ? t->prio12 : t->prio, &pl, wc,
	    pk == GNUTLS_PK_RSA ? "RSA" : "ECDSA", err, errsize) < 0)
		return -EINVAL;
	describe_details(t, wc, pl.nuse);
	return 0;
}

/* ---- certificates ---- */

static gnutls_datum_t datum(const char *pem)
{
	gnutls_datum_t d = { (unsigned char *)(uintptr_t)pem, (unsigned)strlen(pem) };

	return d;
}

/* The type of the key of cert_file's first certificate, or an error. */
static int cert_key_type(const struct webconf *wc, int *pk, char *err, size_t errsize)
{
	gnutls_datum_t c = datum(wc->cert_pem);
	gnutls_x509_crt_t *crts = NULL;
	unsigned ncrts = 0;
	int r = gnutls_x509_crt_list_import2(&crts, &ncrts, &c, GNUTLS_X509_FMT_PEM, 0);

	if (r < 0 || ncrts == 0) {
		snprintf(err, errsize, "%s:%d: tls_server_config.cert_file: %s: %s", wc->path,
		    wc->cert_line, wc->cert_file, r < 0 ? gnutls_strerror(r) : "no certificate");
		gnutls_free(crts);
		return -EINVAL;
	}
	*pk = gnutls_x509_crt_get_pk_algorithm(crts[0], NULL);
	for (unsigned i = 0; i < ncrts; i++)
		gnutls_x509_crt_deinit(crts[i]);
	gnutls_free(crts);
	return 0;
}

/* Whether key_file is a private key GnuTLS reads (not encrypted). */
static int key_readable(const struct webconf *wc, char *err, size_t errsize)
{
	gnutls_datum_t k = datum(wc->key_pem);
	gnutls_x509_privkey_t key;
	int r;

	if (gnutls_x509_privkey_init(&key) < 0) {
		snprintf(err, errsize, "%s: out of memory", wc->path);
		return -ENOMEM;
	}
	r = gnutls_x509_privkey_import2(key, &k, GNUTLS_X509_FMT_PEM, NULL, 0);
	gnutls_x509_privkey_deinit(key);
	if (r < 0) {
		snprintf(err, errsize, "%s:%d: tls_server_config.key_file: %s: %s%s", wc->path,
		    wc->key_line, wc->key_file, gnutls_strerror(r),
		    r == GNUTLS_E_DECRYPTION_FAILED ? " (encrypted keys are not supported)" : "");
		return -EINVAL;
	}
	return 0;
}

/* The credentials every session gets: certificate and key, which must
 * belong together, and the client CA. */
static int make_credentials(struct tls *t, const struct webconf *wc, char *err,
    size_t errsize)
{
	gnutls_datum_t c = datum(wc->cert_pem), k = datum(wc->key_pem), ca;
	int r;

	if (gnutls_certificate_allocate_credentials(&t->cred) < 0) {
		t->cred = NULL;
		snprintf(err, errsize, "%s: out of memory", wc->path);
		return -ENOMEM;
	}
	r = gnutls_certificate_set_x509_key_mem2(t->cred, &c, &k, GNUTLS_X509_FMT_PEM, NULL, 0);
	if (r < 0) {
		snprintf(err, errsize, "%s:%d: tls_server_config: cert_file %s and key_file %s: %s",
		    wc->path, wc->tls_line, wc->cert_file, wc->key_file, gnutls_strerror(r));
		return -EINVAL;
	}
	if (wc->client_ca_pem == NULL)
		return 0;
	ca = datum(wc->client_ca_pem);
	r = gnutls_certificate_set_x509_trust_mem(t->cred, &ca, GNUTLS_X509_FMT_PEM);
	if (r <= 0) {
		snprintf(err, errsize, "%s:%d: tls_server_config.client_ca_file: %s: %s",
		    wc->path, wc->client_ca_line, wc->client_ca_file,
		    r < 0 ? gnutls_strerror(r) : "no certificate");
		return -EINVAL;
	}
	return 0;
}

/* Copies wc's settings and PEM text into t. */
static int copy_settings(struct tls *t, const struct webconf *wc)
{
	t->client_auth = wc->client_auth;
	t->min_version = wc->min_version;
	t->max_version = wc->max_version;
	t->cert_pem = strdup(wc->cert_pem);
	t->key_pem = strdup(wc->key_pem);
	if (t->cert_pem == NULL || t->key_pem == NULL)
		return -ENOMEM;
	if (wc->nsans == 0)
		return 0;
	t->sans = calloc(wc->nsans, sizeof(*t->sans));
	if (t->sans == NULL)
		return -ENOMEM;
	for (; t->nsans < wc->nsans; t->nsans++) {
		t->sans[t->nsans] = strdup(wc->sans[t->nsans]);
		if (t->sans[t->nsans] == NULL)
			return -ENOMEM;
	}
	return 0;
}

int tls_new(struct tls **out, const struct webconf *wc, char *err, size_t errsize)
{
	struct tls *t;
	int pk = 0, r;

	if (!MHD_is_feature_supported(MHD_FEATURE_TLS)) {
		snprintf(err, errsize, "%s:%d: tls_server_config: this libmicrohttpd was built "
		    "without TLS", wc->path, wc->tls_line);
		return -ENOTSUP;
	}
	if (wc->cert_pem == NULL || wc->key_pem == NULL) {
		snprintf(err, errsize, "%s: the certificate files were not read", wc->path);
		return -EINVAL;
	}
	t = calloc(1, sizeof(*t));
	if (t == NULL || copy_settings(t, wc) < 0) {
		snprintf(err, errsize, "%s: out of memory", wc->path);
		r = -ENOMEM;
		goto fail;
	}
	r = cert_key_type(wc, &pk, err, errsize);
	if (r == 0)
		r = key_readable(wc, err, errsize);
	if (r == 0)
		r = make_credentials(t, wc, err, errsize);
	if (r == 0)
		r = make_priorities(t, wc, pk, err, errsize);
	if (r < 0)
		goto fail;
	*out = t;
	return 0;
fail:
	tls_free(t);
	return r;
}

void tls_free(struct tls *t)
{
	if (t == NULL)
		return;
	free(t->cert_pem);
	if (t->key_pem != NULL) {
		explicit_bzero(t->key_pem, strlen(t->key_pem));
		free(t->key_pem);
	}
	for (size_t i = 0; i < t->nsans; i++)
		free(t->sans[i]);
	free(t->sans);
	if (t->cred != NULL)
		gnutls_certificate_free_credentials(t->cred);
	if (t->prio != NULL)
		gnutls_priority_deinit(t->prio);
	if (t->prio12 != NULL)
		gnutls_priority_deinit(t->prio12);
	explicit_bzero(t, sizeof(*t));
	free(t);
}

void tls_describe(const struct tls *t, char *buf, size_t size)
{
	char sans[48] = "";
	int range = t->max_version != t->min_version;

	if (t->nsans > 0)
		snprintf(sans, sizeof(sans), " with %zu allowed SAN%s", t->nsans,
		    t->nsans == 1 ? "" : "s");
	snprintf(buf, size, "TLS 1.%d%s%s%s, client certificates %s%s", t->min_version - 10,
	    range ? " to 1." : "", range ? (t->max_version == WEBCONF_TLS13 ? "3" : "2") : "",
	    t->details, webconf_client_auth_name(t->client_auth), sans);
}

size_t tls_mhd_options(const struct tls *t, struct MHD_OptionItem *opts)
{
	opts[0] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0, t->key_pem };
	opts[1] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0, t->cert_pem };
	opts[2] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_PRIORITIES, 0,
	    (void *)(uintptr_t)t->priorities };
	return 3;
}

/* ---- the handshake ---- */

/* The handshake's check for VerifyClientCertIfGiven: a certificate, if one
 * came, must verify; GnuTLS's own check (gnutls_session_set_verify_cert2())
 * would also refuse a client that sends none. Non-zero fails the
 * handshake. */
static int verify_if_given(gnutls_session_t s)
{
	unsigned n = 0, status = 0;

	if (gnutls_certificate_get_peers(s, &n) == NULL || n == 0)
		return 0;
	if (gnutls_certificate_verify_peers(s, PURPOSE, 1, &status) < 0 || status != 0)
		return GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR;
	return 0;
}

/*
 * The TLS a session was readied with by tls_session_start():
 * libmicrohttpd makes its connection the session's pointer
 * (tls_session_start() checks), and t is the connection's socket context.
 * NULL: not found.
 */
static struct tls *session_tls(gnutls_session_t s)
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
static int client_hello(gnutls_session_t s)
{
	struct tls *t = session_tls(s);

	if (t == NULL || t->prio12 == NULL)
		return GNUTLS_E_INTERNAL_ERROR;
	if (gnutls_protocol_get_version(s) != GNUTLS_TLS1_2)
		return 0;
	return gnutls_priority_set(s, t->prio12);
}

/* Fails every handshake: the session cannot be tied to its TLS. */
static int client_hello_fail(gnutls_session_t s)
{
	(void)s;
	return GNUTLS_E_INTERNAL_ERROR;
}

/* Writes an IP address SAN (4 or 16 bytes) as Go does: dotted IPv4 (also
 * for an IPv4-mapped IPv6 one), else IPv6 as inet_ntop() writes it: "::"
 * for the first longest run of zero groups, lower-case hex (Go would write
 * the deprecated IPv4-compatible ::a.b.c.d as ::102:304). */
static void ip_text(const unsigned char *ip, size_t len, char *out, size_t size)
{
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (len == 16 && memcmp(ip, mapped, sizeof(mapped)) == 0) {
		ip += 12;
		len = 4;
	}
	if ((len != 4 && len != 16) ||
	    inet_ntop(len == 4 ? AF_INET : AF_INET6, ip, out, (socklen_t)size) == NULL)
		out[0] = '\0';
}

/*
 * Whether one Subject Alternative Name of the certificate der (DNS name,
 * email address, URI, or IP address in text form) is one of t->sans,
 * exactly, as exporter-toolkit checks client_allowed_sans.
 */
static int sans_match(const struct tls *t, const gnutls_datum_t *der)
{
	gnutls_x509_crt_t crt;
	int found = 0;

	if (gnutls_x509_crt_init(&crt) < 0)
		return 0;
	if (gnutls_x509_crt_import(crt, der, GNUTLS_X509_FMT_DER) < 0)
		goto out;
	for (unsigned seq = 0; seq < 1024 && !found; seq++) {
		char buf[1024], ip[INET6_ADDRSTRLEN];
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
		for (size_t i = 0; i < t->nsans && !found; i++)
			found = strlen(t->sans[i]) == size && memcmp(t->sans[i], name, size) == 0;
	}
out:
	gnutls_x509_crt_deinit(crt);
	return found;
}

/* The handshake's check with client_allowed_sans: the certificate is
 * verified (RequireAndVerifyClientCert) and one of its SANs is allowed. */
static int verify_sans(gnutls_session_t s)
{
	struct tls *t = session_tls(s);
	const gnutls_datum_t *peers;
	unsigned n = 0, status = 0;

	peers = gnutls_certificate_get_peers(s, &n);
	if (t == NULL || peers == NULL || n == 0)
		return GNUTLS_E_CERTIFICATE_ERROR;
	if (t->client_auth == WEBCONF_REQUIRE_AND_VERIFY_CLIENT_CERT &&
	    (gnutls_certificate_verify_peers(s, PURPOSE, 1, &status) < 0 || status != 0))
		return GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR;
	return sans_match(t, &peers[0]) ? 0 : GNUTLS_E_CERTIFICATE_ERROR;
}

/*
 * Asks for, requires and verifies client certificates as client_auth_type
 * says. libmicrohttpd would only ever ask for one (and never check it);
 * here a client without a good certificate fails the handshake, as with
 * exporter-toolkit.
 */
static void session_client_auth(const struct tls *t, gnutls_session_t s)
{
	switch (t->client_auth) {
	case WEBCONF_NO_CLIENT_CERT:
		gnutls_certificate_server_set_request(s, GNUTLS_CERT_IGNORE);
		break;
	case WEBCONF_REQUEST_CLIENT_CERT:
		gnutls_certificate_server_set_request(s, GNUTLS_CERT_REQUEST);
		break;
	case WEBCONF_REQUIRE_ANY_CLIENT_CERT:
		gnutls_certificate_server_set_request(s, GNUTLS_CERT_REQUIRE);
		if (t->nsans > 0)
			gnutls_session_set_verify_function(s, &verify_sans);
		break;
	case WEBCONF_VERIFY_CLIENT_CERT_IF_GIVEN:
		gnutls_certificate_server_set_request(s, GNUTLS_CERT_REQUEST);
		gnutls_session_set_verify_function(s, &verify_if_given);
		break;
	case WEBCONF_REQUIRE_AND_VERIFY_CLIENT_CERT:
		gnutls_certificate_server_set_request(s, GNUTLS_CERT_REQUIRE);
		/* One verify function per session: with SANs to check, ours
		 * verifies too. */
		if (t->nsans > 0)
			gnutls_session_set_verify_function(s, &verify_sans);
		else
			gnutls_session_set_verify_cert2(s, PURPOSE, 1, 0);
		break;
	}
}

int tls_session_start(struct tls *t, struct MHD_Connection *conn, gnutls_session_t s)
{
	int r = 0;

	if (gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, t->cred) < 0 ||
	    gnutls_priority_set(s, t->prio) < 0)
		r = -EIO;
	/* The callbacks find t through the session. */
	if ((t->prio12 != NULL || t->nsans > 0) && gnutls_session_get_ptr(s) != conn) {
		gnutls_handshake_set_post_client_hello_function(s, &client_hello_fail);
		return -EPROTO;
	}
	if (t->prio12 != NULL)
		gnutls_handshake_set_post_client_hello_function(s, &client_hello);
	session_client_auth(t, s);
	return r;
}

/* ---- a request ---- */

int tls_cert_ok(const struct tls *t, struct MHD_Connection *conn, char *why, size_t whysize)
{
	const union MHD_ConnectionInfo *ci;
	gnutls_session_t s;
	unsigned n = 0, status = 0;
	const gnutls_datum_t *peers;
	int have, verified, ok = 0;

	if (t->client_auth == WEBCONF_NO_CLIENT_CERT || t->client_auth ==
	    WEBCONF_REQUEST_CLIENT_CERT)
		return 1;
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (ci == NULL || ci->tls_session == NULL) {
		snprintf(why, whysize, "no TLS session");
		return 0;
	}
	s = ci->tls_session;
	peers = gnutls_certificate_get_peers(s, &n);
	have = peers != NULL && n > 0;
	verified = have && gnutls_certificate_verify_peers(s, PURPOSE, 1, &status) == 0 &&
	    status == 0;
	if (t->client_auth == WEBCONF_VERIFY_CLIENT_CERT_IF_GIVEN && (!have || verified))
		return 1;
	ok = t->client_auth == WEBCONF_REQUIRE_ANY_CLIENT_CERT ? have :
	    t->client_auth == WEBCONF_REQUIRE_AND_VERIFY_CLIENT_CERT ? verified : 0;
	/* client_allowed_sans comes only with the two modes that need a
	 * certificate: have holds when ok does. */
	if (ok && t->nsans > 0 && !sans_match(t, &peers[0])) {
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
