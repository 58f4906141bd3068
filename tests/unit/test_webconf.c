/* test_webconf.c: unit tests of the web configuration parser (daemon/webconf.c), its GnuTLS names (daemon/tls.c) and basic auth (daemon/basicauth.c). */
#include <crypt.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basicauth.h"
#include "harness.h"
#include "tls.h"
#include "webauth.h"
#include "webconf.h"

static char tmpdir[] = "/tmp/memprobe-test-webconf-XXXXXX";

static int parse(const char *text, struct webconf *wc, char *err)
{
	return webconf_parse(wc, text, strlen(text), "web.yml", err, WEBCONF_ERR_MAX);
}

/* text is refused with "web.yml:LINE: ..." holding `what`. */
static void check_error_at(const char *text, int line, const char *what, int src_line)
{
	struct webconf wc;
	char err[WEBCONF_ERR_MAX], want[64];
	int r = parse(text, &wc, err);

	if (line > 0)
		snprintf(want, sizeof(want), "web.yml:%d: ", line);
	else
		snprintf(want, sizeof(want), "web.yml: ");
	if (r != -EINVAL || strncmp(err, want, strlen(want)) != 0 || strstr(err, what) == NULL) {
		fprintf(stderr, "%s:%d: parse gave %d \"%s\"; want -EINVAL \"%s...%s...\"\n",
		    __FILE__, src_line, r, err, want, what);
		harness_failures++;
	}
	if (r == 0)
		webconf_free(&wc);
}
#define ERR_AT(text, line, what) check_error_at(text, line, what, __LINE__)

#define HASH_A "$2y$10$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze"
#define HASH_B "$2b$04$hLqFl9jSjoAAy95Z/zw8Ye8wkdMBM8c5Bn1ptYqP/AXyV0.oy0S8m"

static void test_full(void)
{
	struct webconf wc;
	char err[WEBCONF_ERR_MAX];
	const char *text =
	    "\xef\xbb\xbf# exporter-toolkit's example, and then some\n"
	    "---\n"
	    "tls_server_config:\n"
	    "  cert_file: server.crt   # a comment\n"
	    "  key_file: 'server key.pem'\n"
	    "\n"
	    "  client_ca_file: \"/etc/ca \\\"x\\\".crt\"\n"
	    "  client_auth_type: RequireAndVerifyClientCert\n"
	    "  min_version: TLS13\n"
	    "    # an indented comment\n"
	    "basic_auth_users:\n"
	    "    alice: " HASH_A "\n"
	    "    \"bob smith\": '" HASH_B "'\n";

	REQUIRE(parse(text, &wc, err) == 0);
	CHECK(wc.tls);
	CHECK_STR(wc.cert_file, "server.crt");
	CHECK_STR(wc.key_file, "server key.pem");
	CHECK_STR(wc.client_ca_file, "/etc/ca \"x\".crt");
	CHECK_U64(wc.cert_line, ==, 4);
	CHECK_U64(wc.key_line, ==, 5);
	CHECK_U64(wc.client_ca_line, ==, 7);
	CHECK_U64(wc.tls_line, ==, 3);
	CHECK(wc.client_auth == WEBCONF_REQUIRE_AND_VERIFY_CLIENT_CERT);
	CHECK_U64(wc.min_version, ==, WEBCONF_TLS13);
	CHECK_U64(wc.max_version, ==, WEBCONF_TLS13);
	REQUIRE(wc.nusers == 2);
	CHECK_STR(wc.users[0].name, "alice");
	CHECK_STR(wc.users[0].hash, HASH_A);
	CHECK_U64(wc.users[0].line, ==, 12);
	CHECK_STR(wc.users[1].name, "bob smith");
	CHECK_STR(wc.users[1].hash, HASH_B);
	CHECK_U64(wc.nwarnings, ==, 0);
	CHECK(wc.cert_pem == NULL);             /* parse reads no file */
	webconf_free(&wc);
	webconf_free(&wc);                      /* twice: harmless */
out:
	return;
}

static void test_defaults_and_empty(void)
{
	struct webconf wc;
	char err[WEBCONF_ERR_MAX];

	/* Nothing at all, comments only, nulls and {}: no TLS, no users. */
	const char *empty[] = {
		"", "\n\n", "# nothing\n   # here\n", "---\n", "tls_server_config:\n",
		"tls_server_config: {}\nbasic_auth_users: {}\n",
		"tls_server_config: ~\nbasic_auth_users: null\nhttp_server_config: {}\n",
		"tls_server_config:\nbasic_auth_users:\n",
	};

	for (size_t i = 0; i < sizeof(empty) / sizeof(empty[0]); i++) {
		if (parse(empty[i], &wc, err) != 0) {
			fprintf(stderr, "  \"%s\": %s\n", empty[i], err);
			CHECK(0);
			continue;
		}
		CHECK(!wc.tls);
		CHECK_U64(wc.nusers, ==, 0);
		CHECK_U64(wc.nwarnings, ==, 0);
		CHECK(wc.client_auth == WEBCONF_NO_CLIENT_CERT);
		CHECK_U64(wc.min_version, ==, WEBCONF_TLS12);
		CHECK_U64(wc.max_version, ==, WEBCONF_TLS13);
		webconf_free(&wc);
	}
	/* CRLF line ends and a last line without one. */
	REQUIRE(parse("tls_server_config:\r\n  cert_file: a\r\n  key_file: b", &wc, err) == 0);
	CHECK_STR(wc.cert_file, "a");
	CHECK_STR(wc.key_file, "b");
	webconf_free(&wc);
	/* Any consistent indentation; the sequence of a key at its own level. */
	REQUIRE(parse("tls_server_config:\n cert_file: a\n key_file: b\n"
	    "http_server_config:\n        headers:\n          X-A: b\n        http2: false\n",
	    &wc, err) == 0);
	CHECK_U64(wc.nwarnings, ==, 1);
	CHECK(strstr(wc.warnings[0], "web.yml:4: http_server_config is ignored") != NULL);
	webconf_free(&wc);
out:
	return;
}

