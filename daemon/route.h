/* route.h: which endpoint a request path names; pure functions, no I/O. */
#ifndef MEMPROBE_ROUTE_H
#define MEMPROBE_ROUTE_H

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
};

/*
 * Maps a request path (without the query string, as libmicrohttpd gives
 * it) to its endpoint. For ROUTE_PROCESS and ROUTE_HISTORY, *pid is set
 * and *pid_ok tells whether the {pid} part is a valid one (a positive
 * decimal up to INT_MAX, no sign, no leading zero): when it is not, the
 * answer is 400, not 404.
 */
enum route route_match(const char *url, pid_t *pid, int *pid_ok);

/* Parses a pid as above. Returns 0 or -EINVAL. */
int route_parse_pid(const char *s, size_t len, pid_t *out);

#endif
