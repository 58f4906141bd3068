/* ctl_http.c: the one HTTP request memprobectl makes, a GET over libcurl, for JSON or a binary profile. */
#include "ctl_http.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifndef MEMPROBE_VERSION
#define MEMPROBE_VERSION "unknown"
#endif

/* Hosts never reached through a proxy: the daemon's default is loopback. */
#define LOOPBACK_HOSTS "localhost,127.0.0.1,::1"

/* The response body as it arrives; err records why the write callback refused. */
struct sink {
	char *buf;
	size_t len;
	size_t cap;
	int err;
};

static size_t
sink_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct sink *s = arg;
	size_t n = size * nmemb;   /* curl documents size as always 1 */

	if (n > CTL_HTTP_MAX_BODY - s->len) {
		s->err = -EMSGSIZE;
		return 0;
	}
	if (s->len + n + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		char *grown;

		while (cap < s->len + n + 1)
			cap *= 2;
		grown = realloc(s->buf, cap);
		if (grown == NULL) {
			s->err = -ENOMEM;
			return 0;
		}
		s->buf = grown;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, data, n);
	s->len += n;
	s->buf[s->len] = '\0';
	return n;
}

/*
 * Parses URL into a new handle in *OUT (caller curl_url_cleanup()s it).
 * Returns 0, -ENOMEM, or -EINVAL with the reason in ERR.
 */
static int
parse_url(const char *url, CURLU **out, char *err, size_t errlen)
{
	CURLU *u = curl_url();
	CURLUcode uc;
	char *scheme = NULL;
	int rc = -EINVAL;

	if (u == NULL)
		return -ENOMEM;
	uc = curl_url_set(u, CURLUPART_URL, url, CURLU_GUESS_SCHEME);
	if (uc != CURLUE_OK) {
		if (uc == CURLUE_OUT_OF_MEMORY)
			rc = -ENOMEM;
#if LIBCURL_VERSION_NUM >= 0x075000
		snprintf(err, errlen, "%s", curl_url_strerror(uc));
#else
		snprintf(err, errlen, "malformed URL");
#endif
		goto fail;
	}
	uc = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
	if (uc != CURLUE_OK) {
		snprintf(err, errlen, "URL without a scheme");
		goto fail;
	}
	if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
		snprintf(err, errlen, "scheme '%s' is not http or https", scheme);
		goto fail;
	}
	curl_free(scheme);
	*out = u;
	return 0;
fail:
	curl_free(scheme);
	curl_url_cleanup(u);
	return rc;
}

/*
 * The no-proxy list: loopback plus the user's own no_proxy, which setting
 * CURLOPT_NOPROXY would otherwise replace. Returns a new string (caller
 * free()s it) or NULL when out of memory.
 */
static char *
noproxy_list(void)
{
	const char *env = getenv("no_proxy");
	char *list;
	size_t len;

	if (env == NULL || *env == '\0')
		env = getenv("NO_PROXY");
	if (env == NULL || *env == '\0')
		return strdup(LOOPBACK_HOSTS);
	/* curl honours "*" only as the whole list. */
	if (strcmp(env, "*") == 0)
		return strdup(env);
	len = sizeof(LOOPBACK_HOSTS) + 1 + strlen(env);
	list = malloc(len);
	if (list != NULL)
		snprintf(list, len, "%s,%s", LOOPBACK_HOSTS, env);
	return list;
}

/* Set by ctl_http_set_access(). */
static struct ctl_http_access access;

void
ctl_http_set_access(const struct ctl_http_access *a)
{
	access = *a;
}

int
ctl_http_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -ENOMEM;
}

void
ctl_http_fini(void)
{
	curl_global_cleanup();
}

/*
 * What a failed transfer (CC, libcurl's DETAIL) means for the caller:
 * -ECONNREFUSED, -EPROTONOSUPPORT or -EIO (ctl_http.h).
 */
static int
transfer_error(CURLcode cc, const char *detail)
{
	/* How each TLS library words a first record that is not TLS, as
	 * when an HTTP server answers a ClientHello with its 400 page:
	 * OpenSSL, and GnuTLS. A server that refuses the handshake (no or
	 * a wrong client certificate) says so with an alert instead. */
	static const char *const not_tls[] = {
		"wrong version number", "packet length too long",
		"unexpected TLS packet", "TLS packet with unexpected length",
	};

	if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST ||
	    cc == CURLE_OPERATION_TIMEDOUT)
		return -ECONNREFUSED;
	if (cc == CURLE_SSL_CONNECT_ERROR)
		for (size_t i = 0; i < sizeof(not_tls) / sizeof(not_tls[0]); i++)
			if (strcasestr(detail, not_tls[i]) != NULL)
				return -EPROTONOSUPPORT;
	return -EIO;
}

/* Discards what a probe receives. */
static size_t
discard(char *data, size_t size, size_t nmemb, void *arg)
{
	(void)data;
	(void)arg;
	return size * nmemb;
}

/*
 * Whether the server of U, an https URL whose handshake failed, answers
 * the same request in plain HTTP. The TLS library's wording of such a
 * failure depends on when the server closes (a 400 page read as a record,
 * or a connection reset mid-handshake), so asking is the one sure test.
 */
