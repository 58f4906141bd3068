/* ctl_watch.c: `memprobectl watch [PID]`, a refreshing view: full screen on a terminal, periodic lines elsewhere. */
#include "ctl_cmd.h"
#include "ctl_fmt.h"
#include "ctl_term.h"
#include "ctl_view.h"

#include <errno.h>
#include <langinfo.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define INTERVAL_MIN 0.1
#define INTERVAL_MAX 3600.0
#define ERR_LEN      512
#define SPARK_MAX    600    /* history points drawn at most */

const char ctl_help_watch[] =
    "usage: memprobectl watch [PID] [--interval SECONDS] [--count N] [--sort KEY]\n"
    "                         [--bytes] [--json] [--url URL]\n"
    "\n"
    "Shows the process table (or, given PID, that process in full, with its heap\n"
    "and stack over the last minutes as sparklines) and refreshes it.\n"
    "\n"
    "On a terminal it takes the whole screen (the alternate screen, as less and\n"
    "top do) and gives it back on the way out. Keys: q or Ctrl-C quit, s the next\n"
    "sort order, b byte counts on or off, space refresh now, Ctrl-Z suspend.\n"
    "\n"
    "When stdout is not a terminal it prints plain lines instead, one per process\n"
    "and refresh, each starting with the time:\n"
    "  12:00:01 4242 alloc_hold live heap 64.1 MiB peak 64.1 MiB blocks 4097 ...\n"
    "With PID, it ends (exit 1) when memprobed stops tracking the process.\n"
    "\n"
    "Options:\n"
    "  --interval S   seconds between refreshes, 0.1 to 3600 (default 1)\n"
    "  --count N      stop after N refreshes (default: until q, Ctrl-C or a signal)\n"
    "  --sort KEY     " CTL_SORT_KEYS " (default heap)\n"
    "  --bytes        sizes as byte counts\n"
    "  --json         one line of the daemon's JSON per refresh (JSON Lines),\n"
    "                 on a terminal too\n"
    "  --url URL      memprobed's HTTP address\n"
    "\n"
    "Per-thread stack peaks are not part of what the agent sends: the stack\n"
    "figures are the deepest of all threads and the main thread's.\n";

struct watch {
	struct ctl_opts *o;
	long pid;               /* 0: every process */
	enum ctl_sort sort;
	double interval;
	long count;             /* refreshes to make; 0: no end */
	int utf8;               /* the terminal takes UTF-8 */
	/* The latest answers, for redraws between refreshes; owned. */
	json_t *data;           /* /api/v1/processes or /api/v1/processes/PID */
	json_t *hist;           /* /api/v1/processes/PID/history, or NULL */
	json_t *status;         /* /api/v1/status, or NULL */
	char err[ERR_LEN];      /* why the latest refresh failed; "" when it did not */
	char when[16];          /* HH:MM:SS of the latest refresh */
};

static void
clock_text(char *buf, size_t size)
{
	time_t t = time(NULL);
	struct tm tm;

	if (localtime_r(&t, &tm) == NULL || strftime(buf, size, "%H:%M:%S", &tm) == 0)
		snprintf(buf, size, "--:--:--");
}

/* Parses a number of seconds for --interval. Returns 0 or -EINVAL. */
static int
parse_interval(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !isfinite(v) ||
	    v < INTERVAL_MIN || v > INTERVAL_MAX)
		return -EINVAL;
	*out = v;
	return 0;
}

static int
parse_count(const char *s, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 1)
		return -EINVAL;
	*out = v;
	return 0;
}

/*
 * Fetches what one refresh shows. Returns an exit code; on failure the
 * reason is in w->err and the previous answers are kept.
 */
static int
refresh(struct watch *w, bool full)
{
	char path[96];
	json_t *data = NULL;
	int rc;

	if (w->pid > 0)
		snprintf(path, sizeof(path), "/api/v1/processes/%ld", w->pid);
	else
		snprintf(path, sizeof(path), "/api/v1/processes");
	rc = ctl_api_fetch(w->o, path, &data, w->err, sizeof(w->err));
	clock_text(w->when, sizeof(w->when));
	if (rc == CTL_EXIT_NOTFOUND && w->pid > 0)
		snprintf(w->err, sizeof(w->err), "memprobed at %s tracks no process %ld",
		    w->o->url, w->pid);
	if (rc != CTL_EXIT_OK)
		return rc;
	if (w->pid == 0 && !json_is_array(json_object_get(data, "processes"))) {
		snprintf(w->err, sizeof(w->err),
		    "bad response from memprobed at %s: no \"processes\" array", w->o->url);
		json_decref(data);
		return CTL_EXIT_UNREACHABLE;
	}
	json_decref(w->data);
	w->data = data;
	w->err[0] = '\0';
	if (!full)
		return CTL_EXIT_OK;
	/* What the screen adds; the view goes on without them. */
	{
		char ignored[ERR_LEN];
		json_t *j = NULL;

		if (ctl_api_fetch(w->o, "/api/v1/status", &j, ignored, sizeof(ignored)) == 0) {
			json_decref(w->status);
			w->status = j;
		}
		if (w->pid > 0) {
			j = NULL;
			snprintf(path, sizeof(path), "/api/v1/processes/%ld/history", w->pid);
			if (ctl_api_fetch(w->o, path, &j, ignored, sizeof(ignored)) == 0) {
				json_decref(w->hist);
				w->hist = j;
			}
		}
	}
	return CTL_EXIT_OK;
}

