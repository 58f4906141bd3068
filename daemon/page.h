/* page.h: the live page at "/" and its script and style, built into memprobed from web/. */
#ifndef MEMPROBE_PAGE_H
#define MEMPROBE_PAGE_H

#include <stddef.h>

struct MHD_Connection;

/*
 * One file of web/, as tools/embed.sh writes it into the generated
 * page_assets.c: its name ("app.js"), its bytes, and an ETag made of its
 * CRC and size, quotes included.
 */
struct page_file {
	const char *name;
	const unsigned char *data;
	size_t len;
	const char *etag;
};

extern const struct page_file page_files[];
extern const size_t page_nfiles;

/* Whether URL (a path, without the query) is the page's: "/",
 * "/assets/app.js" or "/assets/app.css". */
int page_match(const char *url);

/*
 * Queues the answer for URL (one page_match() accepted) on CONN: 200 with
 * the file, or 304 when the request's If-None-Match names its ETag; with
 * its exact Content-Type, Cache-Control (no-cache for the page, a minute
 * for the assets), the ETag, a strict Content-Security-Policy and
 * X-Content-Type-Options: nosniff. The body is static (never copied or
 * freed). Returns MHD_YES, or MHD_NO when the response could not be built
 * (MHD then closes the connection).
 */
int page_respond(struct MHD_Connection *conn, const char *url);

#endif
