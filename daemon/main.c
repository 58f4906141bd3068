/* main.c: memprobed's entry point: command line, configuration, signals, the main loop. */

/*
 * Threads: the main thread owns the agent socket and every write to the
 * process table; libmicrohttpd's polling thread serves HTTP from snapshots
 * (ptab_snapshot()) and atomic counters (ingest_stats()).
 *
 * A third thread (refresh.c) reads /proc figures of the live processes.
 *
 * The main loop waits on one epoll set: the ingest module's own epoll
 * descriptor (the agent listener and every agent connection), a signalfd
 * (SIGTERM, SIGINT, SIGHUP) and a 1 s timerfd (exited-process expiry, a
 * history point read from each shared region, agent connections silent
 * past hello_timeout).
 * SIGHUP reads the configuration again (the same file, then the same
 * flags) and applies what can change live; see conf.c for which keys.
 *
 * Under systemd (sd.c): sockets passed by socket activation replace the
 * ones we would bind; READY=1 goes out once both serve, STATUS= with the
 * counts on the 1 s tick when they changed, WATCHDOG=1 from this loop at
 * half of WATCHDOG_USEC (a hung loop stops petting), RELOADING=1 and
 * READY=1 around a SIGHUP reload, STOPPING=1 on the way out.
 *
 * Allocation failure: at startup it is fatal (exit 1); afterwards each
 * module returns -ENOMEM and the boundary drops what it was doing (an agent
 * connection is closed, an HTTP request gets 503) and the daemon goes on.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "agentsock.h"
#include "clock.h"
#include "conf.h"
#include "fdstore.h"
#include "http.h"
#include "ingest.h"
#include "log.h"
#include "ptab.h"
#include "refresh.h"
#include "sd.h"
#include "webauth.h"
#include "webconf.h"

/* Exit codes: 0 clean stop, 1 runtime failure, 2 usage or configuration. */
#define EXIT_RUNTIME 1
#define EXIT_USAGE   2

enum {
	OPT_CONFIG = 1,
	OPT_CHECK,
	OPT_VERSION,
	OPT_HELP,
	OPT_KEY,        /* a configuration key: the option's name is its flag */
};

/* The fixed options; one option per configuration key is added from
 * conf.c's table, so every key has its flag. */
static const struct option main_fixed_opts[] = {
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "check-config", no_argument, NULL, OPT_CHECK },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "help", no_argument, NULL, OPT_HELP },
};

#define MAIN_NFIXED (sizeof(main_fixed_opts) / sizeof(main_fixed_opts[0]))

/* A flag to apply once the file is read. */
struct main_override {
	const char *flag;
	const char *value;
};

/* What the command line said; kept for SIGHUP, which applies it again. */
struct main_args {
	const char *config;             /* NULL: the default file if it exists */
	struct main_override *ov;
	size_t nov;
	int check;
};

static void usage(FILE *f)
{
	fprintf(f,
	    "usage: memprobed [--config FILE] [--agent-socket PATH] [--web.listen-address HOST:PORT]\n"
	    "                 [--exited-ttl SECONDS] [--log-level LEVEL] [--check-config] [--version]\n"
	    "                 [-h | --help]\n"
	    "\n"
	    "Collects heap and stack figures from memprobe agents and serves them over HTTP\n"
	    "(/metrics, /api/v1/processes, /healthz). Runs in the foreground.\n"
	    "\n"
	    "  --config FILE                        read FILE (default %s, if it exists)\n"
	    "  --check-config                       print the effective configuration and exit\n"
	    "  --version                            print the version and exit\n"
	    "  -h, --help                           print this help and exit\n"
	    "\n"
	    "Settings; each is also a key of the [%s] section of the file, and the flag wins:\n",
	    CONF_DEFAULT_FILE, CONF_SECTION);
	conf_print_flags(f);
}

static void usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "memprobed: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'memprobed --help'.\n");
	exit(EXIT_USAGE);
}

/* Parses the command line into *a; exits on --help, --version and usage
 * errors. */