static int
answers_plain_http(CURLU *u, const char *noproxy, long timeout_ms)
{
	CURLU *plain = curl_url_dup(u);
	CURL *curl = curl_easy_init();
	char *scheme = NULL;
	int yes = 0;

	if (plain == NULL || curl == NULL ||
	    curl_url_get(plain, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    strcasecmp(scheme, "https") != 0 ||
	    curl_url_set(plain, CURLUPART_SCHEME, "http", 0) != CURLUE_OK)
		goto out;
	curl_easy_setopt(curl, CURLOPT_CURLU, plain);
	curl_easy_setopt(curl, CURLOPT_NOPROXY, noproxy);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
	yes = curl_easy_perform(curl) == CURLE_OK;
out:
	curl_free(scheme);
	curl_easy_cleanup(curl);
	curl_url_cleanup(plain);
	return yes;
}

/* The options of one request: U, through no proxy for NOPROXY, answers
 * into SINK, libcurl's words for a failure into DETAIL. */
static void
request_setup(CURL *curl, CURLU *u, struct curl_slist *headers, const char *noproxy,
    long timeout_ms, struct sink *sink, char *detail)
{
	curl_easy_setopt(curl, CURLOPT_CURLU, u);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(curl, CURLOPT_NOPROXY, noproxy);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "memprobectl/" MEMPROBE_VERSION);
	/* A short-lived single-threaded command: no SIGALRM games for DNS timeouts. */
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, sink_write);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, sink);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, detail);
	if (access.ca_file != NULL) {
		curl_easy_setopt(curl, CURLOPT_CAINFO, access.ca_file);
		curl_easy_setopt(curl, CURLOPT_CAPATH, NULL);
	}
	if (access.cert != NULL) {
		curl_easy_setopt(curl, CURLOPT_SSLCERT, access.cert);
		curl_easy_setopt(curl, CURLOPT_SSLKEY, access.key != NULL ? access.key : access.cert);
	}
	if (access.user != NULL) {
		curl_easy_setopt(curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(curl, CURLOPT_USERNAME, access.user);
		curl_easy_setopt(curl, CURLOPT_PASSWORD, access.password != NULL ? access.password : "");
	}
}

/* What a failed transfer (CC; SINK's own error; libcurl's DETAIL) means:
 * the negative errno ctl_http_get() returns, with the words in err. */
static int
request_failed(CURLcode cc, const struct sink *sink, const char *detail, CURLU *u,
    const char *noproxy, long timeout_ms, char *err, size_t errlen)
{
	int rc;

	if (sink->err == -EMSGSIZE) {
		snprintf(err, errlen, "response larger than %zu MiB", CTL_HTTP_MAX_BODY >> 20);
		return -EMSGSIZE;
	}
	if (sink->err == -ENOMEM || cc == CURLE_OUT_OF_MEMORY) {
		snprintf(err, errlen, "%s", strerror(ENOMEM));
		return -ENOMEM;
	}
	/* libcurl's detail says which address, certificate or file, and why. */
	snprintf(err, errlen, "%s", detail[0] ? detail : curl_easy_strerror(cc));
	/* The URL was checked, so the peer answered in something not HTTP. */
	if (cc == CURLE_UNSUPPORTED_PROTOCOL || cc == CURLE_WEIRD_SERVER_REPLY)
		return -EPROTO;
	rc = transfer_error(cc, detail);
	if (rc == -EIO && cc == CURLE_SSL_CONNECT_ERROR && answers_plain_http(u, noproxy, timeout_ms))
		rc = -EPROTONOSUPPORT;
	return rc;
}

int
ctl_http_get(const char *url, const char *accept, long timeout_ms, struct ctl_http_reply *reply,
    char *err, size_t errlen)
{
	struct sink sink = { 0 };
	char accept_hdr[128];
	struct curl_slist *headers = NULL;
	CURLU *u = NULL;
	CURL *curl = NULL;
	char *noproxy = NULL, detail[CURL_ERROR_SIZE] = "";
	CURLcode cc;
	long status = 0;
	int rc;

	rc = parse_url(url, &u, err, errlen);
	if (rc < 0)
		goto fail;
	rc = -ENOMEM;
	curl = curl_easy_init();
	snprintf(accept_hdr, sizeof(accept_hdr), "Accept: %s", accept);
	headers = curl_slist_append(NULL, accept_hdr);
	noproxy = noproxy_list();
	if (curl == NULL || headers == NULL || noproxy == NULL) {
		snprintf(err, errlen, "%s", strerror(ENOMEM));
		goto fail;
	}
	request_setup(curl, u, headers, noproxy, timeout_ms, &sink, detail);
	cc = curl_easy_perform(curl);
	if (cc != CURLE_OK) {
		rc = request_failed(cc, &sink, detail, u, noproxy, timeout_ms, err, errlen);
		goto fail;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	if (sink.buf == NULL && (sink.buf = strdup("")) == NULL) {
		rc = -ENOMEM;
		snprintf(err, errlen, "%s", strerror(ENOMEM));
		goto fail;
	}
	reply->status = status;
	reply->body = sink.buf;
	reply->len = sink.len;
	sink.buf = NULL;
	rc = 0;
fail:
	free(sink.buf);
	free(noproxy);
	curl_slist_free_all(headers);
	curl_easy_cleanup(curl);
	curl_url_cleanup(u);
	return rc;
}

void
ctl_http_reply_free(struct ctl_http_reply *reply)
{
	free(reply->body);
	reply->body = NULL;
	reply->len = 0;
}
