/* ctl_main.c: memprobectl's entry point: global options, command dispatch, the daemon's API. */
#include "ctl_cmd.h"
#include "ctl_fmt.h"
#include "ctl_http.h"
#include "ctl_view.h"

#include <errno.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef MEMPROBE_VERSION
#define MEMPROBE_VERSION "unknown"
#endif

#define PROG            "memprobectl"
#define DEFAULT_URL     "http://127.0.0.1:19556"
#define HTTP_TIMEOUT_MS 5000L

/* Longest error text from the daemon repeated on stderr. */
#define ERRMSG_MAX 256
#define PASSWORD_MAX 1024       /* memprobed reads no more */

struct ctl_command {
	const char *name;
	int (*run)(int argc, char **argv, struct ctl_opts *o);
	const char *help;       /* NULL: the global usage */
};

static int cmd_help(int argc, char **argv, struct ctl_opts *o);

static const struct ctl_command commands[] = {
	{ "ps",    ctl_cmd_ps,    ctl_help_ps },
	{ "show",  ctl_cmd_show,  ctl_help_show },
	{ "watch", ctl_cmd_watch, ctl_help_watch },
	{ "run",   ctl_cmd_run,   ctl_help_run },
	{ "top",   ctl_cmd_top,   ctl_help_top },
	{ "profile", ctl_cmd_profile, ctl_help_profile },
	{ "help",  cmd_help,      NULL },
};

static void
usage(FILE *f)
{
	fputs(
	    "usage: " PROG " [--url URL] [--json] [--bytes] COMMAND [ARGS]\n"
	    "\n"
	    "Shows the heap and stack figures memprobed collects from instrumented processes.\n"
	    "\n"
	    "Commands:\n"
	    "  ps [--sort KEY]    one line per process, largest live heap first\n"
	    "  show PID           one process in full, with its allocation sizes as a bar chart\n"
	    "  watch [PID]        a refreshing view of every process, or of one\n"
	    "  run [--profile FILE] [--] CMD ARGS\n"
	    "                     run CMD with the agent loaded; print its heap and stack\n"
	    "                     peaks when it exits (and save its heap profile), and\n"
	    "                     exit with its status\n"
	    "  top PID [--alloc] [-n N]\n"
	    "                     the call sites that hold the most of PID's heap\n"
	    "  profile PID -o FILE\n"
	    "                     PID's heap profile in pprof's format\n"
	    "  help [COMMAND]     print this help, or a command's\n"
	    "\n"
	    "Options (before or after the command):\n"
	    "  --url URL          memprobed's HTTP address (default: $MEMPROBE_URL,\n"
	    "                     else " DEFAULT_URL ")\n"
	    "  --ca-file FILE     CA certificate to check an https memprobed against\n"
	    "  --cert FILE, --key FILE\n"
	    "                     client certificate and key, for a memprobed that wants one\n"
	    "  --user NAME        basic auth user; the password from --password-file FILE\n"
	    "                     or $MEMPROBE_PASSWORD (never on the command line)\n"
	    "  --json             print the daemon's JSON, pretty-printed\n"
	    "  --bytes            print sizes as byte counts, not KiB/MiB/GiB\n"
	    "  -h, --help         print this help (after a command: the command's) and exit\n"
	    "  --version          print the version and exit\n"
	    "\n"
	    "Exit status: 0 ok, 1 not found, 2 usage error, 3 memprobed unreachable or\n"
	    "its answer unusable, 4 out of memory or output error; run exits with CMD's\n"
	    "status. See memprobectl(1).\n",
	    f);
}

void
ctl_errx(const char *fmt, ...)
{
	va_list ap;

	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* The global options' vals; a command's own start at CTL_OPT_OWN. */
enum {
	OPT_HELP = 'h',
	OPT_URL = 256,
	OPT_CA_FILE,
	OPT_CERT,
	OPT_KEY,
	OPT_USER,
	OPT_PASSWORD_FILE,
	OPT_JSON,
	OPT_BYTES,
	OPT_VERSION,
};

static const struct option global_opts[] = {
	{ "url", required_argument, NULL, OPT_URL },
	{ "ca-file", required_argument, NULL, OPT_CA_FILE },
	{ "cert", required_argument, NULL, OPT_CERT },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "user", required_argument, NULL, OPT_USER },
	{ "password-file", required_argument, NULL, OPT_PASSWORD_FILE },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "bytes", no_argument, NULL, OPT_BYTES },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
};

