/* progs.h: small helpers the test programs share: output and input without the heap, and a heap churn. */
#ifndef MEMPROBE_PROGS_H
#define MEMPROBE_PROGS_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Writes s to stdout with write(2): no stdio buffer on the heap. Returns
 * 0, or -1 when stdout is gone. */
static inline int prog_say(const char *s)
{
	size_t len = strlen(s), off = 0;

	while (off < len) {
		ssize_t n = write(STDOUT_FILENO, s + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	return 0;
}

/* Reads one line of stdin with read(2) into buf (without its newline, cut
 * to size - 1; buf may be NULL to skip the line). Returns its length, or
 * -1 at end of input with nothing read. */
static inline long prog_read_line(char *buf, size_t size)
{
	size_t len = 0;
	char c;

	for (;;) {
		ssize_t n = read(STDIN_FILENO, &c, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (len == 0)
				return -1;
			break;
		}
		if (c == '\n')
			break;
		if (buf != NULL && len + 1 < size)
			buf[len] = c;
		len++;
	}
	if (buf != NULL)
		buf[len < size ? len : size - 1] = '\0';
	return (long)len;
}

/* Allocates, touches and frees about 1 MiB in blocks of 16 KiB: past the
 * agent's slow-path tick, so an agent that would act there does. */
static inline void prog_churn(void)
{
	void *b[64];

	for (int i = 0; i < 64; i++) {
		b[i] = malloc(16384);
		if (b[i] != NULL)
			memset(b[i], i, 16384);
	}
	for (int i = 0; i < 64; i++)
		free(b[i]);
}

#endif
