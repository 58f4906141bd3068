/* ctl_run.c: `memprobectl run [--] CMD ARGS`: CMD with the agent preloaded, its final peaks (and heap profile) from the daemon, its exit status. */
#include "ctl_cmd.h"
#include "ctl_fmt.h"
#include "ctl_view.h"
#include "procstat.h"
#include "sockpath.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LIB_NAME      "libmemprobe.so"
#define WAIT_DEFAULT  3.0       /* seconds to wait for the daemon to list the exit */
#define WAIT_MAX      60.0
#define POLL_MS       50
#define ERR_LEN       512

const char ctl_help_run[] =
    "usage: memprobectl run [--socket PATH] [--wait SECONDS] [--profile FILE]\n"
    "                       [--bytes] [--json] [--url URL] [--] CMD [ARGS...]\n"
    "\n"
    "Runs CMD with the agent (libmemprobe.so) preloaded and reporting to\n"
    "memprobed, and when it exits prints its final heap peak and stack peak,\n"
    "as memprobed recorded them, on stderr:\n"
    "  memprobectl: alloc_hold (pid 4242) exited with status 0: heap peak\n"
    "  64.1 MiB, stack peak 2.7 KiB of 8.0 MiB (<0.1%)\n"
    "or \"not reported\" when memprobed never heard from it. Then exits with\n"
    "CMD's exit status (128 + the signal when a signal killed it; 127 when CMD\n"
    "is not found, 126 when it cannot be run). SIGINT, SIGTERM, SIGHUP and\n"
    "SIGQUIT sent to memprobectl are passed on to CMD (the ones a terminal\n"
    "sends already reach CMD, which runs in the same process group).\n"
    "\n"
    "The agent is $MEMPROBE_LIBRARY, else the libmemprobe.so found next to\n"
    "memprobectl: in its directory, ../lib, ../lib/memprobe or build/. It is\n"
    "put first in LD_PRELOAD, before what is there already.\n"
    "\n"
    "CMD gets MEMPROBE_SOCKET set to --socket, else to the socket the agent\n"
    "would pick: $MEMPROBE_SOCKET; else, as a user other than root, the\n"
    "user's own memprobed socket if one is there ($XDG_RUNTIME_DIR/memprobe/\n"
    "agent.sock, or /tmp/memprobe-UID/agent.sock without XDG_RUNTIME_DIR);\n"
    "else the system one, /run/memprobe/agent.sock.\n"
    "\n"
    "With --profile FILE, once memprobed lists CMD as exited, its final heap\n"
    "profile (pprof's format, as `memprobectl profile` writes it) is saved to\n"
    "FILE, whole or not at all. CMD inherits memprobectl's environment, so\n"
    "MEMPROBE_PROFILE_RATE (the agent's mean bytes between samples, 524288 by\n"
    "default) reaches its agent:\n"
    "  MEMPROBE_PROFILE_RATE=16384 memprobectl run --profile heap.pb.gz -- prog\n"
    "A profile that cannot be had is said on stderr; the exit status is CMD's.\n"
    "\n"
    "Options (before CMD):\n"
    "  --socket PATH  memprobed's agent socket\n"
    "  --wait S       seconds to wait, after CMD exits, for memprobed to list\n"
    "                 it as exited (0 to 60, default 3)\n"
    "  --profile FILE save CMD's final heap profile to FILE\n"
    "  --bytes        sizes as byte counts\n"
    "  --json         the report as one JSON object on stderr: pid, comm,\n"
    "                 exit_status or signal, reported, heap_peak_bytes,\n"
    "                 heap_live_bytes, stack_peak_bytes, stack_main_peak_bytes,\n"
    "                 stack_limit_bytes, and with --profile: profile (FILE, or\n"
    "                 null when not written) and profile_error\n"
    "  --url URL      memprobed's HTTP address, asked for the figures\n";

/*
 * Signals memprobectl passes on to CMD. While CMD runs they and SIGCHLD are
 * blocked and taken with sigwaitinfo(): no handler, so nothing races with
 * the wait, and nothing depends on how a runtime (or a sanitizer) delivers
 * asynchronous signals.
 */
static const int forward_sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };

static void
forward_set(sigset_t *set, bool with_chld)
{
	sigemptyset(set);
	for (size_t i = 0; i < sizeof(forward_sigs) / sizeof(forward_sigs[0]); i++)
		sigaddset(set, forward_sigs[i]);
	if (with_chld)
		sigaddset(set, SIGCHLD);
}

