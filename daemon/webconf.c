/* webconf.c: the web configuration file (--web.config.file): exporter-toolkit's format and its schema, over the tree ytree.c reads with libyaml. */
#include "webconf.h"
#include "ytree.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Files this big are not web configurations. */
#define WEBCONF_MAX_FILE (1024 * 1024)

/* ---- the schema ---- */

struct wparser {
	struct ytree *y;
	struct webconf *wc;
};

static int webconf_warn(struct webconf *wc, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int webconf_warn(struct webconf *wc, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int r;

	if (wc->nwarnings >= WEBCONF_MAX_WARNINGS)
		return 0;
	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	wc->warnings[wc->nwarnings++] = s;
	return 0;
}

/* A string setting: a scalar, or null (unset). */
static int want_string(struct wparser *w, const struct ynode *n, const char *section,
    char **out, int *line)
{
	if (n->type == YN_NULL)
		return 0;
	if (n->type != YN_SCALAR) {
		ytree_error(w->y, n->line, "%s.%s: expected a string, found %s", section, n->key,
		    ytree_type_name(n->type));
		return -EINVAL;
	}
	free(*out);
	*out = strdup(n->value);
	if (*out == NULL) {
		ytree_oom(w->y);
		return -ENOMEM;
	}
	if (line != NULL)
		*line = n->line;
	return 0;
}

/* A mapping setting: a mapping or null. */
static int want_map(struct wparser *w, const struct ynode *n, const char *what)
{
	if (n->type == YN_MAP || n->type == YN_NULL)
		return 0;
	ytree_error(w->y, n->line, "%s: expected a mapping, found %s", what, ytree_type_name(n->type));
	return -EINVAL;
}

static int tls_version(struct wparser *w, const struct ynode *n, int *out)
{
	if (n->type == YN_NULL)
		return 0;
	if (n->type == YN_SCALAR && strcmp(n->value, "TLS12") == 0) {
		*out = WEBCONF_TLS12;
		return 0;
	}
	if (n->type == YN_SCALAR && strcmp(n->value, "TLS13") == 0) {
		*out = WEBCONF_TLS13;
		return 0;
	}
	if (n->type == YN_SCALAR && (strcmp(n->value, "TLS10") == 0 ||
	    strcmp(n->value, "TLS11") == 0)) {
		ytree_error(w->y, n->line, "tls_server_config.%s: %s is not supported: "
		    "memprobed speaks TLS 1.2 and 1.3 only", n->key, n->value);
		return -EINVAL;
	}
	ytree_error(w->y, n->line, "tls_server_config.%s: expected TLS12 or TLS13", n->key);
	return -EINVAL;
}

static const struct {
	const char *name;
	enum webconf_client_auth a;
} client_auths[] = {
	{ "NoClientCert", WEBCONF_NO_CLIENT_CERT },
	{ "RequestClientCert", WEBCONF_REQUEST_CLIENT_CERT },
	{ "RequireAnyClientCert", WEBCONF_REQUIRE_ANY_CLIENT_CERT },
	{ "RequireClientCert", WEBCONF_REQUIRE_ANY_CLIENT_CERT },     /* exporter-toolkit's old name */
	{ "VerifyClientCertIfGiven", WEBCONF_VERIFY_CLIENT_CERT_IF_GIVEN },
	{ "RequireAndVerifyClientCert", WEBCONF_REQUIRE_AND_VERIFY_CLIENT_CERT },
};

const char *webconf_client_auth_name(enum webconf_client_auth a)
{
	for (size_t i = 0; i < sizeof(client_auths) / sizeof(client_auths[0]); i++)
		if (client_auths[i].a == a)
			return client_auths[i].name;
	return "?";
}

static int client_auth(struct wparser *w, const struct ynode *n, int *line)
{
	if (n->type == YN_NULL)
		return 0;
	if (n->type == YN_SCALAR) {
		for (size_t i = 0; i < sizeof(client_auths) / sizeof(client_auths[0]); i++) {
			if (strcmp(n->value, client_auths[i].name) == 0) {
				w->wc->client_auth = client_auths[i].a;
				*line = n->line;
				return 0;
			}
		}
	}
	ytree_error(w->y, n->line, "tls_server_config.client_auth_type: expected NoClientCert, "
	    "RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven or "
	    "RequireAndVerifyClientCert");
	return -EINVAL;
}

/*
 * The cipher suites Go's crypto/tls calls secure (tls.CipherSuites(), the
 * list exporter-toolkit takes names from).
 */
static const struct webconf_suite suites[] = {
	{ "TLS_RSA_WITH_AES_128_CBC_SHA", 0x002f, 1 },
	{ "TLS_RSA_WITH_AES_256_CBC_SHA", 0x0035, 1 },
	{ "TLS_RSA_WITH_AES_128_GCM_SHA256", 0x009c, 1 },
	{ "TLS_RSA_WITH_AES_256_GCM_SHA384", 0x009d, 1 },
	{ "TLS_AES_128_GCM_SHA256", 0x1301, 0 },
	{ "TLS_AES_256_GCM_SHA384", 0x1302, 0 },
	{ "TLS_CHACHA20_POLY1305_SHA256", 0x1303, 0 },
	{ "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", 0xc009, 1 },
	{ "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", 0xc00a, 1 },
	{ "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", 0xc013, 1 },
	{ "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", 0xc014, 1 },
	{ "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", 0xc02b, 1 },
	{ "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", 0xc02c, 1 },
	{ "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", 0xc02f, 1 },
	{ "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", 0xc030, 1 },
	{ "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", 0xcca8, 1 },
	{ "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", 0xcca9, 1 },
};

/* Suites Go has but memprobed does not offer: 3DES (Sweet32), RC4 and the
 * CBC-SHA256 ones (Go's InsecureCipherSuites()). */
static const char *const refused_suites[] = {
	"TLS_RSA_WITH_3DES_EDE_CBC_SHA", "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
	"TLS_RSA_WITH_RC4_128_SHA", "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
	"TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", "TLS_RSA_WITH_AES_128_CBC_SHA256",
	"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
};

/* exporter-toolkit's curves. */
static const struct webconf_curve curves[] = {
	{ "CurveP256" }, { "CurveP384" }, { "CurveP521" }, { "X25519" },
};

const struct webconf_suite *webconf_suite_by_name(const char *name)
{
	for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++)
		if (strcmp(suites[i].name, name) == 0)
			return &suites[i];
	return NULL;
}

