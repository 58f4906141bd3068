/* fuzz_route.c: libFuzzer target for the HTTP router (path to endpoint and pid) and its unescaper. */
#include <microhttpd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * route_unescape() of the path: never longer, never a NUL before its end,
 * and the same as libmicrohttpd's own decoding whenever that one yields no
 * NUL (the one difference is %00, kept as written).
 */
static void check_unescape(const char *url, size_t len)
{
	char *ours = strdup(url), *mhd = strdup(url);
	size_t n, m;

	if (ours == NULL || mhd == NULL)
		goto out;
	n = route_unescape(ours);
	if (n > len || n != strlen(ours))
		abort();
	m = MHD_http_unescape(mhd);
	if (m == strlen(mhd) && (n != m || memcmp(ours, mhd, n) != 0))
		abort();
out:
	free(ours);
	free(mhd);
}

/* What follows the pid in the path of a route that takes one. */
static const char *pid_suffix(enum route r)
{
	switch (r) {
	case ROUTE_HISTORY:
		return "/history";
	case ROUTE_PROFILE:
		return "/profile";
	case ROUTE_SITES:
		return "/sites";
	default:
		return "";
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *url = malloc(size + 1), again[64];
	enum route r;
	pid_t pid;
	int ok;

	if (url == NULL)
		return 0;
	memcpy(url, data, size);
	url[size] = '\0';
	check_unescape(url, strlen(url));
	/* What the router gets from libmicrohttpd: the path unescaped. */
	route_unescape(url);
	r = route_match(url, &pid, &ok);
	if (r == ROUTE_PROCESS || r == ROUTE_HISTORY || r == ROUTE_PROFILE || r == ROUTE_SITES) {
		/* A pid taken as valid is positive and is written exactly so. */
		if (ok) {
			if (pid <= 0)
				abort();
			snprintf(again, sizeof(again), "/api/v1/processes/%d%s", (int)pid,
			    pid_suffix(r));
			if (strcmp(again, url) != 0)
				abort();
		}
	} else if (ok) {
		abort();
	}
	free(url);
	return 0;
}
