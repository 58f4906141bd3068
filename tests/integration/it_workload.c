/* it_workload.c: programs run with the agent preloaded, and without it to compare. */
#include "it_workload.h"
#include "it_base.h"
#include "it_file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void it_agent_env(char *env[], char *storage, const char *sock)
{
	char *s = storage;

	env[0] = s;
	s += sprintf(s, "LD_PRELOAD=%s", itest.agent) + 1;
	env[1] = s;
	s += sprintf(s, "MEMPROBE_SOCKET=%s", sock) + 1;
	env[2] = s;
	sprintf(s, "MEMPROBE_INTERVAL_MS=100");
	env[3] = NULL;
}

long it_hold_start(struct it_proc *p, const char *sock, int nblocks, int size,
    const char *stderr_path)
{
	char nb[16], sz[16], line[128], storage[2 * PATH_MAX + 64];
	char *argv[] = { itest.alloc_hold, nb, sz, NULL };
	char *env[4] = { NULL };
	char *end;
	long pid;
	int rc;

	snprintf(nb, sizeof(nb), "%d", nblocks);
	snprintf(sz, sizeof(sz), "%d", size);
	if (sock != NULL)
		it_agent_env(env, storage, sock);
	rc = it_proc_start(p, argv, env, stderr_path);
	if (rc < 0) {
		fprintf(stderr, "integration: start alloc_hold: %s\n", strerror(-rc));
		return rc;
	}
	rc = it_proc_readline(p, line, sizeof(line), IT_TIMEOUT_MS);
	if (rc < 0) {
		fprintf(stderr, "integration: alloc_hold said no \"ready\" line: %s\n",
		    strerror(-rc));
		return rc;
	}
	if (strncmp(line, "ready ", 6) != 0 || (pid = strtol(line + 6, &end, 10)) <= 0 ||
	    *end != '\0') {
		fprintf(stderr, "integration: alloc_hold said \"%s\", not \"ready PID\"\n", line);
		return -EPROTO;
	}
	return pid;
}

void it_outcome_free(struct it_outcome *o)
{
	free(o->out);
	o->out = NULL;
}

void it_run_workload(char *const argv[], const char *dir, const char *sock,
    const char *extra, const char *errpath, struct it_outcome *o)
{
	char storage[2 * PATH_MAX + 64], cwd[PATH_MAX], more[PATH_MAX + 16];
	char *env[6] = { NULL };
	struct it_proc p;
	int n = 0, moved = 0;

	memset(o, 0, sizeof(*o));
	o->status = -1;
	o->out = calloc(1, IT_OUT_MAX);
	if (o->out == NULL)
		return;
	if (sock != NULL) {
		it_agent_env(env, storage, sock);
		n = 3;
	}
	if (extra != NULL) {
		snprintf(more, sizeof(more), "%s", extra);
		env[n++] = more;
	}
	env[n] = NULL;
	/* it_proc_start runs the child in our directory; move there and back. */
	if (dir != NULL) {
		if (getcwd(cwd, sizeof(cwd)) == NULL || chdir(dir) < 0)
			return;
		moved = 1;
	}
	n = it_proc_start(&p, argv, env, errpath);
	if (moved && chdir(cwd) < 0)
		fprintf(stderr, "  chdir back to %s: %s\n", cwd, strerror(errno));
	if (n < 0) {
		fprintf(stderr, "  start %s: %s\n", argv[0], strerror(-n));
		return;
	}
	o->pid = p.pid;
	it_proc_close_stdin(&p);
	o->len = it_proc_read_all(&p, o->out, IT_OUT_MAX, IT_RUN_TIMEOUT_MS);
	if (o->len < 0) {
		fprintf(stderr, "  %s (agent %s): output did not end\n", argv[0],
		    sock ? "on" : "off");
		it_proc_kill(&p);
		return;
	}
	if (it_proc_wait(&p, IT_RUN_TIMEOUT_MS) < 0) {
		fprintf(stderr, "  %s (agent %s): did not exit\n", argv[0], sock ? "on" : "off");
		it_proc_kill(&p);
		return;
	}
	o->status = p.status;
	it_slurp(errpath, o->err, sizeof(o->err));
	it_proc_kill(&p);
}

void it_show_diff(const char *what, const char *a, const char *b)
{
	size_t i = 0;

	while (a[i] != '\0' && a[i] == b[i])
		i++;
	fprintf(stderr,
	    "  %s differs at byte %zu:\n    without: \"%.120s\"\n    with:    \"%.120s\"\n",
	    what, i, a + (i > 40 ? i - 40 : 0), b + (i > 40 ? i - 40 : 0));
}

int it_compare(const char *name, const struct it_outcome *plain, const struct it_outcome *with)
{
	int differ = 0;

	if (plain->status == -1 || with->status == -1) {
		fprintf(stderr, "  %s: did not finish (without: %d, with: %d)\n", name,
		    plain->status, with->status);
		return 1;
	}
	if (plain->len != with->len || memcmp(plain->out, with->out, (size_t)plain->len) != 0) {
		it_show_diff("stdout", plain->out, with->out);
		differ++;
	}
	if (strcmp(plain->err, with->err) != 0) {
		it_show_diff("stderr", plain->err, with->err);
		differ++;
	}
	if (plain->status != with->status) {
		fprintf(stderr, "  %s: wait status 0x%x without the agent, 0x%x with\n", name,
		    plain->status, with->status);
		differ++;
	}
	return differ;
}

int it_run_both(const struct it_daemon *d, char *const argv[], const char *dir,
    const char *extra, struct it_outcome *plain, struct it_outcome *with)
{
	char errpath[PATH_MAX];

	snprintf(errpath, sizeof(errpath), "%s/plain.stderr", d->dir);
	it_run_workload(argv, dir, NULL, extra, errpath, plain);
	snprintf(errpath, sizeof(errpath), "%s/agent.stderr", d->dir);
	it_run_workload(argv, dir, d->sock, extra, errpath, with);
	return it_compare(argv[0], plain, with);
}