const struct webconf_suite *webconf_suite_by_id(unsigned id)
{
	for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++)
		if (suites[i].id == id)
			return &suites[i];
	return NULL;
}

/*
 * A list setting: a sequence of strings, or null (unset; *items NULL).
 * Each item must be a scalar and appear once. Returns 0 with the first
 * item in *items, or -EINVAL (recorded).
 */
static int want_list(struct wparser *w, const struct ynode *n, const char *in,
    const struct ynode **items)
{
	*items = NULL;
	if (n->type == YN_NULL)
		return 0;
	if (n->type != YN_SEQ) {
		ytree_error(w->y, n->line, "%s%s: expected a list (\"- value\" lines or [a, b]), found %s", in,
		    n->key, ytree_type_name(n->type));
		return -EINVAL;
	}
	for (const struct ynode *i = n->child; i != NULL; i = i->next) {
		if (i->type != YN_SCALAR) {
			ytree_error(w->y, i->line, "%s%s: expected a string, found %s%s", in, n->key,
			    ytree_type_name(i->type), i->type == YN_NULL ? " (an empty sequence item?)" :
			    i->type == YN_MAP ? " (':' followed by a space makes one: quote the "
			    "value)" : "");
			return -EINVAL;
		}
		for (const struct ynode *j = n->child; j != i; j = j->next) {
			if (strcmp(i->value, j->value) == 0) {
				ytree_error(w->y, i->line, "%s%s: \"%.64s\" is listed twice (first on "
				    "line %d)", in, n->key, i->value, j->line);
				return -EINVAL;
			}
		}
	}
	*items = n->child;
	return 0;
}

