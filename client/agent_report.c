/* agent_report.c: the reporter thread and the agent's one connection to memprobed. */
#include "agent.h"
#include "sockpath.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define GAUGES_MAX      64
#define BACKOFF_MIN_MS  100
#define BACKOFF_MAX_MS  2000

struct gauge {
	char name[PROTO_GAUGE_NAME_MAX + 1];
	double value;
	int dirty;
};

/*
 * Everything below is guarded by rep.lock, which is held only around
 * non-blocking work: collecting, encoding, one send() per message.
 */
static struct {
	pthread_mutex_t lock;
	_Atomic pid_t holder;     /* thread id holding lock, 0 none */
	pthread_cond_t wake;
	int fd;                   /* connection, or -1 */
	dev_t dev;                /* identity of fd, to notice if the program */
	ino_t ino;                /* closed it and reused the number */
	int hello_sent;
	uint64_t seq, sent, dropped;
	int running, stopping, finalized;
	unsigned interval_ms;
	unsigned backoff_ms;
	uint64_t next_connect_ms;
	char path[SOCKPATH_MAX + 1];  /* MEMPROBE_SOCKET at start, "" when unset */
	int told_unreachable;     /* MEMPROBE_DEBUG said why it cannot connect */
	struct gauge gauges[GAUGES_MAX];
	int ngauges;
	unsigned char buf[PROTO_MAX_MSG];
} rep = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.fd = -1,
	.interval_ms = 1000,
	.backoff_ms = BACKOFF_MIN_MS,
};


static __thread pid_t my_tid __attribute__((tls_model("initial-exec")));

static pid_t self_tid(void)
{
	if (my_tid == 0)
		my_tid = (pid_t)syscall(SYS_gettid);
	return my_tid;
}

/* rep.lock with its holder recorded, so an exit can tell "another thread
 * holds it for a moment" (wait) from "this thread holds it and a signal
 * handler is exiting" (do not wait for ourselves). */
static void rep_lock(void)
{
	pthread_mutex_lock(&rep.lock);
	atomic_store(&rep.holder, self_tid());
}