static void
nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static bool
readable(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, R_OK) == 0;
}

/*
 * The agent library, as an absolute path in OUT. Returns 0, or -ENOENT
 * with where it looked in ERR.
 */
static int
find_library(char *out, size_t size, char *err, size_t errlen)
{
	static const char *const rel[] = {
		LIB_NAME, "../lib/" LIB_NAME, "../lib/memprobe/" LIB_NAME, "build/" LIB_NAME,
	};
	const char *env = getenv("MEMPROBE_LIBRARY");
	char exe[PATH_MAX], path[PATH_MAX + 64], *slash;
	ssize_t n;

	if (env != NULL && *env != '\0') {
		if (!readable(env) || size < PATH_MAX || realpath(env, out) == NULL) {
			snprintf(err, errlen, "MEMPROBE_LIBRARY=%s: not a readable file", env);
			return -ENOENT;
		}
		return 0;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0) {
		snprintf(err, errlen, "cannot find where memprobectl is (/proc/self/exe: %s); "
		    "set MEMPROBE_LIBRARY to the path of " LIB_NAME, strerror(errno));
		return -ENOENT;
	}
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (slash != NULL)
		*slash = '\0';
	for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", exe, rel[i]);
		if (readable(path) && size >= PATH_MAX && realpath(path, out) != NULL)
			return 0;
	}
	snprintf(err, errlen, LIB_NAME " is not next to memprobectl (looked in %s, ../lib, "
	    "../lib/memprobe and build/); set MEMPROBE_LIBRARY to its path", exe);
	return -ENOENT;
}

/* The agent socket for CMD into buf: --socket (opt), else the clients'
 * rule (sockpath.h). Returns 0, or -ENAMETOOLONG with why in ERR. */
static int
find_socket(const char *opt, char *buf, size_t size, char *err, size_t errlen)
{
	int r;

	if (opt != NULL)
		r = sockpath_own(buf, size, opt, NULL, geteuid());
	else
		r = sockpath_connect_env(buf, size);
	if (r < 0)
		snprintf(err, errlen, "%s '%s': longer than the %d bytes a socket path can have",
		    opt != NULL ? "--socket" : "MEMPROBE_SOCKET", opt != NULL ? opt :
		    getenv("MEMPROBE_SOCKET"), SOCKPATH_MAX);
	return r;
}

/* Puts LIB first in LD_PRELOAD. Returns 0, or -ENOMEM / -EINVAL with why in ERR. */
static int
set_preload(const char *lib, char *err, size_t errlen)
{
	const char *old = getenv("LD_PRELOAD");
	char *val;
	size_t len;
	int r;

	/* The loader splits LD_PRELOAD at blanks and colons. */
	if (strpbrk(lib, " :\t") != NULL) {
		snprintf(err, errlen, "the agent's path '%s' holds a blank or a colon, which "
		    "LD_PRELOAD cannot carry; set MEMPROBE_LIBRARY to another path", lib);
		return -EINVAL;
	}
	if (old == NULL || *old == '\0') {
		r = setenv("LD_PRELOAD", lib, 1) == 0 ? 0 : -ENOMEM;
	} else {
		len = strlen(lib) + 1 + strlen(old) + 1;
		val = malloc(len);
		if (val == NULL) {
			r = -ENOMEM;
		} else {
			snprintf(val, len, "%s:%s", lib, old);
			r = setenv("LD_PRELOAD", val, 1) == 0 ? 0 : -ENOMEM;
			free(val);
		}
	}
	if (r < 0)
		snprintf(err, errlen, "out of memory");
	return r;
}

/* Field 22 of /proc/PID/stat, the start time the daemon keys processes by; 0 if unknown. */
static unsigned long long
start_time_of(pid_t pid)
{
	char path[64];
	struct procstat st;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	return procstat_read(path, &st) == 0 ? st.starttime : 0;
}

struct outcome {
	int status;             /* wait status */
	pid_t pid;
	unsigned long long start_time;
	const char *cmd;
	json_t *entry;          /* the daemon's last entry for it, or NULL; owned */
	bool exited;            /* entry says "exited" */
	int fetch_rc;           /* CTL_EXIT_NOTFOUND when never seen, _UNREACHABLE... */
	char err[ERR_LEN];
	const char *profile;    /* --profile FILE, or NULL */
	size_t profile_len;     /* bytes written to it */
	int profile_rc;         /* how saving it went: an exit code */
	char profile_err[PATH_MAX + ERR_LEN];
};