static int cipher_suites(struct wparser *w, const struct ynode *n)
{
	struct webconf *wc = w->wc;
	const struct ynode *i;
	char alias[96];

	if (want_list(w, n, "tls_server_config.", &i) < 0)
		return -EINVAL;
	wc->suites_line = n->line;
	for (; i != NULL; i = i->next) {
		const struct webconf_suite *s = webconf_suite_by_name(i->value);

		if (s != NULL) {
			/* Distinct names, so the table's size bounds the list. */
			wc->suites[wc->nsuites++] = s;
			continue;
		}
		for (size_t k = 0; k < sizeof(refused_suites) / sizeof(refused_suites[0]); k++) {
			if (strcmp(refused_suites[k], i->value) == 0) {
				ytree_error(w->y, i->line, "tls_server_config.cipher_suites: %s is not "
				    "offered by memprobed (3DES, RC4 and CBC-SHA256 suites are "
				    "insecure); list AES-GCM or ChaCha20 ones", i->value);
				return -EINVAL;
			}
		}
		/* Go's constants without _SHA256 are aliases, not suite names. */
		snprintf(alias, sizeof(alias), "%.80s_SHA256", i->value);
		if (webconf_suite_by_name(alias) != NULL)
			ytree_error(w->y, i->line, "tls_server_config.cipher_suites: unknown cipher "
			    "suite \"%.64s\" (did you mean %s?)", i->value, alias);
		else
			ytree_error(w->y, i->line, "tls_server_config.cipher_suites: unknown cipher "
			    "suite \"%.64s\" (expected a name from Go's tls.CipherSuites(), such "
			    "as TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)", i->value);
		return -EINVAL;
	}
	return 0;
}

static int curve_preferences(struct wparser *w, const struct ynode *n)
{
	struct webconf *wc = w->wc;
	const struct ynode *i;

	if (want_list(w, n, "tls_server_config.", &i) < 0)
		return -EINVAL;
	wc->curves_line = n->line;
	for (; i != NULL; i = i->next) {
		size_t k;

		for (k = 0; k < sizeof(curves) / sizeof(curves[0]); k++)
			if (strcmp(curves[k].name, i->value) == 0)
				break;
		if (k == sizeof(curves) / sizeof(curves[0])) {
			ytree_error(w->y, i->line, "tls_server_config.curve_preferences: unknown curve "
			    "\"%.64s\" (expected CurveP256, CurveP384, CurveP521 or X25519)",
			    i->value);
			return -EINVAL;
		}
		wc->curves[wc->ncurves++] = &curves[k];
	}
	return 0;
}

/*
 * A list of distinct non-empty strings (want_list() checks the first),
 * copied into *out (*count of them); in is the key's parent for messages
 * ("tls_server_config." or ""), item what one entry is. An empty list
 * leaves *out NULL.
 */
static int string_list(struct wparser *w, const struct ynode *n, const char *in,
    const char *item, char ***out, size_t *count)
{
	const struct ynode *i;
	size_t len = 0;

	if (want_list(w, n, in, &i) < 0)
		return -EINVAL;
	for (const struct ynode *k = i; k != NULL; k = k->next)
		len++;
	if (len == 0)
		return 0;
	*out = calloc(len, sizeof(**out));
	if (*out == NULL) {
		ytree_oom(w->y);
		return -ENOMEM;
	}
	for (; i != NULL; i = i->next) {
		if (i->value[0] == '\0') {
			ytree_error(w->y, i->line, "%s%s: an empty %s", in, n->key, item);
			return -EINVAL;
		}
		(*out)[*count] = strdup(i->value);
		if ((*out)[*count] == NULL) {
			ytree_oom(w->y);
			return -ENOMEM;
		}
		(*count)++;
	}
	return 0;
}