static void main_parse_args(struct main_args *a, int argc, char **argv)
{
	size_t nk = conf_nkeys(), nopts = MAIN_NFIXED + nk + 1;
	struct option *opts = calloc(nopts, sizeof(*opts));
	int opt, idx;

	a->ov = calloc((size_t)argc + 1, sizeof(*a->ov));
	if (opts == NULL || a->ov == NULL)
		fatalx("out of memory");
	memcpy(opts, main_fixed_opts, sizeof(main_fixed_opts));
	for (size_t i = 0; i < nk; i++) {
		opts[MAIN_NFIXED + i].name = conf_key_flag(i);
		opts[MAIN_NFIXED + i].has_arg = required_argument;
		opts[MAIN_NFIXED + i].val = OPT_KEY;
	}
	opterr = 1;
	while ((opt = getopt_long(argc, argv, "h", opts, &idx)) != -1) {
		switch (opt) {
		case OPT_CONFIG:
			a->config = optarg;
			break;
		case OPT_CHECK:
			a->check = 1;
			break;
		case OPT_VERSION:
			printf("memprobed %s\n", MEMPROBE_VERSION);
			free(opts);
			free(a->ov);
			exit(0);
		case 'h':
		case OPT_HELP:
			usage(stdout);
			free(opts);
			free(a->ov);
			exit(0);
		case OPT_KEY:
			/* The option's name points into conf.c's table. */
			a->ov[a->nov].flag = opts[idx].name;
			a->ov[a->nov].value = optarg;
			a->nov++;
			break;
		default:
			/* getopt_long() has named the option already. */
			fprintf(stderr, "Try 'memprobed --help'.\n");
			free(opts);
			free(a->ov);
			exit(EXIT_USAGE);
		}
	}
	free(opts);
	if (optind < argc) {
		free(a->ov);
		usage_error("unexpected argument '%s'", argv[optind]);
	}
}

/*
 * Defaults, then the file, then the flags, into *c (conf_init()ed here).
 * Returns 0, or a negative errno with one line naming file:line: key or
 * the flag in err (*c is then freed).
 */
static int main_configure(struct conf *c, const struct main_args *a, char *err,
    size_t errsize)
{
	const char *config = a->config;
	char why[CONF_ERR_MAX];
	int r;

	if (conf_init(c) < 0) {
		snprintf(err, errsize, "out of memory");
		return -ENOMEM;
	}
	if (config == NULL && access(CONF_DEFAULT_FILE, F_OK) == 0)
		config = CONF_DEFAULT_FILE;
	if (config != NULL && (r = conf_load(c, config, err, errsize)) < 0)
		goto fail;
	for (size_t i = 0; i < a->nov; i++) {
		const char *key = conf_key_for_flag(a->ov[i].flag);

		if (key == NULL)
			fatalx("option --%s has no configuration key", a->ov[i].flag);
		r = conf_set(c, key, a->ov[i].value, why, sizeof(why));
		if (r < 0) {
			snprintf(err, errsize, "--%s: %.400s", a->ov[i].flag, why);
			goto fail;
		}
	}
	return 0;
fail:
	conf_free(c);
	return r;
}

/*
 * Reads web_config_file, when set, into the HTTP access rules and logs its
 * warnings; at start, and again on SIGHUP (main_reload_web()). Returns 0
 * and *out (NULL without a file), or a negative errno with one line naming
 * file:line in err.
 */
static int main_web(const struct conf *c, struct webauth **out, char *err, size_t errsize)
{
	struct webconf wc;
	int r;

	*out = NULL;
	if (c->web_config_file[0] == '\0')
		return 0;
	r = webconf_load(&wc, c->web_config_file, err, errsize);
	if (r < 0)
		return r;
	for (size_t i = 0; i < wc.nwarnings; i++)
		log_warnx("%s", wc.warnings[i]);
	r = webauth_new(out, &wc, err, errsize);
	webconf_free(&wc);
	return r;
}

/* Everything the main loop runs. */
struct main_state {
	struct main_args args;
	struct conf conf;
	struct ptab *pt;
	struct ingest *ing;
	struct http *http;
	struct refresh *refresh;
	struct webauth *auth;           /* TLS, basic auth; NULL: none */
	struct fdstore *fs;             /* regions kept for the next daemon; NULL: none */
	int sfd;                        /* signalfd: SIGTERM, SIGINT, SIGHUP */
	int tfd;                        /* the 1 s tick */
	int wdfd;                       /* systemd watchdog timer, or -1 */
	char status[160];               /* the last STATUS= sent */
};

