/* fuzz_webconf.c: libFuzzer target for the web configuration parser (libyaml and the schema) and the access rules built from it (tls.c, basicauth.c). */
#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "webauth.h"
#include "webconf.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Self-signed certificates made at start, one ECDSA and one RSA: what
 * webauth_new() builds priorities for depends on the key's type. Nothing
 * secret is committed. */
static char *cert_pem[2], *key_pem[2];

static char *export_pem(int (*fn)(void *, gnutls_x509_crt_fmt_t, gnutls_datum_t *), void *obj)
{
	gnutls_datum_t d = { NULL, 0 };
	char *s;

	if (fn(obj, GNUTLS_X509_FMT_PEM, &d) < 0)
		return NULL;
	s = strndup((const char *)d.data, d.size);
	gnutls_free(d.data);
	return s;
}

static int crt_export(void *c, gnutls_x509_crt_fmt_t f, gnutls_datum_t *d)
{
	return gnutls_x509_crt_export2(c, f, d);
}

static int key_export(void *k, gnutls_x509_crt_fmt_t f, gnutls_datum_t *d)
{
	return gnutls_x509_privkey_export2(k, f, d);
}

static void make_cert(int i, gnutls_pk_algorithm_t pk, unsigned bits)
{
	gnutls_x509_privkey_t key;
	gnutls_x509_crt_t crt;
	time_t now = time(NULL);

	if (gnutls_x509_privkey_init(&key) < 0 || gnutls_x509_privkey_generate(key, pk, bits, 0) < 0 ||
	    gnutls_x509_crt_init(&crt) < 0)
		abort();
	gnutls_x509_crt_set_version(crt, 3);
	gnutls_x509_crt_set_serial(crt, "\x01", 1);
	gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, "fuzz", 4);
	gnutls_x509_crt_set_issuer_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, "fuzz", 4);
	gnutls_x509_crt_set_activation_time(crt, now - 60);
	gnutls_x509_crt_set_expiration_time(crt, now + 86400);
	if (gnutls_x509_crt_set_key(crt, key) < 0 ||
	    gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0) < 0)
		abort();
	cert_pem[i] = export_pem(crt_export, crt);
	key_pem[i] = export_pem(key_export, key);
	if (cert_pem[i] == NULL || key_pem[i] == NULL)
		abort();
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_privkey_deinit(key);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	make_cert(0, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1));
	make_cert(1, GNUTLS_PK_RSA, 2048);
	return 0;
}

/* Builds the access rules of a parsed file as the daemon would, with a
 * made certificate in place of the files. */
static void build_rules(struct webconf *wc, size_t size)
{
	struct webauth *a = NULL;
	char err[512] = "";
	int k = (int)(size & 1), r;

	if (wc->tls) {
		wc->cert_pem = strdup(cert_pem[k]);
		wc->key_pem = strdup(key_pem[k]);
		if (wc->client_ca_file != NULL)
			wc->client_ca_pem = strdup(cert_pem[k]);
		if (wc->cert_pem == NULL || wc->key_pem == NULL)
			return;
	}
	r = webauth_new(&a, wc, err, sizeof(err));
	if (r < 0) {
		/* A refusal says why, in one line. */
		if ((r != -EINVAL && r != -ENOMEM && r != -ENOTSUP) || err[0] == '\0' ||
		    strchr(err, '\n') != NULL)
			abort();
		return;
	}
	webauth_describe(a, err, sizeof(err));
	webauth_free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct webconf wc;
	char err[WEBCONF_ERR_MAX];
	int r;

	r = webconf_parse(&wc, (const char *)data, size, "web.yml", err, sizeof(err));
	if (r < 0) {
		/* Every error says where and what. */
		if ((r != -EINVAL && r != -ENOMEM) || strncmp(err, "web.yml", 7) != 0 ||
		    strlen(err) < 10)
			abort();
		return 0;
	}
	/* What the daemon relies on when parsing succeeded. */
	if (wc.tls && (wc.cert_file == NULL || wc.key_file == NULL))
		abort();
	if (wc.min_version > wc.max_version)
		abort();
	for (size_t i = 0; i < wc.nusers; i++)
		if (!webconf_is_bcrypt(wc.users[i].hash) || wc.users[i].name[0] == '\0' ||
		    strchr(wc.users[i].name, ':') != NULL)
			abort();
	build_rules(&wc, size);
	webconf_free(&wc);
	return 0;
}
