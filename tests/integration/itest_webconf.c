/* itest_webconf.c: --web.config.file against the real daemon: basic auth, TLS, minimum versions, client certificates, config errors. */
#include "harness.h"
#include "itest_util.h"

#include <crypt.h>
#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- material made at test time: certificates and bcrypt hashes ---- */

/*
 * A CA, a server certificate for 127.0.0.1 signed by it, a client
 * certificate signed by it (for TLS clients; SANs DNS:scraper.example,
 * URI:spiffe://test/scraper, IP:10.1.2.3) and a self-signed "rogue"
 * client certificate, all P-256, and a self-signed RSA server certificate
 * (rsa.crt), made with openssl in dir. Nothing secret is committed.
 */
static int make_certs(const char *dir)
{
	char cmd[4096];
	int rc;

	snprintf(cmd, sizeof(cmd),
	    "cd '%s' && exec >openssl.log 2>&1 && set -e && "
	    "ec='-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes' && "
	    "openssl req -x509 $ec -keyout ca.key -out ca.crt -days 2 -subj /CN=memprobe-test-ca "
	    "  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign && "
	    "openssl req $ec -keyout server.key -out server.csr -subj /CN=127.0.0.1 && "
	    "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\nextendedKeyUsage=serverAuth\\n' >server.ext && "
	    "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 "
	    "  -extfile server.ext -out server.crt && "
	    "openssl req $ec -keyout client.key -out client.csr -subj /CN=scraper && "
	    "printf 'subjectAltName=DNS:scraper.example,URI:spiffe://test/scraper,IP:10.1.2.3\\n"
	    "extendedKeyUsage=clientAuth\\n' >client.ext && "
	    "openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 "
	    "  -extfile client.ext -out client.crt && "
	    "openssl req -x509 $ec -keyout rogue.key -out rogue.crt -days 2 -subj /CN=scraper "
	    "  -addext extendedKeyUsage=clientAuth && "
	    "openssl req -x509 -newkey rsa:2048 -nodes -keyout rsa.key -out rsa.crt -days 2 "
	    "  -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 && "
	    "chmod 600 *.key", dir);
	rc = system(cmd);
	if (rc != 0) {
		fprintf(stderr, "  openssl failed (status 0x%x); see %s/openssl.log:\n", rc, dir);
		snprintf(cmd, sizeof(cmd), "cat '%s/openssl.log' >&2", dir);
		(void)!system(cmd);
		return -1;
	}
	return 0;
}

/* A new temp dir (dir: 64 bytes) with make_certs()'s files; ca gets the
 * CA certificate's path (PATH_MAX bytes). */
static int cert_dir(char *dir, char *ca)
{
	if (it_tmpdir(dir, 64) < 0 || make_certs(dir) < 0)
		return -1;
	snprintf(ca, PATH_MAX, "%s/ca.crt", dir);
	return 0;
}

/* A bcrypt hash of pw (cost 6) into out, made with libxcrypt here. */
static int make_hash(const char *pw, char *out, size_t size)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	const char *h = NULL;

	if (cd != NULL && crypt_gensalt_rn("$2y$", 6, NULL, 0, salt, sizeof(salt)) != NULL)
		h = crypt_rn(pw, salt, cd, (int)sizeof(*cd));
	snprintf(out, size, "%s", h != NULL ? h : "");
	free(cd);
	return h != NULL && strlen(out) == 60 ? 0 : -1;
}

/* ---- requests ---- */

/* One request's options; NULL fields are not set. */
struct req {
	const char *base;               /* http(s)://127.0.0.1:PORT */
	const char *ca;                 /* CA file the server is checked against */
	const char *cert, *key;         /* client certificate */
	const char *userpwd;            /* "user:password" */
	long tls_version;               /* CURL_SSLVERSION_* | CURL_SSLVERSION_MAX_* */
	const char *ciphers;
	const char *tls13_ciphers;      /* CURLOPT_TLS13_CIPHERS */
	const char *curves;             /* CURLOPT_SSL_EC_CURVES */
	const char *authorization;      /* a raw Authorization header instead */
};

/* GET (or HEAD) base + path with q's options into *r, as it_http(); the
 * libcurl error text goes to errbuf (CURL_ERROR_SIZE bytes). */
static int req_do(const struct req *q, const char *method, const char *path, struct it_http *r,
    char *errbuf)
{
	struct curl_slist *hdrs = NULL;
	char url[512], auth[512];
	CURL *c;
	int rc;

	snprintf(url, sizeof(url), "%s%s", q->base, path);
	c = it_curl_new(url);
	if (c == NULL)
		return it_curl_perform(NULL, r, errbuf);   /* clears *r: -ENOMEM */
	/* A new connection for every request: each gets a handshake. */
	curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L);
	curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	if (q->ca != NULL) {
		curl_easy_setopt(c, CURLOPT_CAINFO, q->ca);
		curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
	}
	if (q->cert != NULL) {
		curl_easy_setopt(c, CURLOPT_SSLCERT, q->cert);
		curl_easy_setopt(c, CURLOPT_SSLKEY, q->key);
	}
	if (q->userpwd != NULL) {
		curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
		curl_easy_setopt(c, CURLOPT_USERPWD, q->userpwd);
	}
	if (q->authorization != NULL) {
		snprintf(auth, sizeof(auth), "Authorization: %s", q->authorization);
		hdrs = curl_slist_append(hdrs, auth);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	}
	if (q->tls_version != 0)
		curl_easy_setopt(c, CURLOPT_SSLVERSION, q->tls_version);
	if (q->ciphers != NULL)
		curl_easy_setopt(c, CURLOPT_SSL_CIPHER_LIST, q->ciphers);
	if (q->tls13_ciphers != NULL)
		curl_easy_setopt(c, CURLOPT_TLS13_CIPHERS, q->tls13_ciphers);
	if (q->curves != NULL)
		curl_easy_setopt(c, CURLOPT_SSL_EC_CURVES, q->curves);
	rc = it_curl_perform(c, r, errbuf);
	curl_slist_free_all(hdrs);
	return rc;
}

/* The status of GET base + path (0: no HTTP answer); says why on stderr
 * when it is not `want`. */
static long status_of(const struct req *q, const char *path, long want, int line)
{
	char errbuf[CURL_ERROR_SIZE];
	struct it_http r;
	long st;

	req_do(q, "GET", path, &r, errbuf);
	st = r.status;
	if (st != want)
		fprintf(stderr, "  line %d: GET %s%s: status %ld (%s), want %ld\n", line, q->base,
		    path, st, errbuf[0] != '\0' ? errbuf : "answered", want);
	/* Whatever the answer, never metrics without the right credentials. */
	if (want != 200 && strstr(r.body, "memprobe_") != NULL) {
		fprintf(stderr, "  line %d: metrics served without access: %.80s\n", line, r.body);
		harness_failures++;
	}
	it_http_free(&r);
	return st;
}
#define STATUS(q, path, want) CHECK(status_of(q, path, want, __LINE__) == (want))

/* ---- the daemon with a web config ---- */

struct probe {
	struct it_daemon *d;
	const struct req *q;
};