static void main_limits(const struct conf *c, struct ptab_limits *pl, struct ingest_limits *il,
    struct http_settings *hs)
{
	pl->max_processes = c->max_processes;
	pl->max_gauges = c->max_gauges;
	pl->exited_ttl = c->exited_ttl;
	pl->history_length = c->history_length;
	il->max_connections = c->max_connections;
	il->max_message_rate = c->max_message_rate;
	il->max_pending_per_uid = c->max_pending_per_uid;
	il->hello_timeout = c->hello_timeout;
	memset(hs, 0, sizeof(*hs));
	hs->by_command = c->series == CONF_SERIES_COMMAND;
	hs->exited_ttl = c->exited_ttl;
	hs->history_length = c->history_length;
	hs->proc_interval = c->proc_interval;
	hs->max_connections = c->max_connections;
	hs->max_processes = c->max_processes;
	hs->max_gauges = c->max_gauges;
	hs->max_message_rate = c->max_message_rate;
	hs->http_max_connections = c->http_max_connections;
	hs->http_max_connections_per_ip = c->http_max_connections_per_ip;
	hs->http_timeout = c->http_timeout;
	hs->profile_top_sites = c->profile_top_sites;
}

/*
 * SIGHUP, for the web config file given at start: reads it again and puts
 * its rules in force for new requests and TLS connections (the certificate
 * and key, client CA and client_auth_type, TLS versions, basic auth
 * users). A bad file, or one that adds or removes TLS, changes nothing.
 */
static void main_reload_web(struct main_state *st)
{
	struct webauth *next;
	char err[CONF_ERR_MAX], what[256];

	if (st->auth == NULL)
		return;
	if (main_web(&st->conf, &next, err, sizeof(err)) < 0) {
		log_error("SIGHUP: %s; http access unchanged", err);
		return;
	}
	if (webauth_replace(st->auth, next, err, sizeof(err)) < 0) {
		log_error("SIGHUP: %s: %s; http access unchanged", st->conf.web_config_file, err);
		return;
	}
	webauth_describe(st->auth, what, sizeof(what));
	log_info("SIGHUP: http access: %s (from %s)", what, st->conf.web_config_file);
}

/* SIGHUP: reads the configuration again; applies the live keys, logs each
 * change, keeps the old value of the others (with a warning). A bad file
 * changes nothing. Then reads the web config file again. */
static void main_reload(struct main_state *st)
{
	struct conf next, applied;
	struct ptab_limits pl;
	struct ingest_limits il;
	struct http_settings hs;
	char err[CONF_ERR_MAX], before[4096], after[4096];
	int changed = 0;

	if (main_configure(&next, &st->args, err, sizeof(err)) < 0) {
		log_error("SIGHUP: %s; configuration unchanged", err);
		return;
	}
	if (conf_copy(&applied, &st->conf) < 0) {
		conf_free(&next);
		log_error("SIGHUP: out of memory; configuration unchanged");
		main_reload_web(st);
		return;
	}
	for (size_t i = 0; i < conf_nkeys(); i++) {
		const char *key = conf_key_name(i);

		conf_value(&st->conf, i, before, sizeof(before));
		conf_value(&next, i, after, sizeof(after));
		if (strcmp(before, after) == 0)
			continue;
		if (!conf_key_live(i)) {
			log_warnx("SIGHUP: %s changed from %s to %s; it takes effect at the next start",
			    key, before, after);
			continue;
		}
		if (conf_set(&applied, key, after, err, sizeof(err)) < 0) {
			log_error("SIGHUP: %s: %s", key, err);
			continue;
		}
		log_info("SIGHUP: %s changed from %s to %s", key, before, after);
		changed++;
	}
	conf_free(&next);
	conf_free(&st->conf);
	st->conf = applied;
	log_set_level((enum log_level)st->conf.log_level);
	main_limits(&st->conf, &pl, &il, &hs);
	ptab_set_limits(st->pt, &pl);
	ingest_set_limits(st->ing, &il);
	http_set_settings(st->http, &hs);
	refresh_set_interval(st->refresh, st->conf.proc_interval);
	if (changed == 0)
		log_info("SIGHUP: configuration reloaded; no key changed");
	main_reload_web(st);
}

/* Sends the counts to systemd as STATUS= (after the lines in `also`, when
 * not NULL), or nothing when neither they nor `also` are new. */
