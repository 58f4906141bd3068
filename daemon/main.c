/* main.c: memprobed's entry point: command line, configuration, signals, the main loop. */

/*
 * Threads: the main thread owns the agent socket and every write to the
 * process table; libmicrohttpd's polling thread serves HTTP from snapshots
 * (ptab_snapshot()) and atomic counters (ingest_stats()).
 *
 * The main loop waits on one epoll set: the ingest module's own epoll
 * descriptor (the agent listener and every agent connection), a signalfd
 * (SIGTERM, SIGINT, SIGHUP) and a 1 s timerfd (exited-process expiry).
 *
 * Allocation failure: at startup it is fatal (exit 1); afterwards each
 * module returns -ENOMEM and the boundary drops what it was doing (an agent
 * connection is closed, an HTTP request gets 503) and the daemon goes on.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "clock.h"
#include "conf.h"
#include "http.h"
#include "ingest.h"
#include "log.h"
#include "ptab.h"

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

static const struct option main_opts[] = {
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "check-config", no_argument, NULL, OPT_CHECK },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "agent-socket", required_argument, NULL, OPT_KEY },
	{ "web.listen-address", required_argument, NULL, OPT_KEY },
	{ "exited-ttl", required_argument, NULL, OPT_KEY },
	{ "log-level", required_argument, NULL, OPT_KEY },
	{ "max-connections", required_argument, NULL, OPT_KEY },
	{ "max-processes", required_argument, NULL, OPT_KEY },
	{ "max-gauges", required_argument, NULL, OPT_KEY },
	{ "max-message-rate", required_argument, NULL, OPT_KEY },
	{ "web.max-connections", required_argument, NULL, OPT_KEY },
	{ "web.max-connections-per-ip", required_argument, NULL, OPT_KEY },
	{ "web.timeout", required_argument, NULL, OPT_KEY },
	{ NULL, 0, NULL, 0 },
};

#define MAIN_NOPTS (sizeof(main_opts) / sizeof(main_opts[0]))

static void usage(FILE *f)
{
	fprintf(f,
	    "usage: memprobed [--config FILE] [--agent-socket PATH] [--web.listen-address HOST:PORT]\n"
	    "                 [--exited-ttl SECONDS] [--log-level LEVEL] [--check-config] [--version]\n"
	    "                 [--help]\n"
	    "\n"
	    "Collects heap and stack figures from memprobe agents and serves them over HTTP\n"
	    "(/metrics, /api/v1/processes, /healthz). Runs in the foreground.\n"
	    "\n"
	    "  --config FILE                        read FILE (default %s, if it exists)\n"
	    "  --check-config                       print the effective configuration and exit\n"
	    "  --version                            print the version and exit\n"
	    "  --help                               print this help and exit\n"
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

/* A flag to apply once the file is read. */
struct main_override {
	const char *flag;
	const char *value;
};

