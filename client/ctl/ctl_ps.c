/* ctl_ps.c: `memprobectl ps`, one line per tracked process. */
#include "ctl_cmd.h"
#include "ctl_view.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

const char ctl_help_ps[] =
    "usage: memprobectl ps [--sort KEY] [--bytes] [--json] [--url URL]\n"
    "\n"
    "One line per process memprobed tracks, largest live heap first:\n"
    "  PID, COMM      the process and its command name\n"
    "  STATE          live, or exited (kept with its last figures for a while)\n"
    "  HEAP, BLOCKS   live heap: bytes and blocks allocated and not yet freed\n"
    "  PEAK           the highest live heap so far\n"
    "  STACK          the deepest stack use of any thread\n"
    "  LIMIT, STACK%  the main thread's stack limit (RLIMIT_STACK), and STACK of it\n"
    "  RSS            resident memory, from /proc/PID/status (VmRSS)\n"
    "  THREADS        threads the agent knows of\n"
    "A figure not reported yet is shown as \"-\".\n"
    "\n"
    "Options:\n"
    "  --sort KEY     " CTL_SORT_KEYS "; sizes and counts largest\n"
    "                 first, pid and comm ascending (default: heap)\n"
    "  --bytes        sizes as byte counts\n"
    "  --json         the daemon's /api/v1/processes, pretty-printed, as it is\n"
    "  --url URL      memprobed's HTTP address\n";

enum { OPT_SORT = CTL_OPT_OWN };

int
ctl_cmd_ps(int argc, char **argv, struct ctl_opts *o)
{
	static const struct option own[] = {
		{ "sort", required_argument, NULL, OPT_SORT },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl_getopt g = { .cmd = "ps", .own = own };
	enum ctl_sort sort = CTL_SORT_HEAP;
	const char *key = NULL, *v;
	json_t *root = NULL;
	int r, rc;

	while ((r = ctl_getopt(&g, o, argc, argv, &v, &rc)) != CTL_OPT_END) {
		if (r == CTL_OPT_EXIT)
			return rc;
		if (r != OPT_SORT)
			return ctl_bad_arg("ps", v);
		key = v;
	}
	if (optind < argc)
		return ctl_bad_arg("ps", argv[optind]);
	if (key != NULL && ctl_sort_parse(key, &sort) < 0) {
		ctl_errx("ps: unknown sort key '%s' (" CTL_SORT_KEYS ")", key);
		return CTL_EXIT_USAGE;
	}

	rc = ctl_api_get(o, "/api/v1/processes", &root);
	if (rc != CTL_EXIT_OK)
		return rc;
	/* --json shows the API as it is: unsorted, unconverted. */
	if (o->json) {
		rc = ctl_print_json(root);
		goto out;
	}
	rc = ctl_view_failed(o, ctl_view_ps(stdout, root, sort, o->bytes), "processes");
out:
	json_decref(root);
	return rc;
}