static int web_up(void *arg)
{
	struct probe *p = arg;
	char errbuf[CURL_ERROR_SIZE];
	struct it_http r;
	struct stat st;
	int ok;

	if (it_proc_wait(&p->d->proc, 0) == 0 && p->d->proc.pid == 0)
		return 1;               /* exited: the caller looks */
	if (stat(p->d->sock, &st) < 0)
		return 0;
	ok = req_do(p->q, "GET", "/healthz", &r, errbuf) == 0 && r.status == 200;
	it_http_free(&r);
	return ok;
}

/*
 * Starts memprobed with --web.config.file web in a new temp dir on a free
 * port, and waits until q (its base set here to scheme://127.0.0.1:PORT)
 * gets 200 from /healthz. Retries on another port if the daemon exits
 * first. Returns 0 or -errno having said why.
 */
static int web_daemon_start(struct it_daemon *d, char *web, struct req *q, int tls,
    char *base, size_t basesize)
{
	char listen[64];
	int rc;

	memset(d, 0, sizeof(*d));
	d->proc.in_fd = d->proc.out_fd = -1;
	rc = it_tmpdir(d->dir, sizeof(d->dir));
	if (rc < 0)
		return rc;
	snprintf(d->sock, sizeof(d->sock), "%s/agent.sock", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/memprobed.log", d->dir);
	for (int attempt = 0; attempt < 5; attempt++) {
		char *argv[] = { itest.memprobed, "--agent-socket", d->sock,
			"--web.listen-address", listen, "--web.config.file", web,
			"--log-level", "debug", NULL };
		struct probe p = { d, q };

		d->port = it_free_port();
		if (d->port < 0)
			return d->port;
		snprintf(listen, sizeof(listen), "127.0.0.1:%d", d->port);
		snprintf(d->url, sizeof(d->url), "http://127.0.0.1:%d", d->port);
		snprintf(base, basesize, "%s://127.0.0.1:%d", tls ? "https" : "http", d->port);
		q->base = base;
		rc = it_proc_start(&d->proc, argv, NULL, d->log);
		if (rc < 0)
			return rc;
		if (!it_wait_until(web_up, &p, IT_START_TIMEOUT_MS)) {
			fprintf(stderr, "integration: memprobed did not answer %s/healthz\n", base);
			it_daemon_dump_log(d);
			it_proc_kill(&d->proc);
			return -ETIMEDOUT;
		}
		if (d->proc.pid != 0)
			return 0;
		fprintf(stderr, "integration: memprobed exited at start (status 0x%x); retrying\n",
		    d->proc.status);
		it_daemon_dump_log(d);
		it_proc_kill(&d->proc);
	}
	return -EADDRINUSE;
}

/* The end of a test: the log if something failed, memprobed stopped
 * (exit status 0 expected), the temp dir removed. */
static void web_daemon_end(struct it_daemon *d, const char *dir)
{
	CHECK(it_daemon_finish(d, harness_failures) == 0);
	it_rmtree(dir);
}

/* ---- the tests ---- */

/* Basic auth without TLS: every path needs the right user and password. */
static void webconf_basic_auth(void)
{
	struct it_daemon d = { .proc = { .in_fd = -1, .out_fd = -1 } };
	char dir[64] = "", web[PATH_MAX], text[512], h1[128], h2[128], base[64], hdr[128];
	char errbuf[CURL_ERROR_SIZE];
	struct req ok = { .userpwd = "alice:correct horse" };
	struct req q;
	struct it_http r = { 0 };

	REQUIRE(it_tmpdir(dir, sizeof(dir)) == 0);
	REQUIRE(make_hash("correct horse", h1, sizeof(h1)) == 0);
	REQUIRE(make_hash("bob's own", h2, sizeof(h2)) == 0);
	snprintf(text, sizeof(text), "# users only\nbasic_auth_users:\n  alice: %s\n  bob: '%s'\n",
	    h1, h2);
	REQUIRE(it_write_file_in(dir, "web.yml", text, web, sizeof(web)) == 0);
	REQUIRE(web_daemon_start(&d, web, &ok, 0, base, sizeof(base)) == 0);

	/* The right password: metrics, the API, the page. */
	REQUIRE(req_do(&ok, "GET", "/metrics", &r, errbuf) == 0);
	CHECK_U64(r.status, ==, 200);
	CHECK(strstr(r.body, "memprobe_build_info") != NULL);
	it_http_free(&r);
	STATUS(&ok, "/api/v1/processes", 200);
	STATUS(&ok, "/", 200);
	STATUS(&ok, "/no/such/path", 404);
	REQUIRE(req_do(&ok, "HEAD", "/metrics", &r, errbuf) == 0);
	CHECK_U64(r.status, ==, 200);
	it_http_free(&r);
	q = ok;
	q.userpwd = "bob:bob's own";
	STATUS(&q, "/metrics", 200);

	/* Wrong password: 401 with the challenge and a JSON error. */
	q.userpwd = "alice:correct horse battery";
	REQUIRE(req_do(&q, "GET", "/metrics", &r, errbuf) == 0);
	CHECK_U64(r.status, ==, 401);
	CHECK(it_http_header(&r, "WWW-Authenticate", hdr, sizeof(hdr)) &&
	    strncmp(hdr, "Basic realm=\"memprobe\"", 22) == 0);
	CHECK(it_http_header(&r, "Content-Type", hdr, sizeof(hdr)) &&
	    strcmp(hdr, "application/json") == 0);
	CHECK_STR(r.body, "{\"error\":\"unauthorized\"}");
	it_http_free(&r);
	/* Another user's password, an unknown user, nothing, a bad header. */
	q.userpwd = "alice:bob's own";
	STATUS(&q, "/metrics", 401);
	q.userpwd = "mallory:correct horse";
	STATUS(&q, "/metrics", 401);
	q.userpwd = "Alice:correct horse";
	STATUS(&q, "/metrics", 401);
	q.userpwd = NULL;
	REQUIRE(req_do(&q, "GET", "/healthz", &r, errbuf) == 0);
	CHECK_U64(r.status, ==, 401);       /* /healthz too, as exporter-toolkit */
	CHECK(it_http_header(&r, "WWW-Authenticate", hdr, sizeof(hdr)));
	it_http_free(&r);
	STATUS(&q, "/no/such/path", 401);   /* 401 before 404: paths tell nothing */
	STATUS(&q, "/api/v1/status", 401);
	q.authorization = "Basic !!!";
	STATUS(&q, "/metrics", 401);
	q.authorization = "Bearer abc";
	STATUS(&q, "/metrics", 401);
	/* "alice:correct horse\0x": a NUL must not cut the password short. */
	q.authorization = "Basic YWxpY2U6Y29ycmVjdCBob3JzZQB4";
	STATUS(&q, "/metrics", 401);
	/* The same right password again (from the cache): still 200. */
	STATUS(&ok, "/metrics", 200);

	/* The log names the refused user, never a password. */
	CHECK(it_wait_log(d.log, "wrong user or password (user \"mallory\")"));
	CHECK(it_wait_log(d.log, "http access: no TLS, basic auth (2 users)"));
	CHECK(it_wait_log(d.log, "passwords cross the network in clear text"));
	CHECK(!it_file_has(d.log, "correct horse"));
out:
	it_http_free(&r);
	web_daemon_end(&d, dir);
}

/* TLS with basic auth: HTTPS with the CA works; plain HTTP, an unverified
 * server and TLS 1.1 do not. */
static void webconf_tls(void)
{
	struct it_daemon d = { .proc = { .in_fd = -1, .out_fd = -1 } };
	char dir[64] = "", web[PATH_MAX], text[1024], h[128], base[64], ca[PATH_MAX];
	char errbuf[CURL_ERROR_SIZE];
	struct req ok = { .userpwd = "alice:pw", .ca = ca };
	struct req q;
	struct it_http r = { 0 };

	REQUIRE(it_tmpdir(dir, sizeof(dir)) == 0);
	REQUIRE(make_certs(dir) == 0);
	REQUIRE(make_hash("pw", h, sizeof(h)) == 0);
	snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
	/* Relative paths: from the web config's directory. */
	snprintf(text, sizeof(text), "tls_server_config:\n  cert_file: server.crt\n"
	    "  key_file: %s/server.key\n  min_version: TLS12\nbasic_auth_users:\n  alice: %s\n",
	    dir, h);
	REQUIRE(it_write_file_in(dir, "web.yml", text, web, sizeof(web)) == 0);
	REQUIRE(web_daemon_start(&d, web, &ok, 1, base, sizeof(base)) == 0);

	REQUIRE(req_do(&ok, "GET", "/metrics", &r, errbuf) == 0);
	CHECK_U64(r.status, ==, 200);
	CHECK(strstr(r.body, "memprobe_build_info") != NULL);
	it_http_free(&r);
	q = ok;
	q.userpwd = "alice:wrong";
	STATUS(&q, "/metrics", 401);
	q.userpwd = NULL;
	STATUS(&q, "/healthz", 401);

	/* Plain HTTP on the TLS port: no HTTP answer at all. */
	q = ok;
	q.base = d.url;
	CHECK(req_do(&q, "GET", "/metrics", &r, errbuf) < 0);
	CHECK_U64(r.status, ==, 0);
	CHECK(strstr(r.body, "memprobe_") == NULL);
	it_http_free(&r);

	/* The certificate is checked by clients: without the CA, refused. */
	q = ok;
	q.ca = "/dev/null";
	STATUS(&q, "/metrics", 0);

	/* TLS 1.1 is refused by the server: the client offers it (OpenSSL
	 * needs security level 0 for that), and the same client offering
	 * TLS 1.2 gets in. */
	q = ok;
	q.ciphers = "DEFAULT:@SECLEVEL=0";
	q.tls_version = CURL_SSLVERSION_TLSv1_1 | CURL_SSLVERSION_MAX_TLSv1_1;
	CHECK(req_do(&q, "GET", "/metrics", &r, errbuf) < 0);
	CHECK_U64(r.status, ==, 0);
	CHECK(strstr(errbuf, "no protocols available") == NULL);
	if (strstr(errbuf, "no protocols available") != NULL)
		fprintf(stderr, "  the client did not offer TLS 1.1: %s\n", errbuf);
	it_http_free(&r);
	q.tls_version = CURL_SSLVERSION_TLSv1_2 | CURL_SSLVERSION_MAX_TLSv1_2;
	STATUS(&q, "/metrics", 200);
	q.tls_version = CURL_SSLVERSION_TLSv1_3 | CURL_SSLVERSION_MAX_TLSv1_3;
	STATUS(&q, "/metrics", 200);

	CHECK(it_wait_log(d.log, "and https://127.0.0.1:"));
	CHECK(it_wait_log(d.log, "http access: TLS 1.2 to 1.3, client certificates NoClientCert, "
	    "basic auth (1 user)"));
out:
	it_http_free(&r);
	web_daemon_end(&d, dir);
}

/* min_version TLS13: a client that stops at TLS 1.2 is refused. */
static void webconf_tls13(void)
{
	struct it_daemon d = { .proc = { .in_fd = -1, .out_fd = -1 } };
	char dir[64] = "", web[PATH_MAX], base[64], ca[PATH_MAX];
	struct req ok = { .ca = ca };
	struct req q;

	REQUIRE(cert_dir(dir, ca) == 0);
	REQUIRE(it_write_file_in(dir, "web.yml", "tls_server_config:\n  cert_file: server.crt\n"
	    "  key_file: server.key\n  min_version: \"TLS13\"\n", web, sizeof(web)) == 0);
	REQUIRE(web_daemon_start(&d, web, &ok, 1, base, sizeof(base)) == 0);
	STATUS(&ok, "/metrics", 200);           /* no users: TLS only */
	q = ok;
	q.tls_version = CURL_SSLVERSION_TLSv1_2 | CURL_SSLVERSION_MAX_TLSv1_2;
	STATUS(&q, "/metrics", 0);
	q.tls_version = CURL_SSLVERSION_TLSv1_3;
	STATUS(&q, "/metrics", 200);
	CHECK(it_wait_log(d.log, "http access: TLS 1.3, client certificates NoClientCert, no basic auth"));
out:
	web_daemon_end(&d, dir);
}

/* Each client_auth_type against no certificate, the CA's client
 * certificate and a self-signed one: 200 or refused (0). */
static void webconf_client_cert(void)
{
	static const struct {
		const char *type;
		long none, good, rogue;
	} modes[] = {
		{ "RequireAndVerifyClientCert", 0, 200, 0 },
		{ "VerifyClientCertIfGiven", 200, 200, 0 },
		{ "RequireAnyClientCert", 0, 200, 200 },
		{ "RequestClientCert", 200, 200, 200 },
	};
	char dir[64] = "", web[PATH_MAX], text[1024], base[64];
	char ca[PATH_MAX], cert[PATH_MAX], key[PATH_MAX], rcert[PATH_MAX], rkey[PATH_MAX];
	struct it_daemon d = { .proc = { .in_fd = -1, .out_fd = -1 } };

	REQUIRE(cert_dir(dir, ca) == 0);
	snprintf(cert, sizeof(cert), "%s/client.crt", dir);
	snprintf(key, sizeof(key), "%s/client.key", dir);
	snprintf(rcert, sizeof(rcert), "%s/rogue.crt", dir);
	snprintf(rkey, sizeof(rkey), "%s/rogue.key", dir);
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		struct req good = { .ca = ca, .cert = cert, .key = key };
		struct req q;
		char want[128];
		int failures = harness_failures;

		snprintf(text, sizeof(text), "tls_server_config:\n  cert_file: server.crt\n"
		    "  key_file: server.key\n  client_ca_file: ca.crt\n  client_auth_type: %s\n",
		    modes[i].type);
		REQUIRE(it_write_file_in(dir, "web.yml", text, web, sizeof(web)) == 0);
		REQUIRE(web_daemon_start(&d, web, &good, 1, base, sizeof(base)) == 0);
		q = good;
		q.cert = q.key = NULL;
		STATUS(&q, "/metrics", modes[i].none);
		/* TLS 1.2 fails the handshake itself; 1.3 right after it. */
		q.tls_version = CURL_SSLVERSION_TLSv1_2 | CURL_SSLVERSION_MAX_TLSv1_2;
		STATUS(&q, "/metrics", modes[i].none);
		STATUS(&good, "/metrics", modes[i].good);
		good.tls_version = CURL_SSLVERSION_TLSv1_2 | CURL_SSLVERSION_MAX_TLSv1_2;
		STATUS(&good, "/metrics", modes[i].good);
		q = good;
		q.tls_version = 0;
		q.cert = rcert;
		q.key = rkey;
		STATUS(&q, "/metrics", modes[i].rogue);
		q.tls_version = CURL_SSLVERSION_TLSv1_2 | CURL_SSLVERSION_MAX_TLSv1_2;
		STATUS(&q, "/metrics", modes[i].rogue);
		snprintf(want, sizeof(want), "client certificates %s, no basic auth", modes[i].type);
		CHECK(it_wait_log(d.log, want));
		if (harness_failures > failures) {
			fprintf(stderr, "  (client_auth_type %s)\n", modes[i].type);
			it_daemon_dump_log(&d);
		}
		CHECK(it_daemon_stop(&d) == 0);
	}
out:
	it_daemon_stop(&d);
	it_rmtree(dir);
}