/*
 * Asks the daemon, until it lists the process as exited or WAIT seconds
 * have passed, for its final figures.
 */
static void
await_report(const struct ctl_opts *o, struct outcome *out, double wait)
{
	double deadline = ctl_now() + wait;
	char path[64];

	snprintf(path, sizeof(path), "/api/v1/processes/%d", (int)out->pid);
	for (;;) {
		json_t *e = NULL;
		int rc = ctl_api_fetch(o, path, &e, out->err, sizeof(out->err));
		struct ctl_fig st;

		if (rc == CTL_EXIT_OK) {
			st = ctl_fig_at(e, "start_time", NULL);
			/* Another process given the pid since: not ours. */
			if (out->start_time != 0 && st.ok && st.v != out->start_time) {
				json_decref(e);
				rc = CTL_EXIT_NOTFOUND;
			} else {
				const char *state = json_string_value(json_object_get(e, "state"));

				json_decref(out->entry);
				out->entry = e;
				out->exited = state != NULL && strcmp(state, "exited") == 0;
			}
		}
		/* A failure after an answer keeps the answer. */
		if (out->entry == NULL || rc == CTL_EXIT_OK)
			out->fetch_rc = rc;
		if (out->exited || (rc != CTL_EXIT_OK && rc != CTL_EXIT_NOTFOUND))
			return;
		if (ctl_now() >= deadline)
			return;
		nap_ms(POLL_MS);
	}
}

static int
exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return CTL_EXIT_INTERNAL;
}

static const char *
size_or_bytes(char *buf, size_t size, struct ctl_fig f, bool bytes)
{
	if (!f.ok)
		snprintf(buf, size, "?");
	else if (bytes)
		snprintf(buf, size, "%llu B", (unsigned long long)f.v);
	else
		ctl_fmt_bytes(buf, size, f.v);
	return buf;
}

/*
 * Saves CMD's final heap profile to out->profile, when memprobed knew
 * CMD: after await_report(), so that the daemon has seen the exit and the
 * profile is the one the agent left.
 */
static void
save_profile(const struct ctl_opts *o, struct outcome *out)
{
	const char *rate = getenv("MEMPROBE_PROFILE_RATE");
	size_t n;

	if (out->entry == NULL) {
		out->profile_rc = out->fetch_rc;
		snprintf(out->profile_err, sizeof(out->profile_err), "no profile for %d: %s",
		    (int)out->pid, out->fetch_rc == CTL_EXIT_NOTFOUND ?
		    "memprobed never heard from it" : out->err);
		return;
	}
	out->profile_rc = ctl_profile_save(o, out->pid, out->profile, &out->profile_len,
	    out->profile_err, sizeof(out->profile_err));
	n = strlen(out->profile_err);
	if (out->profile_rc == CTL_EXIT_NOTFOUND && rate != NULL && strcmp(rate, "0") == 0)
		snprintf(out->profile_err + n, sizeof(out->profile_err) - n,
		    " (MEMPROBE_PROFILE_RATE=0 turns sampling off)");
}

/* The line on stderr that says how saving the profile went. */
static void
report_profile(const struct ctl_opts *o, const struct outcome *out)
{
	char size[CTL_FMT_NUM_LEN + 2];

	if (out->profile == NULL)
		return;
	if (out->profile_rc != CTL_EXIT_OK)
		ctl_errx("run: --profile %s: %s", out->profile, out->profile_err);
	else
		ctl_errx("heap profile of pid %d written to %s (%s)", (int)out->pid, out->profile,
		    size_or_bytes(size, sizeof(size), (struct ctl_fig){ out->profile_len, true },
		    o->bytes));
}

