/* fuzz_route.c: libFuzzer target for the HTTP router (path to endpoint and pid). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
	r = route_match(url, &pid, &ok);
	if (r == ROUTE_PROCESS || r == ROUTE_HISTORY) {
		/* A pid taken as valid is positive and is written exactly so. */
		if (ok) {
			if (pid <= 0)
				abort();
			snprintf(again, sizeof(again), "/api/v1/processes/%d%s", (int)pid,
			    r == ROUTE_HISTORY ? "/history" : "");
			if (strcmp(again, url) != 0)
				abort();
		}
	} else if (ok) {
		abort();
	}
	free(url);
	return 0;
}
