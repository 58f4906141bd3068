/* itest_util.h: helpers for the integration tests: temp dirs, child processes, the daemon, HTTP, metrics. */
#ifndef MEMPROBE_ITEST_UTIL_H
#define MEMPROBE_ITEST_UTIL_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Bounds for polling. Tests wait for a condition with it_wait_until() and
 * these as upper limits; they never sleep a fixed time and never assert how
 * long something took.
 */
#define IT_TIMEOUT_MS       10000   /* a figure, a line, a process exit */
#define IT_START_TIMEOUT_MS 10000   /* the daemon answering /healthz */

/* Paths of what is under test, set once by it_setup(); all absolute. */
struct itest_ctx {
	char build[PATH_MAX];
	char memprobed[PATH_MAX];
	char agent[PATH_MAX];           /* libmemprobe.so, for LD_PRELOAD */
	char alloc_hold[PATH_MAX];
};
extern struct itest_ctx itest;

/* Fills `itest` from the build directory. Returns 0 or -errno (a missing
 * file is reported on stderr). */
int it_setup(const char *build);

/* Whether the test `name` was selected on the command line (all are when
 * none was named). it_select() records the names; argv is kept, not copied. */
void it_select(int n, char **names);
int it_selected(const char *name);

/* This process's start time in clock ticks since boot (/proc/self/stat
 * field 22), as an agent's HELLO carries it; 0 if unreadable. */
uint64_t it_self_start_time(void);

/* Milliseconds of CLOCK_MONOTONIC. */
long long it_now_ms(void);

/*
 * Calls cond(arg) every few milliseconds until it returns non-zero or
 * timeout_ms have passed. Returns 1 if the condition became true, 0 if not.
 */
int it_wait_until(int (*cond)(void *), void *arg, int timeout_ms);

/* Makes a new directory under /tmp (short, so socket paths fit sun_path).
 * Writes its path to dir. Returns 0 or -errno. */
int it_tmpdir(char *dir, size_t size);

/* Reads the file at path into out (NUL-terminated, cut to size - 1; empty
 * if unreadable). */
void it_slurp(const char *path, char *out, size_t size);

/*
 * Runs `promtool check metrics` on body (saved to a file in dir). Returns
 * promtool's exit status (-1 if it could not run) and puts what it printed
 * in out.
 */
int it_promtool_check(const char *dir, const char *body, char *out, size_t size);

/* How many times the file at path contains needle (0 if unreadable), and
 * whether it does at all. */
int it_file_count(const char *path, const char *needle);
int it_file_has(const char *path, const char *needle);

/*
 * Waits until the file at path (a daemon's log) contains needle: a line is
 * written when the daemon gets to it, which may be after the effect a test
 * saw. Returns 1, or 0 after saying so on stderr when the bound passed.
 */
int it_wait_log(const char *path, const char *needle);

/* Removes dir and everything under it. Empty or NULL dir: nothing. */
void it_rmtree(const char *dir);

/* Sets *sun to the AF_UNIX address of path. Returns 0, or -ENAMETOOLONG
 * when path does not fit sun_path. */
struct sockaddr_un;
int it_unix_addr(struct sockaddr_un *sun, const char *path);

/* A SOCK_SEQPACKET connection to the socket at path (an agent socket):
 * the descriptor, or -errno. */
int it_seqpacket_connect(const char *path);

/* Whether the peer closed the connection fd within timeout_ms (what it
 * sent before closing is consumed, a byte at a time). */
int it_peer_closed(int fd, int timeout_ms);

/* Returns a TCP port on 127.0.0.1 that was free a moment ago, or -errno. */
int it_free_port(void);

/* ---- child processes ---- */

struct it_proc {
	pid_t pid;              /* 0 when not running or reaped */
	int in_fd;              /* write end of its stdin, -1 once closed */
	int out_fd;             /* read end of its stdout, -1 once closed */
	int status;             /* wait status once reaped */
	size_t buffered;        /* bytes of stdout read but not yet returned */
	char buf[4096];
};

/*
 * Starts argv[0] (a path) with stdin and stdout on pipes. env_set is a
 * NULL-terminated list of "NAME=VALUE" strings set on top of this process's
 * environment, from which LD_PRELOAD, every MEMPROBE_* variable and a
 * service manager's (NOTIFY_SOCKET, LISTEN_*, WATCHDOG_*) are removed
 * first. stderr goes to the file stderr_path (truncated) or, when it
 * is NULL, to ours. The child is killed if this process dies.
 * Returns 0 or -errno; *p is ready for the functions below either way.
 */