static void
report_text(const struct ctl_opts *o, const struct outcome *out, const char *socket)
{
	const json_t *e = out->entry;
	struct ctl_fig heap = ctl_fig_at(e, "heap", "peak_bytes");
	struct ctl_fig stack = ctl_fig_at(e, "stack", "peak_bytes");
	struct ctl_fig limit = ctl_fig_at(e, "stack", "limit_bytes");
	char comm[256], how[96], a[CTL_FMT_NUM_LEN + 2], b[CTL_FMT_NUM_LEN + 2];
	char lim[CTL_FMT_NUM_LEN + 2], pct[CTL_FMT_NUM_LEN];
	const char *name = json_string_value(json_object_get(e, "comm"));

	/* "?": the daemon could not read its name from /proc (it ended first);
	 * we know what we ran. */
	if (name == NULL || strcmp(name, "?") == 0) {
		name = strrchr(out->cmd, '/');
		name = name != NULL ? name + 1 : out->cmd;
	}
	ctl_fmt_text(comm, sizeof(comm), name);
	if (WIFSIGNALED(out->status))
		snprintf(how, sizeof(how), "was killed by signal %d (%s)", WTERMSIG(out->status),
		    strsignal(WTERMSIG(out->status)));
	else
		snprintf(how, sizeof(how), "exited with status %d", WEXITSTATUS(out->status));

	if (e == NULL) {
		if (out->fetch_rc == CTL_EXIT_NOTFOUND)
			ctl_errx("%s (pid %d) %s: heap and stack peaks not reported (memprobed at %s "
			    "never heard from it on agent socket %s%s)", comm, (int)out->pid, how,
			    o->url, socket, sockpath_is_socket(socket) ? "" : ", where no socket is; "
			    "see --socket");
		else
			ctl_errx("%s (pid %d) %s: heap and stack peaks not reported (%s)", comm,
			    (int)out->pid, how, out->err);
		return;
	}
	if (!heap.ok && !stack.ok) {
		ctl_errx("%s (pid %d) %s: heap and stack peaks not reported (memprobed saw the "
		    "process but no sample from it)", comm, (int)out->pid, how);
		return;
	}
	size_or_bytes(a, sizeof(a), heap, o->bytes);
	size_or_bytes(b, sizeof(b), stack, o->bytes);
	if (limit.ok && limit.v > 0 && stack.ok)
		ctl_errx("%s (pid %d) %s: heap peak %s, stack peak %s of %s (%s)", comm,
		    (int)out->pid, how, a, b, size_or_bytes(lim, sizeof(lim), limit, o->bytes),
		    ctl_fmt_pct(pct, sizeof(pct), stack.v, limit.v));
	else
		ctl_errx("%s (pid %d) %s: heap peak %s, stack peak %s", comm, (int)out->pid, how,
		    a, b);
	if (!out->exited)
		ctl_errx("(figures of the last sample: memprobed still lists pid %d as live; a child "
		    "of it may hold its agent connection)", (int)out->pid);
}

static json_t *
fig_json(struct ctl_fig f)
{
	return f.ok ? json_integer((json_int_t)(f.v > INT64_MAX ? INT64_MAX : f.v)) : json_null();
}

static void
report_json(const struct outcome *out)
{
	const json_t *e = out->entry;
	json_t *r = json_object();
	const char *comm = json_string_value(json_object_get(e, "comm"));

	if (r == NULL)
		return;
	json_object_set_new(r, "pid", json_integer(out->pid));
	json_object_set_new(r, "comm", comm != NULL ? json_string(comm) : json_null());
	json_object_set_new(r, "exit_status", WIFEXITED(out->status) ?
	    json_integer(WEXITSTATUS(out->status)) : json_null());
	json_object_set_new(r, "signal", WIFSIGNALED(out->status) ?
	    json_integer(WTERMSIG(out->status)) : json_null());
	json_object_set_new(r, "reported", json_boolean(e != NULL &&
	    ctl_fig_at(e, "heap", "peak_bytes").ok));
	json_object_set_new(r, "exited", json_boolean(out->exited));
	json_object_set_new(r, "heap_peak_bytes", fig_json(ctl_fig_at(e, "heap", "peak_bytes")));
	json_object_set_new(r, "heap_live_bytes", fig_json(ctl_fig_at(e, "heap", "live_bytes")));
	json_object_set_new(r, "stack_peak_bytes", fig_json(ctl_fig_at(e, "stack", "peak_bytes")));
	json_object_set_new(r, "stack_main_peak_bytes",
	    fig_json(ctl_fig_at(e, "stack", "main_peak_bytes")));
	json_object_set_new(r, "stack_limit_bytes", fig_json(ctl_fig_at(e, "stack", "limit_bytes")));
	if (e == NULL)
		json_object_set_new(r, "error", json_string(out->fetch_rc == CTL_EXIT_NOTFOUND ?
		    "memprobed never heard from it" : out->err));
	if (out->profile != NULL) {
		json_object_set_new(r, "profile", out->profile_rc == CTL_EXIT_OK ?
		    json_string(out->profile) : json_null());
		if (out->profile_rc != CTL_EXIT_OK)
			json_object_set_new(r, "profile_error", json_string(out->profile_err));
	}
	json_dumpf(r, stderr, JSON_COMPACT | ctl_json_precision(r));
	fputc('\n', stderr);
	json_decref(r);
}

