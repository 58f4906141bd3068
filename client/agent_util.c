/* agent_util.c: the agent's diagnostics, written with write(2) so they never allocate. */
#include "agent.h"

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