/* ---- plain lines ---- */

static int
print_lines(struct watch *w)
{
	int r;

	if (w->o->json) {
		if (json_dumpf(w->data, stdout, JSON_COMPACT | ctl_json_precision(w->data)) != 0 || putchar('\n') == EOF)
			return -EIO;
	} else if (w->pid > 0) {
		fputs(w->when, stdout);
		putchar(' ');
		ctl_view_line(stdout, w->data, w->o->bytes);
	} else if (json_array_size(json_object_get(w->data, "processes")) == 0) {
		printf("%s no processes tracked\n", w->when);
	} else {
		r = ctl_view_lines(stdout, w->data, w->sort, w->o->bytes, w->when);
		if (r < 0)
			return r;
	}
	return fflush(stdout) == 0 && !ferror(stdout) ? 0 : -EIO;
}

/* ---- the screen ---- */

/* The history's KEY values, oldest first, into a new array (caller frees). */
static uint64_t *
hist_values(const json_t *hist, const char *key, size_t *n, uint64_t *max)
{
	const json_t *samples = json_object_get(hist, "samples"), *s;
	size_t i, k = 0, total = json_array_size(samples);
	uint64_t *v;

	*n = 0;
	*max = 0;
	if (total == 0)
		return NULL;
	if (total > SPARK_MAX)
		k = total - SPARK_MAX;
	v = calloc(total - k, sizeof(*v));
	if (v == NULL)
		return NULL;
	for (i = k; i < total; i++) {
		s = json_array_get(samples, i);
		v[*n] = ctl_fig_at(s, key, NULL).v;
		if (v[*n] > *max)
			*max = v[*n];
		(*n)++;
	}
	return v;
}

/* Sparklines of the heap and stack over the history, COLS wide. */
static void
draw_history(FILE *f, const struct watch *w, int cols)
{
	static const struct {
		const char *key, *label;
	} lines[] = {
		{ "heap_live_bytes", "heap live " },
		{ "stack_peak_bytes", "stack peak" },
	};
	const json_t *samples = json_object_get(w->hist, "samples");
	size_t n = json_array_size(samples);
	char max_text[CTL_FMT_NUM_LEN], *spark;
	int width = cols - 26;

	if (w->hist == NULL || n < 2 || width < 10)
		return;
	spark = malloc((size_t)width * 3 + 1);
	if (spark == NULL)
		return;
	fprintf(f, "History, %zu points, about one a second (oldest left):\n", n);
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		uint64_t max, *v = hist_values(w->hist, lines[i].key, &n, &max);

		if (v == NULL)
			continue;
		ctl_fmt_spark(spark, (size_t)width * (w->utf8 ? 3 : 1) + 1, v, n, max, w->utf8);
		if (w->o->bytes)
			ctl_fmt_u64(max_text, sizeof(max_text), max);
		else
			ctl_fmt_bytes(max_text, sizeof(max_text), max);
		fprintf(f, "  %s  %s  max %s\n", lines[i].label, spark, max_text);
		free(v);
	}
	free(spark);
	fputc('\n', f);
}