int it_proc_start(struct it_proc *p, char *const argv[], char *const env_set[],
    const char *stderr_path);

/*
 * Reads one line of the child's stdout (without its newline) into line.
 * Returns its length, -ETIMEDOUT if no full line came within timeout_ms, or
 * -EPIPE at end of output.
 */
int it_proc_readline(struct it_proc *p, char *line, size_t size, int timeout_ms);

/* Reads the rest of the child's stdout into out (NUL-terminated, cut to
 * size - 1) until end of output. Returns its length or -ETIMEDOUT. */
long it_proc_read_all(struct it_proc *p, char *out, size_t size, int timeout_ms);

/* Writes s to the child's stdin. Returns 0 or -errno. */
int it_proc_write(struct it_proc *p, const char *s);

/* Closes the child's stdin (end of input). */
void it_proc_close_stdin(struct it_proc *p);

/*
 * Waits up to timeout_ms for the child to exit and stores its wait status in
 * p->status. Returns 0, or -ETIMEDOUT (the child keeps running).
 */
int it_proc_wait(struct it_proc *p, int timeout_ms);

/* Sends sig to a running child; then it_proc_wait() as above. */
int it_proc_stop(struct it_proc *p, int sig, int timeout_ms);

/* Kills (SIGKILL) and reaps the child if it still runs, closes its pipes.
 * Safe to call more than once and on a never-started *p. */
void it_proc_kill(struct it_proc *p);

/* ---- the daemon ---- */

struct it_daemon {
	struct it_proc proc;
	int port;
	char dir[64];           /* its temp dir: socket and log; removed by stop */
	char sock[PATH_MAX];    /* agent socket */
	char log[PATH_MAX];     /* its stderr */
	char url[64];           /* http://127.0.0.1:PORT */
};

/*
 * Starts memprobed in a new temp dir on a free port with the given exited
 * TTL, and waits until /healthz answers and the agent socket exists. Picks
 * another port and tries again if the daemon exits first (the port was
 * taken meanwhile). Returns 0 or -errno, having printed why on stderr.
 */
int it_daemon_start(struct it_daemon *d, int exited_ttl);

/* As it_daemon_start(), with more memprobed arguments (NULL-terminated,
 * after the others, so they win; NULL: none). */
int it_daemon_start_args(struct it_daemon *d, int exited_ttl, char *const extra[]);

/*
 * Starts memprobed again on d's socket, port and log (after d's daemon was
 * stopped or killed, its temp dir kept) and waits as it_daemon_start().
 * Returns 0, or -1 having said why on stderr.
 */
int it_daemon_restart(struct it_daemon *d, int exited_ttl);

/* Prints the daemon's log to stderr (after a failed check). */
void it_daemon_dump_log(const struct it_daemon *d);

/*
 * Stops the daemon with SIGTERM (SIGKILL if it hangs) and removes its temp
 * dir. Returns 0 if it was not running or exited with status 0, else -1
 * having printed its status and log (a sanitizer report lands there). Safe
 * to call more than once and after a failed start.
 */
int it_daemon_stop(struct it_daemon *d);

/* The end of a test: the daemon's log when failed (the test's
 * harness_failures) is not 0, then it_daemon_stop(). */
int it_daemon_finish(struct it_daemon *d, int failed);

/*
 * Environment for a program watched by d: NULL-terminated, in env (at least
 * 4 entries), strings in storage (at least 2 * PATH_MAX bytes). Sets
 * LD_PRELOAD to the agent, MEMPROBE_SOCKET to sock and MEMPROBE_INTERVAL_MS
 * to 100.
 */
void it_agent_env(char *env[], char *storage, const char *sock);

/*
 * Runs memprobed with args (NULL-terminated, at most 14) to its end, its
 * stderr to dir/stderr, read back into err (size bytes, NUL-terminated).
 * Returns its wait status, or -1 if it could not start or did not end
 * within IT_TIMEOUT_MS (it is killed then).
 */
int it_daemon_run_once(char *const args[], const char *dir, char *err, size_t size);

/*
 * Runs argv (argv[0] absolute) to its end with the environment additions
 * env (as it_proc_start), stdin closed, stderr to stderr_path (NULL:
 * inherited) and stdout in out (cut to size - 1). Returns its wait
 * status, or -1 when it could not start or did not end within
 * IT_TIMEOUT_MS.
 */
int it_run(char *const argv[], char *const env[], const char *stderr_path, char *out,
    size_t size);