/* Runs memprobed with args; expects exit 2 and `want` in its stderr, and
 * never `secret` there. */
static void expect_exit2(const char *dir, char *const args[], const char *want, const char *secret,
    int line)
{
	char text[8192];
	int status = it_daemon_run_once(args, dir, text, sizeof(text));

	if (status < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 2 || strstr(text, want) == NULL ||
	    (secret != NULL && strstr(text, secret) != NULL)) {
		fprintf(stderr, "  line %d: status 0x%x, stderr \"%s\", want exit 2 and \"%s\"\n",
		    line, status, text, want);
		CHECK(0);
	}
}

/* Bad web configurations stop the start (and --check-config) with exit 2
 * and FILE:LINE: what. */
static void webconf_errors(void)
{
	char dir[64] = "", web[PATH_MAX], conf[PATH_MAX], text[PATH_MAX + 64], want[PATH_MAX + 256];
	char sock[PATH_MAX], listen[64];
	int port = it_free_port();

	REQUIRE(port > 0);
	REQUIRE(it_tmpdir(dir, sizeof(dir)) == 0);
	REQUIRE(make_certs(dir) == 0);
	snprintf(sock, sizeof(sock), "%s/agent.sock", dir);
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
#define START(...) (char *[]){ "--agent-socket", sock, "--web.listen-address", listen, \
	__VA_ARGS__, NULL }

	/* Bad YAML: a tab in the indentation. */
	REQUIRE(it_write_file_in(dir, "web.yml", "tls_server_config:\n  cert_file: server.crt\n"
	    "\tkey_file: server.key\n", web, sizeof(web)) == 0);
	snprintf(want, sizeof(want), "%s:3: tab in the indentation", web);
	expect_exit2(dir, START("--web.config.file", web), want, NULL, __LINE__);
	/* An unknown key. */
	REQUIRE(it_write_file_in(dir, "web.yml", "tls_config:\n  cert_file: server.crt\n", web,
	    sizeof(web)) == 0);
	snprintf(want, sizeof(want), "%s:1: unknown key \"tls_config\"", web);
	expect_exit2(dir, START("--web.config.file", web), want, NULL, __LINE__);
	/* A missing certificate file, named with the line that names it. */
	REQUIRE(it_write_file_in(dir, "web.yml", "tls_server_config:\n  cert_file: nothere.crt\n"
	    "  key_file: server.key\n", web, sizeof(web)) == 0);
	snprintf(want, sizeof(want), "%s:2: tls_server_config.cert_file: %s/nothere.crt: "
	    "cannot open: No such file or directory", web, dir);
	expect_exit2(dir, START("--web.config.file", web), want, NULL, __LINE__);
	/* A key that is not the certificate's. */
	REQUIRE(it_write_file_in(dir, "web.yml", "tls_server_config:\n  cert_file: server.crt\n"
	    "  key_file: client.key\n", web, sizeof(web)) == 0);
	snprintf(want, sizeof(want), "%s:1: tls_server_config: cert_file %s/server.crt and "
	    "key_file %s/client.key: ", web, dir, dir);
	expect_exit2(dir, START("--web.config.file", web), want, NULL, __LINE__);
	/* A client CA that is not a certificate. */
	REQUIRE(it_write_file_in(dir, "web.yml", "tls_server_config:\n  cert_file: server.crt\n"
	    "  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n"
	    "  client_ca_file: server.key\n", web, sizeof(web)) == 0);
	snprintf(want, sizeof(want), "%s:5: tls_server_config.client_ca_file: %s/server.key: ",
	    web, dir);
	expect_exit2(dir, START("--web.config.file", web), want, NULL, __LINE__);
	/* A password where the hash goes: refused, and not echoed. */
	REQUIRE(it_write_file_in(dir, "web.yml", "basic_auth_users:\n  alice: hunter2hunter2\n",
	    web, sizeof(web)) == 0);
	snprintf(want, sizeof(want), "%s:2: basic_auth_users.alice: not a bcrypt hash", web);
	expect_exit2(dir, START("--web.config.file", web), want, "hunter2hunter2", __LINE__);
	/* TLS 1.1. */
	REQUIRE(it_write_file_in(dir, "web.yml", "tls_server_config:\n  cert_file: server.crt\n"
	    "  key_file: server.key\n  min_version: TLS11\n", web, sizeof(web)) == 0);
	snprintf(want, sizeof(want), "%s:4: tls_server_config.min_version: TLS11 is not supported",
	    web);
	expect_exit2(dir, START("--web.config.file", web), want, NULL, __LINE__);
	/* The same through the INI key, and under --check-config. */
	snprintf(text, sizeof(text), "[memprobed]\nweb_config_file = %s\n", web);
	REQUIRE(it_write_file_in(dir, "memprobed.conf", text, conf, sizeof(conf)) == 0);
	expect_exit2(dir, START("--config", conf), want, NULL, __LINE__);
	expect_exit2(dir, START("--config", conf, "--check-config"), want, NULL, __LINE__);
	/* No such file. */
	snprintf(text, sizeof(text), "%s/none.yml", dir);
	snprintf(want, sizeof(want), "%s/none.yml: cannot open: No such file or directory", dir);
	expect_exit2(dir, START("--web.config.file", text), want, NULL, __LINE__);
	/* A good one: --check-config shows the key and exits 0. */
	REQUIRE(it_write_file_in(dir, "web.yml", "tls_server_config:\n  cert_file: server.crt\n"
	    "  key_file: server.key\n", web, sizeof(web)) == 0);
	{
		char *argv[] = { itest.memprobed, "--config", conf, "--check-config", NULL };
		char out[4096];
		int st = it_run(argv, NULL, NULL, out, sizeof(out));

		CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
		snprintf(want, sizeof(want), "\nweb_config_file = %s\n", web);
		CHECK(strstr(out, want) != NULL);
	}