static int client_allowed_sans(struct wparser *w, const struct ynode *n)
{
	struct webconf *wc = w->wc;
	int r;

	if (n->type == YN_NULL)
		return 0;
	r = string_list(w, n, "tls_server_config.", "name", &wc->sans, &wc->nsans);
	/* exporter-toolkit would refuse every client: surely not meant. */
	if (r == 0 && wc->nsans == 0) {
		ytree_error(w->y, n->line, "tls_server_config.client_allowed_sans is empty: no "
		    "client certificate could match; list SANs or remove the key");
		return -EINVAL;
	}
	wc->sans_line = n->line;
	return r;
}

/* auth_excluded_paths: URL paths served without basic auth. */
static int auth_excluded_paths(struct wparser *w, const struct ynode *n)
{
	struct webconf *wc = w->wc;
	int r;

	if (n->type == YN_NULL)
		return 0;
	r = string_list(w, n, "", "path", &wc->excluded, &wc->nexcluded);
	for (size_t k = 0; k < wc->nexcluded && r == 0; k++) {
		if (wc->excluded[k][0] != '/') {
			ytree_error(w->y, n->line, "auth_excluded_paths: \"%.64s\" is not a path "
			    "(it must start with /)", wc->excluded[k]);
			r = -EINVAL;
		}
	}
	wc->excluded_line = n->line;
	return r;
}

