/* route.h: which endpoint a request path names; pure functions, no I/O. */
#ifndef MEMPROBE_ROUTE_H
#define MEMPROBE_ROUTE_H

#include <stddef.h>
#include <sys/types.h>

enum route {
	ROUTE_NONE,             /* no such endpoint: 404 */
	ROUTE_METRICS,
	ROUTE_PROCESSES,
	ROUTE_PROCESS,          /* /api/v1/processes/{pid} */
	ROUTE_HISTORY,          /* /api/v1/processes/{pid}/history */
	ROUTE_STATUS,
	ROUTE_HEALTHZ,          /* /healthz, /-/healthy, /-/ready */
	ROUTE_PAGE,             /* the live page and its assets */
	ROUTE_PROFILE,          /* /api/v1/processes/{pid}/profile */
	ROUTE_SITES,            /* /api/v1/processes/{pid}/sites */
	ROUTE_PROFILE_QUERY,    /* /api/v1/profile?pid=N, for scrapers */
};

/*
 * Maps a request path (without the query string, as libmicrohttpd gives
 * it) to its endpoint. For ROUTE_PROCESS, ROUTE_HISTORY, ROUTE_PROFILE and
 * ROUTE_SITES, *pid is set
 * and *pid_ok tells whether the {pid} part is a valid one (a positive
 * decimal up to INT_MAX, no sign, no leading zero): when it is not, the
 * answer is 400, not 404.
 */
enum route route_match(const char *url, pid_t *pid, int *pid_ok);

/*
 * Decodes the %HH escapes of a request path (or query argument) in place,
 * as libmicrohttpd's default does, except %00: that stays as written, so a
 * decoded path holds no NUL before its end and a {pid} segment such as
 * "1%00junk" is refused as a bad pid instead of being cut to "1". A '%'
 * not followed by two hex digits stays too. Returns the new length
 * (strlen(s)). For MHD_OPTION_UNESCAPE_CALLBACK.
 */
size_t route_unescape(char *s);

/* Parses a pid as above. Returns 0 or -EINVAL. */
int route_parse_pid(const char *s, size_t len, pid_t *out);

#endif