#undef START
out:
	it_rmtree(dir);
}

/* Waits until the log says `needle` at least n times. */
struct log_count {
	const char *path, *needle;
	int n;
};

static int log_count_reached(void *arg)
{
	struct log_count *w = arg;

	return it_file_count(w->path, w->needle) >= w->n;
}

static int wait_log_count(const char *path, const char *needle, int n)
{
	struct log_count w = { path, needle, n };

	if (it_wait_until(log_count_reached, &w, IT_TIMEOUT_MS))
		return 1;
	fprintf(stderr, "  %s said \"%s\" %d times, not %d\n", path, needle,
	    it_file_count(path, needle), n);
	return 0;
}

/* GET base/metrics on the handle c (kept open between calls, so the
 * connection is reused) as user:password; the status, 0 without an
 * answer. *reused: whether libcurl reused the connection. */
static long keepalive_get(CURL *c, const char *base, const char *userpwd, int *reused)
{
	struct it_growbuf body = { NULL, 0 };
	char url[128];
	long st = 0, conns = -1;

	snprintf(url, sizeof(url), "%s/metrics", base);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_USERPWD, userpwd);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
	curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &conns);
	*reused = conns == 0;
	free(body.p);
	return st;
}

/*
 * SIGHUP reads the web config file again: a new certificate (another CA),
 * new users and a client CA reach new connections; a connection made
 * before goes on, with the new users' rules. A broken file, or one that
 * removes TLS, leaves the rules as they were.
 */