/* A boolean as Go's YAML reads one (plain, not quoted); null: false. */
static int want_bool(struct wparser *w, const struct ynode *n, int *out)
{
	static const char *const yes[] = { "true", "True", "TRUE", "yes", "Yes", "YES",
		"on", "On", "ON" };
	static const char *const no[] = { "false", "False", "FALSE", "no", "No", "NO",
		"off", "Off", "OFF" };

	*out = 0;
	if (n->type == YN_NULL)
		return 0;
	for (size_t k = 0; n->type == YN_SCALAR && !n->quoted && k < sizeof(yes) / sizeof(yes[0]);
	    k++) {
		if (strcmp(n->value, yes[k]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcmp(n->value, no[k]) == 0)
			return 0;
	}
	ytree_error(w->y, n->line, "tls_server_config.%s: expected true or false", n->key);
	return -EINVAL;
}

/*
 * cipher_suites against the versions: the suites are TLS 1.2's (Go takes
 * TLS 1.3's names and ignores them). A list without a TLS 1.2 suite turns
 * TLS 1.2 off, as it does in Go; that leaving no version is an error.
 */
static int suites_check(struct wparser *w, struct webconf *wc)
{
	int tls12 = 0;

	if (wc->nsuites == 0)
		return 0;
	if (wc->min_version >= WEBCONF_TLS13)
		return webconf_warn(wc, "%s:%d: tls_server_config.cipher_suites has no effect "
		    "with min_version TLS13 (TLS 1.3 suites are not configurable)",
		    w->y->name, wc->suites_line);
	for (size_t i = 0; i < wc->nsuites; i++)
		if (wc->suites[i]->tls12)
			tls12 = 1;
	if (tls12)
		return 0;
	if (wc->max_version <= WEBCONF_TLS12) {
		ytree_error(w->y, wc->suites_line, "tls_server_config.cipher_suites lists no TLS 1.2 "
		    "suite, and max_version is TLS12: no connection could be made");
		return -EINVAL;
	}
	return webconf_warn(wc, "%s:%d: tls_server_config.cipher_suites lists no TLS 1.2 "
	    "suite: TLS 1.2 clients are refused (as Go does), TLS 1.3 only",
	    w->y->name, wc->suites_line);
}

/* One key of tls_server_config; *auth_line gets client_auth_type's line. */
static int tls_key(struct wparser *w, const struct ynode *n, int *auth_line)
{
	struct webconf *wc = w->wc;
	const char *k = n->key;

	if (strcmp(k, "cert_file") == 0)
		return want_string(w, n, "tls_server_config", &wc->cert_file, &wc->cert_line);
	if (strcmp(k, "key_file") == 0)
		return want_string(w, n, "tls_server_config", &wc->key_file, &wc->key_line);
	if (strcmp(k, "client_ca_file") == 0)
		return want_string(w, n, "tls_server_config", &wc->client_ca_file,
		    &wc->client_ca_line);
	if (strcmp(k, "client_auth_type") == 0)
		return client_auth(w, n, auth_line);
	if (strcmp(k, "min_version") == 0)
		return tls_version(w, n, &wc->min_version);
	if (strcmp(k, "max_version") == 0)
		return tls_version(w, n, &wc->max_version);
	if (strcmp(k, "prefer_server_cipher_suites") == 0)
		return want_bool(w, n, &wc->prefer_server);
	if (strcmp(k, "cipher_suites") == 0)
		return cipher_suites(w, n);
	if (strcmp(k, "curve_preferences") == 0)
		return curve_preferences(w, n);
	if (strcmp(k, "client_allowed_sans") == 0)
		return client_allowed_sans(w, n);
	if (strcmp(k, "cert") == 0 || strcmp(k, "key") == 0 || strcmp(k, "client_ca") == 0)
		ytree_error(w->y, n->line, "tls_server_config.%s: inline PEM is not supported "
		    "by memprobed: use %s_file", k, k);
	else
		ytree_error(w->y, n->line, "tls_server_config: unknown key \"%.64s\" (expected "
		    "cert_file, key_file, client_ca_file, client_auth_type, min_version, "
		    "max_version, cipher_suites, curve_preferences, "
		    "prefer_server_cipher_suites or client_allowed_sans)", k);
	return -EINVAL;
}

/* The keys of tls_server_config together: what one needs of another. */
static int tls_consistent(struct wparser *w, const struct ynode *tls, int auth_line)
{
	struct webconf *wc = w->wc;

	/* Stricter than exporter-toolkit, which serves plain HTTP when both
	 * are missing: a TLS section that cannot work is an error. */
	if (wc->cert_file == NULL || wc->key_file == NULL) {
		ytree_error(w->y, tls->line, "tls_server_config: %s required",
		    wc->cert_file == NULL && wc->key_file == NULL ? "cert_file and key_file are" :
		    wc->cert_file == NULL ? "cert_file is" : "key_file is");
		return -EINVAL;
	}
	if (wc->min_version > wc->max_version) {
		ytree_error(w->y, tls->line, "tls_server_config: min_version TLS%d is above "
		    "max_version TLS%d", wc->min_version, wc->max_version);
		return -EINVAL;
	}
	if (wc->client_ca_file != NULL && wc->client_auth == WEBCONF_NO_CLIENT_CERT) {
		ytree_error(w->y, wc->client_ca_line, "tls_server_config.client_ca_file is set but "
		    "client_auth_type is NoClientCert: set client_auth_type "
		    "(RequireAndVerifyClientCert to require a certificate of that CA)");
		return -EINVAL;
	}
	if (wc->client_ca_file == NULL && (wc->client_auth == WEBCONF_VERIFY_CLIENT_CERT_IF_GIVEN ||
	    wc->client_auth == WEBCONF_REQUIRE_AND_VERIFY_CLIENT_CERT)) {
		ytree_error(w->y, auth_line, "tls_server_config.client_auth_type %s needs "
		    "client_ca_file: the CA that signs the client certificates",
		    webconf_client_auth_name(wc->client_auth));
		return -EINVAL;
	}
	/* As exporter-toolkit: the SANs need a certificate to look at. */
	if (wc->sans != NULL && wc->client_auth != WEBCONF_REQUIRE_AND_VERIFY_CLIENT_CERT &&
	    wc->client_auth != WEBCONF_REQUIRE_ANY_CLIENT_CERT) {
		ytree_error(w->y, wc->sans_line, "tls_server_config.client_allowed_sans needs "
		    "client_auth_type RequireAndVerifyClientCert (or RequireAnyClientCert), "
		    "not %s: a client could come without a certificate",
		    webconf_client_auth_name(wc->client_auth));
		return -EINVAL;
	}
	return suites_check(w, wc);
}

static int webconf_tls(struct wparser *w, const struct ynode *tls)
{
	struct webconf *wc = w->wc;
	int auth_line = 0, r = 0;

	if (want_map(w, tls, "tls_server_config") < 0)
		return -EINVAL;
	wc->tls_line = tls->line;
	if (tls->child == NULL)
		return 0;               /* empty: no TLS, as in exporter-toolkit */
	for (const struct ynode *n = tls->child; n != NULL && r == 0; n = n->next)
		r = tls_key(w, n, &auth_line);
	if (r == 0)
		r = tls_consistent(w, tls, auth_line);
	if (r < 0)
		return r;
	if (wc->client_auth != WEBCONF_NO_CLIENT_CERT &&
	    wc->client_auth != WEBCONF_REQUIRE_AND_VERIFY_CLIENT_CERT)
		r = webconf_warn(wc, "%s:%d: tls_server_config.client_auth_type %s does not "
		    "authenticate clients (any client gets in%s); RequireAndVerifyClientCert does",
		    w->y->name, auth_line, webconf_client_auth_name(wc->client_auth),
		    wc->client_auth == WEBCONF_REQUIRE_ANY_CLIENT_CERT ? " with any certificate" :
		    " without a certificate");
	wc->tls = 1;
	return r;
}

int webconf_is_bcrypt(const char *s)
{
	size_t n = strlen(s);

	if (n != 60 || s[0] != '$' || s[1] != '2' || (s[2] != 'a' && s[2] != 'b' && s[2] != 'y') ||
	    s[3] != '$' || s[4] < '0' || s[4] > '3' || s[5] < '0' || s[5] > '9' || s[6] != '$')
		return 0;
	if ((s[4] - '0') * 10 + (s[5] - '0') < 4 || (s[4] - '0') * 10 + (s[5] - '0') > 31)
		return 0;
	for (size_t i = 7; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '/'))
			return 0;
	}
	return 1;
}