#define GLOBAL_N (sizeof(global_opts) / sizeof(global_opts[0]))
#define OWN_MAX  8              /* a command's own options, at most */

/* The global options and G's own, ended by a zero row. */
static void
option_table(const struct ctl_getopt *g, struct option table[GLOBAL_N + OWN_MAX + 1])
{
	size_t n = GLOBAL_N;

	memcpy(table, global_opts, sizeof(global_opts));
	for (const struct option *p = g->own; p != NULL && p->name != NULL && n < GLOBAL_N + OWN_MAX;
	    p++)
		table[n++] = *p;
	memset(&table[n], 0, sizeof(table[n]));
}

/* The name of TABLE's option VAL, for messages. */
static const char *
option_name(const struct option *table, int val)
{
	for (; table->name != NULL; table++)
		if (table->val == val)
			return table->name;
	return "?";
}

/* Where the global option VAL, which takes a value, puts it. */
static const char **
option_slot(struct ctl_opts *o, int val)
{
	switch (val) {
	case OPT_URL:
		return &o->url;
	case OPT_CA_FILE:
		return &o->ca_file;
	case OPT_CERT:
		return &o->cert;
	case OPT_KEY:
		return &o->key;
	case OPT_USER:
		return &o->user;
	default:
		return &o->password_file;
	}
}

/*
 * Applies the global option VAL (VALUE its argument) to O. Returns 0, or
 * CTL_OPT_EXIT with *code set.
 */
static int
apply_global(struct ctl_opts *o, const struct option *table, int val, const char *value,
    int *code)
{
	switch (val) {
	case OPT_JSON:
		o->json = true;
		return 0;
	case OPT_BYTES:
		o->bytes = true;
		return 0;
	case OPT_HELP:
		if (o->help != NULL)
			fputs(o->help, stdout);
		else
			usage(stdout);
		*code = CTL_EXIT_OK;
		return CTL_OPT_EXIT;
	case OPT_VERSION:
		printf(PROG " %s\n", MEMPROBE_VERSION);
		*code = CTL_EXIT_OK;
		return CTL_OPT_EXIT;
	}
	if (*value == '\0') {
		ctl_errx("option --%s needs a non-empty value", option_name(table, val));
		*code = CTL_EXIT_USAGE;
		return CTL_OPT_EXIT;
	}
	*option_slot(o, val) = value;
	return 0;
}

/*
 * getopt's short options for G: "+" (stop at the first argument) or "-"
 * (return arguments in order), then ":" (a missing value is reported
 * apart), "h", and the own options whose val is a letter. Either way
 * POSIXLY_CORRECT changes nothing.
 */
static void
short_options(const struct ctl_getopt *g, char out[4 + 2 * OWN_MAX])
{
	size_t n = 0, k = 0;

	out[n++] = g->stop_at_arg ? '+' : '-';
	out[n++] = ':';
	out[n++] = 'h';
	for (const struct option *p = g->own; p != NULL && p->name != NULL && k < OWN_MAX;
	    p++, k++) {
		if (p->val >= CTL_OPT_OWN)
			continue;
		out[n++] = (char)p->val;
		if (p->has_arg == required_argument)
			out[n++] = ':';
	}
	out[n] = '\0';
}

/* Whether C is one of G's own options. */
static bool
own_option(const struct ctl_getopt *g, int c)
{
	if (c >= CTL_OPT_OWN)
		return true;
	for (const struct option *p = g->own; p != NULL && p->name != NULL; p++)
		if (p->val == c)
			return true;
	return false;
}

