/* agent_util.c: the agent's diagnostics, written with write(2) so they never allocate. */
#include "agent.h"

#include <errno.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

int agent_debug_on;

/* The errors a connect(2) to a Unix socket gives, with glibc's strerror()
 * text (strerror itself may allocate, for its locale). */
static const struct {
	int err;
	const char *text;
} err_text[] = {
	{ ENOENT, "ENOENT (No such file or directory)" },
	{ EACCES, "EACCES (Permission denied)" },
	{ EPERM, "EPERM (Operation not permitted)" },
	{ ECONNREFUSED, "ECONNREFUSED (Connection refused)" },
	{ ENOTDIR, "ENOTDIR (Not a directory)" },
	{ ENAMETOOLONG, "ENAMETOOLONG (File name too long)" },
	{ ELOOP, "ELOOP (Too many levels of symbolic links)" },
	{ EPROTOTYPE, "EPROTOTYPE (Protocol wrong type for socket)" },
	{ ENOTSOCK, "ENOTSOCK (Socket operation on non-socket)" },
	{ EAGAIN, "EAGAIN (Resource temporarily unavailable)" },
	{ EMFILE, "EMFILE (Too many open files)" },
	{ ENFILE, "ENFILE (Too many open files in system)" },
	{ ENOMEM, "ENOMEM (Cannot allocate memory)" },
	{ ENOBUFS, "ENOBUFS (No buffer space available)" },
	{ EAFNOSUPPORT, "EAFNOSUPPORT (Address family not supported by protocol)" },
	{ EINTR, "EINTR (Interrupted system call)" },
};

/* Writes "memprobe: " and the n parts, then a newline, to stderr. */
static void say(const char *const parts[], int n)
{
	struct iovec iov[8];
	int k = 0;
	ssize_t r;

	iov[k++] = (struct iovec){ (void *)"memprobe: ", 10 };
	for (int i = 0; i < n && k < 7; i++)
		iov[k++] = (struct iovec){ (void *)(uintptr_t)parts[i], strlen(parts[i]) };
	iov[k++] = (struct iovec){ (void *)"\n", 1 };
	r = writev(STDERR_FILENO, iov, k);
	(void)r;   /* nothing to do if stderr is gone */
}

void agent_warn(const char *msg)
{
	const char *parts[] = { msg };

	say(parts, 1);
}

void agent_debug(const char *msg)
{
	if (agent_debug_on)
		agent_warn(msg);
}

const char *agent_err_text(int err, char *buf, size_t size)
{
	static const char pre[] = "errno ";
	char d[12];
	size_t i = sizeof(d), n;
	unsigned v = err < 0 ? 0u - (unsigned)err : (unsigned)err;

	for (size_t e = 0; e < sizeof(err_text) / sizeof(err_text[0]); e++)
		if (err_text[e].err == err)
			return err_text[e].text;
	do
		d[--i] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	if (err < 0)
		d[--i] = '-';
	n = sizeof(d) - i;
	if (size < sizeof(pre) + n)
		return "errno ?";
	memcpy(buf, pre, sizeof(pre) - 1);
	memcpy(buf + sizeof(pre) - 1, d + i, n);
	buf[sizeof(pre) - 1 + n] = '\0';
	return buf;
}

void agent_debug_path(const char *msg, const char *path, int err, const char *tail)
{
	char num[AGENT_ERR_TEXT_LEN];
	const char *parts[] = { msg, path, ": ", agent_err_text(err, num, sizeof(num)), tail };

	if (agent_debug_on)
		say(parts, 5);
}
