/* ctl_top.c: `memprobectl top PID`, the sampled call sites that hold (or allocated) the most of a process's heap. */
#include "ctl_cmd.h"
#include "ctl_http.h"
#include "ctl_sites.h"
#include "ctl_term.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SITES_DEFAULT 20
#define SITES_MAX     1000
#define ERR_LEN       768

const char ctl_help_top[] =
    "usage: memprobectl top PID [--alloc] [-n N] [--bytes] [--json] [--url URL]\n"
    "\n"
    "The call sites of process PID that hold the most heap now, from the\n"
    "allocations its agent sampled (one per MEMPROBE_PROFILE_RATE bytes on\n"
    "average, 512 KiB by default). First a summary: the process, its samples,\n"
    "the rate, and the estimated totals. Then one line per site, largest first:\n"
    "  FUNCTION       the function that called the allocator; in Python code\n"
    "                 the innermost Python function, marked [py] (the native\n"
    "                 frames below it are the interpreter's); a site memprobed\n"
    "                 could not symbolize shows its address and the file name\n"
    "                 of its mapping, \"[other]\" the samples beyond the agent's\n"
    "                 table of stacks\n"
    "  FILE:LINE      where in the source, when the binary has debug info; for\n"
    "                 a Python function the line it was running\n"
    "  IN USE         estimated bytes its blocks still hold (ALLOCATED with --alloc)\n"
    "  OBJECTS        and how many blocks\n"
    "  SHARE          its part of the process's total\n"
    "The figures are estimates: their relative error is about 1/sqrt(bytes /\n"
    "rate), so 5% for a site of 400 times the rate. On a terminal, long names\n"
    "and paths are cut to fit its width.\n"
    "\n"
    "Options:\n"
    "  --alloc        order by bytes allocated since the start, freed or not\n"
    "  -n, --sites N  show N sites (1 to 1000, default 20)\n"
    "  --bytes        sizes as byte counts\n"
    "  --json         the daemon's /api/v1/processes/PID/sites, pretty-printed\n"
    "  --url URL      memprobed's HTTP address\n"
    "\n"
    "Exits 1 when memprobed has no profile for PID (no such process, or one\n"
    "whose agent does not sample: MEMPROBE_PROFILE_RATE=0, or an older agent).\n";

enum { OPT_SITES = 'n', OPT_ALLOC = CTL_OPT_OWN };

/* -n's value into *N. Returns 0, or -1 after a line on stderr. */
static int
parse_sites(const char *s, size_t *n)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 1 || v > SITES_MAX) {
		ctl_errx("top: -n '%s': expected a number of sites from 1 to %d", s, SITES_MAX);
		return -1;
	}
	*n = (size_t)v;
	return 0;
}

/*
 * Asks the daemon for PID's top N sites in ORDER into *ROOT (a new
 * reference). Returns an exit code, after a line on stderr if not 0.
 */
static int
fetch_sites(const struct ctl_opts *o, long pid, size_t n, const char *order, json_t **root)
{
	struct ctl_http_reply reply = { 0 };
	char path[96], err[ERR_LEN], why[256];
	const char *msg;
	int rc;

	snprintf(path, sizeof(path), "/api/v1/processes/%ld/sites?top=%zu&order=%s", pid, n,
	    order);
	rc = ctl_api_request(o, path, "application/json", &reply, err, sizeof(err));
	if (rc == CTL_EXIT_OK)
		rc = ctl_api_parse(o, path, &reply, root, err, sizeof(err));
	if (rc == CTL_EXIT_NOTFOUND) {
		msg = ctl_api_reply_error(&reply, why, sizeof(why));
		snprintf(err, sizeof(err), "top: no profile for %ld: %s", pid,
		    msg != NULL ? msg : "memprobed has none (HTTP 404)");
	}
	if (rc != CTL_EXIT_OK)
		ctl_errx("%s", err);
	ctl_http_reply_free(&reply);
	return rc;
}

int
ctl_cmd_top(int argc, char **argv, struct ctl_opts *o)
{
	static const struct option own[] = {
		{ "alloc", no_argument, NULL, OPT_ALLOC },
		{ "sites", required_argument, NULL, OPT_SITES },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl_getopt g = { .cmd = "top", .own = own };
	struct ctl_sites_view view = { .limit = SITES_DEFAULT };
	const char *pidarg = NULL, *v;
	json_t *root = NULL;
	long pid;
	int r, rc, rows, cols;

	while ((r = ctl_getopt(&g, o, argc, argv, &v, &rc)) != CTL_OPT_END) {
		if (r == CTL_OPT_EXIT)
			return rc;
		if (r == OPT_ALLOC)
			view.alloc = true;
		else if (r == OPT_SITES && parse_sites(v, &view.limit) < 0)
			return CTL_EXIT_USAGE;
		else if (r == CTL_OPT_ARG && (rc = ctl_pid_arg("top", v, &pidarg)) != CTL_EXIT_OK)
			return rc;
	}
	rc = ctl_pid_rest("top", argc, argv, &pidarg, &pid);
	if (rc != CTL_EXIT_OK)
		return rc;

	rc = fetch_sites(o, pid, view.limit, view.alloc ? "alloc" : "inuse", &root);
	if (rc != CTL_EXIT_OK)
		return rc;
	if (o->json) {
		rc = ctl_print_json(root);
		goto out;
	}
	view.bytes = o->bytes;
	if (isatty(STDOUT_FILENO)) {
		ctl_term_size(&rows, &cols);
		view.width = (size_t)cols;
	}
	rc = ctl_view_failed(o, ctl_view_sites(stdout, root, &view), "sites");
out:
	json_decref(root);
	return rc;
}