/*
 * Forks and execs ARGV. The forwarded signals and SIGCHLD stay blocked in
 * memprobectl from here until wait_child() has CMD's status (*old is the
 * mask to restore then); CMD starts with the mask and dispositions
 * memprobectl was given. Returns 0 and *pid, or the exit code of a failure
 * with why in ERRMSG.
 */
static int
spawn(char **argv, pid_t *pid, sigset_t *old, char *errmsg, size_t errlen)
{
	struct sigaction dfl;
	sigset_t block;
	int pfd[2], err = 0;
	ssize_t n;

	if (pipe2(pfd, O_CLOEXEC) < 0) {
		snprintf(errmsg, errlen, "pipe: %s", strerror(errno));
		return CTL_EXIT_INTERNAL;
	}
	/* An inherited SIG_IGN for SIGCHLD would reap CMD behind our back. */
	memset(&dfl, 0, sizeof(dfl));
	sigemptyset(&dfl.sa_mask);
	dfl.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &dfl, NULL);
	forward_set(&block, true);
	sigprocmask(SIG_BLOCK, &block, old);
	fflush(NULL);
	*pid = fork();
	if (*pid < 0) {
		err = errno;
		sigprocmask(SIG_SETMASK, old, NULL);
		close(pfd[0]);
		close(pfd[1]);
		snprintf(errmsg, errlen, "fork: %s", strerror(err));
		return CTL_EXIT_INTERNAL;
	}
	if (*pid == 0) {
		sigprocmask(SIG_SETMASK, old, NULL);
		execvp(argv[0], argv);
		err = errno;
		if (write(pfd[1], &err, sizeof(err)) < 0)
			_exit(127);
		_exit(err == ENOENT ? 127 : 126);
	}
	close(pfd[1]);
	/* EOF: the exec worked (the pipe closed with it); a number: why not. */
	do
		n = read(pfd[0], &err, sizeof(err));
	while (n < 0 && errno == EINTR);
	close(pfd[0]);
	if (n == (ssize_t)sizeof(err)) {
		int status;

		while (waitpid(*pid, &status, 0) < 0 && errno == EINTR)
			;
		sigprocmask(SIG_SETMASK, old, NULL);
		snprintf(errmsg, errlen, "cannot run '%s': %s", argv[0], strerror(err));
		return err == ENOENT ? 127 : 126;
	}
	return 0;
}

/*
 * Waits for CMD, passing on each forwarded signal sent to memprobectl
 * alone. A signal from the terminal (SI_KERNEL) went to the whole
 * foreground process group, CMD included: passing it on would make two.
 * Once CMD is gone, signals that came with its end are dropped and the
 * mask is restored, so a later ^C ends memprobectl's own wait for the
 * report. Returns 0, or -1 with errno.
 */
static int
wait_child(pid_t pid, int *status, const sigset_t *old)
{
	sigset_t set;
	siginfo_t si;
	struct timespec zero = { 0, 0 };
	int sig, err = 0;
	pid_t w;

	forward_set(&set, true);
	for (;;) {
		w = waitpid(pid, status, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			err = errno;
			break;
		}
		sig = sigwaitinfo(&set, &si);
		if (sig < 0 || sig == SIGCHLD)
			continue;
		if (si.si_code != SI_KERNEL)
			kill(pid, sig);
	}
	forward_set(&set, false);
	while (sigtimedwait(&set, &si, &zero) > 0)
		;
	sigprocmask(SIG_SETMASK, old, NULL);
	errno = err;
	return err != 0 ? -1 : 0;
}

enum { OPT_SOCKET = CTL_OPT_OWN, OPT_WAIT, OPT_PROFILE };

