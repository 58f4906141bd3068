/* it_daemon.c: memprobed under test, on a temporary socket and a free port. */
#include "it_daemon.h"
#include "it_base.h"
#include "it_file.h"
#include "it_http.h"
#include "it_sock.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define EXTRA_MAX 48            /* memprobed arguments a test may add */

/* Whether d's daemon answers /healthz with its agent socket there, or has
 * exited (the caller looks at d->proc.pid). */
static int daemon_up(void *arg)
{
	struct it_daemon *d = arg;
	struct it_http r;
	struct stat st;
	int ok;

	if (it_proc_wait(&d->proc, 0) == 0 && d->proc.pid == 0)
		return 1;       /* exited: stop waiting, the caller looks */
	if (stat(d->sock, &st) < 0 || !S_ISSOCK(st.st_mode))
		return 0;
	ok = it_get(d->url, "/healthz", &r) == 0 && r.status == 200;
	it_http_free(&r);
	return ok;
}

/*
 * Starts memprobed on d's socket, port and log, with extra (NULL: none)
 * after the usual arguments, and waits until it answers. Returns 0, -ECHILD
 * when it exited first (its status in d->proc.status), -ETIMEDOUT when it
 * neither answered nor exited (it still runs), or -errno of starting it.
 */
static int daemon_spawn(struct it_daemon *d, int exited_ttl, char *const extra[])
{
	char listen[64], ttl[32];
	char *argv[10 + EXTRA_MAX] = {
		itest.memprobed,
		"--agent-socket", d->sock,
		"--web.listen-address", listen,
		"--exited-ttl", ttl,
		"--log-level", "debug",
	};
	size_t na = 9;
	int rc;

	for (size_t k = 0; extra != NULL && extra[k] != NULL && k < EXTRA_MAX; k++)
		argv[na++] = extra[k];
	argv[na] = NULL;
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", d->port);
	snprintf(ttl, sizeof(ttl), "%d", exited_ttl);
	rc = it_proc_start(&d->proc, argv, NULL, d->log);
	if (rc < 0)
		return rc;
	if (!it_wait_until(daemon_up, d, IT_START_TIMEOUT_MS))
		return -ETIMEDOUT;
	return d->proc.pid != 0 ? 0 : -ECHILD;
}

int it_daemon_start(struct it_daemon *d, int exited_ttl)
{
	return it_daemon_start_args(d, exited_ttl, NULL);
}

int it_daemon_start_args(struct it_daemon *d, int exited_ttl, char *const extra[])
{
	int rc;

	memset(d, 0, sizeof(*d));
	d->proc.in_fd = d->proc.out_fd = -1;
	rc = it_tmpdir(d->dir, sizeof(d->dir));
	if (rc < 0) {
		fprintf(stderr, "integration: mkdtemp: %s\n", strerror(-rc));
		return rc;
	}
	snprintf(d->sock, sizeof(d->sock), "%s/agent.sock", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/memprobed.log", d->dir);

	/* A free port can be taken between our probe and the daemon's bind:
	 * then the daemon exits, and we try another. */
	for (int attempt = 0; attempt < 5; attempt++) {
		d->port = it_free_port();
		if (d->port < 0) {
			fprintf(stderr, "integration: no free port: %s\n", strerror(-d->port));
			return d->port;
		}
		snprintf(d->url, sizeof(d->url), "http://127.0.0.1:%d", d->port);
		rc = daemon_spawn(d, exited_ttl, extra);
		if (rc == 0)
			return 0;
		if (rc == -ETIMEDOUT) {
			fprintf(stderr, "integration: memprobed did not answer %s/healthz "
			    "or create %s within %d ms\n", d->url, d->sock, IT_START_TIMEOUT_MS);
			it_daemon_dump_log(d);
			it_proc_kill(&d->proc);
			return rc;
		}
		if (rc != -ECHILD) {
			fprintf(stderr, "integration: start %s: %s\n", itest.memprobed,
			    strerror(-rc));
			return rc;
		}
		fprintf(stderr, "integration: memprobed exited at start (status 0x%x) on port %d; "
		    "retrying\n", d->proc.status, d->port);
		it_daemon_dump_log(d);
		it_proc_kill(&d->proc);
	}
	return -EADDRINUSE;
}

int it_daemon_restart(struct it_daemon *d, int exited_ttl)
{
	int rc = daemon_spawn(d, exited_ttl, NULL);

	if (rc == -ETIMEDOUT || rc == -ECHILD) {
		fprintf(stderr, "integration: memprobed did not come back on %s and %s\n", d->url,
		    d->sock);
		it_daemon_dump_log(d);
	}
	return rc == 0 ? 0 : -1;
}

void it_daemon_dump_log(const struct it_daemon *d)
{
	char line[1024];
	long size;
	FILE *f;

	if (d->log[0] == '\0' || (f = fopen(d->log, "r")) == NULL)
		return;
	/* The end of a long debug log is what tells why. */
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fprintf(stderr, "---- %s%s ----\n", d->log, size > 32768 ? " (its last 32 KiB)" : "");
	if (size > 32768) {
		fseek(f, size - 32768, SEEK_SET);
		if (fgets(line, sizeof(line), f) == NULL)   /* skip a partial line */
			line[0] = '\0';
	} else {
		fseek(f, 0, SEEK_SET);
	}
	while (fgets(line, sizeof(line), f) != NULL)
		fputs(line, stderr);
	fprintf(stderr, "---- end of log ----\n");
	fclose(f);
}

/* it_daemon_stop(); the log is printed on a failure unless dumped says it
 * was already. */
static int daemon_stop(struct it_daemon *d, int dumped)
{
	int rc = 0;

	if (d->proc.pid > 0) {
		if (it_proc_stop(&d->proc, SIGTERM, IT_TIMEOUT_MS) < 0) {
			fprintf(stderr, "integration: memprobed ignored SIGTERM; killing it\n");
			rc = -1;
		} else if (!WIFEXITED(d->proc.status) || WEXITSTATUS(d->proc.status) != 0) {
			fprintf(stderr, "integration: memprobed stopped with wait status 0x%x\n",
			    d->proc.status);
			rc = -1;
		}
		if (rc < 0 && !dumped)
			it_daemon_dump_log(d);
	}
	it_proc_kill(&d->proc);
	it_rmtree(d->dir);
	d->dir[0] = '\0';
	return rc;
}

int it_daemon_stop(struct it_daemon *d)
{
	return daemon_stop(d, 0);
}

int it_daemon_finish(struct it_daemon *d, int failed)
{
	if (failed)
		it_daemon_dump_log(d);
	return daemon_stop(d, failed);
}

int it_daemon_run_once(char *const args[], const char *dir, char *err, size_t size)
{
	char *argv[16], errpath[PATH_MAX];
	struct it_proc p;
	size_t n = 0;
	int status = -1;

	argv[n++] = itest.memprobed;
	for (size_t i = 0; args[i] != NULL && n < 15; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	snprintf(errpath, sizeof(errpath), "%s/stderr", dir);
	if (it_proc_start(&p, argv, NULL, errpath) == 0 && it_proc_wait(&p, IT_TIMEOUT_MS) == 0)
		status = p.status;
	it_proc_kill(&p);
	it_slurp(errpath, err, size);
	return status;
}