static void main_status(struct main_state *st, const char *also)
{
	struct ingest_stats is;
	size_t tracked, live;
	char status[sizeof(st->status)];

	if (!sysd_notifying())
		return;
	ingest_stats(st->ing, &is);
	ptab_counts(st->pt, &tracked, &live);
	snprintf(status, sizeof(status), "agents %" PRIu64 ", processes %zu (live %zu, exited %zu)",
	    is.agents_connected, tracked, live, tracked - live);
	if (also == NULL && strcmp(status, st->status) == 0)
		return;
	memcpy(st->status, status, sizeof(status));
	sysd_notifyf("%s%sSTATUS=%s", also ? also : "", also ? "\n" : "", status);
}

/* The descriptors of the main loop, tagged in epoll_event.data.u32. */
enum { EV_INGEST, EV_SIGNAL, EV_TIMER, EV_WATCHDOG };

static int main_watch(int ep, int fd, uint32_t tag)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.u32 = tag;
	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

/* Reads a timerfd's expiry count; fatal on a read error. */
static void main_timer_read(int fd, const char *what)
{
	uint64_t ticks;

	if (read(fd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		fatal("%s timerfd read", what);
}

/* The 1 s tick: exited entries expire, a history point from each shared
 * region, silent connections close, the agent socket is made again if it
 * went, rate-limited log lines are summed up, STATUS= if counts changed. */
static void main_tick(struct main_state *st, double now)
{
	main_timer_read(st->tfd, "tick");
	ptab_expire(st->pt, now);
	ptab_tick(st->pt, now);
	ingest_expire(st->ing, now);
	ingest_check_socket(st->ing);
	log_ratelimit_flush();
	main_status(st, NULL);
}

/* A signal from the signalfd: SIGHUP reloads and returns 0; SIGTERM and
 * SIGINT are returned. */
static int main_signal(struct main_state *st)
{
	struct signalfd_siginfo si;

	if (read(st->sfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return 0;
	if (si.ssi_signo != SIGHUP)
		return (int)si.ssi_signo;
	sysd_notifyf("RELOADING=1\nMONOTONIC_USEC=%.0f", clock_mono() * 1e6);
	main_reload(st);
	main_status(st, "READY=1");
	return 0;
}

/* Runs until SIGTERM or SIGINT; returns the signal. */
static int main_loop(struct main_state *st)
{
	struct epoll_event evs[8];
	int ep = epoll_create1(EPOLL_CLOEXEC), sig = 0;

	if (ep < 0 || main_watch(ep, ingest_fd(st->ing), EV_INGEST) < 0 ||
	    main_watch(ep, st->sfd, EV_SIGNAL) < 0 || main_watch(ep, st->tfd, EV_TIMER) < 0 ||
	    (st->wdfd >= 0 && main_watch(ep, st->wdfd, EV_WATCHDOG) < 0))
		fatal("epoll");
	while (sig == 0) {
		int n = epoll_wait(ep, evs, 8, -1);
		double now;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			fatal("epoll_wait");
		}
		now = clock_mono();
		for (int i = 0; i < n && sig == 0; i++) {
			switch (evs[i].data.u32) {
			case EV_INGEST:
				ingest_run(st->ing, now);
				break;
			case EV_TIMER:
				main_tick(st, now);
				break;
			case EV_WATCHDOG:
				main_timer_read(st->wdfd, "watchdog");
				sysd_notify("WATCHDOG=1");
				break;
			case EV_SIGNAL:
				sig = main_signal(st);
				break;
			}
		}
	}
	close(ep);
	return sig;
}

/*
 * memprobed holds a descriptor per live process it watches (a pidfd) on
 * top of its connections: the soft limit goes up to the hard one, which
 * the service manager sets (LimitNOFILE= in memprobed.service).
 */
static void main_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			log_warn("raising RLIMIT_NOFILE to its hard limit");
	}
}

/*
 * The agent socket (passed by socket activation when `passed` >= 0, else
 * made at agent_socket) and the ingest on it, into st->ing. Returns 0, or
 * a negative errno once logged.
 */
static int main_ingest(struct main_state *st, int passed, const struct ingest_limits *il)
{
	struct agentsock *as;
	char err[512];
	gid_t group;
	int r;

	if (passed >= 0) {
		r = agentsock_adopt(&as, passed, err, sizeof(err));
	} else {
		if (st->conf.agent_socket_group[0] == '\0' ||
		    conf_group_id(st->conf.agent_socket_group, &group) < 0)
			group = (gid_t)-1;      /* checked at config time; gone since: ours */
		r = agentsock_open(&as, st->conf.agent_socket, group, err, sizeof(err));
	}
	if (r == 0)
		r = ingest_open(&st->ing, as, il, st->pt, err, sizeof(err));
	if (r < 0)
		log_error("agent socket %s: %s; not starting",
		    passed >= 0 ? "passed by socket activation" : st->conf.agent_socket, err);
	return r;
}

/*
 * Opens the store that keeps the agents' regions for the next daemon, and
 * takes back what the previous one left there (or in systemd's store, in
 * sk). Forks the keeper: call it before any thread starts. A store that
 * cannot be had is logged; the daemon runs on without it.
 */
static void main_store(struct main_state *st, struct sysd_sockets *sk)
{
	struct fdstore_item *items = NULL;
	size_t n = 0, taken = 0;
	char err[256];
	double now = clock_mono();

	if (fdstore_open(&st->fs, ingest_path(st->ing), sysd_notifying(), &items, &n, err,
	    sizeof(err)) < 0)
		log_warnx("%s; a restart will lose the processes that do not allocate meanwhile",
		    err);
	else if (err[0] != '\0')
		log_warnx("%s", err);
	ingest_set_store(st->ing, st->fs);
	for (size_t i = 0; i < n; i++)
		taken += ingest_restore(st->ing, items[i].name, items[i].fd, now) == 0;
	for (size_t i = 0; i < sk->nstored; i++)
		taken += ingest_restore(st->ing, sk->stored[i].name, sk->stored[i].fd, now) == 0;
	if (n + sk->nstored > 0)
		log_info("took back %zu of %zu regions kept by the previous memprobed", taken,
		    n + sk->nstored);
	free(items);
	free(sk->stored);
	sk->stored = NULL;
	sk->nstored = 0;
}

/*
 * The command line, the configuration and the web config file into st.
 * Returns -1 to go on, or the exit status: 0 after --check-config, 2 for a
 * bad configuration (said on stderr).
 */
static int main_setup(struct main_state *st, int argc, char **argv)
{
	char err[CONF_ERR_MAX];
	int r = -1;

	main_parse_args(&st->args, argc, argv);
	if (main_configure(&st->conf, &st->args, err, sizeof(err)) < 0) {
		log_error("%s", err);
		free(st->args.ov);
		return EXIT_USAGE;
	}
	if (main_web(&st->conf, &st->auth, err, sizeof(err)) < 0) {
		log_error("%s", err);
		r = EXIT_USAGE;
	} else if (st->args.check) {
		conf_print(&st->conf, stdout);
		r = 0;
	}
	if (r >= 0) {
		webauth_free(st->auth);
		conf_free(&st->conf);
		free(st->args.ov);
		return r;
	}
	log_set_level((enum log_level)st->conf.log_level);
	return -1;
}

/* A timerfd firing every `usec` microseconds; fatal if it cannot be had. */
static int main_timer(uint64_t usec, const char *what)
{
	struct itimerspec its;
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);

	memset(&its, 0, sizeof(its));
	its.it_interval.tv_sec = (time_t)(usec / 1000000);
	its.it_interval.tv_nsec = (long)(usec % 1000000) * 1000;
	its.it_value = its.it_interval;
	if (fd < 0 || timerfd_settime(fd, 0, &its, NULL) < 0)
		fatal("%s timerfd", what);
	return fd;
}