static void rep_unlock(void)
{
	atomic_store(&rep.holder, 0);
	pthread_mutex_unlock(&rep.lock);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Reads a small file into buf (NUL-terminated); returns its length or -1. */
static ssize_t read_small(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return n;
}

/* Start time of this process in clock ticks since boot (stat field 22). */
static uint64_t start_time(void)
{
	char buf[1024];
	const char *p;
	uint64_t v = 0;

	if (read_small("/proc/self/stat", buf, sizeof(buf)) < 0)
		return 0;
	p = strrchr(buf, ')');
	if (p == NULL)
		return 0;
	/* Field 3 follows ") "; field 22 is 19 spaces further on. */
	for (int field = 2; field < 22 && *p != '\0'; p++)
		if (*p == ' ')
			field++;
	while (*p >= '0' && *p <= '9')
		v = v * 10 + (uint64_t)(*p++ - '0');
	return v;
}

static void build_hello(struct proto_hello *h)
{
	ssize_t n;

	memset(h, 0, sizeof(*h));
	h->agent = PROTO_AGENT_C;
	h->start_time = start_time();
	h->stack_limit = agent_stack_limit;
	n = read_small("/proc/self/comm", h->comm, sizeof(h->comm));
	while (n > 0 && (h->comm[n - 1] == '\n'))
		h->comm[--n] = '\0';
	if (n <= 0)
		strcpy(h->comm, "?");
	n = readlink("/proc/self/exe", h->exe, sizeof(h->exe) - 1);
	h->exe[n > 0 ? n : 0] = '\0';
}

static void disconnect_locked(void)
{
	if (rep.fd >= 0)
		close(rep.fd);
	rep.fd = -1;
	rep.hello_sent = 0;
}

/* Whether rep.fd is still the socket we opened: a program may close all
 * descriptors it does not know (daemons do) and reuse the number. */
static int fd_is_ours(void)
{
	struct stat st;

	if (fstat(rep.fd, &st) == 0 && st.st_dev == rep.dev && st.st_ino == rep.ino)
		return 1;
	rep.fd = -1;            /* not ours to close any more */
	rep.hello_sent = 0;
	agent_debug("connection descriptor was closed by the program; reconnecting");
	return 0;
}

static int connect_locked(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	uint64_t now = now_ms();
	struct stat st;
	int fd = -1, err;

	if (now < rep.next_connect_ms)
		return -EAGAIN;
	/* MEMPROBE_SOCKET as the program started; the daemon's socket files
	 * as they are now, so that a daemon started later is found. */
	err = sockpath_connect(sa.sun_path, sizeof(sa.sun_path), rep.path[0] != '\0' ? rep.path : NULL,
	    getenv("XDG_RUNTIME_DIR"), geteuid(), sockpath_is_socket);
	if (err == 0 && (fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
		err = -errno;
	if (err == 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		err = -errno;
	if (err == 0 && fstat(fd, &st) < 0)
		err = -errno;
	if (err == 0) {
		rep.fd = fd;
		rep.dev = st.st_dev;
		rep.ino = st.st_ino;
		rep.hello_sent = 0;
		rep.backoff_ms = BACKOFF_MIN_MS;
		for (int i = 0; i < rep.ngauges; i++)
			rep.gauges[i].dirty = 1;
		agent_debug("connected to memprobed");
		return 0;
	}
	if (fd >= 0)
		close(fd);
	if (!rep.told_unreachable) {
		rep.told_unreachable = 1;
		agent_debug_path("not reporting: cannot connect to memprobed at ", sa.sun_path, -err,
		    "; trying again quietly");
	}
	rep.next_connect_ms = now + rep.backoff_ms;
	rep.backoff_ms = rep.backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : rep.backoff_ms * 2;
	return -ECONNREFUSED;
}

/* Sends one message without blocking. -EAGAIN: the daemon is behind and
 * the message is dropped; other errors close the connection. */
static int send_locked(size_t len)
{
	ssize_t n;

	if (len == 0 || rep.fd < 0 || !fd_is_ours())
		return -ENOTCONN;
	n = send(rep.fd, rep.buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n == (ssize_t)len)
		return 0;
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS))
		return -EAGAIN;
	disconnect_locked();
	return -EPIPE;
}

/* One round: connect if needed, HELLO if needed, a SAMPLE, dirty gauges. */
static int tick_locked(void)
{
	struct proto_sample s;
	int err;

	if (rep.fd < 0 && (err = connect_locked()) < 0)
		goto drop;
	if (!rep.hello_sent) {
		struct proto_hello h;

		build_hello(&h);
		if ((err = send_locked(proto_encode_hello(rep.buf, &h))) < 0)
			goto drop;
		rep.hello_sent = 1;
	}
	if (agent_sample_sig != 0 && agent_sample_handler_lost())
		agent_sample_stop_all();
	agent_collect(&s);
	s.seq = ++rep.seq;
	s.samples_dropped = rep.dropped;
	if ((err = send_locked(proto_encode_sample(rep.buf, &s))) < 0)
		goto drop;
	rep.sent++;
	for (int i = 0; i < rep.ngauges; i++) {
		struct proto_gauge g;

		if (!rep.gauges[i].dirty)
			continue;
		memcpy(g.name, rep.gauges[i].name, sizeof(g.name));
		g.value = rep.gauges[i].value;
		if (send_locked(proto_encode_gauge(rep.buf, &g)) < 0)
			break;
		rep.gauges[i].dirty = 0;
	}
	return 0;
drop:
	rep.dropped++;
	return err;
}

static void *reporter_main(void *arg)
{
	(void)arg;
	agent_enter();   /* its own allocations, if any, are not the program's */
	rep_lock();
	while (!rep.stopping) {
		uint64_t deadline;
		struct timespec ts;

		tick_locked();
		deadline = now_ms() + rep.interval_ms;
		ts.tv_sec = (time_t)(deadline / 1000);
		ts.tv_nsec = (long)(deadline % 1000) * 1000000;
		while (!rep.stopping && now_ms() < deadline) {
			atomic_store(&rep.holder, 0);
			pthread_cond_timedwait(&rep.wake, &rep.lock, &ts);
			atomic_store(&rep.holder, self_tid());
		}
	}
	rep.running = 0;
	rep_unlock();
	return NULL;
}

static void init_cond(void)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&rep.wake, &ca);
	pthread_condattr_destroy(&ca);
}

/* Reads the environment once, in the first process that loads us. */
static int configure(void)
{
	static int done;
	const char *v;

	if (done)
		return 0;
	done = 1;
	init_cond();
	v = getenv("MEMPROBE_INTERVAL_MS");
	if (v != NULL && *v != '\0') {
		char *end;
		unsigned long ms = strtoul(v, &end, 10);

		if (*end != '\0' || ms < 10 || ms > 3600000)
			agent_warn("MEMPROBE_INTERVAL_MS must be 10..3600000; using 1000");
		else
			rep.interval_ms = (unsigned)ms;
	}
	v = getenv("MEMPROBE_SOCKET");
	if (v != NULL && *v != '\0') {
		if (strnlen(v, SOCKPATH_MAX + 1) > SOCKPATH_MAX) {
			agent_warn("MEMPROBE_SOCKET is longer than a socket path can be; not reporting");
			return -ENAMETOOLONG;
		}
		strcpy(rep.path, v);
	}
	return 0;
}