static void test_escapes(void)
{
	struct webconf wc;
	char err[WEBCONF_ERR_MAX];

	REQUIRE(parse("tls_server_config:\n"
	    "  cert_file: \"\\x41\\u00e9\\U0001F600\\t\\\\\\/\\L\"\n"
	    "  key_file: 'it''s # not a comment'\n"
	    "  client_ca_file: a:b#c\n"
	    "  client_auth_type: VerifyClientCertIfGiven\n", &wc, err) == 0);
	CHECK_STR(wc.cert_file, "A\xc3\xa9\xf0\x9f\x98\x80\t\\/\xe2\x80\xa8");
	CHECK_STR(wc.key_file, "it's # not a comment");
	CHECK_STR(wc.client_ca_file, "a:b#c");
	/* Not RequireAndVerifyClientCert: said to be weak. */
	CHECK_U64(wc.nwarnings, ==, 1);
	CHECK(strstr(wc.warnings[0], "web.yml:5: tls_server_config.client_auth_type "
	    "VerifyClientCertIfGiven does not authenticate") != NULL);
	webconf_free(&wc);
	/* Every \L is 3 bytes for 2: a line of them must fit. */
	REQUIRE(parse("tls_server_config:\n  cert_file: \"\\L\\L\\L\\L\\L\\L\\L\\L\"\n"
	    "  key_file: k\n", &wc, err) == 0);
	CHECK_U64(strlen(wc.cert_file), ==, 24);
	webconf_free(&wc);
out:
	return;
}

/* YAML as exporter-toolkit's users write it: flow collections, block
 * scalars, values continued on the next line, explicit keys. */
static void test_full_yaml(void)
{
	struct webconf wc;
	char err[WEBCONF_ERR_MAX];

	REQUIRE(parse("tls_server_config: {cert_file: a, key_file: \"b\",\n"
	    "  client_ca_file: c, client_auth_type: RequireAndVerifyClientCert,\n"
	    "  curve_preferences: [X25519],\n"
	    "  cipher_suites: [TLS_AES_128_GCM_SHA256, 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256'],\n"
	    "  client_allowed_sans: [\"scraper.example\"]}\n"
	    "auth_excluded_paths: [/healthz]\n", &wc, err) == 0);
	CHECK_STR(wc.cert_file, "a");
	CHECK_STR(wc.key_file, "b");
	REQUIRE(wc.ncurves == 1);
	CHECK_STR(wc.curves[0]->name, "X25519");
	CHECK_U64(wc.curves_line, ==, 3);
	REQUIRE(wc.nsuites == 2);
	CHECK_U64(wc.suites[1]->id, ==, 0xc02f);
	REQUIRE(wc.nsans == 1);
	CHECK_STR(wc.sans[0], "scraper.example");
	CHECK_U64(wc.sans_line, ==, 5);
	REQUIRE(wc.nexcluded == 1);
	CHECK_STR(wc.excluded[0], "/healthz");
	webconf_free(&wc);
	/* The flow sequence of the issue, in block style around it. */
	REQUIRE(parse("tls_server_config:\n  cert_file: a\n  key_file: b\n"
	    "  curve_preferences: [X25519]\n", &wc, err) == 0);
	REQUIRE(wc.ncurves == 1);
	CHECK_STR(wc.curves[0]->name, "X25519");
	CHECK_U64(wc.curves_line, ==, 4);
	webconf_free(&wc);
	REQUIRE(parse("tls_server_config:\n  cert_file: |\n    x\n  key_file: >-\n    long\n"
	    "    name\n  client_ca_file: a\n    b\n  client_auth_type: RequireAndVerifyClientCert\n"
	    "  ? min_version\n  : TLS13\n", &wc, err) == 0);
	CHECK_STR(wc.cert_file, "x\n");
	CHECK_STR(wc.key_file, "long name");
	CHECK_STR(wc.client_ca_file, "a b");
	CHECK_U64(wc.key_line, ==, 4);
	CHECK_U64(wc.client_ca_line, ==, 7);
	CHECK_U64(wc.min_version, ==, WEBCONF_TLS13);
	webconf_free(&wc);
out:
	return;
}