/* ---- HTTP ---- */

struct it_http {
	long status;            /* 0 when no answer */
	char *body;             /* NUL-terminated; owned, freed by it_http_free */
	size_t len;
	char *headers;          /* raw response headers, NUL-terminated; owned */
	size_t hlen;
};

/* A libcurl write/header callback appending to a NUL-terminated buffer. */
struct it_growbuf {
	char *p;
	size_t len;
};
size_t it_curl_collect(char *data, size_t size, size_t n, void *arg);

/*
 * Makes one request with libcurl (no proxy, a 5 s bound) and fills *r.
 * method is "GET", "POST", "HEAD"...; url is absolute. Returns 0 when an
 * answer came (any status), else -EIO with r->status 0.
 */
int it_http(const char *method, const char *url, struct it_http *r);

/* GET of base_url + path; as it_http(). */
int it_get(const char *base_url, const char *path, struct it_http *r);

/* Frees what it_http() stored; safe on a zeroed *r. */
void it_http_free(struct it_http *r);

/*
 * Copies the value of response header `name` (case-insensitive, last one
 * wins, trailing CR/space stripped) into out. Returns 1 if found, else 0.
 */
int it_http_header(const struct it_http *r, const char *name, char *out, size_t size);

/* ---- Prometheus text ---- */

/*
 * Reads one label value of the exposition at p (just after its opening
 * quote), unescaped, into out (cut to size - 1). Returns the character
 * after the closing quote, or NULL when the value is malformed.
 */
const char *it_label_value(const char *p, char *out, size_t size);

/*
 * Finds the sample of metric `name` (exactly, not a longer name) whose
 * labels include label="value" (unescaped), or any sample of it when label
 * is NULL. Stores its value in *out and returns 1; returns 0 if none.
 */
int it_metric(const char *text, const char *name, const char *label,
    const char *value, double *out);

/* As it_metric() with label pid="pid". */
int it_metric_pid(const char *text, const char *name, long pid, double *out);

/* Sum of every sample of metric `name` whose labels include label="value"
 * (any sample when label is NULL); 0 when none. */
double it_metric_sum(const char *text, const char *name, const char *label,
    const char *value);

/*
 * Polls base_url/metrics until metric `name` for pid is within [lo, hi].
 * Returns 1 if it was; 0 after timeout_ms. *last (may be NULL) gets the
 * last value seen, or -1 if the series was never there.
 */
int it_wait_metric(const char *base_url, const char *name, long pid,
    double lo, double hi, int timeout_ms, double *last);

/* ---- the programs under watch and the JSON API ---- */

/*
 * Starts `alloc_hold NBLOCKS SIZE` with the agent preloaded and reporting to
 * sock (no agent at all when sock is NULL), stderr to stderr_path (NULL:
 * ours), and waits for its "ready PID" line. Returns the pid it printed, or
 * -errno having said why on stderr; *p must be it_proc_kill()ed either way.
 */
long it_hold_start(struct it_proc *p, const char *sock, int nblocks, int size,
    const char *stderr_path);

/*
 * GETs base_url/api/v1/processes and returns the entry whose "pid" is pid:
 * a new reference the caller json_decref()s, or NULL if there is none.
 */
struct json_t *it_api_process(const char *base_url, long pid);

/* Integer member `key` of object `obj` (a dotted path like "heap.live_bytes"
 * descends into objects). Returns 1 and stores it, or 0 when missing or not
 * a number. */
int it_json_num(struct json_t *obj, const char *path, double *out);

/*
 * Polls the /api/v1/processes entry of pid until the number at `path` (as
 * it_json_num()) is at least lo. Returns 1 if it was; 0 after IT_TIMEOUT_MS,
 * having printed the last value (or its absence) on stderr.
 */
int it_wait_api_num(const char *base_url, long pid, const char *path, double lo);

/*
 * The value of metric name{label="value"} (any sample when label is NULL)
 * in a scrape of base_url/metrics now, or -1 when it is not there.
 */
double it_metric_now(const char *base_url, const char *name, const char *label,
    const char *value);

/*
 * Polls base_url/metrics until name{label="value"} is within [lo, hi].
 * Returns 1 if it was; 0 after IT_TIMEOUT_MS, having printed the last value.
 */
int it_wait_metric_label(const char *base_url, const char *name, const char *label,
    const char *value, double lo, double hi);

/* The body of r is a JSON object {"error": "..."} and r's Content-Type
 * is application/json. */
int it_is_json_error(const struct it_http *r);

