/* it_prof.h: programs under test that say what their call sites hold, and reading their heap profiles back (/sites, /profile, go tool pprof). */
#ifndef MEMPROBE_IT_PROF_H
#define MEMPROBE_IT_PROF_H

#include <jansson.h>
#include <limits.h>

#include "it_daemon.h"
#include "it_proc.h"

/*
 * A profiled program prints "site NAME ..." lines with the exact usable
 * bytes its sites hold (what the profile estimates), then "ready PID",
 * and runs until its input ends. C programs say "site NAME inuse BYTES
 * OBJECTS [alloc BYTES OBJECTS]"; a line of another form is kept whole in
 * `raw` for its test to read. Estimates are checked against them with
 * bounds of about 3.5 standard errors: at rate R a site of B bytes in
 * small blocks gets about B / R samples, so its estimate's relative error
 * is about 1 / sqrt(B / R).
 */

#define IT_PROG_SITES 8

struct it_site_fig {
	char name[64];
	double inuse, alloc;            /* alloc -1 when not said */
	char raw[256];                  /* the whole line */
};

/* A program under test and what it said. */
struct it_prog {
	struct it_proc p;
	long pid, child;                /* child: "child PID", when it forks */
	int nsites;
	struct it_site_fig sites[IT_PROG_SITES];
	char errpath[PATH_MAX];
};

/* Starts argv (NULL-terminated) with the agent reporting to d at profile
 * rate `rate` (and extra_env, "NAME=VALUE", if not NULL) and reads its
 * site lines up to "ready PID". Returns 0, or -1 having said why. */
int it_prog_start(struct it_prog *r, const struct it_daemon *d, char *const argv[],
    const char *rate, const char *extra_env);
/* What the program said site `name` holds in use (alloc: allocated); -1
 * when it named no such site. */
double it_site_fig(const struct it_prog *r, const char *name, int alloc);
/* Ends the program (end of input) and waits for it. */
void it_prog_end(struct it_prog *r);

/* GET /api/v1/processes/PID/sites?QUERY; the parsed body (caller
 * json_decref()s) or NULL; *status the HTTP status. */
json_t *it_get_sites(const struct it_daemon *d, long pid, const char *query, long *status);
/* |est / want - 1| <= tol, said on stderr either way. */
int it_within(const char *what, double est, double want, double tol);
/* Fetches /profile of pid into the daemon's dir (file: its path, size
 * bytes); returns 0 or -1 having said why. */
int it_fetch_profile(const struct it_daemon *d, long pid, char *file, size_t size);
/* Runs `go tool pprof -top -unit=B -sample_index=INDEX FILE` and returns
 * function fn's flat figure (cum: its cumulative one), or -1. */
double it_pprof_figure(const char *file, const char *index, const char *fn, int cum);

#endif