static void test_yaml_errors(void)
{
	ERR_AT("a: b\n\tc: d\n", 2, "tab in the indentation");
	ERR_AT("tls_server_config:\n  cert_file: &x a\n", 2, "anchors");
	ERR_AT("tls_server_config:\n  cert_file: *x\n", 2, "aliases");
	ERR_AT("tls_server_config:\n  cert_file: !!str a\n", 2, "tags");
	ERR_AT("tls_server_config:\n  cert_file: [a]\n", 2, "cert_file: expected a string, "
	    "found a sequence");
	ERR_AT("tls_server_config:\n    cert_file: a\n  key_file: b\n", 3, "unexpected indentation");
	ERR_AT("  tls_server_config: {}\nbasic_auth_users: {}\n", 2, "indented less than the first");
	ERR_AT("tls_server_config:\n  cert_file: a\n  cert_file: b\n", 3,
	    "duplicate key \"cert_file\" (first on line 2)");
	ERR_AT("tls_server_config:\n  cert_file: \"abc\n", 2, "not closed");
	ERR_AT("tls_server_config:\n  cert_file: 'abc\n", 2, "not closed");
	ERR_AT("tls_server_config:\n  cert_file: \"a\\qb\"\n", 2, "unknown escape");
	ERR_AT("tls_server_config:\n  cert_file: \"a\\0b\"\n", 2, "NUL");
	ERR_AT("tls_server_config:\n  cert_file: \"a\\x00b\"\n", 2, "NUL, a surrogate");
	ERR_AT("tls_server_config:\n  cert_file: \"\\ud800\"\n", 2, "surrogate");
	ERR_AT("tls_server_config:\n  cert_file: \"\\u12\"\n", 2, "hexadecimal escape");
	ERR_AT("tls_server_config:\n  cert_file: \"a\" b\n", 2, "text after the closing quote");
	ERR_AT("tls_server_config:\n  cert_file: a: b\n", 2, "':' followed by a space");
	ERR_AT("tls_server_config:\n  cert_file:a\n", 1, "tls_server_config: expected a mapping, "
	    "found a value");
	ERR_AT("tls_server_config\n", 1, "expected \"key: value\"");
	ERR_AT("tls_server_config:\n  - a\n", 1, "tls_server_config: expected a mapping, found a sequence");
	ERR_AT("- a\n- b\n", 1, "expected a mapping");
	ERR_AT("just a scalar\n", 1, "expected \"key: value\"");
	ERR_AT("a: b\n---\nc: d\n", 2, "a second document");
	ERR_AT("a: b\n...\n", 2, "document end marker");
	ERR_AT("%YAML 1.2\n---\na: b\n", 1, "directives");
	ERR_AT("? [a]\n: b\n", 1, "complex keys");
	ERR_AT("tls_server_config:\n  cert_file: \"a\"\x01\n", 2, "control character 0x01");
	ERR_AT("tls_server_config:\n  cert_file: \xff\n", 2, "invalid UTF-8");
	ERR_AT("tls_server_config:\n  cert_file: \xc0\xaf\n", 2, "invalid UTF-8");
	ERR_AT("tls_server_config:\n  cert_file: a\rb\n", 2, "control character 0x0d");
	ERR_AT("tls_server_config:\n  cert_file: @a\n", 2, "cannot start with '@'");
	ERR_AT("a:\n  b:\n    c:\n      d:\n        e:\n          f:\n            g:\n"
	    "              h:\n                i:\n                  j:\n                    k:\n"
	    "                      l:\n                        m:\n                          n:\n"
	    "                            o:\n                              p:\n"
	    "                                q: r\n", 17, "nested deeper than 16");
	ERR_AT("tls_server_config:\n  client_allowed_sans:\n  - a\n  -\n", 4, "empty sequence item");
	ERR_AT("tls_server_config:\n  client_allowed_sans:\n    - a: b\n", 3, "':' followed by a space");
	ERR_AT("tls_server_config:\n  client_allowed_sans:\n    - a\n    b: c\n", 4,
	    "expected a sequence item");
}

static void test_embedded_nul(void)
{
	struct webconf wc;
	char err[WEBCONF_ERR_MAX];
	static const char text[] = "tls_server_config:\n  cert_file: a\0b\n";

	CHECK(webconf_parse(&wc, text, sizeof(text) - 1, "web.yml", err, sizeof(err)) == -EINVAL);
	CHECK_STR(err, "web.yml:2: NUL byte");
}

static void test_schema_errors(void)
{
	ERR_AT("tls_server_configs:\n  cert_file: a\n", 1,
	    "unknown key \"tls_server_configs\" (expected tls_server_config, http_server_config, "
	    "basic_auth_users or auth_excluded_paths)");
	ERR_AT("tls_server_config:\n  cert_file: a\n  key_file: b\n  keyfile: c\n", 4,
	    "tls_server_config: unknown key \"keyfile\"");
	ERR_AT("tls_server_config:\n  cert_file: a\n", 1, "tls_server_config: key_file is required");
	ERR_AT("tls_server_config:\n  key_file: a\n", 1, "cert_file is required");
	ERR_AT("tls_server_config:\n  min_version: TLS13\n", 1, "cert_file and key_file are required");
	ERR_AT("tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS11\n", 4,
	    "TLS11 is not supported");
	ERR_AT("tls_server_config:\n  cert_file: a\n  key_file: b\n  max_version: TLS14\n", 4,
	    "expected TLS12 or TLS13");
	ERR_AT("tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS13\n"
	    "  max_version: TLS12\n", 1, "min_version TLS13 is above max_version TLS12");
	ERR_AT("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_ca_file: c\n", 4,
	    "client_auth_type is NoClientCert");
	ERR_AT("tls_server_config:\n  cert_file: a\n  key_file: b\n"
	    "  client_auth_type: RequireAndVerifyClientCert\n", 4, "needs client_ca_file");
	ERR_AT("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: Always\n", 4,
	    "expected NoClientCert, RequestClientCert");
	ERR_AT("tls_server_config:\n  cert: |\n", 2, "inline PEM is not supported");
	ERR_AT("tls_server_config:\n  cert: \"-----BEGIN\"\n", 2, "inline PEM is not supported");
	ERR_AT("tls_server_config:\n  cert_file:\n    x: y\n", 2, "expected a string, found a mapping");
	ERR_AT("tls_server_config: a\n", 1, "expected a mapping, found a value");
	ERR_AT("rate_limit:\n  burst: 10\n", 1, "rate_limit is not supported");
	ERR_AT("basic_auth_users:\n  alice: secret\n", 2, "basic_auth_users.alice: not a bcrypt hash");
	ERR_AT("basic_auth_users:\n  alice: $1$abc$abcdefghijklmnopqrstuv\n", 2, "not a bcrypt hash");
	ERR_AT("basic_auth_users:\n  alice: $2y$03$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze\n",
	    2, "not a bcrypt hash");
	ERR_AT("basic_auth_users:\n  alice: $2y$10$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPz\n",
	    2, "not a bcrypt hash");
	ERR_AT("basic_auth_users:\n  alice:\n", 2, "not a bcrypt hash");
	ERR_AT("basic_auth_users:\n  \"a:b\": " HASH_A "\n", 2, "without ':'");
	ERR_AT("basic_auth_users:\n  \"\": " HASH_A "\n", 2, "non-empty");
	ERR_AT("basic_auth_users:\n  \"a\\tb\": " HASH_A "\n", 2, "control character");
	ERR_AT("basic_auth_users:\n  alice: " HASH_A "\n  alice: " HASH_B "\n", 3, "duplicate key");
	ERR_AT("basic_auth_users:\n  - alice\n", 1, "expected a mapping, found a sequence");
}

