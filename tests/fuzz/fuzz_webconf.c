/* fuzz_webconf.c: libFuzzer target for the web configuration parser (the YAML subset and its schema). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "webconf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct webconf wc;
	char err[WEBCONF_ERR_MAX];
	int r;

	r = webconf_parse(&wc, (const char *)data, size, "web.yml", err, sizeof(err));
	if (r < 0) {
		/* Every error says where and what. */
		if ((r != -EINVAL && r != -ENOMEM) || strncmp(err, "web.yml", 7) != 0 ||
		    strlen(err) < 10)
			abort();
		return 0;
	}
	/* What the daemon relies on when parsing succeeded. */
	if (wc.tls && (wc.cert_file == NULL || wc.key_file == NULL))
		abort();
	if (wc.min_version > wc.max_version)
		abort();
	for (size_t i = 0; i < wc.nusers; i++)
		if (!webconf_is_bcrypt(wc.users[i].hash) || wc.users[i].name[0] == '\0' ||
		    strchr(wc.users[i].name, ':') != NULL)
			abort();
	webconf_free(&wc);
	return 0;
}
