/* ctl_main.c: memprobectl's entry point: global options, command dispatch, the daemon's API. */
#include "ctl_cmd.h"
#include "ctl_fmt.h"
#include "ctl_http.h"

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
	    "  run [--] CMD ARGS  run CMD with the agent loaded; print its heap and stack\n"
	    "                     peaks when it exits, and exit with its status\n"
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

int
ctl_opt_value(int argc, char **argv, int *i, const char *name, const char **value)
{
	const char *arg = argv[*i];
	size_t n = strlen(name);

	if (strncmp(arg, name, n) != 0)
		return 0;
	if (arg[n] == '=') {
		*value = arg + n + 1;
		return 1;
	}
	if (arg[n] != '\0')
		return 0;
	if (*i + 1 >= argc) {
		ctl_errx("option %s needs a value", name);
		return -1;
	}
	*value = argv[++*i];
	return 1;
}

/* The global options that take a value, and where it goes. */
static const struct {
	const char *name;
	size_t off;
} path_opts[] = {
	{ "--url", offsetof(struct ctl_opts, url) },
	{ "--ca-file", offsetof(struct ctl_opts, ca_file) },
	{ "--cert", offsetof(struct ctl_opts, cert) },
	{ "--key", offsetof(struct ctl_opts, key) },
	{ "--user", offsetof(struct ctl_opts, user) },
	{ "--password-file", offsetof(struct ctl_opts, password_file) },
};

int
ctl_opt_global(struct ctl_opts *o, int argc, char **argv, int *i, int *code)
{
	const char *arg = argv[*i], *v;
	int r;

	if (strcmp(arg, "--json") == 0) {
		o->json = true;
		return 1;
	}
	if (strcmp(arg, "--bytes") == 0) {
		o->bytes = true;
		return 1;
	}
	if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
		if (o->help != NULL)
			fputs(o->help, stdout);
		else
			usage(stdout);
		*code = CTL_EXIT_OK;
		return -1;
	}
	if (strcmp(arg, "--version") == 0) {
		printf(PROG " %s\n", MEMPROBE_VERSION);
		*code = CTL_EXIT_OK;
		return -1;
	}
	for (size_t k = 0; k < sizeof(path_opts) / sizeof(path_opts[0]); k++) {
		const char **dst = (const char **)((char *)o + path_opts[k].off);

		r = ctl_opt_value(argc, argv, i, path_opts[k].name, &v);
		if (r > 0 && *v == '\0') {
			ctl_errx("option %s needs a non-empty value", path_opts[k].name);
			r = -1;
		}
		if (r < 0) {
			*code = CTL_EXIT_USAGE;
			return -1;
		}
		if (r > 0) {
			*dst = v;
			return 1;
		}
	}
	return 0;
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