/* The top line: what is shown, from where, when; the keys. */
static void
draw_title(const struct watch *w, int cols)
{
	char left[512], right[128], pids[32];
	struct ctl_fig tracked = ctl_fig_at(json_object_get(w->status, "counts"),
	    "processes_tracked", NULL);
	struct ctl_fig live = ctl_fig_at(json_object_get(w->status, "counts"),
	    "processes_live", NULL);
	const char *version = json_string_value(json_object_get(w->status, "version"));
	size_t lw, rw;

	if (w->pid > 0)
		snprintf(pids, sizeof(pids), "pid %ld", w->pid);
	else if (tracked.ok && live.ok)
		snprintf(pids, sizeof(pids), "%llu process%s, %llu live",
		    (unsigned long long)tracked.v, tracked.v == 1 ? "" : "es",
		    (unsigned long long)live.v);
	else
		snprintf(pids, sizeof(pids), "all processes");
	if (w->pid > 0)
		snprintf(right, sizeof(right), "b bytes  q quit ");
	else
		snprintf(right, sizeof(right), "s sort: %s  b bytes  q quit ",
		    ctl_sort_name(w->sort));
	rw = strlen(right);
	snprintf(left, sizeof(left), " memprobe%s%s | %s | %s | %s, every %gs",
	    version ? " " : "", version ? version : "", w->o->url, pids, w->when, w->interval);
	/* A narrow screen loses the URL before the keys. */
	if (ctl_fmt_width(left) + rw + 1 > (size_t)cols)
		snprintf(left, sizeof(left), " memprobe | %s | %s", pids, w->when);
	lw = ctl_fmt_width(left);
	fputs("\033[7m", stdout);
	if (lw + rw + 1 <= (size_t)cols) {
		printf("%s%*s%s", left, (int)((size_t)cols - lw - rw), "", right);
	} else {
		size_t cut = ctl_fmt_cut(left, (size_t)cols);

		fwrite(left, 1, cut, stdout);
		lw = ctl_fmt_width(left) < (size_t)cols ? ctl_fmt_width(left) : (size_t)cols;
		printf("%*s", (int)((size_t)cols - lw), "");
	}
	fputs("\033[0m\033[K\r\n", stdout);
}

static void
draw(struct watch *w)
{
	char *text = NULL;
	size_t len = 0;
	int rows, cols, row;
	FILE *mem;
	char *line, *next;

	ctl_term_size(&rows, &cols);
	mem = open_memstream(&text, &len);
	if (mem == NULL)
		return;
	if (w->data != NULL && w->pid > 0) {
		draw_history(mem, w, cols);
		ctl_view_process(mem, w->data, w->o->bytes);
	} else if (w->data != NULL) {
		ctl_view_ps(mem, w->data, w->sort, w->o->bytes);
		if (json_array_size(json_object_get(w->data, "processes")) == 0)
			fputs("\n  No process is tracked: run one with the agent, e.g.\n"
			    "  memprobectl run -- PROGRAM\n", mem);
	}
	fclose(mem);

	fputs("\033[H", stdout);
	draw_title(w, cols);
	row = 1;
	/* The second line: the latest failure, if any. */
	if (w->err[0] != '\0') {
		char safe[ERR_LEN];

		ctl_fmt_text(safe, sizeof(safe), w->err);
		fputs("\033[1m", stdout);
		fwrite(safe, 1, ctl_fmt_cut(safe, (size_t)cols), stdout);
		fputs("\033[0m", stdout);
	}
	fputs("\033[K", stdout);
	row++;
	for (line = text; line != NULL && *line != '\0' && row < rows; line = next) {
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		fputs("\r\n", stdout);
		/* Lines longer than the screen are cut, never wrapped. */
		if (row == rows - 1 && next != NULL && *next != '\0') {
			fputs("  ... more below: enlarge the window", stdout);
		} else {
			fwrite(line, 1, ctl_fmt_cut(line, (size_t)cols), stdout);
		}
		fputs("\033[K", stdout);
		row++;
	}
	fputs("\033[J", stdout);
	fflush(stdout);
	free(text);
}

/* ---- the loops ---- */

/* Periodic lines; returns an exit code. */
static int
run_lines(struct watch *w)
{
	double next = ctl_now();
	int rc;

	for (long round = 0; w->count == 0 || round < w->count; round++) {
		rc = refresh(w, false);
		if (rc == CTL_EXIT_NOTFOUND && w->pid > 0) {
			if (round == 0)
				ctl_errx("watch: %s", w->err);
			else
				ctl_errx("watch: memprobed at %s no longer tracks process %ld",
				    w->o->url, w->pid);
			return rc;
		}
		if (rc != CTL_EXIT_OK) {
			ctl_errx("%s", w->err);
			/* The first answer decides whether there is anything to watch. */
			if (round == 0 || rc == CTL_EXIT_INTERNAL || rc == CTL_EXIT_USAGE)
				return rc;
		} else if (print_lines(w) < 0) {
			/* A closed pipe or full disk: main reports it. */
			return CTL_EXIT_OK;
		}
		if (w->count != 0 && round + 1 >= w->count)
			break;
		next += w->interval;
		for (;;) {
			double left = next - ctl_now();
			struct timespec ts;

			if (left <= 0)
				break;
			ts.tv_sec = (time_t)left;
			ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
			nanosleep(&ts, NULL);
		}
		/* Fell behind (a slow daemon): start counting afresh. */
		if (next < ctl_now() - w->interval)
			next = ctl_now();
	}
	return CTL_EXIT_OK;
}

