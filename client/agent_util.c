/* agent_util.c: the agent's diagnostics, written with write(2) so they never allocate. */
#include "agent.h"

#include <errno.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

int agent_debug_on;

void agent_warn(const char *msg)
{
	struct iovec iov[3] = {
		{ (void *)"memprobe: ", 10 },
		{ (void *)(uintptr_t)msg, strlen(msg) },
		{ (void *)"\n", 1 },
	};
	ssize_t n = writev(STDERR_FILENO, iov, 3);

	(void)n;   /* nothing to do if stderr is gone */
}

void agent_debug(const char *msg)
{
	if (agent_debug_on)
		agent_warn(msg);
}

/* Short text for the errors a registration meets; a number otherwise. */
static const char *errno_text(int err, char *buf, size_t size)
{
	static const struct {
		int err;
		const char *text;
	} known[] = {
		{ ENOENT, "No such file or directory (is memprobed running?)" },
		{ ECONNREFUSED, "Connection refused (no memprobed listening)" },
		{ EACCES, "Permission denied (see agent_socket_group)" },
		{ EPERM, "Operation not permitted" },
		{ EAGAIN, "Resource temporarily unavailable (memprobed is behind)" },
		{ ENOTSOCK, "Socket operation on non-socket" },
		{ ENOTDIR, "Not a directory" },
		{ ENAMETOOLONG, "File name too long" },
		{ EMFILE, "Too many open files" },
		{ ENFILE, "Too many open files in system" },
		{ ENOMEM, "Cannot allocate memory" },
		{ ENOSYS, "Function not implemented (kernel too old?)" },
		{ EPROTOTYPE, "Protocol wrong type for socket (not a memprobed socket)" },
		{ EPIPE, "Broken pipe" },
		{ ECONNRESET, "Connection reset by peer" },
	};
	size_t i = size - 1;
	unsigned v = (unsigned)err;

	for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++)
		if (known[k].err == err)
			return known[k].text;
	buf[i] = '\0';
	do {
		buf[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0 && i > 6);
	memcpy(buf + i - 6, "errno ", 6);
	return buf + i - 6;
}

void agent_debug_err(const char *a, const char *b, int err)
{
	char num[32];
	const char *text;

	if (!agent_debug_on)
		return;
	text = errno_text(err, num, sizeof(num));
	{
		struct iovec iov[7] = {
			{ (void *)"memprobe: ", 10 },
			{ (void *)(uintptr_t)a, strlen(a) },
			{ (void *)" ", 1 },
			{ (void *)(uintptr_t)b, strlen(b) },
			{ (void *)": ", 2 },
			{ (void *)(uintptr_t)text, strlen(text) },
			{ (void *)"\n", 1 },
		};
		ssize_t n = writev(STDERR_FILENO, iov, 7);

		(void)n;
	}
}