int
ctl_api_fetch(const struct ctl_opts *o, const char *path, json_t **out,
    char *errmsg, size_t errlen)
{
	struct ctl_http_reply reply = { 0 };
	char err[ERRMSG_MAX], *url;
	size_t base = strlen(o->url), len;
	json_error_t jerr;
	json_t *root;
	int rc;

	/* "http://host:port/" and "http://host:port" name the same daemon. */
	while (base > 0 && o->url[base - 1] == '/')
		base--;
	len = base + strlen(path) + 1;
	url = malloc(len);
	if (url == NULL) {
		snprintf(errmsg, errlen, "out of memory");
		return CTL_EXIT_INTERNAL;
	}
	snprintf(url, len, "%.*s%s", (int)base, o->url, path);

	err[0] = '\0';
	rc = ctl_http_get(url, HTTP_TIMEOUT_MS, &reply, err, sizeof(err));
	switch (rc) {
	case 0:
		break;
	case -EINVAL:
		snprintf(errmsg, errlen, "invalid URL '%s': %s", o->url, err);
		rc = CTL_EXIT_USAGE;
		goto out;
	case -ENOMEM:
		snprintf(errmsg, errlen, "out of memory");
		rc = CTL_EXIT_INTERNAL;
		goto out;
	case -EMSGSIZE:
	case -EPROTO:
		snprintf(errmsg, errlen, "bad response from memprobed at %s: %s", o->url, err);
		rc = CTL_EXIT_UNREACHABLE;
		goto out;
	default:
		/* A TLS 1.3 server that wants a client certificate closes the
		 * connection after the handshake when none came. */
		snprintf(errmsg, errlen, "cannot reach memprobed at %s: %s%s", o->url, err,
		    rc == -EIO && o->cert == NULL && strncmp(o->url, "https:", 6) == 0 &&
		    strstr(err, "SSL certificate problem") == NULL ?
		    " (does it want a client certificate? --cert, --key)" : "");
		rc = CTL_EXIT_UNREACHABLE;
		goto out;
	}

	if (reply.status == 404) {
		const char *msg = reply_error(&reply, err, sizeof(err));

		snprintf(errmsg, errlen, "%s: %s (HTTP 404)", url, msg ? msg : "not found");
		rc = CTL_EXIT_NOTFOUND;
		goto out;
	}
	if (reply.status == 401 || reply.status == 403) {
		if (reply.status == 403)
			snprintf(errmsg, errlen, "memprobed at %s wants a client certificate its CA "
			    "signed (--cert, --key) (HTTP 403)", o->url);
		else if (o->user == NULL)
			snprintf(errmsg, errlen, "memprobed at %s wants a user and password (--user, "
			    "with --password-file or $MEMPROBE_PASSWORD) (HTTP 401)", o->url);
		else
			snprintf(errmsg, errlen, "memprobed at %s refused user '%s': wrong user or "
			    "password (HTTP 401)", o->url, ctl_fmt_text(err, sizeof(err), o->user));
		rc = CTL_EXIT_UNREACHABLE;
		goto out;
	}
	if (reply.status < 200 || reply.status > 299) {
		const char *msg = reply_error(&reply, err, sizeof(err));

		snprintf(errmsg, errlen, "memprobed at %s answered HTTP %ld for %s%s%s", o->url,
		    reply.status, path, msg ? ": " : "", msg ? msg : "");
		rc = CTL_EXIT_UNREACHABLE;
		goto out;
	}

	root = json_loadb(reply.body, reply.len, 0, &jerr);
	if (root == NULL) {
		snprintf(errmsg, errlen, "bad response from memprobed at %s: %s: %s (line %d)",
		    o->url, path, ctl_fmt_text(err, sizeof(err), jerr.text), jerr.line);
		rc = CTL_EXIT_UNREACHABLE;
		goto out;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		snprintf(errmsg, errlen, "bad response from memprobed at %s: %s: not a JSON object",
		    o->url, path);
		rc = CTL_EXIT_UNREACHABLE;
		goto out;
	}
	*out = root;
	rc = CTL_EXIT_OK;
out:
	ctl_http_reply_free(&reply);
	free(url);
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
	if (json_dumpf(json, stdout, JSON_INDENT(2)) != 0 || putchar('\n') == EOF) {
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
	char password[PASSWORD_MAX + 2];
	int i, r, code = CTL_EXIT_OK;

	opts.url = env != NULL && *env != '\0' ? env : DEFAULT_URL;
	opts.ca_file = env_or_null("MEMPROBE_CA_FILE");
	opts.cert = env_or_null("MEMPROBE_CERT");
	opts.key = env_or_null("MEMPROBE_KEY");
	opts.user = env_or_null("MEMPROBE_USER");

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		}
		r = ctl_opt_global(&opts, argc, argv, &i, &code);
		if (r < 0)
			return finish_output(code);
		if (r == 0) {
			ctl_errx("unknown option '%s'; try '" PROG " --help'", argv[i]);
			return CTL_EXIT_USAGE;
		}
	}
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
