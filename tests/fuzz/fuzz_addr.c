/* fuzz_addr.c: libFuzzer target for HOST:PORT listen addresses. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "addr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char *s = malloc(size + 1), out[128];

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	memset(&ss, 0, sizeof(ss));
	if (addr_parse(s, &ss, &len, out, sizeof(out)) == 0)
		addr_format((struct sockaddr *)&ss, out, sizeof(out));
	free(s);
	return 0;
}