static int webconf_users(struct wparser *w, const struct ynode *users)
{
	struct webconf *wc = w->wc;
	size_t n = 0;

	if (want_map(w, users, "basic_auth_users") < 0)
		return -EINVAL;
	for (const struct ynode *u = users->child; u != NULL; u = u->next)
		n++;
	if (n == 0)
		return 0;
	wc->users = calloc(n, sizeof(*wc->users));
	if (wc->users == NULL) {
		ytree_oom(w->y);
		return -ENOMEM;
	}
	for (const struct ynode *u = users->child; u != NULL; u = u->next) {
		struct webconf_user *wu = &wc->users[wc->nusers];

		/* The name never holds the password: it may be shown. */
		if (u->key[0] == '\0' || strchr(u->key, ':') != NULL) {
			ytree_error(w->y, u->line, "basic_auth_users: a user name must be non-empty "
			    "and without ':' (Basic authentication splits at the first ':')");
			return -EINVAL;
		}
		for (const unsigned char *c = (const unsigned char *)u->key; *c != '\0'; c++) {
			if (*c < 0x20 || *c == 0x7f) {
				ytree_error(w->y, u->line, "basic_auth_users: control character in "
				    "a user name");
				return -EINVAL;
			}
		}
		/* The hash is never echoed: it is a secret of sorts. */
		if (u->type != YN_SCALAR || !webconf_is_bcrypt(u->value)) {
			ytree_error(w->y, u->line, "basic_auth_users.%.64s: not a bcrypt hash "
			    "($2y$, $2b$ or $2a$, a cost from 04 to 31, then 53 characters; "
			    "`htpasswd -nBC 10 \"\" | tr -d ':\\n'` makes one)", u->key);
			return -EINVAL;
		}
		wu->name = strdup(u->key);
		wu->hash = strdup(u->value);
		wu->line = u->line;
		wc->nusers++;
		if (wu->name == NULL || wu->hash == NULL) {
			ytree_oom(w->y);
			return -ENOMEM;
		}
	}
	return 0;
}

