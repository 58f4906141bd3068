/* fuzz_conneg.c: libFuzzer target for Accept and Accept-Encoding negotiation. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conneg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The first line is the Accept header, the rest Accept-Encoding. */
	char *s = malloc(size + 1), *nl;
	enum conneg_format f;

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	nl = strchr(s, '\n');
	if (nl != NULL)
		*nl++ = '\0';
	f = conneg_format(s);
	if (f != CONNEG_TEXT_004 && f != CONNEG_OPENMETRICS_100 && f != CONNEG_OPENMETRICS_001)
		abort();
	if (nl != NULL) {
		int g = conneg_gzip(nl);
		if (g != 0 && g != 1)
			abort();
	}
	free(s);
	return 0;
}