/* SIGTERM, SIGINT and SIGHUP through a signalfd, into st->sfd; SIGPIPE
 * ignored. Call before any thread starts, so only the signalfd sees them. */
static void main_signals(struct main_state *st)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		fatal("sigprocmask");
	st->sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (st->sfd < 0)
		fatal("signalfd");
}

/* The HTTP server on listen_address or on the socket passed (fd >= 0).
 * Returns 0, or a negative errno once logged. */
static int main_http(struct main_state *st, int fd, const struct http_settings *hset)
{
	struct http_conf hconf;
	struct http_sources hsrc;
	char err[CONF_ERR_MAX];
	int r;

	hconf.listen_address = st->conf.listen_address;
	hconf.fd = fd;
	hconf.max_connections = st->conf.http_max_connections;
	hconf.max_connections_per_ip = st->conf.http_max_connections_per_ip;
	hconf.timeout = st->conf.http_timeout;
	hconf.auth = st->auth;
	hsrc.pt = st->pt;
	hsrc.ing = st->ing;
	hsrc.refresh = st->refresh;
	r = http_start(&st->http, &hconf, &hsrc, hset, err, sizeof(err));
	if (r < 0)
		log_error("%s; not starting", err);
	return r;
}

/*
 * Starts the parts: the sockets systemd passed (they replace agent_socket
 * and listen_address), the process table, the agent socket and the
 * ingest, the regions kept by the previous daemon, the /proc reader and
 * HTTP. Returns 0, or a negative errno once logged (what started is in st
 * for main_abort()).
 */