int agent_report_start(void)
{
	pthread_attr_t attr;
	sigset_t all, old;
	pthread_t th;
	int err;

	rep_lock();
	if ((err = configure()) < 0 || rep.running || rep.finalized) {
		rep_unlock();
		return err;
	}
	/* The thread starts with every signal blocked, so it never takes one
	 * meant for the program. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	err = agent_real_pthread_create(&th, &attr, reporter_main, NULL);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err == 0)
		rep.running = 1;
	rep_unlock();
	return -err;
}

void agent_report_final(void)
{
	int saved = errno;
	unsigned char mode;

	if (agent_disabled || getpid() != agent_pid)
		return;   /* a vfork child shares our memory but is not us */
	mode = agent_enter();
	/*
	 * Every holder of rep.lock only does non-blocking work, so waiting for
	 * it is short, and giving up would lose the final figures (a reporter
	 * preempted mid-report is common on a busy machine). The one holder
	 * not to wait for is this very thread, interrupted by a signal
	 * handler that exits.
	 */
	if (atomic_load(&rep.holder) != self_tid()) {
		rep_lock();
		if (!rep.finalized && configure() == 0) {
			rep.finalized = 1;
			rep.stopping = 1;
			rep.next_connect_ms = 0;
			if (tick_locked() == 0)
				send_locked(proto_encode_bye(rep.buf));
			pthread_cond_signal(&rep.wake);
		}
		rep_unlock();
	}
	agent_leave(mode);
	errno = saved;
}

int agent_report_flush(void)
{
	int saved = errno, err;
	unsigned char mode = agent_enter();

	rep_lock();
	err = rep.finalized ? -ESHUTDOWN : configure();
	if (err == 0) {
		rep.next_connect_ms = 0;
		err = tick_locked();
	}
	rep_unlock();
	agent_leave(mode);
	errno = saved;
	return err;
}

int agent_report_gauge(const char *name, double value)
{
	size_t n = name != NULL ? strnlen(name, PROTO_GAUGE_NAME_MAX + 1) : 0;
	int i, err = 0;

	if (!proto_gauge_name_ok(name, n))
		return -EINVAL;
	rep_lock();
	for (i = 0; i < rep.ngauges; i++)
		if (strcmp(rep.gauges[i].name, name) == 0)
			break;
	if (i == rep.ngauges) {
		if (rep.ngauges == GAUGES_MAX) {
			err = -ENOSPC;
			goto out;
		}
		memcpy(rep.gauges[i].name, name, n + 1);
		rep.ngauges++;
	}
	rep.gauges[i].value = value;
	rep.gauges[i].dirty = 1;
out:
	rep_unlock();
	return err;
}

/*
 * rep.lock is deliberately not held across fork(): a fork of a large
 * process takes tens of milliseconds, and an exit() in another thread must
 * still get its final sample out meanwhile. The child rebuilds every piece
 * of reporter state from nothing, so nothing it inherits needs to be
 * consistent.
 */
void agent_report_prefork(void)
{
}

void agent_report_postfork(int child)
{
	if (!child)
		return;
	/* The child: the parent's connection speaks for the parent, and the
	 * reporter thread did not come along. Only resets here; the child's
	 * reporter starts at its first allocator call, or its exit reports. */
	pthread_mutex_init(&rep.lock, NULL);
	atomic_store(&rep.holder, 0);
	my_tid = 0;             /* this thread's id is the child's pid now */
	init_cond();
	if (rep.fd >= 0)
		close(rep.fd);
	rep.fd = -1;
	rep.hello_sent = 0;
	rep.seq = rep.sent = rep.dropped = 0;
	rep.running = rep.stopping = rep.finalized = 0;
	rep.backoff_ms = BACKOFF_MIN_MS;
	rep.next_connect_ms = 0;
	for (int i = 0; i < rep.ngauges; i++)
		rep.gauges[i].dirty = 1;
}

void agent_report_counts(uint64_t *sent, uint64_t *dropped)
{
	rep_lock();
	*sent = rep.sent;
	*dropped = rep.dropped;
	rep_unlock();
}