int
ctl_getopt(struct ctl_getopt *g, struct ctl_opts *o, int argc, char **argv,
    const char **value, int *code)
{
	struct option table[GLOBAL_N + OWN_MAX + 1];
	char shorts[4 + 2 * OWN_MAX];
	const char *arg;
	int at, c;

	option_table(g, table);
	short_options(g, shorts);
	if (!g->started) {
		optind = 0;             /* glibc: start afresh at argv[1] */
		opterr = 0;             /* the messages are ours */
		g->started = true;
	}
	for (;;) {
		/* The element getopt is at, for a message about it. */
		at = optind > 0 ? optind : 1;
		arg = at < argc ? argv[at] : "";
		*value = NULL;
		c = getopt_long(argc, argv, shorts, table, NULL);
		switch (c) {
		case -1:
			return CTL_OPT_END;
		case 1:
			*value = optarg;
			return CTL_OPT_ARG;
		case '?':
			if (g->cmd != NULL)
				ctl_bad_arg(g->cmd, arg);
			else
				ctl_errx("unknown option '%s'; try '" PROG " --help'", arg);
			*code = CTL_EXIT_USAGE;
			return CTL_OPT_EXIT;
		case ':':
			ctl_errx("option --%s needs a value", option_name(table, optopt));
			*code = CTL_EXIT_USAGE;
			return CTL_OPT_EXIT;
		}
		if (own_option(g, c)) {
			*value = optarg;
			return c;
		}
		if (apply_global(o, table, c, optarg, code) != 0)
			return CTL_OPT_EXIT;
	}
}

int
ctl_bad_arg(const char *cmd, const char *arg)
{
	if (arg[0] == '-' && arg[1] != '\0')
		ctl_errx("%s: unknown option '%s'; try '" PROG " --help'", cmd, arg);
	else
		ctl_errx("%s: unexpected argument '%s'; try '" PROG " --help'", cmd, arg);
	return CTL_EXIT_USAGE;
}

/* The daemon's {"error": "..."} text, made safe for one line, or NULL. */
static const char *
reply_error(const struct ctl_http_reply *reply, char *buf, size_t size)
{
	json_t *root = json_loadb(reply->body, reply->len, 0, NULL);
	const char *msg = json_string_value(json_object_get(root, "error"));
	/* msg lives in root: decided before root goes. */
	bool have = msg != NULL && *msg != '\0';

	if (have)
		ctl_fmt_text(buf, size, msg);
	json_decref(root);
	return have ? buf : NULL;
}

/*
 * PATH on the daemon at BASE ("http://host:port/" and "http://host:port"
 * name the same daemon): a new string, or NULL when out of memory.
 */
static char *
api_url(const char *base, const char *path)
{
	size_t n = strlen(base), len;
	char *url;

	while (n > 0 && base[n - 1] == '/')
		n--;
	len = n + strlen(path) + 1;
	url = malloc(len);
	if (url != NULL)
		snprintf(url, len, "%.*s%s", (int)n, base, path);
	return url;
}

/*
 * Says in ERRMSG why no response came from the daemon at o->url:
 * ctl_http_get()'s RC and its reason ERR. Returns the exit code.
 */
static int
transfer_failed(const struct ctl_opts *o, int rc, const char *err, char *errmsg, size_t errlen)
{
	bool https = strncmp(o->url, "https:", 6) == 0;

	switch (rc) {
	case -EINVAL:
		snprintf(errmsg, errlen, "invalid URL '%s': %s", o->url, err);
		return CTL_EXIT_USAGE;
	case -ENOMEM:
		snprintf(errmsg, errlen, "out of memory");
		return CTL_EXIT_INTERNAL;
	case -EMSGSIZE:
	case -EPROTO:
		snprintf(errmsg, errlen, "bad response from memprobed at %s: %s", o->url, err);
		return CTL_EXIT_UNREACHABLE;
	case -EPROTONOSUPPORT:
		snprintf(errmsg, errlen, "cannot reach memprobed at %s: %s (it answers in plain "
		    "HTTP, not TLS: try http%s)", o->url, err, https ? o->url + 5 : "://");
		return CTL_EXIT_UNREACHABLE;
	default:
		/* A TLS 1.3 server that wants a client certificate closes the
		 * connection after the handshake when none came. */
		snprintf(errmsg, errlen, "cannot reach memprobed at %s: %s%s", o->url, err,
		    rc == -EIO && o->cert == NULL && https &&
		    strstr(err, "SSL certificate problem") == NULL ?
		    " (does it want a client certificate? --cert, --key)" : "");
		return CTL_EXIT_UNREACHABLE;
	}
}

