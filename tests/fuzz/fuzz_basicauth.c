/* fuzz_basicauth.c: libFuzzer target for the Authorization header decoder (what any client sends). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "basicauth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char user[BASICAUTH_MAX_USER + 1], pass[BASICAUTH_MAX_PASSWORD + 1];
	char *h = malloc(size + 1);
	int r;

	if (h == NULL)
		return 0;
	memcpy(h, data, size);
	h[size] = '\0';
	r = basicauth_parse(h, user, sizeof(user), pass, sizeof(pass));
	if (r != 0 && r != -EINVAL)
		abort();
	/* A success is a user without ':' and two NUL-terminated strings
	 * that fit. */
	if (r == 0 && (strchr(user, ':') != NULL || strlen(user) > BASICAUTH_MAX_USER ||
	    strlen(pass) > BASICAUTH_MAX_PASSWORD))
		abort();
	free(h);
	return 0;
}
