/* webconf.h: the web configuration file (--web.config.file): exporter-toolkit's format, read by a strict YAML-subset parser. */
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
 *   http_server_config: {...}          # accepted, ignored with a warning
 *   basic_auth_users:
 *     alice: $2y$10$...                # bcrypt
 *
 * The YAML understood is block mappings (keys indented consistently
 * under their parent), block sequences of scalars, plain, 'single' and
 * "double" quoted scalars on one line, comments, `{}` and `[]`. Anything
 * else (anchors, aliases, tags, flow collections, block scalars,
 * multi-line values, several documents, duplicate keys, tabs in the
 * indentation) and every key exporter-toolkit has but memprobed does not
 * implement is an error naming FILE:LINE, never silently ignored.
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

/* Whether s is a bcrypt hash as htpasswd -B and Python's crypt write it:
 * $2y$, $2b$ or $2a$, a cost from 04 to 31, '$', 53 characters of
 * [./A-Za-z0-9]. */
int webconf_is_bcrypt(const char *s);

#endif
