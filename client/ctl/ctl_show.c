/* ctl_show.c: `memprobectl show PID`, one process in full. */
#include "ctl_cmd.h"
#include "ctl_view.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

const char ctl_help_show[] =
    "usage: memprobectl show PID [--bytes] [--json] [--url URL]\n"
    "\n"
    "Everything memprobed has for one process: who it is; its heap (live bytes\n"
    "and blocks, peak, allocations, frees, failures, anonymous mappings); its\n"
    "stack (the deepest thread's peak, the main thread's peak, the limit); the\n"
    "/proc figures (resident, resident peak, stack mapping, data, threads);\n"
    "the Python interpreter's figures and gc counts when the Python agent runs\n"
    "in it; the program's own gauges; and its allocation sizes as a bar chart.\n"
    "\n"
    "Per-thread stack peaks are not part of what the agent sends: the stack\n"
    "figures are the deepest of all threads and the main thread's.\n"
    "\n"
    "Options:\n"
    "  --bytes        sizes as byte counts\n"
    "  --json         the daemon's /api/v1/processes/PID, pretty-printed\n"
    "  --url URL      memprobed's HTTP address\n"
    "\n"
    "Exits 1 when memprobed tracks no process PID.\n";

int
ctl_cmd_show(int argc, char **argv, struct ctl_opts *o)
{
	struct ctl_getopt g = { .cmd = "show" };
	const char *pidarg = NULL, *v;
	json_t *root = NULL;
	char path[64], err[512];
	long pid;
	int r, rc;

	while ((r = ctl_getopt(&g, o, argc, argv, &v, &rc)) != CTL_OPT_END) {
		if (r == CTL_OPT_EXIT)
			return rc;
		if ((rc = ctl_pid_arg("show", v, &pidarg)) != CTL_EXIT_OK)
			return rc;
	}
	rc = ctl_pid_rest("show", argc, argv, &pidarg, &pid);
	if (rc != CTL_EXIT_OK)
		return rc;

	snprintf(path, sizeof(path), "/api/v1/processes/%ld", pid);
	rc = ctl_api_fetch(o, path, &root, err, sizeof(err));
	if (rc == CTL_EXIT_NOTFOUND) {
		ctl_errx("show: memprobed at %s tracks no process %ld", o->url, pid);
		return rc;
	}
	if (rc != CTL_EXIT_OK) {
		ctl_errx("%s", err);
		return rc;
	}
	if (o->json)
		rc = ctl_print_json(root);
	else
		/* A write error is reported once, by main, when it flushes stdout. */
		ctl_view_process(stdout, root, o->bytes);
	json_decref(root);
	return rc;
}
