/* page.c: the live page at "/" and its script and style, built into memprobed from web/. */
#include "page.h"

#include <microhttpd.h>
#include <stdint.h>
#include <string.h>

/*
 * The page talks to this daemon only: no inline script or style, no other
 * origin, no framing. (img-src data: is for the inline favicon.)
 */
#define PAGE_CSP "default-src 'none'; script-src 'self'; style-src 'self'; " \
	"connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; " \
	"base-uri 'none'; form-action 'none'"

struct page_route {
	const char *url;
	const char *file;               /* in page_files */
	const char *type;
	const char *cache;
};

static const struct page_route page_routes[] = {
	/* Always asked again (cheaply, by ETag), so a new memprobed shows its page at once. */
	{ "/", "index.html", "text/html; charset=utf-8", "no-cache" },
	{ "/assets/app.js", "app.js", "text/javascript; charset=utf-8", "max-age=60" },
	{ "/assets/app.css", "app.css", "text/css; charset=utf-8", "max-age=60" },
};

static const struct page_route *page_route_of(const char *url)
{
	for (size_t i = 0; i < sizeof(page_routes) / sizeof(page_routes[0]); i++)
		if (strcmp(page_routes[i].url, url) == 0)
			return &page_routes[i];
	return NULL;
}

static const struct page_file *page_file_of(const char *name)
{
	for (size_t i = 0; i < page_nfiles; i++)
		if (strcmp(page_files[i].name, name) == 0)
			return &page_files[i];
	return NULL;
}

int page_match(const char *url)
{
	return page_route_of(url) != NULL && page_file_of(page_route_of(url)->file) != NULL;
}

/* Whether an If-None-Match value names ETAG ("*", or in its list, weak or not). */
static int page_etag_matches(const char *inm, const char *etag)
{
	size_t n = strlen(etag);

	if (inm == NULL)
		return 0;
	for (const char *p = inm; *p != '\0';) {
		p += strspn(p, " \t,");
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		if (*p == '*' || (strncmp(p, etag, n) == 0 &&
		    (p[n] == '\0' || p[n] == ',' || p[n] == ' ' || p[n] == '\t')))
			return 1;
		p += strcspn(p, ",");
	}
	return 0;
}

int page_respond(struct MHD_Connection *conn, const char *url)
{
	const struct page_route *r = page_route_of(url);
	const struct page_file *f = r != NULL ? page_file_of(r->file) : NULL;
	struct MHD_Response *resp;
	unsigned status = MHD_HTTP_OK;
	enum MHD_Result ret;

	if (f == NULL)
		return MHD_NO;
	if (page_etag_matches(MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_IF_NONE_MATCH), f->etag)) {
		status = MHD_HTTP_NOT_MODIFIED;
		resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	} else {
		/* PERSISTENT: MHD neither copies nor frees nor writes the
		 * buffer; the API wants it non-const all the same. */
		resp = MHD_create_response_from_buffer(f->len, (void *)(uintptr_t)f->data,
		    MHD_RESPMEM_PERSISTENT);
	}
	if (resp == NULL)
		return MHD_NO;
	if ((status == MHD_HTTP_OK &&
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->type) != MHD_YES) ||
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, r->cache) != MHD_YES ||
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, f->etag) != MHD_YES ||
	    MHD_add_response_header(resp, "Content-Security-Policy", PAGE_CSP) != MHD_YES ||
	    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff") != MHD_YES ||
	    MHD_add_response_header(resp, "X-Frame-Options", "DENY") != MHD_YES ||
	    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer") != MHD_YES) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}
