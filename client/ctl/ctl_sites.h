/* ctl_sites.h: memprobectl's view of a process's sampled call sites: the summary and the table of `memprobectl top`. */
#ifndef MEMPROBE_CTL_SITES_H
#define MEMPROBE_CTL_SITES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* How the table is drawn. */
struct ctl_sites_view {
	bool alloc;             /* allocated since the start, not in use now */
	bool bytes;             /* sizes as byte counts */
	size_t limit;           /* rows at most; 0: every site the answer has */
	size_t width;           /* columns to fit each line in (a terminal's
				 * width); 0: no limit */
};

/*
 * Prints ROOT, the body of /api/v1/processes/{pid}/sites, to F: two
 * summary lines (the process, its samples, how many of them in Python
 * code when any, and the sampling rate; the estimated totals), a line for
 * samples folded into [other], for those whose stack could not be
 * unwound, and for Python functions the agent had no room for, when there
 * are any, a blank line, then one row per site in the daemon's order:
 * FUNCTION, FILE:LINE, IN USE (or ALLOCATED) and OBJECTS, and SHARE, the
 * daemon's share of the total as a percentage. A site the daemon named
 * by a Python function (its "python" is set) reads "name [py]"; one it
 * could not symbolize is named by its address and its mapping's file
 * name ("0x55d0c0de1234 (prog)"). Text from the daemon passes through
 * ctl_fmt_text(). With a width, the FUNCTION column (cut at its end,
 * before a [py] tag, which stays) and the FILE:LINE column (cut at its
 * start, keeping the line) give up what the table needs to fit it.
 *
 * Returns 0, -EPROTO when ROOT has no "sites" array, -ENOMEM, or -EIO
 * when F reports an error.
 */
int ctl_view_sites(FILE *f, const json_t *root, const struct ctl_sites_view *v);

#endif
