/* webconf.h: the web configuration file (--web.config.file): exporter-toolkit's format, read with libyaml, and its schema. */
#ifndef MEMPROBE_WEBCONF_H
#define MEMPROBE_WEBCONF_H

#include <stddef.h>

/*
 * The file, as in Prometheus' exporter-toolkit:
 *
 *   tls_server_config:
 *     cert_file: server.crt            # PEM; relative paths are taken from
 *     key_file: server.key             # the directory of the file
 *     client_ca_file: clients-ca.crt
 *     client_auth_type: RequireAndVerifyClientCert
 *     min_version: TLS12               # TLS12 (default) or TLS13
 *     max_version: TLS13               # TLS12 or TLS13 (default)
 *     cipher_suites:                   # Go's names; TLS 1.2 only, as in Go
 *       - TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
 *     curve_preferences: [...]         # CurveP256, CurveP384, CurveP521, X25519
 *     prefer_server_cipher_suites: true
 *     client_allowed_sans:             # one SAN of the client certificate
 *       - scraper.example              # must be one of these, exactly
 *   http_server_config: {...}          # accepted, ignored with a warning
 *   basic_auth_users:
 *     alice: $2y$10$...                # bcrypt
 *   auth_excluded_paths:               # served without basic auth
 *     - /healthz
 *
 * The file is read with libyaml: any YAML 1.1 one document holds (block
 * and flow collections, plain, quoted and block scalars, values over
 * several lines, comments), except anchors, aliases, tags, directives, a
 * '...' end marker and keys that are not scalars. Those, duplicate keys,
 * NUL, control characters, invalid UTF-8 and every key exporter-toolkit
 * has but memprobed does not implement are errors naming FILE:LINE,
 * never silently ignored.
 */

enum webconf_client_auth {
	WEBCONF_NO_CLIENT_CERT,                 /* NoClientCert (default) */
	WEBCONF_REQUEST_CLIENT_CERT,            /* RequestClientCert: asked, not checked */
	WEBCONF_REQUIRE_ANY_CLIENT_CERT,        /* RequireAnyClientCert: required, not verified */
	WEBCONF_VERIFY_CLIENT_CERT_IF_GIVEN,    /* VerifyClientCertIfGiven */
	WEBCONF_REQUIRE_AND_VERIFY_CLIENT_CERT, /* RequireAndVerifyClientCert */
};

/* TLS protocol versions, as in min_version and max_version. */
#define WEBCONF_TLS12 12
#define WEBCONF_TLS13 13

/*
 * A cipher suite cipher_suites may name: Go's name (crypto/tls) and its
 * IANA number. A TLS 1.3 suite (tls12 0) is accepted and without effect,
 * as in Go, where TLS 1.3 suites are not configurable. tls.c says how
 * the TLS library makes each.
 */
struct webconf_suite {
	const char *name;               /* "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" */
	unsigned id;                    /* 0xc02f */
	int tls12;                      /* a TLS 1.2 suite */
};

/* A curve curve_preferences may name, as Go names it. */
struct webconf_curve {
	const char *name;               /* "CurveP256" */
};

/* Room for every suite and curve (the lists take each once). */
#define WEBCONF_MAX_SUITES 24
#define WEBCONF_MAX_CURVES 4

struct webconf_user {
	char *name;
	char *hash;                     /* a bcrypt hash: $2y$, $2b$ or $2a$ */
	int line;
};

#define WEBCONF_MAX_WARNINGS 8
#define WEBCONF_ERR_MAX 512

/*
 * A parsed file. Strings are owned (webconf_free()). Line numbers are
 * those of the keys in the file, for messages; 0 when the key is absent.
 */
struct webconf {
	char *path;                     /* the name given to webconf_parse() */
	int tls;                        /* tls_server_config sets cert_file */
	int tls_line;
	char *cert_file, *key_file, *client_ca_file;   /* NULL when not set */
	int cert_line, key_line, client_ca_line;
	enum webconf_client_auth client_auth;
	int min_version, max_version;   /* WEBCONF_TLS12 or WEBCONF_TLS13 */
	/* cipher_suites and curve_preferences in file order, each entry
	 * pointing into the static tables of webconf.c; none: the TLS library's
	 * defaults. The lines are those of the keys. */
	const struct webconf_suite *suites[WEBCONF_MAX_SUITES];
	size_t nsuites;
	int suites_line;
	const struct webconf_curve *curves[WEBCONF_MAX_CURVES];
	size_t ncurves;
	int curves_line;
	int prefer_server;              /* prefer_server_cipher_suites: true */
	/* client_allowed_sans, owned; NULL when not set (never empty). */
	char **sans;
	size_t nsans;
	int sans_line;
	/* auth_excluded_paths, owned: URL paths served without basic auth
	 * (client certificates still apply); NULL when none. */
	char **excluded;
	size_t nexcluded;
	int excluded_line;
	/* The files' PEM text, NUL-terminated: set by webconf_load() only. */
	char *cert_pem, *key_pem, *client_ca_pem;
	struct webconf_user *users;     /* basic_auth_users, in file order */
	size_t nusers;
	/* Settings accepted but not followed, and risky ones, for the caller
	 * to log: "FILE:LINE: ..." each. */
	char *warnings[WEBCONF_MAX_WARNINGS];
	size_t nwarnings;
};

/*
 * Parses the text (len bytes, need not be NUL-terminated) of a web
 * configuration file called `name` into *wc (which it initialises). Reads
 * no file: a pure function of its input. Returns 0, or -EINVAL (the text is
 * wrong: err holds "NAME:LINE: what is wrong, what was expected") or
 * -ENOMEM; on error *wc holds nothing to free.
 */
int webconf_parse(struct webconf *wc, const char *text, size_t len, const char *name,
    char *err, size_t errsize);

/*
 * Reads the file `path` and parses it as webconf_parse() does; then makes
 * the certificate and key paths absolute (relative ones are taken from the
 * directory of `path`, as exporter-toolkit does) and reads those files
 * into cert_pem, key_pem and client_ca_pem. Returns 0 or a negative errno
 * with one line in err naming the file (and the line of the key that named
 * a certificate file): "web.yml:3: tls_server_config.cert_file:
 * /etc/x.crt: cannot open: No such file or directory".
 */
int webconf_load(struct webconf *wc, const char *path, char *err, size_t errsize);

/* Frees what *wc holds (also the PEM text, wiped first); *wc may then be
 * parsed into again. Safe on a zeroed *wc. */
void webconf_free(struct webconf *wc);

/* The name of a client_auth_type value as written in the file. */
const char *webconf_client_auth_name(enum webconf_client_auth a);

/* The suite of cipher_suites named `name` (Go's name), or NULL. */
const struct webconf_suite *webconf_suite_by_name(const char *name);

/* The suite of cipher_suites with IANA number id, or NULL. */
const struct webconf_suite *webconf_suite_by_id(unsigned id);

/* Whether s is a bcrypt hash as htpasswd -B and Python's crypt write it:
 * $2y$, $2b$ or $2a$, a cost from 04 to 31, '$', 53 characters of
 * [./A-Za-z0-9]. */
int webconf_is_bcrypt(const char *s);

#endif
