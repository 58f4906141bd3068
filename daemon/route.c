/* route.c: the HTTP router: request path to endpoint and pid. */
#include "route.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "page.h"

#define API_PROCESSES "/api/v1/processes"

size_t route_unescape(char *s)
{
	char *w = s;

	for (const char *r = s; *r != '\0'; ) {
		char hex[3] = { 0 };
		unsigned long v = 0;

		if (r[0] == '%' && isxdigit((unsigned char)r[1]) && isxdigit((unsigned char)r[2])) {
			hex[0] = r[1];
			hex[1] = r[2];
			v = strtoul(hex, NULL, 16);
		}
		/* %00 stays as written: decoded, it would end the path early
		 * and "/api/v1/processes/1%00junk" would be served as pid 1. */
		if (v == 0) {
			*w++ = *r++;
			continue;
		}
		*w++ = (char)v;
		r += 3;
	}
	*w = '\0';
	return (size_t)(w - s);
}

int route_parse_pid(const char *s, size_t len, pid_t *out)
{
	long v = 0;

	if (len == 0 || s[0] == '0')
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (s[i] - '0');
		if (v > 0x7fffffffL)
			return -EINVAL;
	}
	*out = (pid_t)v;
	return 0;
}

enum route route_match(const char *url, pid_t *pid, int *pid_ok)
{
	size_t n = strlen(API_PROCESSES);
	const char *rest, *slash;
	enum route r;

	*pid = 0;
	*pid_ok = 0;
	if (strcmp(url, "/metrics") == 0)
		return ROUTE_METRICS;
	if (strcmp(url, "/healthz") == 0 || strcmp(url, "/-/healthy") == 0 ||
	    strcmp(url, "/-/ready") == 0)
		return ROUTE_HEALTHZ;
	if (page_match(url))
		return ROUTE_PAGE;
	if (strcmp(url, "/api/v1/status") == 0)
		return ROUTE_STATUS;
	if (strcmp(url, API_PROCESSES) == 0)
		return ROUTE_PROCESSES;
	if (strcmp(url, "/api/v1/profile") == 0)
		return ROUTE_PROFILE_QUERY;
	if (strncmp(url, API_PROCESSES "/", n + 1) != 0)
		return ROUTE_NONE;
	rest = url + n + 1;
	slash = strchr(rest, '/');
	if (slash == NULL)
		r = ROUTE_PROCESS;
	else if (strcmp(slash, "/history") == 0)
		r = ROUTE_HISTORY;
	else if (strcmp(slash, "/profile") == 0)
		r = ROUTE_PROFILE;
	else if (strcmp(slash, "/sites") == 0)
		r = ROUTE_SITES;
	else
		return ROUTE_NONE;
	*pid_ok = route_parse_pid(rest, slash != NULL ? (size_t)(slash - rest) : strlen(rest),
	    pid) == 0;
	return r;
}