/*
 * Says in ERRMSG what a response other than 2xx for PATH (at URL) means.
 * Returns the exit code, or CTL_EXIT_OK for a 2xx.
 */
static int
status_failed(const struct ctl_opts *o, const char *path, const char *url,
    const struct ctl_http_reply *reply, char *errmsg, size_t errlen)
{
	char err[ERRMSG_MAX];
	const char *msg;

	if (reply->status >= 200 && reply->status <= 299)
		return CTL_EXIT_OK;
	if (reply->status == 401) {
		if (o->user == NULL)
			snprintf(errmsg, errlen, "memprobed at %s wants a user and password (--user, "
			    "with --password-file or $MEMPROBE_PASSWORD) (HTTP 401)", o->url);
		else
			snprintf(errmsg, errlen, "memprobed at %s refused user '%s': wrong user or "
			    "password (HTTP 401)", o->url, ctl_fmt_text(err, sizeof(err), o->user));
		return CTL_EXIT_UNREACHABLE;
	}
	if (reply->status == 403) {
		snprintf(errmsg, errlen, "memprobed at %s wants a client certificate its CA "
		    "signed (--cert, --key) (HTTP 403)", o->url);
		return CTL_EXIT_UNREACHABLE;
	}
	msg = reply_error(reply, err, sizeof(err));
	if (reply->status == 404) {
		snprintf(errmsg, errlen, "%s: %s (HTTP 404)", url, msg ? msg : "not found");
		return CTL_EXIT_NOTFOUND;
	}
	snprintf(errmsg, errlen, "memprobed at %s answered HTTP %ld for %s%s%s", o->url,
	    reply->status, path, msg ? ": " : "", msg ? msg : "");
	return CTL_EXIT_UNREACHABLE;
}

int
ctl_api_parse(const struct ctl_opts *o, const char *path, const struct ctl_http_reply *reply,
    json_t **out, char *errmsg, size_t errlen)
{
	char err[ERRMSG_MAX];
	json_error_t jerr;
	json_t *root = json_loadb(reply->body, reply->len, 0, &jerr);

	if (root == NULL) {
		snprintf(errmsg, errlen, "bad response from memprobed at %s: %s: %s (line %d)",
		    o->url, path, ctl_fmt_text(err, sizeof(err), jerr.text), jerr.line);
		return CTL_EXIT_UNREACHABLE;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		snprintf(errmsg, errlen, "bad response from memprobed at %s: %s: not a JSON object",
		    o->url, path);
		return CTL_EXIT_UNREACHABLE;
	}
	*out = root;
	return CTL_EXIT_OK;
}

int
ctl_api_request(const struct ctl_opts *o, const char *path, const char *accept,
    struct ctl_http_reply *reply, char *errmsg, size_t errlen)
{
	char err[ERRMSG_MAX] = "";
	char *url = api_url(o->url, path);
	int rc;

	if (url == NULL) {
		snprintf(errmsg, errlen, "out of memory");
		return CTL_EXIT_INTERNAL;
	}
	rc = ctl_http_get(url, accept, HTTP_TIMEOUT_MS, reply, err, sizeof(err));
	if (rc < 0)
		rc = transfer_failed(o, rc, err, errmsg, errlen);
	else
		rc = status_failed(o, path, url, reply, errmsg, errlen);
	free(url);
	return rc;
}

const char *
ctl_api_reply_error(const struct ctl_http_reply *reply, char *buf, size_t size)
{
	return reply->body != NULL ? reply_error(reply, buf, size) : NULL;
}

int
ctl_api_fetch(const struct ctl_opts *o, const char *path, json_t **out,
    char *errmsg, size_t errlen)
{
	struct ctl_http_reply reply = { 0 };
	int rc = ctl_api_request(o, path, "application/json", &reply, errmsg, errlen);

	if (rc == CTL_EXIT_OK)
		rc = ctl_api_parse(o, path, &reply, out, errmsg, errlen);
	ctl_http_reply_free(&reply);
	return rc;
}