static int webconf_schema(struct wparser *w, const struct ynode *root)
{
	struct webconf *wc = w->wc;
	int r = 0;

	if (root == NULL)
		return 0;               /* an empty file: nothing asked */
	if (root->type != YN_MAP) {
		ytree_error(w->y, root->line, "expected a mapping with tls_server_config, "
		    "http_server_config or basic_auth_users; found %s%s", ytree_type_name(root->type),
		    root->type == YN_SCALAR ? " (expected \"key: value\" lines)" : "");
		return -EINVAL;
	}
	for (const struct ynode *n = root->child; n != NULL && r == 0; n = n->next) {
		if (strcmp(n->key, "tls_server_config") == 0) {
			r = webconf_tls(w, n);
		} else if (strcmp(n->key, "basic_auth_users") == 0) {
			r = webconf_users(w, n);
		} else if (strcmp(n->key, "http_server_config") == 0) {
			r = want_map(w, n, "http_server_config");
			if (r == 0 && n->child != NULL)
				r = webconf_warn(wc, "%s:%d: http_server_config is ignored: memprobed "
				    "serves HTTP/1.1 and sets its own headers", w->y->name, n->line);
		} else if (strcmp(n->key, "auth_excluded_paths") == 0) {
			r = auth_excluded_paths(w, n);
		} else if (strcmp(n->key, "rate_limit") == 0) {
			ytree_error(w->y, n->line, "rate_limit is not supported by memprobed "
			    "(web.max-connections-per-ip bounds what one address can hold)");
			r = -EINVAL;
		} else {
			ytree_error(w->y, n->line, "unknown key \"%.64s\" (expected tls_server_config, "
			    "http_server_config, basic_auth_users or auth_excluded_paths)", n->key);
			r = -EINVAL;
		}
	}
	if (r == 0 && wc->nusers > 0 && !wc->tls)
		r = webconf_warn(wc, "%s: basic_auth_users without tls_server_config: passwords "
		    "cross the network in clear text", w->y->name);
	if (r == 0 && wc->nexcluded > 0 && wc->nusers == 0)
		r = webconf_warn(wc, "%s:%d: auth_excluded_paths without basic_auth_users: "
		    "nothing to exclude them from", w->y->name, wc->excluded_line);
	return r;
}

int webconf_parse(struct webconf *wc, const char *text, size_t len, const char *name,
    char *err, size_t errsize)
{
	struct ytree y = { .name = name, .msg = err, .msgsize = errsize };
	struct wparser w = { &y, wc };
	struct ynode *root = NULL;

	memset(wc, 0, sizeof(*wc));
	wc->min_version = WEBCONF_TLS12;
	wc->max_version = WEBCONF_TLS13;
	err[0] = '\0';
	wc->path = strdup(name);
	if (wc->path == NULL) {
		ytree_oom(&y);
		goto out;
	}
	root = ytree_parse(&y, text, len);
	/* The schema records its errors; a bare -ENOMEM is a warning's. */
	if (y.err == 0 && webconf_schema(&w, root) < 0)
		ytree_oom(&y);
out:
	ytree_free(root);
	if (y.err != 0) {
		webconf_free(wc);
		return y.err;
	}
	return 0;
}

/* ---- files ---- */

/* Reads at most max bytes of path into a new NUL-terminated *out. Returns
 * 0 or a negative errno, with why (cannot open: ...) in why. */
static int read_file(const char *path, size_t max, char **out, size_t *outlen, mode_t *mode,
    char *why, size_t whysize)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		snprintf(why, whysize, "cannot open: %s", strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		snprintf(why, whysize, "cannot stat: %s", strerror(-r));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		snprintf(why, whysize, "not a regular file");
		goto fail;
	}
	if ((size_t)st.st_size > max) {
		r = -EFBIG;
		snprintf(why, whysize, "too large (more than %zu bytes)", max);
		goto fail;
	}
	buf = malloc(max + 1);
	if (buf == NULL) {
		r = -ENOMEM;
		snprintf(why, whysize, "out of memory");
		goto fail;
	}
	for (;;) {
		ssize_t n = read(fd, buf + len, max + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			snprintf(why, whysize, "read error: %s", strerror(-r));
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max) {
			r = -EFBIG;
			snprintf(why, whysize, "too large (more than %zu bytes)", max);
			goto fail;
		}
	}
	close(fd);
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	if (mode != NULL)
		*mode = st.st_mode;
	return 0;