/* The full screen; returns an exit code. */
static int
run_screen(struct watch *w)
{
	double next;
	int rc, r;

	/* The first answer decides whether there is anything to watch. */
	rc = refresh(w, true);
	if (rc != CTL_EXIT_OK) {
		ctl_errx("%s", w->err);
		return rc;
	}
	r = ctl_term_enter();
	if (r < 0) {
		ctl_errx("watch: cannot use the terminal: %s", strerror(-r));
		return CTL_EXIT_INTERNAL;
	}
	draw(w);
	next = ctl_now() + w->interval;
	for (long round = 1; w->count == 0 || round < w->count;) {
		double left = next - ctl_now();
		int key = left > 0 ? ctl_term_key((int)(left * 1000) + 1) : 0;
		bool redraw_now = false;

		if (ctl_term_signal() != 0)
			ctl_term_die(ctl_term_signal());
		if (key == 'q' || key == 'Q' || key == CTL_KEY_CTRL_C || key == -EIO)
			break;
		if (ctl_term_resized())
			redraw_now = true;
		if (key == 's' && w->pid == 0) {
			w->sort = (enum ctl_sort)((w->sort + 1) % CTL_SORT__COUNT);
			redraw_now = true;
		} else if (key == 'b') {
			w->o->bytes = !w->o->bytes;
			redraw_now = true;
		} else if (key == ' ') {
			next = ctl_now();
		}
		if (ctl_now() >= next) {
			/* Failures are shown on the screen; the view goes on. */
			refresh(w, true);
			next += w->interval;
			if (next < ctl_now())
				next = ctl_now() + w->interval;
			round++;
			redraw_now = true;
		}
		if (redraw_now)
			draw(w);
	}
	ctl_term_leave();
	return CTL_EXIT_OK;
}

enum { OPT_INTERVAL = CTL_OPT_OWN, OPT_COUNT, OPT_SORT };

static const struct option watch_opts[] = {
	{ "interval", required_argument, NULL, OPT_INTERVAL },
	{ "count", required_argument, NULL, OPT_COUNT },
	{ "sort", required_argument, NULL, OPT_SORT },
	{ NULL, 0, NULL, 0 },
};

/* Applies watch's own option OPT with value V. Returns 0, or -1 after a line on stderr. */
static int
watch_option(struct watch *w, int opt, const char *v)
{
	switch (opt) {
	case OPT_INTERVAL:
		if (parse_interval(v, &w->interval) < 0) {
			ctl_errx("watch: --interval '%s': expected seconds from %g to %g",
			    v, INTERVAL_MIN, INTERVAL_MAX);
			return -1;
		}
		return 0;
	case OPT_COUNT:
		if (parse_count(v, &w->count) < 0) {
			ctl_errx("watch: --count '%s': expected a positive whole number", v);
			return -1;
		}
		return 0;
	default:
		if (ctl_sort_parse(v, &w->sort) < 0) {
			ctl_errx("watch: unknown sort key '%s' (" CTL_SORT_KEYS ")", v);
			return -1;
		}
		return 0;
	}
}

int
ctl_cmd_watch(int argc, char **argv, struct ctl_opts *o)
{
	struct watch w = { .o = o, .sort = CTL_SORT_HEAP, .interval = 1.0 };
	struct ctl_getopt g = { .cmd = "watch", .own = watch_opts };
	const char *pidarg = NULL, *v;
	const char *cs;
	int a, r, rc;

	while ((r = ctl_getopt(&g, o, argc, argv, &v, &rc)) != CTL_OPT_END) {
		if (r == CTL_OPT_EXIT)
			return rc;
		if (r == CTL_OPT_ARG) {
			if (pidarg != NULL)
				return ctl_bad_arg("watch", v);
			pidarg = v;
		} else if (watch_option(&w, r, v) < 0) {
			return CTL_EXIT_USAGE;
		}
	}
	/* After "--". */
	for (a = optind; a < argc; a++) {
		if (pidarg != NULL)
			return ctl_bad_arg("watch", argv[a]);
		pidarg = argv[a];
	}
	if (pidarg != NULL && ctl_parse_pid(pidarg, &w.pid) < 0) {
		ctl_errx("watch: '%s' is not a process id (a positive decimal integer)", pidarg);
		return CTL_EXIT_USAGE;
	}

	setlocale(LC_CTYPE, "");
	cs = nl_langinfo(CODESET);
	w.utf8 = cs != NULL && strcmp(cs, "UTF-8") == 0;

	if (!o->json && isatty(STDOUT_FILENO))
		rc = run_screen(&w);
	else
		rc = run_lines(&w);
	json_decref(w.data);
	json_decref(w.hist);
	json_decref(w.status);
	return rc;
}