static void test_warnings(void)
{
	struct webconf wc;
	char err[WEBCONF_ERR_MAX];

	REQUIRE(parse("basic_auth_users:\n  alice: " HASH_A "\n", &wc, err) == 0);
	CHECK_U64(wc.nwarnings, ==, 1);
	CHECK(strstr(wc.warnings[0], "without tls_server_config: passwords cross the network "
	    "in clear text") != NULL);
	webconf_free(&wc);
	REQUIRE(parse("tls_server_config:\n  cert_file: a\n  key_file: b\n"
	    "  prefer_server_cipher_suites: true\n  client_auth_type: RequireAnyClientCert\n",
	    &wc, err) == 0);
	CHECK_U64(wc.nwarnings, ==, 1);
	CHECK(wc.prefer_server);
	CHECK(strstr(wc.warnings[0], "with any certificate") != NULL);
	CHECK(wc.client_auth == WEBCONF_REQUIRE_ANY_CLIENT_CERT);
	webconf_free(&wc);
	/* The old name of RequireAnyClientCert. */
	REQUIRE(parse("tls_server_config:\n  cert_file: a\n  key_file: b\n"
	    "  client_auth_type: RequireClientCert\n", &wc, err) == 0);
	CHECK(wc.client_auth == WEBCONF_REQUIRE_ANY_CLIENT_CERT);
	webconf_free(&wc);
out:
	return;
}

#define TLS_HEAD "tls_server_config:\n  cert_file: a\n  key_file: b\n"

