/* ctl_cmd.h: what memprobectl's commands share: options, exit codes, errors, the daemon's API. */
#ifndef MEMPROBE_CTL_CMD_H
#define MEMPROBE_CTL_CMD_H

#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>

/*
 * Exit codes. 0-3 are contract (DESIGN.md "The CLI"); 4 covers what none
 * of them describes: out of memory, a failed write to stdout.
 *
 * Allocation failure policy: memprobectl is a short-lived command, so an
 * allocation failure ends the command with one line on stderr and
 * CTL_EXIT_INTERNAL; helpers return -ENOMEM to the command, which says so.
 */
enum ctl_exit {
	CTL_EXIT_OK          = 0,
	CTL_EXIT_NOTFOUND    = 1,   /* the daemon answered 404 */
	CTL_EXIT_USAGE       = 2,   /* bad command line */
	CTL_EXIT_UNREACHABLE = 3,   /* no daemon, timeout, or a response that is not the API */
	CTL_EXIT_INTERNAL    = 4,
};

/* Options every command takes, before or after the command name. */
struct ctl_opts {
	const char *url;    /* the daemon's base URL, never NULL or empty */
	bool json;          /* print the API's JSON instead of a table */
	bool bytes;         /* sizes as plain byte counts */
	const char *help;   /* what --help prints: the command's help, or NULL for the global one */
	/* Access to a daemon behind a web config; NULL: not given. */
	const char *ca_file, *cert, *key, *user, *password_file;
};

/* Prints "memprobectl: MESSAGE\n" on stderr: the one line a failure gets. */
void ctl_errx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Option parsing, one getopt_long() loop shared by main and the commands:
 * the global options (--url, --json, --bytes, -h/--help, --version,
 * --ca-file, --cert, --key, --user, --password-file) are taken everywhere,
 * and a command adds its own. "--opt VALUE" and "--opt=VALUE" both work.
 */
enum {
	CTL_OPT_EXIT = -2,      /* stop and exit with *code */
	CTL_OPT_END  = -1,      /* no options left: optind is the first argument left */
	CTL_OPT_ARG  = 1,       /* an argument among the options, in *value */
	CTL_OPT_OWN  = 512,     /* a command's own options have val >= this */
};

/* One parse of one argv: the caller sets cmd, own and stop_at_arg. */
struct ctl_getopt {
	const char *cmd;                /* for messages; NULL before the command */
	const struct option *own;       /* the command's options (at most 8), ended
					 * by a zero row, each val >= CTL_OPT_OWN, or
					 * a letter other than 'h' for an option
					 * that also has that short form ("-o");
					 * NULL: none */
	bool stop_at_arg;               /* the first argument ends the options (the
					 * command's name; run's CMD) */
	bool started;                   /* false: the first call resets getopt */
};

/*
 * The next option in ARGV (argv[0] is the program's or the command's name).
 * Global options are applied to O. Returns an own option's val with *value
 * its argument (NULL when it takes none); CTL_OPT_ARG with *value an
 * argument (only without stop_at_arg); CTL_OPT_END; or CTL_OPT_EXIT when
 * the command must exit with *code: help or version printed (0), or a
 * usage error reported on stderr (2).
 */
int ctl_getopt(struct ctl_getopt *g, struct ctl_opts *o, int argc, char **argv,
    const char **value, int *code);

/*
 * Reports ARG, which no option matched, as a usage error of command CMD
 * ("unknown option" or "unexpected argument"). Returns CTL_EXIT_USAGE.
 */
int ctl_bad_arg(const char *cmd, const char *arg);

/*
 * GETs PATH (starting with '/') from the daemon at o->url and parses the
 * body, which must be a JSON object. Returns CTL_EXIT_OK with *out set to
 * a new reference (the caller json_decref()s it); otherwise prints one
 * line on stderr and returns the exit code the failure calls for.
 */
int ctl_api_get(const struct ctl_opts *o, const char *path, json_t **out);

/* A response from the daemon (ctl_http.h). */
struct ctl_http_reply;

/*
 * GETs PATH from the daemon at o->url asking for ACCEPT (a media type).
 * Returns CTL_EXIT_OK for a 2xx response, else the exit code the failure
 * calls for with the line it would print (without the program's name) in
 * ERRMSG (ERRLEN bytes): CTL_EXIT_NOTFOUND for a 404. Whenever a response
 * came, whatever its status, it is in *REPLY; the caller always frees
 * REPLY (zeroed before the call) with ctl_http_reply_free().
 */