int
ctl_api_get(const struct ctl_opts *o, const char *path, json_t **out)
{
	char err[2 * ERRMSG_MAX];
	int rc = ctl_api_fetch(o, path, out, err, sizeof(err));

	if (rc != CTL_EXIT_OK)
		ctl_errx("%s", err);
	return rc;
}

int
ctl_pid_arg(const char *cmd, const char *arg, const char **pidarg)
{
	if (*pidarg != NULL)
		return ctl_bad_arg(cmd, arg);
	*pidarg = arg;
	return CTL_EXIT_OK;
}

/* Parses command CMD's PID argument PIDARG (NULL: none was given) into
 * *PID. Returns CTL_EXIT_OK, or CTL_EXIT_USAGE after a line on stderr. */
static int
pid_parse(const char *cmd, const char *pidarg, long *pid)
{
	if (pidarg == NULL) {
		ctl_errx("%s: which process? usage: " PROG " %s PID", cmd, cmd);
		return CTL_EXIT_USAGE;
	}
	if (ctl_parse_pid(pidarg, pid) < 0) {
		ctl_errx("%s: '%s' is not a process id (a positive decimal integer)", cmd, pidarg);
		return CTL_EXIT_USAGE;
	}
	return CTL_EXIT_OK;
}

int
ctl_pid_rest(const char *cmd, int argc, char **argv, const char **pidarg, long *pid)
{
	int rc;

	/* What follows "--". */
	for (int a = optind; a < argc; a++)
		if ((rc = ctl_pid_arg(cmd, argv[a], pidarg)) != CTL_EXIT_OK)
			return rc;
	return pid_parse(cmd, *pidarg, pid);
}

int
ctl_view_failed(const struct ctl_opts *o, int r, const char *what)
{
	if (r == -EPROTO) {
		ctl_errx("bad response from memprobed at %s: no \"%s\" array", o->url, what);
		return CTL_EXIT_UNREACHABLE;
	}
	if (r == -ENOMEM) {
		ctl_errx("out of memory");
		return CTL_EXIT_INTERNAL;
	}
	/* A write error is reported once, by main, when it flushes stdout. */
	return CTL_EXIT_OK;
}

int
ctl_parse_pid(const char *s, long *pid)
{
	long v = 0;

	if (*s < '1' || *s > '9')
		return -EINVAL;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (*s - '0');
		if (v > 0x7fffffffL)
			return -EINVAL;
	}
	*pid = v;
	return 0;
}

double
ctl_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
ctl_print_json(const json_t *json)
{
	if (json_dumpf(json, stdout, JSON_INDENT(2) | ctl_json_precision(json)) != 0 || putchar('\n') == EOF) {
		ctl_errx("cannot write to stdout: %s", strerror(errno));
		return CTL_EXIT_INTERNAL;
	}
	return CTL_EXIT_OK;
}

static const struct ctl_command *
find_command(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static int
cmd_help(int argc, char **argv, struct ctl_opts *o)
{
	const struct ctl_command *cmd;

	(void)o;
	if (argc > 2)
		return ctl_bad_arg("help", argv[2]);
	if (argc < 2) {
		usage(stdout);
		return CTL_EXIT_OK;
	}
	cmd = find_command(argv[1]);
	if (cmd == NULL) {
		ctl_errx("help: unknown command '%s'; try '" PROG " --help'", argv[1]);
		return CTL_EXIT_USAGE;
	}
	if (cmd->help != NULL)
		fputs(cmd->help, stdout);
	else
		usage(stdout);
	return CTL_EXIT_OK;
}

/* Flushes stdout so that a full disk or closed pipe is an error, not silence. */
static int
finish_output(int rc)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		if (rc == CTL_EXIT_OK) {
			ctl_errx("cannot write to stdout: %s", strerror(errno));
			rc = CTL_EXIT_INTERNAL;
		}
	}
	return rc;
}

/* The variable's value, or NULL when unset or empty. */
static const char *
env_or_null(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? v : NULL;
}

/*
 * Reads the basic auth password: the first line of o->password_file, else
 * $MEMPROBE_PASSWORD (then removed from the environment). Returns 0 with
 * it in buf, or an exit code after one line on stderr.
 */