/* ---- a hand-built agent: the protocol spoken with common/proto.c ---- */

/* Sends the n bytes of buf as one datagram. Returns 0 or -1. */
int it_send_msg(int fd, const unsigned char *buf, size_t n);

/* Sends a HELLO of agent kind `agent` (enum proto_agent) claiming comm and
 * exe (NULL: "/nonexistent/COMM"), with this process's start time. */
int it_send_hello(int fd, unsigned agent, const char *comm, const char *exe);

/* Sends a heap and stack SAMPLE with `live` live heap bytes. */
int it_send_heap(int fd, uint64_t live);

/* ---- one program run without and with the agent ---- */

#define IT_OUT_MAX (8u << 20)           /* stdout kept of a workload */
#define IT_RUN_TIMEOUT_MS 60000         /* a whole workload, under load */

/* How a workload ended. */
struct it_outcome {
	char *out;              /* stdout, NUL-terminated; owned */
	long len;
	char err[4096];         /* stderr, cut */
	int status;             /* wait status; -1 if it did not finish */
	long pid;
};

/* Frees o->out; safe on a zeroed *o and more than once. */
void it_outcome_free(struct it_outcome *o);

/* Finds an executable on PATH (or checks an absolute name) into out.
 * Returns 0 or -ENOENT. */
int it_which(const char *name, char *out, size_t size);

/*
 * Runs argv (argv[0] absolute) in directory dir (NULL: here) to its end,
 * stdin closed, with the agent reporting to sock, or without it when sock
 * is NULL; extra is one more NAME=VALUE for the environment, or NULL;
 * stderr to errpath. Fills *o (o->status -1 when it did not finish within
 * IT_RUN_TIMEOUT_MS; it is killed then).
 */
void it_run_workload(char *const argv[], const char *dir, const char *sock,
    const char *extra, const char *errpath, struct it_outcome *o);

/* Compares the run with the agent against the one without: stdout,
 * stderr and wait status. Returns how many differ (each said on stderr);
 * a run that did not finish counts as one. */
int it_compare(const char *name, const struct it_outcome *plain, const struct it_outcome *with);

/* it_run_workload() without the agent and then with it reporting to d
 * (stderr files in d->dir), then it_compare(); returns what that returns. */
int it_run_both(const struct it_daemon *d, char *const argv[], const char *dir,
    const char *extra, struct it_outcome *plain, struct it_outcome *with);

/* Waits until /api/v1/processes of base_url lists pid. Returns 1, or 0
 * having said so on stderr (what names the program). */
int it_wait_seen_pid(const char *base_url, long pid, const char *what);

/* Waits until /api/v1/processes lists at least min entries whose comm is
 * comm. Returns 1, or 0 having said how many there were. */
int it_wait_seen_comm(const char *base_url, const char *comm, int min);
/* As it_wait_seen_comm() for short-lived programs: exited entries named
 * "?" count too. memprobed names a process from /proc, so one that ended
 * before memprobed could read it has its name lost (its figures are
 * still taken). */
int it_wait_seen_short(const char *base_url, const char *comm, int min);

/* Checks that must hold for the rest of a test to make sense: a failed one
 * counts like CHECK and jumps to the test's `out:` label. Used only in files
 * that include harness.h. */
#define REQUIRE(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: required: %s\n", __FILE__, __LINE__, #cond); \
		harness_failures++; \
		goto out; \
	} \
} while (0)

/* ---- the suites, one a file; each runs its selected tests and returns
 * how many failed ---- */
int itest_heap_run(void);        /* itest_heap.c */
int itest_agent_run(void);       /* itest_agent.c */
int itest_http_run(void);        /* itest_http.c */
int itest_badinput_run(void);    /* itest_badinput.c */
int itest_accuracy_run(void);    /* itest_accuracy.c */
int itest_transparency_run(void); /* itest_transparency.c */
int itest_daemon_run(void);      /* itest_daemon.c */
int itest_prom_run(void);        /* itest_prom.c */
int itest_python_run(void);      /* itest_python.c */
int itest_ctl_run(void);         /* itest_ctl.c */
int itest_page_run(void);        /* itest_page.c */
int itest_systemd_run(void);     /* itest_systemd.c */
int itest_faults_run(void);      /* itest_faults.c */
int itest_webconf_run(void);     /* itest_webconf.c */
int itest_hostile_run(void);     /* itest_hostile.c */
int itest_guest_run(void);       /* itest_guest.c */
int itest_foreign_run(void);     /* itest_foreign.c */

#endif