fail:
	if (buf != NULL) {
		memset(buf, 0, len);
		free(buf);
	}
	close(fd);
	return r;
}

/* Makes *file absolute against the directory of `base` if it is relative. */
static int resolve_path(char **file, const char *base)
{
	const char *slash = strrchr(base, '/');
	char *joined;

	if ((*file)[0] == '/' || slash == NULL)
		return 0;
	if (asprintf(&joined, "%.*s/%s", (int)(slash - base), base, *file) < 0)
		return -ENOMEM;
	free(*file);
	*file = joined;
	return 0;
}

/* Reads a PEM file named by a key on `line`; err as webconf_load(). */
static int read_pem(struct webconf *wc, const char *key, char **file, int line, char **pem,
    int is_key, char *err, size_t errsize)
{
	char why[256];
	size_t len;
	mode_t mode = 0;
	int r;

	if (resolve_path(file, wc->path) < 0) {
		snprintf(err, errsize, "%s: out of memory", wc->path);
		return -ENOMEM;
	}
	r = read_file(*file, WEBCONF_MAX_FILE, pem, &len, &mode, why, sizeof(why));
	if (r == 0 && (strlen(*pem) != len || strstr(*pem, "-----BEGIN ") == NULL)) {
		snprintf(why, sizeof(why), "not a PEM file (no \"-----BEGIN \" line)");
		r = -EINVAL;
	}
	if (r < 0) {
		snprintf(err, errsize, "%s:%d: tls_server_config.%s: %s: %s", wc->path, line, key,
		    *file, why);
		return r;
	}
	if (is_key && (mode & S_IROTH) && webconf_warn(wc, "%s:%d: tls_server_config.key_file "
	    "%s is readable by every user: chmod o-r it", wc->path, line, *file) < 0) {
		snprintf(err, errsize, "%s: out of memory", wc->path);
		return -ENOMEM;
	}
	return 0;
}

int webconf_load(struct webconf *wc, const char *path, char *err, size_t errsize)
{
	char why[256], *text = NULL;
	size_t len = 0;
	int r;

	memset(wc, 0, sizeof(*wc));
	r = read_file(path, WEBCONF_MAX_FILE, &text, &len, NULL, why, sizeof(why));
	if (r < 0) {
		snprintf(err, errsize, "%s: %s", path, why);
		return r;
	}
	r = webconf_parse(wc, text, len, path, err, errsize);
	free(text);
	if (r < 0)
		return r;
	if (wc->tls) {
		r = read_pem(wc, "cert_file", &wc->cert_file, wc->cert_line, &wc->cert_pem, 0,
		    err, errsize);
		if (r == 0)
			r = read_pem(wc, "key_file", &wc->key_file, wc->key_line, &wc->key_pem, 1,
			    err, errsize);
		if (r == 0 && wc->client_ca_file != NULL)
			r = read_pem(wc, "client_ca_file", &wc->client_ca_file, wc->client_ca_line,
			    &wc->client_ca_pem, 0, err, errsize);
		if (r < 0) {
			webconf_free(wc);
			return r;
		}
	}
	return 0;
}

static void free_secret(char **s)
{
	if (*s != NULL) {
		explicit_bzero(*s, strlen(*s));
		free(*s);
		*s = NULL;
	}
}

void webconf_free(struct webconf *wc)
{
	free(wc->path);
	free(wc->cert_file);
	free(wc->key_file);
	free(wc->client_ca_file);
	free(wc->cert_pem);
	free_secret(&wc->key_pem);
	free(wc->client_ca_pem);
	for (size_t i = 0; i < wc->nusers; i++) {
		free(wc->users[i].name);
		free(wc->users[i].hash);
	}
	free(wc->users);
	for (size_t i = 0; i < wc->nsans; i++)
		free(wc->sans[i]);
	free(wc->sans);
	for (size_t i = 0; i < wc->nexcluded; i++)
		free(wc->excluded[i]);
	free(wc->excluded);
	for (size_t i = 0; i < wc->nwarnings; i++)
		free(wc->warnings[i]);
	memset(wc, 0, sizeof(*wc));
}
