/* it_prof.c: programs under test that say what their call sites hold, and reading their heap profiles back. */
#include "it_prof.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "it_base.h"
#include "it_http.h"
#include "it_workload.h"

/* One "site NAME ..." line: the C form's figures, or just its name. */
static void site_line(struct it_site_fig *s, const char *line)
{
	double ib = 0, io = 0, ab = -1, ao = 0;

	snprintf(s->raw, sizeof(s->raw), "%s", line);
	s->inuse = -1;
	s->alloc = -1;
	if (sscanf(line, "site %63s inuse %lf %lf alloc %lf %lf", s->name, &ib, &io, &ab, &ao) >= 3) {
		s->inuse = ib;
		s->alloc = ab;
	}
}

int it_prog_start(struct it_prog *r, const struct it_daemon *d, char *const argv[],
    const char *rate, const char *extra_env)
{
	char storage[2 * PATH_MAX + 64], rate_env[64], line[256];
	char *env[6] = { NULL };
	int n, k;

	memset(r, 0, sizeof(*r));
	r->p.in_fd = r->p.out_fd = -1;
	snprintf(r->errpath, sizeof(r->errpath), "%s/prog.stderr", d->dir);
	it_agent_env(env, storage, d->sock);
	for (k = 0; env[k] != NULL; k++)
		;
	snprintf(rate_env, sizeof(rate_env), "MEMPROBE_PROFILE_RATE=%s", rate);
	env[k++] = rate_env;
	if (extra_env != NULL)
		env[k++] = (char *)(uintptr_t)extra_env;
	if (it_proc_start(&r->p, argv, env, r->errpath) < 0) {
		fprintf(stderr, "  cannot start %s\n", argv[0]);
		return -1;
	}
	for (;;) {
		n = it_proc_readline(&r->p, line, sizeof(line), IT_TIMEOUT_MS);
		if (n < 0) {
			fprintf(stderr, "  %s: no \"ready\" line: %s\n", argv[0], strerror(-n));
			return -1;
		}
		if (strncmp(line, "ready ", 6) == 0) {
			r->pid = strtol(line + 6, NULL, 10);
			return 0;
		}
		if (strncmp(line, "child ", 6) == 0)
			r->child = strtol(line + 6, NULL, 10);
		if (strncmp(line, "site ", 5) == 0 && r->nsites < IT_PROG_SITES)
			site_line(&r->sites[r->nsites++], line);
	}
}

double it_site_fig(const struct it_prog *r, const char *name, int alloc)
{
	for (int i = 0; i < r->nsites; i++)
		if (strcmp(r->sites[i].name, name) == 0)
			return alloc ? r->sites[i].alloc : r->sites[i].inuse;
	return -1;
}

void it_prog_end(struct it_prog *r)
{
	it_proc_close_stdin(&r->p);
	if (it_proc_wait(&r->p, IT_TIMEOUT_MS) < 0)
		it_proc_kill(&r->p);
}

json_t *it_get_sites(const struct it_daemon *d, long pid, const char *query, long *status)
{
	char path[256];
	struct it_http h = { 0 };
	json_t *j = NULL;

	snprintf(path, sizeof(path), "/api/v1/processes/%ld/sites?%s", pid, query);
	*status = 0;
	if (it_get(d->url, path, &h) == 0) {
		*status = h.status;
		if (h.status == 200)
			j = json_loads(h.body, 0, NULL);
	}
	it_http_free(&h);
	return j;
}

int it_within(const char *what, double est, double want, double tol)
{
	double err = want > 0 ? est / want - 1 : INFINITY;

	fprintf(stderr, "  # %s: estimate %.0f, exact %.0f (%+.1f%%)\n", what, est, want, 100 * err);
	return fabs(err) <= tol;
}

double it_pprof_figure(const char *file, const char *index, const char *fn, int cum)
{
	char cmd[PATH_MAX + 256], out[65536];
	const char *line;

	/* -cum: sorted by the cumulative figure, so that a function that
	 * allocates nothing itself is near the top, not cut off */
	snprintf(cmd, sizeof(cmd), "go tool pprof -top%s -unit=B -sample_index=%s %s 2>&1",
	    cum ? " -cum" : "", index, file);
	if (it_shell(cmd, out, sizeof(out)) != 0) {
		fprintf(stderr, "  go tool pprof failed:\n%s\n", out);
		return -1;
	}
	/* flat flat% sum% cum cum% name: flat and cum in bytes ("123B", or
	 * "0" for none) */
	for (line = out; line != NULL && *line != '\0'; line = strchr(line, '\n')) {
		char flat[32], total[32], name[128];

		while (*line == '\n')
			line++;
		if (sscanf(line, " %31s %*s %*s %31s %*s %127s", flat, total, name) == 3 &&
		    strcmp(name, fn) == 0 && (isdigit((unsigned char)flat[0]) &&
		    isdigit((unsigned char)total[0])))
			return strtod(cum ? total : flat, NULL);
	}
	fprintf(stderr, "  go tool pprof shows no %s:\n%s\n", fn, out);
	return -1;
}

int it_fetch_profile(const struct it_daemon *d, long pid, char *file, size_t size)
{
	char path[128];
	struct it_http h = { 0 };
	FILE *f;
	int rc = -1;

	snprintf(path, sizeof(path), "/api/v1/processes/%ld/profile", pid);
	snprintf(file, size, "%s/heap-%ld.pb.gz", d->dir, pid);
	if (it_get(d->url, path, &h) == 0 && h.status == 200 && h.len > 2 &&
	    (unsigned char)h.body[0] == 0x1f && (unsigned char)h.body[1] == 0x8b &&
	    (f = fopen(file, "wb")) != NULL) {
		rc = fwrite(h.body, 1, h.len, f) == h.len ? 0 : -1;
		if (fclose(f) != 0)
			rc = -1;
	} else {
		fprintf(stderr, "  GET %s: status %ld\n", path, h.status);
	}
	it_http_free(&h);
	return rc;
}

