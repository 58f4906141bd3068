/* it_http.c: HTTP requests with libcurl, their bodies and headers kept. */
#include "it_http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

size_t it_curl_collect(char *data, size_t size, size_t n, void *arg)
{
	struct it_growbuf *b = arg;
	size_t add = size * n;
	char *q = realloc(b->p, b->len + add + 1);

	if (q == NULL)
		return 0;
	memcpy(q + b->len, data, add);
	b->len += add;
	q[b->len] = '\0';
	b->p = q;
	return add;
}

CURL *it_curl_new(const char *url)
{
	CURL *c = curl_easy_init();

	if (c == NULL)
		return NULL;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
	return c;
}

int it_curl_perform(CURL *c, struct it_http *r, char *errbuf)
{
	struct it_growbuf body = { NULL, 0 }, head = { NULL, 0 };
	CURLcode cc;

	memset(r, 0, sizeof(*r));
	if (errbuf != NULL)
		errbuf[0] = '\0';
	if (c == NULL)
		return -ENOMEM;
	if (errbuf != NULL)
		curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, it_curl_collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, it_curl_collect);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &head);
	cc = curl_easy_perform(c);
	if (cc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	else if (errbuf != NULL && errbuf[0] == '\0')
		snprintf(errbuf, CURL_ERROR_SIZE, "%s", curl_easy_strerror(cc));
	curl_easy_cleanup(c);
	r->body = body.p != NULL ? body.p : strdup("");
	r->len = body.len;
	r->headers = head.p != NULL ? head.p : strdup("");
	r->hlen = head.len;
	return cc == CURLE_OK ? 0 : -EIO;
}

int it_http(const char *method, const char *url, struct it_http *r)
{
	CURL *c = it_curl_new(url);

	if (c != NULL && strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else if (c != NULL && strcmp(method, "POST") == 0)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
	else if (c != NULL && strcmp(method, "GET") != 0)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	return it_curl_perform(c, r, NULL);
}

int it_get(const char *base_url, const char *path, struct it_http *r)
{
	char url[512];

	snprintf(url, sizeof(url), "%s%s", base_url, path);
	return it_http("GET", url, r);
}

void it_http_free(struct it_http *r)
{
	free(r->body);
	free(r->headers);
	memset(r, 0, sizeof(*r));
}

int it_http_header(const struct it_http *r, const char *name, char *out, size_t size)
{
	size_t nlen = strlen(name);
	const char *line = r->headers;
	int found = 0;

	while (line != NULL && *line != '\0') {
		const char *end = strchr(line, '\n');
		size_t llen = end != NULL ? (size_t)(end - line) : strlen(line);

		if (llen > nlen && strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
			const char *v = line + nlen + 1;
			size_t vlen;

			while (*v == ' ' || *v == '\t')
				v++;
			vlen = (size_t)(line + llen - v);
			while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == ' '))
				vlen--;
			if (vlen >= size)
				vlen = size - 1;
			memcpy(out, v, vlen);
			out[vlen] = '\0';
			found = 1;
		}
		line = end != NULL ? end + 1 : NULL;
	}
	return found;
}