int ctl_api_request(const struct ctl_opts *o, const char *path, const char *accept,
    struct ctl_http_reply *reply, char *errmsg, size_t errlen);

/*
 * The daemon's own words in the {"error": "..."} body of REPLY (an error
 * response), made safe for a terminal in BUF (SIZE bytes); NULL when the
 * body says nothing.
 */
const char *ctl_api_reply_error(const struct ctl_http_reply *reply, char *buf, size_t size);

/*
 * Parses the body of REPLY, the answer for PATH, which must be a JSON
 * object, into *OUT (a new reference; the caller json_decref()s it).
 * Returns an exit code, with the line to print in ERRMSG if not 0.
 */
int ctl_api_parse(const struct ctl_opts *o, const char *path,
    const struct ctl_http_reply *reply, json_t **out, char *errmsg, size_t errlen);

/*
 * As ctl_api_get(), but quiet: on failure the line it would print (without
 * the program's name) goes to ERR (ERRLEN bytes) instead, for callers that
 * own the screen or decide later whether a failure is worth a word.
 */
int ctl_api_fetch(const struct ctl_opts *o, const char *path, json_t **out,
    char *err, size_t errlen);

/* Pretty-prints JSON on stdout. Returns an exit code, after one line on stderr if not 0. */
int ctl_print_json(const json_t *json);

/*
 * Parses a process id given on the command line: decimal, 1..INT_MAX.
 * Returns 0 with *pid set, or -EINVAL.
 */
int ctl_parse_pid(const char *s, long *pid);

/*
 * Takes ARG as command CMD's one PID argument into *PIDARG (NULL until
 * then). Returns CTL_EXIT_OK, or CTL_EXIT_USAGE after a line on stderr
 * when there is one already.
 */
int ctl_pid_arg(const char *cmd, const char *arg, const char **pidarg);

/*
 * Takes ARGV[optind..ARGC) (what follows "--") as command CMD's PID
 * argument too, then parses the one given, *PIDARG (NULL: none), into
 * *PID. Returns CTL_EXIT_OK, or CTL_EXIT_USAGE after a line on stderr.
 */
int ctl_pid_rest(const char *cmd, int argc, char **argv, const char **pidarg, long *pid);

/*
 * The exit code for R, what a view of the API's JSON returned: -EPROTO
 * (the answer has no WHAT array: 3) and -ENOMEM (4) after a line on
 * stderr; 0 and -EIO give 0, as main reports a write error when it
 * flushes stdout.
 */
int ctl_view_failed(const struct ctl_opts *o, int r, const char *what);

/*
 * Fetches the heap profile of process PID (pprof's format, gzipped) from
 * the daemon and writes it to PATH whole or not at all (a temporary file
 * beside it, renamed over it), or to stdout for "-" unless stdout is a
 * terminal. Returns CTL_EXIT_OK with its size in *LEN, or the exit code
 * of the failure with the line to print (without the command's name) in
 * ERR (ERRLEN bytes): CTL_EXIT_NOTFOUND "no profile for PID: <the
 * daemon's words>"; PATH is then untouched.
 */
int ctl_profile_save(const struct ctl_opts *o, long pid, const char *path, size_t *len,
    char *err, size_t errlen);

/* CLOCK_MONOTONIC in seconds: for deadlines and intervals. */
double ctl_now(void);

/* The commands: argv[0] is the command's name. Each returns an exit code. */
int ctl_cmd_ps(int argc, char **argv, struct ctl_opts *o);
int ctl_cmd_show(int argc, char **argv, struct ctl_opts *o);
int ctl_cmd_watch(int argc, char **argv, struct ctl_opts *o);
int ctl_cmd_run(int argc, char **argv, struct ctl_opts *o);
int ctl_cmd_top(int argc, char **argv, struct ctl_opts *o);
int ctl_cmd_profile(int argc, char **argv, struct ctl_opts *o);

/* What each command's --help prints. */
extern const char ctl_help_ps[];
extern const char ctl_help_show[];
extern const char ctl_help_watch[];
extern const char ctl_help_run[];
extern const char ctl_help_top[];
extern const char ctl_help_profile[];

#endif