static const struct option run_opts[] = {
	{ "socket", required_argument, NULL, OPT_SOCKET },
	{ "wait", required_argument, NULL, OPT_WAIT },
	{ "profile", required_argument, NULL, OPT_PROFILE },
	{ NULL, 0, NULL, 0 },
};

/* --wait V into *wait. Returns 0, or -1 after a line on stderr. */
static int
parse_wait(const char *v, double *wait)
{
	char *end;

	errno = 0;
	*wait = strtod(v, &end);
	if (errno != 0 || end == v || *end != '\0' || !(*wait >= 0 && *wait <= WAIT_MAX)) {
		ctl_errx("run: --wait '%s': expected seconds from 0 to %g", v, WAIT_MAX);
		return -1;
	}
	return 0;
}

/*
 * CMD's environment: the agent first in LD_PRELOAD, and MEMPROBE_SOCKET,
 * from --socket SOCKOPT or the clients' rule, also put in SOCKET. Returns
 * an exit code, with why in ERR if not 0.
 */
static int
agent_env(const char *sockopt, char *socket, size_t size, char *err, size_t errlen)
{
	char lib[PATH_MAX];
	int r;

	if (find_library(lib, sizeof(lib), err, errlen) < 0)
		return CTL_EXIT_INTERNAL;
	r = set_preload(lib, err, errlen);
	if (r < 0)
		return r == -EINVAL ? CTL_EXIT_USAGE : CTL_EXIT_INTERNAL;
	if (find_socket(sockopt, socket, size, err, errlen) < 0)
		return CTL_EXIT_USAGE;
	if (setenv("MEMPROBE_SOCKET", socket, 1) < 0) {
		snprintf(err, errlen, "out of memory");
		return CTL_EXIT_INTERNAL;
	}
	return CTL_EXIT_OK;
}

int
ctl_cmd_run(int argc, char **argv, struct ctl_opts *o)
{
	struct outcome out = { .fetch_rc = CTL_EXIT_NOTFOUND };
	struct ctl_getopt g = { .cmd = "run", .own = run_opts, .stop_at_arg = true };
	const char *sockopt = NULL, *v;
	char socket[PATH_MAX], err[PATH_MAX + ERR_LEN];   /* room for a path */
	double wait = WAIT_DEFAULT;
	sigset_t mask;
	pid_t pid;
	int a, r, rc;

	while ((r = ctl_getopt(&g, o, argc, argv, &v, &rc)) != CTL_OPT_END) {
		if (r == CTL_OPT_EXIT)
			return rc;
		if (r == OPT_SOCKET)
			sockopt = v;
		else if (r == OPT_PROFILE)
			out.profile = v;
		else if (parse_wait(v, &wait) < 0)
			return CTL_EXIT_USAGE;
	}
	if (sockopt != NULL && *sockopt == '\0') {
		ctl_errx("run: --socket needs a path");
		return CTL_EXIT_USAGE;
	}
	/* CMD's own output goes to stdout: no profile there. */
	if (out.profile != NULL && (*out.profile == '\0' || strcmp(out.profile, "-") == 0)) {
		ctl_errx("run: --profile needs a file (CMD's output goes to stdout)");
		return CTL_EXIT_USAGE;
	}
	/* CMD: what follows is its own. */
	a = optind;
	if (a >= argc) {
		ctl_errx("run: no command given; usage: memprobectl run [--] CMD [ARGS...]");
		return CTL_EXIT_USAGE;
	}

	rc = agent_env(sockopt, socket, sizeof(socket), err, sizeof(err));
	if (rc == CTL_EXIT_OK)
		rc = spawn(argv + a, &pid, &mask, err, sizeof(err));
	if (rc != CTL_EXIT_OK) {
		ctl_errx("run: %s", err);
		return rc;
	}
	out.pid = pid;
	out.cmd = argv[a];
	/* Set at fork, kept across exec: read while the pid is surely ours. */
	out.start_time = start_time_of(pid);
	if (wait_child(pid, &out.status, &mask) < 0) {
		ctl_errx("run: waitpid: %s", strerror(errno));
		return CTL_EXIT_INTERNAL;
	}

	await_report(o, &out, wait);
	if (out.profile != NULL)
		save_profile(o, &out);
	if (o->json) {
		report_json(&out);
	} else {
		report_text(o, &out, socket);
		report_profile(o, &out);
	}
	json_decref(out.entry);
	return exit_code(out.status);
}