static void webconf_reload(void)
{
	struct it_daemon d = { .proc = { .in_fd = -1, .out_fd = -1 } };
	char dir[64] = "", bdir[80], web[PATH_MAX], text[2048], h1[128], h2[128], h3[128];
	char base[64], ca[PATH_MAX], cab[PATH_MAX], ccert[PATH_MAX], ckey[PATH_MAX];
	const char *reloaded = "SIGHUP: http access: ";
	struct req a1 = { .userpwd = "alice:pw1", .ca = ca };
	struct req q;
	CURL *keep = NULL;
	int reused = 0;

	REQUIRE(it_tmpdir(dir, sizeof(dir)) == 0);
	snprintf(bdir, sizeof(bdir), "%s/b", dir);
	REQUIRE(mkdir(bdir, 0700) == 0);
	REQUIRE(make_certs(dir) == 0 && make_certs(bdir) == 0);
	REQUIRE(make_hash("pw1", h1, sizeof(h1)) == 0 && make_hash("pw2", h2, sizeof(h2)) == 0 &&
	    make_hash("pw3", h3, sizeof(h3)) == 0);
	snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
	snprintf(cab, sizeof(cab), "%s/ca.crt", bdir);
	snprintf(ccert, sizeof(ccert), "%s/client.crt", dir);
	snprintf(ckey, sizeof(ckey), "%s/client.key", dir);
	snprintf(text, sizeof(text), "tls_server_config:\n  cert_file: server.crt\n"
	    "  key_file: server.key\nbasic_auth_users:\n  alice: %s\n", h1);
	REQUIRE(it_write_file_in(dir, "web.yml", text, web, sizeof(web)) == 0);
	REQUIRE(web_daemon_start(&d, web, &a1, 1, base, sizeof(base)) == 0);
	STATUS(&a1, "/metrics", 200);

	/* A connection made now, kept open. */
	keep = curl_easy_init();
	REQUIRE(keep != NULL);
	curl_easy_setopt(keep, CURLOPT_PROXY, "");
	curl_easy_setopt(keep, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(keep, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(keep, CURLOPT_CAINFO, ca);
	curl_easy_setopt(keep, CURLOPT_CAPATH, NULL);
	curl_easy_setopt(keep, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
	curl_easy_setopt(keep, CURLOPT_WRITEFUNCTION, it_curl_collect);
	CHECK_U64(keepalive_get(keep, base, "alice:pw1", &reused), ==, 200);

	/* Another certificate (signed by CA b), new users. */
	snprintf(text, sizeof(text), "tls_server_config:\n  cert_file: b/server.crt\n"
	    "  key_file: b/server.key\nbasic_auth_users:\n  alice: %s\n  bob: %s\n", h2, h3);
	REQUIRE(it_write_file_in(dir, "web.yml", text, web, sizeof(web)) == 0);
	REQUIRE(kill(d.proc.pid, SIGHUP) == 0);
	CHECK(wait_log_count(d.log, "SIGHUP: http access: TLS 1.2 to 1.3, client certificates "
	    "NoClientCert, basic auth (2 users)", 1));
	STATUS(&a1, "/metrics", 0);                     /* CA a no longer vouches */
	q = a1;
	q.ca = cab;
	STATUS(&q, "/metrics", 401);                    /* alice's old password */
	q.userpwd = "alice:pw2";
	STATUS(&q, "/metrics", 200);
	q.userpwd = "bob:pw3";
	STATUS(&q, "/metrics", 200);
	/* The connection made before goes on, under the new users. */
	CHECK_U64(keepalive_get(keep, base, "alice:pw2", &reused), ==, 200);
	CHECK(reused);
	CHECK_U64(keepalive_get(keep, base, "alice:pw1", &reused), ==, 401);
	curl_easy_cleanup(keep);
	keep = NULL;

	/* A broken file (a tab in the indentation): nothing changes. */
	REQUIRE(it_write_file_in(dir, "web.yml", "basic_auth_users:\n\talice: x\n", web,
	    sizeof(web)) == 0);
	REQUIRE(kill(d.proc.pid, SIGHUP) == 0);
	CHECK(wait_log_count(d.log, "; http access unchanged", 1));
	CHECK(it_file_has(d.log, "web.yml:2"));
	q.userpwd = "alice:pw2";
	STATUS(&q, "/metrics", 200);

	/* TLS removed: refused until a restart. */
	snprintf(text, sizeof(text), "basic_auth_users:\n  alice: %s\n", h2);
	REQUIRE(it_write_file_in(dir, "web.yml", text, web, sizeof(web)) == 0);
	REQUIRE(kill(d.proc.pid, SIGHUP) == 0);
	CHECK(wait_log_count(d.log, "TLS removed: that takes effect at the next start; "
	    "http access unchanged", 1));
	STATUS(&q, "/metrics", 200);

	/* Client certificates required, from CA a: only a client with one
	 * gets through the handshake. */
	snprintf(text, sizeof(text), "tls_server_config:\n  cert_file: b/server.crt\n"
	    "  key_file: b/server.key\n  client_auth_type: RequireAndVerifyClientCert\n"
	    "  client_ca_file: ca.crt\nbasic_auth_users:\n  alice: %s\n", h2);
	REQUIRE(it_write_file_in(dir, "web.yml", text, web, sizeof(web)) == 0);
	REQUIRE(kill(d.proc.pid, SIGHUP) == 0);
	CHECK(wait_log_count(d.log, "client certificates RequireAndVerifyClientCert", 1));
	STATUS(&q, "/metrics", 0);
	q.cert = ccert;
	q.key = ckey;
	STATUS(&q, "/metrics", 200);
	CHECK(it_file_count(d.log, reloaded) == 2);
out:
	if (keep != NULL)
		curl_easy_cleanup(keep);
	web_daemon_end(&d, dir);
}

/*
 * cipher_suites: TLS 1.2 clients get exactly the listed suites (not those
 * TLS 1.3's ciphers would add), TLS 1.3 keeps Go's three; a SIGHUP brings
 * another list. Lists GnuTLS cannot do stop the start.
 */
static void webconf_cipher_suites(void)
{
	struct it_daemon d = { .proc = { .in_fd = -1, .out_fd = -1 } };
	char dir[64] = "", web[PATH_MAX], base[64], ca[PATH_MAX], want[PATH_MAX + 256];
	char sock[PATH_MAX], listen[64];
	struct req ok = { .ca = ca };
	struct req q;
	int port;

	REQUIRE(cert_dir(dir, ca) == 0);
	REQUIRE(it_write_file_in(dir, "web.yml", "tls_server_config:\n  cert_file: server.crt\n"
	    "  key_file: server.key\n  cipher_suites:\n"
	    "    - TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\n"
	    "    - TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256\n"
	    "    - TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384\n"
	    "    - TLS_AES_128_GCM_SHA256\n", web, sizeof(web)) == 0);
	REQUIRE(web_daemon_start(&d, web, &ok, 1, base, sizeof(base)) == 0);
	STATUS(&ok, "/metrics", 200);
	q = ok;
	q.tls_version = CURL_SSLVERSION_TLSv1_2 | CURL_SSLVERSION_MAX_TLSv1_2;
	q.ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256";
	STATUS(&q, "/metrics", 200);
	q.ciphers = "ECDHE-ECDSA-CHACHA20-POLY1305";
	STATUS(&q, "/metrics", 200);
	/* AES-256-GCM is a TLS 1.3 cipher (and listed for RSA keys only):
	 * not for this ECDSA key's TLS 1.2. */
	q.ciphers = "ECDHE-ECDSA-AES256-GCM-SHA384";
	STATUS(&q, "/metrics", 0);
	q.ciphers = "ECDHE-ECDSA-AES128-SHA";
	STATUS(&q, "/metrics", 0);
	q.ciphers = "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305";
	STATUS(&q, "/metrics", 200);
	/* TLS 1.3: Go's three suites, whatever the list; not CCM. */
	q = ok;
	q.tls_version = CURL_SSLVERSION_TLSv1_3;
	q.tls13_ciphers = "TLS_AES_256_GCM_SHA384";
	STATUS(&q, "/metrics", 200);
	q.tls13_ciphers = "TLS_CHACHA20_POLY1305_SHA256";
	STATUS(&q, "/metrics", 200);
	q.tls13_ciphers = "TLS_AES_128_CCM_SHA256";
	STATUS(&q, "/metrics", 0);
	CHECK(it_wait_log(d.log, "http access: TLS 1.2 to 1.3 (TLS 1.2 cipher suites: 2 listed), "
	    "client certificates NoClientCert"));

	/* Another list, by SIGHUP. */
	REQUIRE(it_write_file_in(dir, "web.yml", "tls_server_config:\n  cert_file: server.crt\n"
	    "  key_file: server.key\n  max_version: TLS12\n  prefer_server_cipher_suites: true\n"
	    "  cipher_suites:\n  - TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA\n", web, sizeof(web)) == 0);
	REQUIRE(kill(d.proc.pid, SIGHUP) == 0);
	CHECK(wait_log_count(d.log, "SIGHUP: http access: TLS 1.2 (TLS 1.2 cipher suites: 1 listed, "
	    "server's order)", 1));
	q = ok;
	q.ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256";
	STATUS(&q, "/metrics", 0);
	q.ciphers = "ECDHE-ECDSA-AES256-SHA";
	STATUS(&q, "/metrics", 200);
	q.ciphers = NULL;
	q.tls_version = CURL_SSLVERSION_TLSv1_3;
	STATUS(&q, "/metrics", 0);              /* max_version TLS12 now */
	CHECK(it_daemon_stop(&d) == 0);

	/* What GnuTLS cannot do stops the start, named with its line. */
	port = it_free_port();
	REQUIRE(port > 0);
	snprintf(sock, sizeof(sock), "%s/agent.sock", dir);
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	REQUIRE(it_write_file_in(dir, "web.yml", "tls_server_config:\n  cert_file: server.crt\n"
	    "  key_file: server.key\n  cipher_suites:\n"
	    "  - TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\n", web, sizeof(web)) == 0);
	snprintf(want, sizeof(want), "%s:4: tls_server_config.cipher_suites: none of the TLS 1.2 "
	    "suites fits the ECDSA key of cert_file %s/server.crt", web, dir);
	expect_exit2(dir, (char *[]){ "--agent-socket", sock, "--web.listen-address", listen,
	    "--web.config.file", web, NULL }, want, NULL, __LINE__);
	/* GnuTLS would make the RSA key's other combinations too. */
	REQUIRE(it_write_file_in(dir, "web.yml", "tls_server_config:\n  cert_file: rsa.crt\n"
	    "  key_file: rsa.key\n  cipher_suites:\n"
	    "  - TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\n  - TLS_RSA_WITH_AES_256_GCM_SHA384\n",
	    web, sizeof(web)) == 0);
	snprintf(want, sizeof(want), "%s:4: tls_server_config.cipher_suites: GnuTLS cannot offer "
	    "exactly these suites: with the RSA key of cert_file it would also offer TLS_", web);
	expect_exit2(dir, (char *[]){ "--agent-socket", sock, "--web.listen-address", listen,
	    "--web.config.file", web, NULL }, want, NULL, __LINE__);
	/* The same ciphers for both key exchanges: exactly those four. */
	REQUIRE(it_write_file_in(dir, "web.yml", "tls_server_config:\n  cert_file: rsa.crt\n"
	    "  key_file: rsa.key\n  cipher_suites:\n"
	    "  - TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\n  - TLS_RSA_WITH_AES_128_GCM_SHA256\n",
	    web, sizeof(web)) == 0);
	snprintf(ca, sizeof(ca), "%s/rsa.crt", dir);
	REQUIRE(web_daemon_start(&d, web, &ok, 1, base, sizeof(base)) == 0);
	q = ok;
	q.tls_version = CURL_SSLVERSION_TLSv1_2 | CURL_SSLVERSION_MAX_TLSv1_2;
	q.ciphers = "AES128-GCM-SHA256";
	STATUS(&q, "/metrics", 200);
	q.ciphers = "ECDHE-RSA-AES256-GCM-SHA384:AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305";
	STATUS(&q, "/metrics", 0);
out:
	web_daemon_end(&d, dir);
}

/* curve_preferences: a client restricted to another curve is refused, in
 * TLS 1.2 and 1.3. */
static void webconf_curves(void)
{
	struct it_daemon d = { .proc = { .in_fd = -1, .out_fd = -1 } };
	char dir[64] = "", web[PATH_MAX], base[64], ca[PATH_MAX];
	struct req ok = { .ca = ca };
	struct req q;

	REQUIRE(cert_dir(dir, ca) == 0);
	REQUIRE(it_write_file_in(dir, "web.yml", "tls_server_config:\n  cert_file: server.crt\n"
	    "  key_file: server.key\n  curve_preferences:\n  - X25519\n  - CurveP384\n",
	    web, sizeof(web)) == 0);
	REQUIRE(web_daemon_start(&d, web, &ok, 1, base, sizeof(base)) == 0);
	/* TLS 1.3: the key share. TLS 1.2: the ECDHE group; the client's list
	 * must also hold the P-256 of the server's certificate (OpenSSL
	 * checks it there), which the server does not take for ECDHE. */
	for (int v = 0; v < 2; v++) {
		q = ok;
		q.tls_version = v == 0 ? CURL_SSLVERSION_TLSv1_3 :
		    CURL_SSLVERSION_TLSv1_2 | CURL_SSLVERSION_MAX_TLSv1_2;
		q.curves = v == 0 ? "X25519" : "X25519:P-256";
		STATUS(&q, "/metrics", 200);
		q.curves = v == 0 ? "P-384" : "P-256:P-384";
		STATUS(&q, "/metrics", 200);
		q.curves = "P-256";
		STATUS(&q, "/metrics", 0);
		q.curves = "P-521:P-256";
		STATUS(&q, "/metrics", 0);
	}
	CHECK(it_wait_log(d.log, "http access: TLS 1.2 to 1.3 (curves X25519 CurveP384), "
	    "client certificates NoClientCert"));
out:
	web_daemon_end(&d, dir);
}

/*
 * client_allowed_sans: a certificate of the CA with one of the SANs gets
 * in (a DNS name, a URI, an IP address); without one the handshake fails;
 * a connection made before a SIGHUP that drops its SANs gets 403.
 */
static void webconf_allowed_sans(void)
{
	static const struct {
		const char *type, *sans;
		long good, rogue;
	} cases[] = {
		{ "RequireAndVerifyClientCert", "\n    - \"spiffe://test/scraper\"", 200, 0 },
		{ "RequireAndVerifyClientCert", "\n  - other.example\n  - scraper.example", 200, 0 },
		{ "RequireAndVerifyClientCert", "\n  - 10.1.2.3", 200, 0 },
		{ "RequireAndVerifyClientCert", "\n  - scraper\n  - spiffe://test/other", 0, 0 },
		{ "RequireAnyClientCert", "\n  - scraper.example", 200, 0 },
	};
	struct it_daemon d = { .proc = { .in_fd = -1, .out_fd = -1 } };
	char dir[64] = "", web[PATH_MAX], text[1024], base[64];
	char ca[PATH_MAX], cert[PATH_MAX], key[PATH_MAX], rcert[PATH_MAX], rkey[PATH_MAX];
	CURL *keep = NULL;
	struct it_growbuf body = { NULL, 0 };
	char url[128];
	long st = 0;

	REQUIRE(cert_dir(dir, ca) == 0);
	snprintf(cert, sizeof(cert), "%s/client.crt", dir);
	snprintf(key, sizeof(key), "%s/client.key", dir);
	snprintf(rcert, sizeof(rcert), "%s/rogue.crt", dir);
	snprintf(rkey, sizeof(rkey), "%s/rogue.key", dir);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct req good = { .ca = ca, .cert = cert, .key = key };
		struct req probe = good;
		struct req q;
		int failures = harness_failures;

		snprintf(text, sizeof(text), "tls_server_config:\n  cert_file: server.crt\n"
		    "  key_file: server.key\n  client_ca_file: ca.crt\n  client_auth_type: %s\n"
		    "  client_allowed_sans: %s\n", cases[i].type, cases[i].sans);
		REQUIRE(it_write_file_in(dir, "web.yml", text, web, sizeof(web)) == 0);
		/* Started with a config that lets the probe in, then the case. */
		if (cases[i].good != 200) {
			char first[1024];

			snprintf(first, sizeof(first), "tls_server_config:\n  cert_file: server.crt\n"
			    "  key_file: server.key\n  client_ca_file: ca.crt\n"
			    "  client_auth_type: %s\n  client_allowed_sans:\n  - scraper.example\n",
			    cases[i].type);
			REQUIRE(it_write_file_in(dir, "web.yml", first, web, sizeof(web)) == 0);
		}
		REQUIRE(web_daemon_start(&d, web, &probe, 1, base, sizeof(base)) == 0);
		good.base = base;
		if (cases[i].good != 200) {
			/* A connection made now, kept open over the SIGHUP. */
			keep = curl_easy_init();
			REQUIRE(keep != NULL);
			snprintf(url, sizeof(url), "%s/metrics", base);
			curl_easy_setopt(keep, CURLOPT_URL, url);
			curl_easy_setopt(keep, CURLOPT_PROXY, "");
			curl_easy_setopt(keep, CURLOPT_NOSIGNAL, 1L);
			curl_easy_setopt(keep, CURLOPT_TIMEOUT_MS, 5000L);
			curl_easy_setopt(keep, CURLOPT_CAINFO, ca);
			curl_easy_setopt(keep, CURLOPT_CAPATH, NULL);
			curl_easy_setopt(keep, CURLOPT_SSLCERT, cert);
			curl_easy_setopt(keep, CURLOPT_SSLKEY, key);
			curl_easy_setopt(keep, CURLOPT_WRITEFUNCTION, it_curl_collect);
			curl_easy_setopt(keep, CURLOPT_WRITEDATA, &body);
			st = 0;
			if (curl_easy_perform(keep) == CURLE_OK)
				curl_easy_getinfo(keep, CURLINFO_RESPONSE_CODE, &st);
			CHECK_U64(st, ==, 200);
			REQUIRE(it_write_file_in(dir, "web.yml", text, web, sizeof(web)) == 0);
			REQUIRE(kill(d.proc.pid, SIGHUP) == 0);
			CHECK(wait_log_count(d.log, "SIGHUP: http access: ", 1));
			/* The old session, the new SANs: refused per request. */
			free(body.p);
			body.p = NULL;
			body.len = 0;
			st = 0;
			if (curl_easy_perform(keep) == CURLE_OK)
				curl_easy_getinfo(keep, CURLINFO_RESPONSE_CODE, &st);
			CHECK_U64(st, ==, 403);
			CHECK(body.p == NULL || strstr(body.p, "memprobe_") == NULL);
			CHECK(it_wait_log(d.log, "client certificate SANs do not match "
			    "client_allowed_sans"));
			curl_easy_cleanup(keep);
			keep = NULL;
			free(body.p);
			body.p = NULL;
			body.len = 0;
		}
		STATUS(&good, "/metrics", cases[i].good);
		good.tls_version = CURL_SSLVERSION_TLSv1_2 | CURL_SSLVERSION_MAX_TLSv1_2;
		STATUS(&good, "/metrics", cases[i].good);
		q = good;
		q.tls_version = 0;
		q.cert = rcert;
		q.key = rkey;
		STATUS(&q, "/metrics", cases[i].rogue);
		q.cert = q.key = NULL;
		STATUS(&q, "/metrics", 0);
		CHECK(it_wait_log(d.log, "allowed SAN"));
		if (harness_failures > failures) {
			fprintf(stderr, "  (client_auth_type %s, client_allowed_sans %s)\n",
			    cases[i].type, cases[i].sans);
			it_daemon_dump_log(&d);
		}
		CHECK(it_daemon_stop(&d) == 0);
	}
out:
	if (keep != NULL)
		curl_easy_cleanup(keep);
	free(body.p);
	it_daemon_stop(&d);
	it_rmtree(dir);
}

/*
 * auth_excluded_paths: /healthz is served without credentials (the path
 * exactly, whatever the query), everything else still needs them; a
 * SIGHUP that drops the list protects /healthz again.
 */
static void webconf_excluded_paths(void)
{
	struct it_daemon d = { .proc = { .in_fd = -1, .out_fd = -1 } };
	char dir[64] = "", web[PATH_MAX], text[512], h[128], base[64];
	struct req ok = { .userpwd = "alice:pw" };
	struct req anon = { 0 };

	REQUIRE(it_tmpdir(dir, sizeof(dir)) == 0);
	REQUIRE(make_hash("pw", h, sizeof(h)) == 0);
	snprintf(text, sizeof(text), "basic_auth_users:\n  alice: %s\nauth_excluded_paths:\n"
	    "  - /healthz\n", h);
	REQUIRE(it_write_file_in(dir, "web.yml", text, web, sizeof(web)) == 0);
	REQUIRE(web_daemon_start(&d, web, &anon, 0, base, sizeof(base)) == 0);
	ok.base = base;
	STATUS(&anon, "/healthz", 200);
	STATUS(&anon, "/healthz?verbose=1", 200);
	STATUS(&anon, "/metrics", 401);
	STATUS(&anon, "/healthz/", 401);
	STATUS(&anon, "/HEALTHZ", 401);
	STATUS(&ok, "/metrics", 200);
	CHECK(it_wait_log(d.log, "basic auth (1 user; some paths excluded)"));

	snprintf(text, sizeof(text), "basic_auth_users:\n  alice: %s\n", h);
	REQUIRE(it_write_file_in(dir, "web.yml", text, web, sizeof(web)) == 0);
	REQUIRE(kill(d.proc.pid, SIGHUP) == 0);
	CHECK(it_wait_log(d.log, "SIGHUP: http access: no TLS, basic auth (1 user)"));
	STATUS(&anon, "/healthz", 401);
	STATUS(&ok, "/healthz", 200);
out:
	web_daemon_end(&d, dir);
}

/* Runs memprobectl with args (NULL-terminated) and env additions; its exit
 * status (-1: did not end), its stdout and stderr in out and err. */
static int memprobectl(char *const args[], char *const env[], const char *dir, char *out,
    size_t outsize, char *err, size_t errsize)
{
	char ctl[PATH_MAX + 16], errpath[PATH_MAX], *argv[24];
	size_t n = 0;
	int st;

	snprintf(ctl, sizeof(ctl), "%s/memprobectl", itest.build);
	snprintf(errpath, sizeof(errpath), "%s/memprobectl.stderr", dir);
	argv[n++] = ctl;
	for (size_t i = 0; args[i] != NULL && n < 23; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	st = it_run(argv, env, errpath, out, outsize);
	it_slurp(errpath, err, errsize);
	return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/*
 * memprobectl against a memprobed that wants TLS, a client certificate and
 * basic auth: with --ca-file, --cert, --key, --user and the password from
 * $MEMPROBE_PASSWORD or --password-file it gets in; each missing or wrong
 * part is one line on stderr and exit status 3 (2 for a usage error).
 */
static void webconf_memprobectl(void)
{
	struct it_daemon d = { .proc = { .in_fd = -1, .out_fd = -1 } };
	char dir[64] = "", web[PATH_MAX], text[1024], h[128], base[64], ca[PATH_MAX];
	char cert[PATH_MAX], key[PATH_MAX], pwfile[PATH_MAX], out[8192], err[4096];
	struct req ok = { .ca = ca, .cert = cert, .key = key, .userpwd = "alice:pw" };
	char *good_env[] = { "MEMPROBE_PASSWORD=pw", NULL };
	char *bad_env[] = { "MEMPROBE_PASSWORD=nope", NULL };
	int st;

	REQUIRE(cert_dir(dir, ca) == 0);
	REQUIRE(make_hash("pw", h, sizeof(h)) == 0);
	snprintf(cert, sizeof(cert), "%s/client.crt", dir);
	snprintf(key, sizeof(key), "%s/client.key", dir);
	snprintf(text, sizeof(text), "tls_server_config:\n  cert_file: server.crt\n"
	    "  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n"
	    "  client_ca_file: ca.crt\nbasic_auth_users:\n  alice: %s\n", h);
	REQUIRE(it_write_file_in(dir, "web.yml", text, web, sizeof(web)) == 0);
	REQUIRE(it_write_file_in(dir, "pw.txt", "pw\n", pwfile, sizeof(pwfile)) == 0);
	REQUIRE(web_daemon_start(&d, web, &ok, 1, base, sizeof(base)) == 0);

#define CTL(env, ...) memprobectl((char *[]){ __VA_ARGS__, NULL }, env, dir, out, sizeof(out), \
	err, sizeof(err))
	/* Everything given: in. */
	st = CTL(good_env, "--url", base, "--ca-file", ca, "--cert", cert, "--key", key,
	    "--user", "alice", "ps");
	CHECK(st == 0 && strstr(out, "PID") != NULL && err[0] == '\0');
	if (st != 0)
		fprintf(stderr, "  memprobectl ps: %d: %s\n", st, err);
	st = CTL(NULL, "--url", base, "--ca-file", ca, "--cert", cert, "--key", key,
	    "--user", "alice", "--password-file", pwfile, "ps", "--json");
	CHECK(st == 0 && strstr(out, "\"processes\"") != NULL);
	/* A wrong password, no user: 401, said in one line. */
	st = CTL(bad_env, "--url", base, "--ca-file", ca, "--cert", cert, "--key", key,
	    "--user", "alice", "ps");
	CHECK(st == 3 && strstr(err, "refused user 'alice'") != NULL && strstr(err, "nope") == NULL);
	st = CTL(NULL, "--url", base, "--ca-file", ca, "--cert", cert, "--key", key, "ps");
	CHECK(st == 3 && strstr(err, "wants a user and password") != NULL);
	/* No client certificate, or a server nobody vouches for: the TLS
	 * handshake fails, and libcurl's reason is shown. */
	st = CTL(good_env, "--url", base, "--ca-file", ca, "--user", "alice", "ps");
	CHECK(st == 3 && strstr(err, "cannot reach memprobed") != NULL &&
	    strstr(err, "--cert, --key") != NULL);
	st = CTL(good_env, "--url", base, "--cert", cert, "--key", key, "--user", "alice", "ps");
	CHECK(st == 3 && strstr(err, "certificate") != NULL);
	/* Usage errors: a user without a password, a key without a cert. */
	st = CTL(NULL, "--url", base, "--user", "alice", "ps");
	CHECK(st == 2 && strstr(err, "needs a password") != NULL);
	st = CTL(NULL, "--url", base, "--key", key, "ps");
	CHECK(st == 2 && strstr(err, "needs --cert") != NULL);
#undef CTL
	if (harness_failures)
		fprintf(stderr, "  last memprobectl: status %d\n  stdout: %s\n  stderr: %s\n", st, out,
		    err);
out:
	web_daemon_end(&d, dir);
}

int itest_webconf_run(void)
{
	if (it_selected("webconf_basic_auth"))
		RUN_TEST(webconf_basic_auth);
	if (it_selected("webconf_tls"))
		RUN_TEST(webconf_tls);
	if (it_selected("webconf_tls13"))
		RUN_TEST(webconf_tls13);
	if (it_selected("webconf_client_cert"))
		RUN_TEST(webconf_client_cert);
	if (it_selected("webconf_errors"))
		RUN_TEST(webconf_errors);
	if (it_selected("webconf_reload"))
		RUN_TEST(webconf_reload);
	if (it_selected("webconf_excluded_paths"))
		RUN_TEST(webconf_excluded_paths);
	if (it_selected("webconf_memprobectl"))
		RUN_TEST(webconf_memprobectl);
	if (it_selected("webconf_cipher_suites"))
		RUN_TEST(webconf_cipher_suites);
	if (it_selected("webconf_curves"))
		RUN_TEST(webconf_curves);
	if (it_selected("webconf_allowed_sans"))
		RUN_TEST(webconf_allowed_sans);
	return harness_failed_tests;
}