static int
read_password(const struct ctl_opts *o, char *buf, size_t size)
{
	const char *env = getenv("MEMPROBE_PASSWORD");
	FILE *f;
	size_t n;

	buf[0] = '\0';
	if (o->password_file == NULL) {
		if (env == NULL) {
			ctl_errx("--user %s needs a password: --password-file FILE or "
			    "$MEMPROBE_PASSWORD", o->user);
			return CTL_EXIT_USAGE;
		}
		if (strlen(env) >= size - 1) {
			ctl_errx("$MEMPROBE_PASSWORD is longer than %zu bytes", size - 2);
			return CTL_EXIT_USAGE;
		}
		snprintf(buf, size, "%s", env);
		/* Not handed on to the command `run` starts. */
		unsetenv("MEMPROBE_PASSWORD");
		return CTL_EXIT_OK;
	}
	f = fopen(o->password_file, "r");
	if (f == NULL) {
		ctl_errx("--password-file %s: %s", o->password_file, strerror(errno));
		return CTL_EXIT_USAGE;
	}
	if (fgets(buf, (int)size, f) == NULL)
		buf[0] = '\0';
	fclose(f);
	n = strcspn(buf, "\r\n");
	if (n >= size - 1) {
		explicit_bzero(buf, size);
		ctl_errx("--password-file %s: the password is longer than %zu bytes",
		    o->password_file, size - 2);
		return CTL_EXIT_USAGE;
	}
	buf[n] = '\0';
	return CTL_EXIT_OK;
}

/* Hands the access options to the HTTP layer. password: room for the
 * password, wiped by the caller. Returns an exit code. */
static int
set_access(const struct ctl_opts *o, char *password, size_t size)
{
	struct ctl_http_access a = { o->ca_file, o->cert, o->key, o->user, NULL };
	int rc;

	if (o->key != NULL && o->cert == NULL) {
		ctl_errx("--key (or $MEMPROBE_KEY) needs --cert");
		return CTL_EXIT_USAGE;
	}
	if (o->user != NULL) {
		rc = read_password(o, password, size);
		if (rc != CTL_EXIT_OK)
			return rc;
		a.password = password;
	} else if (o->password_file != NULL) {
		ctl_errx("--password-file needs --user");
		return CTL_EXIT_USAGE;
	}
	ctl_http_set_access(&a);
	return CTL_EXIT_OK;
}

int
main(int argc, char **argv)
{
	struct ctl_opts opts = { 0 };
	const struct ctl_command *cmd;
	const char *env = getenv("MEMPROBE_URL");
	struct ctl_getopt g = { .stop_at_arg = true };
	char password[PASSWORD_MAX + 2];
	const char *v;
	int i, code = CTL_EXIT_OK;

	opts.url = env != NULL && *env != '\0' ? env : DEFAULT_URL;
	opts.ca_file = env_or_null("MEMPROBE_CA_FILE");
	opts.cert = env_or_null("MEMPROBE_CERT");
	opts.key = env_or_null("MEMPROBE_KEY");
	opts.user = env_or_null("MEMPROBE_USER");

	/* The global options before the command; the rest is the command's. */
	if (ctl_getopt(&g, &opts, argc, argv, &v, &code) == CTL_OPT_EXIT)
		return finish_output(code);
	i = optind;
	if (i >= argc) {
		ctl_errx("no command given; try '" PROG " --help'");
		return CTL_EXIT_USAGE;
	}
	cmd = find_command(argv[i]);
	if (cmd == NULL) {
		ctl_errx("unknown command '%s'; try '" PROG " --help'", argv[i]);
		return CTL_EXIT_USAGE;
	}
	opts.help = cmd->help;

	if (ctl_http_init() < 0) {
		ctl_errx("cannot initialise libcurl");
		return CTL_EXIT_INTERNAL;
	}
	code = set_access(&opts, password, sizeof(password));
	if (code == CTL_EXIT_OK)
		code = cmd->run(argc - i, argv + i, &opts);
	explicit_bzero(password, sizeof(password));
	ctl_http_fini();
	return finish_output(code);
}
