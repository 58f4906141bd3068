/* fuzz_conf.c: libFuzzer target for the config file parser (libinih and our key checks). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	char err[CONF_ERR_MAX];
	struct conf c;

	if (fd < 0) {
		fd = memfd_create("memprobed.conf", 0);
		if (fd < 0)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	if (conf_init(&c) != 0)
		return 0;
	err[0] = '\0';
	if (conf_load(&c, path, err, sizeof(err)) != 0 && err[0] == '\0')
		abort();   /* every error must say what is wrong */
	conf_free(&c);
	return 0;
}
