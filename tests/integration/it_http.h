/* it_http.h: HTTP requests with libcurl for the integration tests. */
#ifndef MEMPROBE_IT_HTTP_H
#define MEMPROBE_IT_HTTP_H

#include <curl/curl.h>
#include <stddef.h>

struct it_http {
	long status;            /* 0 when no answer */
	char *body;             /* NUL-terminated; owned, freed by it_http_free */
	size_t len;
	char *headers;          /* raw response headers, NUL-terminated; owned */
	size_t hlen;
};

/* A libcurl write/header callback appending to a NUL-terminated buffer. */
struct it_growbuf {
	char *p;
	size_t len;
};
size_t it_curl_collect(char *data, size_t size, size_t n, void *arg);

/*
 * A libcurl handle for url with what every test request shares: no proxy,
 * no signals, a 2 s bound on connecting and 5 s on the whole request.
 * The caller sets more options and hands it to it_curl_perform(); NULL
 * when libcurl has no memory.
 */
CURL *it_curl_new(const char *url);

/*
 * Performs the request of c, fills *r (body and headers collected) and
 * frees c. errbuf (CURL_ERROR_SIZE bytes, or NULL) gets libcurl's error
 * text ("" when an answer came). Returns 0 when an answer came (any
 * status), else -EIO with r->status 0; -ENOMEM when c is NULL.
 */
int it_curl_perform(CURL *c, struct it_http *r, char *errbuf);

/*
 * Makes one request with libcurl (as it_curl_new) and fills *r. method is
 * "GET", "POST", "HEAD"...; url is absolute. Returns as it_curl_perform().
 */
int it_http(const char *method, const char *url, struct it_http *r);

/* GET of base_url + path; as it_http(). */
int it_get(const char *base_url, const char *path, struct it_http *r);

/* Frees what it_http() stored; safe on a zeroed *r. */
void it_http_free(struct it_http *r);

/*
 * Copies the value of response header `name` (case-insensitive, last one
 * wins, trailing CR/space stripped) into out. Returns 1 if found, else 0.
 */
int it_http_header(const struct it_http *r, const char *name, char *out, size_t size);

#endif