/* Defaults, then the file, then the flags; exits 2 on any error. */
static void main_configure(struct conf *c, int argc, char **argv, int *check)
{
	struct main_override ov[MAIN_NOPTS * 4];
	size_t nov = 0;
	const char *config = NULL;
	char err[CONF_ERR_MAX];
	int opt, idx;

	if (conf_init(c) < 0)
		fatalx("out of memory");
	opterr = 1;
	while ((opt = getopt_long(argc, argv, "", main_opts, &idx)) != -1) {
		switch (opt) {
		case OPT_CONFIG:
			config = optarg;
			break;
		case OPT_CHECK:
			*check = 1;
			break;
		case OPT_VERSION:
			printf("memprobed %s\n", MEMPROBE_VERSION);
			exit(0);
		case OPT_HELP:
			usage(stdout);
			exit(0);
		case OPT_KEY:
			if (nov == sizeof(ov) / sizeof(ov[0]))
				usage_error("too many options%s", "");
			ov[nov].flag = main_opts[idx].name;
			ov[nov].value = optarg;
			nov++;
			break;
		default:
			/* getopt_long() has named the option already. */
			fprintf(stderr, "Try 'memprobed --help'.\n");
			exit(EXIT_USAGE);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);

	if (config == NULL && access(CONF_DEFAULT_FILE, F_OK) == 0)
		config = CONF_DEFAULT_FILE;
	if (config != NULL && conf_load(c, config, err) < 0) {
		log_error("%s", err);
		exit(EXIT_USAGE);
	}
	for (size_t i = 0; i < nov; i++) {
		const char *key = conf_key_for_flag(ov[i].flag);

		if (key == NULL)
			fatalx("option --%s has no configuration key", ov[i].flag);
		if (conf_set(c, key, ov[i].value, err) < 0) {
			log_error("--%s: %s", ov[i].flag, err);
			exit(EXIT_USAGE);
		}
	}
}

/* The descriptors of the main loop, tagged in epoll_event.data.u32. */
enum { EV_INGEST, EV_SIGNAL, EV_TIMER };

static int main_watch(int ep, int fd, uint32_t tag)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.u32 = tag;
	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

/* Runs until SIGTERM or SIGINT; returns the signal. */
static int main_loop(struct ingest *ing, struct ptab *pt, int sfd, int tfd)
{
	struct epoll_event evs[8];
	int ep = epoll_create1(EPOLL_CLOEXEC);

	if (ep < 0 || main_watch(ep, ingest_fd(ing), EV_INGEST) < 0 ||
	    main_watch(ep, sfd, EV_SIGNAL) < 0 || main_watch(ep, tfd, EV_TIMER) < 0)
		fatal("epoll");
	for (;;) {
		int n = epoll_wait(ep, evs, 8, -1);
		double now;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			fatal("epoll_wait");
		}
		now = clock_mono();
		for (int i = 0; i < n; i++) {
			switch (evs[i].data.u32) {
			case EV_INGEST:
				ingest_run(ing, now);
				break;
			case EV_TIMER: {
				uint64_t ticks;

				if (read(tfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
					fatal("timerfd read");
				ptab_expire(pt, now);
				log_ratelimit_flush();
				break;
			}
			case EV_SIGNAL: {
				struct signalfd_siginfo si;

				if (read(sfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
					break;
				if (si.ssi_signo == SIGHUP) {
					log_info("SIGHUP: reloading is not supported yet; ignored");
					break;
				}
				close(ep);
				return (int)si.ssi_signo;
			}
			}
		}
	}
}

int main(int argc, char **argv)
{
	struct conf c;
	struct ptab_limits plim;
	struct ingest_limits ilim;
	struct http_conf hconf;
	struct http_sources hsrc;
	struct itimerspec its;
	struct ptab *pt;
	struct ingest *ing;
	struct http *http;
	char err[512];
	sigset_t set;
	int check = 0, sfd, tfd, sig;

	log_init(argv[0]);
	main_configure(&c, argc, argv, &check);
	if (check) {
		conf_print(&c, stdout);
		conf_free(&c);
		return 0;
	}
	log_set_level((enum log_level)c.log_level);

	/* Blocked before any thread starts, so only the signalfd sees them. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		fatal("sigprocmask");
	sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (sfd < 0 || tfd < 0)
		fatal("signalfd/timerfd");
	memset(&its, 0, sizeof(its));
	its.it_interval.tv_sec = 1;
	its.it_value.tv_sec = 1;
	if (timerfd_settime(tfd, 0, &its, NULL) < 0)
		fatal("timerfd_settime");

	plim.max_processes = c.max_processes;
	plim.max_gauges = c.max_gauges;
	plim.exited_ttl = c.exited_ttl;
	pt = ptab_new(&plim);
	if (pt == NULL)
		fatalx("out of memory");

	ilim.max_connections = c.max_connections;
	ilim.max_message_rate = c.max_message_rate;
	if (ingest_open(&ing, c.agent_socket, &ilim, pt, err, sizeof(err)) < 0) {
		log_error("%s; not starting", err);
		return EXIT_RUNTIME;
	}

	hconf.listen_address = c.listen_address;
	hconf.max_connections = c.http_max_connections;
	hconf.max_connections_per_ip = c.http_max_connections_per_ip;
	hconf.timeout = c.http_timeout;
	hsrc.pt = pt;
	hsrc.ing = ing;
	if (http_start(&http, &hconf, &hsrc, err, sizeof(err)) < 0) {
		log_error("%s; not starting", err);
		ingest_close(ing, clock_mono());
		return EXIT_RUNTIME;
	}
	log_info("memprobed %s listening on agent socket %s and http://%s",
	    MEMPROBE_VERSION, c.agent_socket, http_address(http));

	sig = main_loop(ing, pt, sfd, tfd);

	log_info("stopping on %s", sig == SIGINT ? "SIGINT" : "SIGTERM");
	http_stop(http);
	ingest_close(ing, clock_mono());
	ptab_free(pt);
	close(sfd);
	close(tfd);
	conf_free(&c);
	return 0;
}