static void test_cipher_suites(void)
{
	struct webconf wc;
	char err[WEBCONF_ERR_MAX];

	REQUIRE(parse(TLS_HEAD "  cipher_suites:\n"
	    "    - TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256\n"
	    "    - 'TLS_RSA_WITH_AES_128_CBC_SHA'\n"
	    "    - TLS_AES_256_GCM_SHA384\n"
	    "  prefer_server_cipher_suites: yes\n", &wc, err) == 0);
	REQUIRE(wc.nsuites == 3);
	CHECK_U64(wc.suites_line, ==, 4);
	CHECK_STR(wc.suites[0]->name, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256");
	CHECK_U64(wc.suites[0]->id, ==, 0xcca8);
	REQUIRE(tls_suite_items(wc.suites[0]->id) != NULL);
	REQUIRE(tls_suite_items(wc.suites[1]->id) != NULL);
	CHECK_STR(tls_suite_items(wc.suites[0]->id)->kx, "ECDHE-RSA");
	CHECK_STR(tls_suite_items(wc.suites[0]->id)->cipher, "CHACHA20-POLY1305");
	CHECK_STR(tls_suite_items(wc.suites[0]->id)->mac, "AEAD");
	CHECK_STR(tls_suite_items(wc.suites[1]->id)->cipher, "AES-128-CBC");
	CHECK_STR(tls_suite_items(wc.suites[1]->id)->mac, "SHA1");
	CHECK(!wc.suites[2]->tls12);            /* TLS 1.3's: no effect */
	CHECK(tls_suite_items(wc.suites[2]->id) == NULL);
	CHECK(wc.prefer_server);
	CHECK_U64(wc.nwarnings, ==, 0);
	webconf_free(&wc);
	/* Null and []: GnuTLS's own, as Go's with an empty list. */
	REQUIRE(parse(TLS_HEAD "  cipher_suites:\n  curve_preferences: []\n"
	    "  prefer_server_cipher_suites: false\n", &wc, err) == 0);
	CHECK_U64(wc.nsuites, ==, 0);
	CHECK_U64(wc.ncurves, ==, 0);
	CHECK(!wc.prefer_server);
	webconf_free(&wc);
	/* Only TLS 1.3 names: TLS 1.2 is off, said; min_version TLS13: no effect. */
	REQUIRE(parse(TLS_HEAD "  cipher_suites:\n  - TLS_AES_128_GCM_SHA256\n", &wc, err) == 0);
	CHECK(wc.nwarnings == 1 && strstr(wc.warnings[0], "web.yml:4: tls_server_config."
	    "cipher_suites lists no TLS 1.2 suite: TLS 1.2 clients are refused") != NULL);
	webconf_free(&wc);
	REQUIRE(parse(TLS_HEAD "  min_version: TLS13\n  cipher_suites:\n"
	    "  - TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\n", &wc, err) == 0);
	CHECK(wc.nwarnings == 1 && strstr(wc.warnings[0], "web.yml:5: tls_server_config."
	    "cipher_suites has no effect with min_version TLS13") != NULL);
	webconf_free(&wc);
	CHECK(webconf_suite_by_id(0xc02b) == webconf_suite_by_name(
	    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"));
	CHECK(webconf_suite_by_id(0x000a) == NULL);

	ERR_AT(TLS_HEAD "  cipher_suites:\n  - TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\n"
	    "  - TLS_FOO\n", 6, "tls_server_config.cipher_suites: unknown cipher suite "
	    "\"TLS_FOO\" (expected a name from Go's tls.CipherSuites()");
	ERR_AT(TLS_HEAD "  cipher_suites:\n  - TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305\n", 5,
	    "did you mean TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256?");
	ERR_AT(TLS_HEAD "  cipher_suites:\n  - TLS_RSA_WITH_3DES_EDE_CBC_SHA\n", 5,
	    "TLS_RSA_WITH_3DES_EDE_CBC_SHA is not offered by memprobed");
	ERR_AT(TLS_HEAD "  cipher_suites:\n  - TLS_ECDHE_RSA_WITH_RC4_128_SHA\n", 5,
	    "is not offered by memprobed");
	ERR_AT(TLS_HEAD "  cipher_suites:\n  - TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256\n", 5,
	    "is not offered by memprobed");
	ERR_AT(TLS_HEAD "  cipher_suites:\n  - TLS_AES_128_GCM_SHA256\n"
	    "  - TLS_AES_128_GCM_SHA256\n", 6, "\"TLS_AES_128_GCM_SHA256\" is listed twice "
	    "(first on line 5)");
	ERR_AT(TLS_HEAD "  cipher_suites: TLS_AES_128_GCM_SHA256\n", 4,
	    "tls_server_config.cipher_suites: expected a list");
	ERR_AT(TLS_HEAD "  cipher_suites:\n    x: y\n", 4, "expected a list");
	ERR_AT(TLS_HEAD "  cipher_suites:\n  - ~\n", 5, "cipher_suites: expected a string, "
	    "found nothing");
	ERR_AT(TLS_HEAD "  cipher_suites:\n  - TLS_FOO\n", 5, "unknown cipher suite");
	ERR_AT(TLS_HEAD "  max_version: TLS12\n  cipher_suites:\n  - TLS_AES_128_GCM_SHA256\n", 5,
	    "lists no TLS 1.2 suite, and max_version is TLS12");
	ERR_AT(TLS_HEAD "  prefer_server_cipher_suites: \"true\"\n", 4,
	    "tls_server_config.prefer_server_cipher_suites: expected true or false");
	ERR_AT(TLS_HEAD "  prefer_server_cipher_suites: 1\n", 4, "expected true or false");
	ERR_AT(TLS_HEAD "  prefer_server_cipher_suites: true\n  prefer_server_cipher_suites: "
	    "false\n", 5, "duplicate key");
out:
	return;
}

static void test_curves(void)
{
	struct webconf wc;
	char err[WEBCONF_ERR_MAX];

	REQUIRE(parse(TLS_HEAD "  curve_preferences:\n  - X25519\n  - CurveP521\n"
	    "  - \"CurveP256\"\n  - CurveP384\n", &wc, err) == 0);
	REQUIRE(wc.ncurves == 4);
	CHECK_U64(wc.curves_line, ==, 4);
	CHECK_STR(tls_curve_group(wc.curves[0]->name), "GROUP-X25519");
	CHECK_STR(tls_curve_group(wc.curves[1]->name), "GROUP-SECP521R1");
	CHECK_STR(wc.curves[2]->name, "CurveP256");
	CHECK_STR(tls_curve_group(wc.curves[2]->name), "GROUP-SECP256R1");
	CHECK_STR(tls_curve_group(wc.curves[3]->name), "GROUP-SECP384R1");
	webconf_free(&wc);
	ERR_AT(TLS_HEAD "  curve_preferences:\n  - X25519\n  - X25519Kyber768Draft00\n", 6,
	    "tls_server_config.curve_preferences: unknown curve \"X25519Kyber768Draft00\" "
	    "(expected CurveP256, CurveP384, CurveP521 or X25519)");
	ERR_AT(TLS_HEAD "  curve_preferences:\n  - P256\n", 5, "unknown curve \"P256\"");
	ERR_AT(TLS_HEAD "  curve_preferences:\n  - X25519\n  - X25519\n", 6, "listed twice");
	ERR_AT(TLS_HEAD "  curve_preferences: X25519\n", 4, "expected a list");
	ERR_AT(TLS_HEAD "  curve_preferences:\n  -\n", 5, "empty sequence item");
out:
	return;
}

static void test_allowed_sans(void)
{
	struct webconf wc;
	char err[WEBCONF_ERR_MAX];

	REQUIRE(parse(TLS_HEAD "  client_ca_file: ca\n"
	    "  client_auth_type: RequireAndVerifyClientCert\n  client_allowed_sans:\n"
	    "  - scraper.example\n  - 'spiffe://test/scraper'\n  - 10.1.2.3\n", &wc, err) == 0);
	REQUIRE(wc.nsans == 3);
	CHECK_U64(wc.sans_line, ==, 6);
	CHECK_STR(wc.sans[0], "scraper.example");
	CHECK_STR(wc.sans[1], "spiffe://test/scraper");
	CHECK_STR(wc.sans[2], "10.1.2.3");
	webconf_free(&wc);
	/* RequireAnyClientCert too, as exporter-toolkit (with its warning). */
	REQUIRE(parse(TLS_HEAD "  client_auth_type: RequireAnyClientCert\n"
	    "  client_allowed_sans:\n  - a\n", &wc, err) == 0);
	CHECK_U64(wc.nsans, ==, 1);
	webconf_free(&wc);
	/* Null: not set. */
	REQUIRE(parse(TLS_HEAD "  client_allowed_sans:\n", &wc, err) == 0);
	CHECK(wc.sans == NULL);
	webconf_free(&wc);
	ERR_AT(TLS_HEAD "  client_allowed_sans:\n    - a.example\n", 4,
	    "tls_server_config.client_allowed_sans needs client_auth_type "
	    "RequireAndVerifyClientCert (or RequireAnyClientCert), not NoClientCert");
	ERR_AT(TLS_HEAD "  client_ca_file: ca\n  client_auth_type: VerifyClientCertIfGiven\n"
	    "  client_allowed_sans:\n    - a.example\n", 6, "not VerifyClientCertIfGiven");
	ERR_AT(TLS_HEAD "  client_auth_type: RequestClientCert\n  client_allowed_sans:\n"
	    "  - a\n", 5, "not RequestClientCert");
	ERR_AT(TLS_HEAD "  client_auth_type: RequireAnyClientCert\n  client_allowed_sans: []\n",
	    5, "tls_server_config.client_allowed_sans is empty");
	ERR_AT(TLS_HEAD "  client_auth_type: RequireAnyClientCert\n  client_allowed_sans:\n"
	    "  - a\n  - b\n  - a\n", 8, "\"a\" is listed twice (first on line 6)");
	ERR_AT(TLS_HEAD "  client_auth_type: RequireAnyClientCert\n  client_allowed_sans:\n"
	    "  - ''\n", 6, "client_allowed_sans: an empty name");
	ERR_AT(TLS_HEAD "  client_auth_type: RequireAnyClientCert\n  client_allowed_sans: a\n",
	    5, "client_allowed_sans: expected a list");
	ERR_AT(TLS_HEAD "  client_auth_type: RequireAnyClientCert\n  client_allowed_sans:\n"
	    "  - {}\n", 6, "expected a string, found a mapping");
out:
	return;
}

/* auth_excluded_paths: top-level list of paths served without basic auth. */
static void test_excluded_paths(void)
{
	struct webconf wc;
	char err[WEBCONF_ERR_MAX];

	REQUIRE(parse("basic_auth_users:\n  alice: " HASH_A "\nauth_excluded_paths:\n"
	    "  - /healthz\n  - '/api/v1/status'\n", &wc, err) == 0);
	REQUIRE(wc.nexcluded == 2);
	CHECK_U64(wc.excluded_line, ==, 3);
	CHECK_STR(wc.excluded[0], "/healthz");
	CHECK_STR(wc.excluded[1], "/api/v1/status");
	CHECK_U64(wc.nwarnings, ==, 1);         /* basic auth without TLS */
	webconf_free(&wc);
	/* Empty and null: nothing excluded. */
	REQUIRE(parse("auth_excluded_paths: []\n", &wc, err) == 0);
	CHECK(wc.excluded == NULL && wc.nexcluded == 0);
	webconf_free(&wc);
	REQUIRE(parse("auth_excluded_paths:\n", &wc, err) == 0);
	CHECK(wc.excluded == NULL);
	webconf_free(&wc);
	/* Without users: said. */
	REQUIRE(parse("auth_excluded_paths:\n  - /healthz\n", &wc, err) == 0);
	REQUIRE(wc.nwarnings == 1);
	CHECK(strstr(wc.warnings[0], "web.yml:1: auth_excluded_paths without basic_auth_users")
	    != NULL);
	webconf_free(&wc);
	ERR_AT("auth_excluded_paths:\n  - healthz\n", 1,
	    "auth_excluded_paths: \"healthz\" is not a path (it must start with /)");
	ERR_AT("auth_excluded_paths:\n  - /a\n  - /b\n  - /a\n", 4,
	    "auth_excluded_paths: \"/a\" is listed twice (first on line 2)");
	ERR_AT("auth_excluded_paths:\n  - ''\n", 2, "auth_excluded_paths: an empty path");
	ERR_AT("auth_excluded_paths: /healthz\n", 1, "auth_excluded_paths: expected a list");
	ERR_AT("auth_excluded_paths:\n  - {}\n", 2,
	    "auth_excluded_paths: expected a string, found a mapping");
out:
	return;
}

static void test_is_bcrypt(void)
{
	CHECK(webconf_is_bcrypt(HASH_A));
	CHECK(webconf_is_bcrypt(HASH_B));
	CHECK(webconf_is_bcrypt("$2a$31$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze"));
	CHECK(!webconf_is_bcrypt("$2x$10$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze"));
	CHECK(!webconf_is_bcrypt("$2y$32$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze"));
	CHECK(!webconf_is_bcrypt("$2y$1$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPzee"));
	CHECK(!webconf_is_bcrypt("$2y$10$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPz="));
	CHECK(!webconf_is_bcrypt(""));
}

static const char *write_file(const char *name, const char *text, mode_t mode)
{
	const char *path = harness_write_file(tmpdir, name, text);

	chmod(path, mode);
	return path;
}

#define FAKE_PEM "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"

static void test_load(void)
{
	struct webconf wc;
	struct webauth *a = NULL;
	char err[WEBCONF_ERR_MAX], path[300], want[1024];

	write_file("s.crt", FAKE_PEM, 0644);
	write_file("s.key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", 0644);
	write_file("notpem", "hello\n", 0644);
	snprintf(path, sizeof(path), "%s", write_file("web.yml",
	    "tls_server_config:\n  cert_file: s.crt\n  key_file: s.key\n", 0600));
	REQUIRE(webconf_load(&wc, path, err, sizeof(err)) == 0);
	/* Relative to the file's directory. */
	snprintf(want, sizeof(want), "%s/s.crt", tmpdir);
	CHECK_STR(wc.cert_file, want);
	CHECK(wc.cert_pem != NULL && strcmp(wc.cert_pem, FAKE_PEM) == 0);
	CHECK(wc.key_pem != NULL && strstr(wc.key_pem, "PRIVATE KEY") != NULL);
	/* A key every user can read is said to be. */
	CHECK_U64(wc.nwarnings, ==, 1);
	CHECK(wc.nwarnings == 1 && strstr(wc.warnings[0], "is readable by every user") != NULL);
	/* GnuTLS cannot read the fake certificate: named with its line. */
	CHECK(webauth_new(&a, &wc, err, sizeof(err)) < 0);
	snprintf(want, sizeof(want), "%s:2: tls_server_config.cert_file: %s/s.crt: ", path, tmpdir);
	CHECK(strncmp(err, want, strlen(want)) == 0);
	webconf_free(&wc);

	write_file("web.yml", "tls_server_config:\n  cert_file: missing.crt\n  key_file: s.key\n", 0600);
	CHECK(webconf_load(&wc, path, err, sizeof(err)) == -ENOENT);
	snprintf(want, sizeof(want), "%s:2: tls_server_config.cert_file: %s/missing.crt: cannot open: "
	    "No such file or directory", path, tmpdir);
	CHECK_STR(err, want);

	write_file("web.yml", "tls_server_config:\n  cert_file: s.crt\n\n  key_file: notpem\n", 0600);
	CHECK(webconf_load(&wc, path, err, sizeof(err)) == -EINVAL);
	snprintf(want, sizeof(want), "%s:4: tls_server_config.key_file: %s/notpem: not a PEM file",
	    path, tmpdir);
	CHECK(strncmp(err, want, strlen(want)) == 0);

	write_file("web.yml", "tls_server_config:\n  cert_file: /\n  key_file: s.key\n", 0600);
	CHECK(webconf_load(&wc, path, err, sizeof(err)) < 0);
	CHECK(strstr(err, ":2: tls_server_config.cert_file: /: ") != NULL);

	snprintf(want, sizeof(want), "%s/nothere.yml", tmpdir);
	CHECK(webconf_load(&wc, want, err, sizeof(err)) == -ENOENT);
	CHECK(strstr(err, "nothere.yml: cannot open: No such file or directory") != NULL);
out:
	return;
}

static void test_parse_basic(void)
{
	char user[BASICAUTH_MAX_USER + 1], pass[BASICAUTH_MAX_PASSWORD + 1];

	/* "alice:s3cret" */
	CHECK(basicauth_parse("Basic YWxpY2U6czNjcmV0", user, sizeof(user), pass,
	    sizeof(pass)) == 0);
	CHECK_STR(user, "alice");
	CHECK_STR(pass, "s3cret");
	CHECK(basicauth_parse("  bAsIc   YWxpY2U6czNjcmV0  ", user, sizeof(user), pass,
	    sizeof(pass)) == 0);
	/* "a:b:c": the password keeps its ':'; ":" alone is two empties. */
	CHECK(basicauth_parse("Basic YTpiOmM=", user, sizeof(user), pass, sizeof(pass)) == 0);
	CHECK_STR(user, "a");
	CHECK_STR(pass, "b:c");
	CHECK(basicauth_parse("Basic Og==", user, sizeof(user), pass, sizeof(pass)) == 0);
	CHECK_STR(user, "");
	CHECK_STR(pass, "");
	/* "ab:" */
	CHECK(basicauth_parse("Basic YWI6", user, sizeof(user), pass, sizeof(pass)) == 0);
	CHECK_STR(user, "ab");
	CHECK_STR(pass, "");
	/* Refused: other schemes, no token, bad padding, stray bytes, bits
	 * past the end, no ':' ("alice"), a NUL ("a:b\0c"), too long. */
	const char *bad[] = {
		"Bearer YWxpY2U6czNjcmV0", "Basic", "Basic ", "BasicYWxpY2U6czNjcmV0",
		"Basic YTpiOmM", "Basic YTpiOmM==", "Basic YTpiOmM=x", "Basic YTpi!mM=",
		"Basic YTpiOmN=", "Basic YWxpY2U=", "Basic YTpiAGM=", "Basic YWxp Y2U6czNjcmV0",
		"Basic =", "Basic YQ", "Basic Y===",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (basicauth_parse(bad[i], user, sizeof(user), pass, sizeof(pass)) != -EINVAL) {
			fprintf(stderr, "  accepted \"%s\"\n", bad[i]);
			CHECK(0);
		}
	}
	/* Room: "alice:s3cret" needs 6 bytes for the user, 7 for the password. */
	CHECK(basicauth_parse("Basic YWxpY2U6czNjcmV0", user, 5, pass, sizeof(pass)) == -EINVAL);
	CHECK(basicauth_parse("Basic YWxpY2U6czNjcmV0", user, 6, pass, 6) == -EINVAL);
	CHECK(basicauth_parse("Basic YWxpY2U6czNjcmV0", user, 6, pass, 7) == 0);
	{
		char big[4096] = "Basic ";

		for (size_t i = 6; i < sizeof(big) - 1; i++)
			big[i] = 'A';
		big[sizeof(big) - 1] = '\0';
		CHECK(basicauth_parse(big, user, sizeof(user), pass, sizeof(pass)) == -EINVAL);
	}
}

/* A bcrypt hash of pw at cost 4, made here. */
static void make_hash(const char *pw, char *out, size_t size)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data cd;
	const char *h;

	memset(&cd, 0, sizeof(cd));
	h = crypt_gensalt_rn("$2b$", 4, NULL, 0, salt, sizeof(salt)) != NULL ?
	    crypt_rn(pw, salt, &cd, sizeof(cd)) : NULL;
	snprintf(out, size, "%s", h != NULL ? h : "");
}

static void test_passwords(void)
{
	struct webconf wc;
	struct webauth *a = NULL;
	struct basicauth *b = NULL;
	char err[WEBCONF_ERR_MAX], h1[128], h2[128], text[512], desc[256];

	make_hash("s3cret", h1, sizeof(h1));
	make_hash("other pass", h2, sizeof(h2));
	REQUIRE(strlen(h1) == 60 && strlen(h2) == 60);
	snprintf(text, sizeof(text), "basic_auth_users:\n  alice: %s\n  bob: \"%s\"\n", h1, h2);
	REQUIRE(parse(text, &wc, err) == 0);
	REQUIRE(webauth_new(&a, &wc, err, sizeof(err)) == 0);
	REQUIRE(basicauth_new(&b, &wc, err, sizeof(err)) == 0);
	webconf_free(&wc);
	CHECK(!webauth_tls(a));
	CHECK_U64(webauth_mhd_flags(a), ==, 0);
	webauth_describe(a, desc, sizeof(desc));
	CHECK_STR(desc, "no TLS, basic auth (2 users)");
	CHECK(basicauth_password_ok(b, "alice", "s3cret", 100.0) == 1);
	CHECK(basicauth_password_ok(b, "alice", "s3cret", 101.0) == 1);          /* cached */
	CHECK(basicauth_password_ok(b, "bob", "other pass", 100.0) == 1);
	CHECK(basicauth_password_ok(b, "alice", "other pass", 100.0) == 0);      /* bob's */
	CHECK(basicauth_password_ok(b, "bob", "s3cret", 100.0) == 0);
	CHECK(basicauth_password_ok(b, "alice", "s3cre", 100.0) == 0);
	CHECK(basicauth_password_ok(b, "alice", "s3cret ", 100.0) == 0);
	CHECK(basicauth_password_ok(b, "alice", "", 100.0) == 0);
	CHECK(basicauth_password_ok(b, "Alice", "s3cret", 100.0) == 0);
	CHECK(basicauth_password_ok(b, "alic", "s3cret", 100.0) == 0);
	CHECK(basicauth_password_ok(b, "alicex", "s3cret", 100.0) == 0);
	CHECK(basicauth_password_ok(b, "", "", 100.0) == 0);
	/* An expired entry is verified again, and still passes. */
	CHECK(basicauth_password_ok(b, "alice", "s3cret", 100.0 + 10 * BASICAUTH_CACHE_SECONDS) == 1);
	webauth_free(a);
	a = NULL;
	basicauth_free(b);
	b = NULL;

	/* A hash of the right form libxcrypt refuses is named. */
	REQUIRE(parse("basic_auth_users:\n  carol: "
	    "$2b$10$zzzzzzzzzzzzzzzzzzzzz$zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz\n", &wc, err) < 0);
	CHECK(strstr(err, "web.yml:2: basic_auth_users.carol: not a bcrypt hash") != NULL);
	webauth_free(NULL);
	basicauth_free(NULL);
out:
	webauth_free(a);
	basicauth_free(b);
}

int main(void)
{
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return EXIT_FAILURE;
	}
	RUN_TEST(test_full);
	RUN_TEST(test_defaults_and_empty);
	RUN_TEST(test_escapes);
	RUN_TEST(test_full_yaml);
	RUN_TEST(test_yaml_errors);
	RUN_TEST(test_embedded_nul);
	RUN_TEST(test_schema_errors);
	RUN_TEST(test_excluded_paths);
	RUN_TEST(test_warnings);
	RUN_TEST(test_cipher_suites);
	RUN_TEST(test_curves);
	RUN_TEST(test_allowed_sans);
	RUN_TEST(test_is_bcrypt);
	RUN_TEST(test_load);
	RUN_TEST(test_parse_basic);
	RUN_TEST(test_passwords);
	harness_rmtree(tmpdir);
	return HARNESS_EXIT();
}