static int main_start(struct main_state *st)
{
	struct ptab_limits plim;
	struct ingest_limits ilim;
	struct http_settings hset;
	struct sysd_sockets sk;
	char err[CONF_ERR_MAX];
	int r;

	r = sysd_listen(&sk, err, sizeof(err));
	if (r < 0) {
		log_error("%s; not starting", err);
		return r;
	}
	main_limits(&st->conf, &plim, &ilim, &hset);
	st->pt = ptab_new(&plim);
	if (st->pt == NULL)
		fatalx("out of memory");
	r = main_ingest(st, sk.agent, &ilim);
	if (r < 0)
		return r;
	main_store(st, &sk);
	r = refresh_start(&st->refresh, st->pt, st->conf.proc_interval);
	if (r < 0) {
		errno = -r;
		log_warn("/proc refresh thread; not starting");
		return r;
	}
	r = main_http(st, sk.http, &hset);
	if (r < 0)
		return r;
	log_info("memprobed %s listening on agent socket %s%s and %s://%s%s",
	    MEMPROBE_VERSION, ingest_path(st->ing), sk.agent >= 0 ? " (socket activation)" : "",
	    webauth_tls(st->auth) ? "https" : "http",
	    http_address(st->http), sk.http >= 0 ? " (socket activation)" : "");
	if (st->auth != NULL) {
		char what[256];

		webauth_describe(st->auth, what, sizeof(what));
		log_info("http access: %s (from %s)", what, st->conf.web_config_file);
	}
	return 0;
}

/* Both sockets listen and both are served: READY=1, and the watchdog's
 * timer when the service manager asks for one. */
static void main_ready(struct main_state *st)
{
	uint64_t wd_usec = sysd_watchdog_usec(), half;

	main_status(st, "READY=1");
	if (wd_usec == 0)
		return;
	half = wd_usec / 2 > 0 ? wd_usec / 2 : 1;
	st->wdfd = main_timer(half, "watchdog");
	sysd_notify("WATCHDOG=1");
	log_debug("systemd watchdog: WATCHDOG=1 every %" PRIu64 " ms", half / 1000);
}

/* A clean stop on signal sig: scrapes in flight finish, then the parts go
 * in reverse order; the keeper of the regions goes too. */
static void main_stop(struct main_state *st, int sig)
{
	log_info("stopping on %s", sig == SIGINT ? "SIGINT" : "SIGTERM");
	sysd_notify("STOPPING=1\nSTATUS=stopping");
	/* After this no thread reads the table. */
	http_stop(st->http);
	webauth_free(st->auth);
	refresh_stop(st->refresh);
	ingest_close(st->ing, clock_mono());
	fdstore_close(st->fs, 0);
	ptab_free(st->pt);
	close(st->sfd);
	close(st->tfd);
	if (st->wdfd >= 0)
		close(st->wdfd);
	conf_free(&st->conf);
	free(st->args.ov);
	log_info("stopped");
}

/* A failed start: what was started, in reverse. The sockets systemd passed
 * and not yet handed over are closed with the process. */
static void main_abort(struct main_state *st)
{
	if (st->refresh != NULL)
		refresh_stop(st->refresh);
	if (st->ing != NULL)
		ingest_close(st->ing, clock_mono());
	fdstore_close(st->fs, 0);
	if (st->pt != NULL)
		ptab_free(st->pt);
	webauth_free(st->auth);
	close(st->sfd);
	close(st->tfd);
	conf_free(&st->conf);
	free(st->args.ov);
}

int main(int argc, char **argv)
{
	struct main_state st;
	int r;

	memset(&st, 0, sizeof(st));
	st.wdfd = -1;
	log_init(argv[0]);
	r = main_setup(&st, argc, argv);
	if (r >= 0)
		return r;
	main_raise_nofile();
	main_signals(&st);
	st.tfd = main_timer(1000000, "tick");
	if (main_start(&st) < 0) {
		main_abort(&st);
		return EXIT_RUNTIME;
	}
	main_ready(&st);
	main_stop(&st, main_loop(&st));
	return 0;
}
