/* agent_region.c: the shared region: making it, replacing it, and handing it to memprobed. */
#include "agent.h"
#include "fdpass.h"
#include "procstat.h"
#include "sockpath.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/*
 * The region starts as private anonymous memory: counting needs no daemon.
 * Registering makes a memfd, moves the figures into it and hands it over;
 * so does every later registration (a daemon that appeared or restarted,
 * a fork child, a region that filled), because once its descriptor is
 * closed a memfd can never be named again. Moving is safe while other
 * threads count (see agent_region_replace), so nothing stops for it.
 *
 * Every descriptor the agent opens is closed before the call that opened
 * it returns: a connection, the memfd and a pidfd live for microseconds.
 */
struct region_hdr *agent_region_ptr;

static struct {
	int configured;                 /* the constructor read the environment */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int path_from_env;
	int shared;                     /* the region is a memfd mapping */
	int registered;                 /* a daemon took the current region */
	dev_t dev;                      /* the socket file it was taken on: a */
	ino_t ino;                      /* new file may reuse the inode number, */
	struct timespec ctime;          /* not its change time too */
	_Atomic uint64_t next_maint_ms;
	uint64_t done, failed;
	int said_why;                   /* the reason for not reporting was said */
	uint64_t start_time;
	pid_t start_time_pid;
	pthread_mutex_t gauge_lock;
} rg = {
	.gauge_lock = PTHREAD_MUTEX_INITIALIZER,
};

static void *raw_mmap(void *addr, size_t len, int prot, int flags, int fd)
{
	long r = syscall(SYS_mmap, addr, len, prot, flags, fd, 0);

	return r == -1 ? NULL : (void *)r;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	/* The coarse clock is read from the vDSO: no system call. */
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t random_u64(void)
{
	uint64_t v = 0;

	if (syscall(SYS_getrandom, &v, sizeof(v), 1 /* GRND_NONBLOCK */) != (long)sizeof(v)) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		v = ((uint64_t)ts.tv_nsec << 32) ^ (uint64_t)ts.tv_sec ^
		    ((uint64_t)getpid() << 16) ^ (uint64_t)(uintptr_t)&v;
	}
	return v | 1;
}

/* Start time of this process in clock ticks since boot (stat field 22),
 * cached per process; 0 when it cannot be read. Raw read(2): this runs
 * inside malloc, where stdio is off limits. */
static uint64_t start_time(void)
{
	struct procstat st;

	if (rg.start_time_pid == agent_pid && agent_pid != 0)
		return rg.start_time;
	rg.start_time = procstat_read("/proc/self/stat", &st) == 0 ? st.starttime : 0;
	rg.start_time_pid = agent_pid;
	return rg.start_time;
}

/* Bytes of a region of nslots slots and, when profiling, its profile
 * area after them. */
static uint64_t region_bytes(uint32_t nslots)
{
	return region_size_for(nslots) + agent_prof_area_size();
}

static void hdr_init(struct region_hdr *h, uint32_t nslots)
{
	region_hdr_init(h, PROTO_AGENT_C, nslots);
	h->stack_limit = agent_stack_limit;
	h->size_source = agent_size_kind;
	h->prof_size = agent_prof_area_size();
	h->prof_off = h->prof_size != 0 ? h->size : 0;
	h->size += h->prof_size;
}

int agent_region_create(uint32_t nslots)
{
	struct region_hdr *h;
	uint64_t size;

	agent_prof_setup();
	size = region_bytes(nslots);
	h = raw_mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
	if (h == NULL)
		return -ENOMEM;
	hdr_init(h, nslots);
	agent_prof_area_init(h);
	h->instance = random_u64();
	rg.shared = 0;
	__atomic_store_n(&agent_region_ptr, h, __ATOMIC_RELEASE);
	return 0;
}

/* A new memfd of `size` bytes, mapped shared and sealed. Returns the
 * mapping and its descriptor in *fd, or NULL with -errno in *err. */
static void *memfd_region(uint64_t size, int *fd, int *err)
{
	void *p;

	*fd = (int)syscall(SYS_memfd_create, "memprobe", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (*fd < 0) {
		*err = -errno;
		return NULL;
	}
	if (ftruncate(*fd, (off_t)size) < 0 ||
	    fcntl(*fd, F_ADD_SEALS, REGION_SEALS) < 0 ||
	    (p = raw_mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, *fd)) == NULL) {
		*err = -errno;
		close(*fd);
		*fd = -1;
		return NULL;
	}
	return p;
}

/* ---- the socket ---- */

/* The socket to register on now: MEMPROBE_SOCKET as the program started,
 * else the daemons' socket files as they are now (common/sockpath.h). */
static int socket_path(char *buf, size_t size)
{
	return sockpath_connect(buf, size, rg.path_from_env ? rg.path : NULL,
	    getenv("XDG_RUNTIME_DIR"), geteuid(), sockpath_is_socket);
}

/* Connects to memprobed. Returns the descriptor (close it soon) or -errno,
 * and the path it used in path. */
static int reg_connect(char *path, size_t size)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = -1, err;

	err = socket_path(path, size);
	if (err == 0)
		memcpy(sa.sun_path, path, strnlen(path, sizeof(sa.sun_path) - 1));
	if (err == 0 && (fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
		err = -errno;
	if (err == 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		err = -errno;
	if (err == 0)
		return fd;
	if (fd >= 0)
		close(fd);
	if (!rg.said_why) {
		rg.said_why = 1;
		agent_debug_path("not reporting: cannot connect to memprobed at ", path, -err,
		    "; trying again quietly");
	}
	return err;
}

/* Sends REGISTER with the memfd and a pidfd of ours. Returns 0 or -errno. */
static int reg_send(int sock, int memfd)
{
	unsigned char buf[PROTO_MAX_MSG];
	struct proto_register reg = { .agent = PROTO_AGENT_C, .layout = REGION_LAYOUT };
	size_t len = proto_encode_register(buf, &reg);
	int fds[2], r;

	fds[0] = memfd;
	fds[1] = (int)syscall(SYS_pidfd_open, getpid(), 0);
	r = fdpass_send(sock, buf, len, fds, fds[1] >= 0 ? 2 : 1, MSG_DONTWAIT);
	if (fds[1] >= 0)
		close(fds[1]);
	return r;
}

/* Remembers which socket file took the region, to notice a new daemon. */
static void reg_remember(const char *path)
{
	struct stat st;

	if (stat(path, &st) == 0) {
		rg.dev = st.st_dev;
		rg.ino = st.st_ino;
		rg.ctime = st.st_ctim;
	} else {
		rg.dev = 0;
		rg.ino = 0;
	}
}

/* ---- replacing the region ---- */

/* Copies a slot's figures and bookkeeping, not its replacement mark,
 * word by word with relaxed atomic loads (a replacement may be setting
 * traps in `from` meanwhile). A stack_low of UINT64_MAX in a replaced slot
 * may be the replacement's trap: the copy's own, taken before the trap,
 * is kept then. */
static void slot_copy(agent_slot *to, const agent_slot *from)
{
	uint64_t moved = AGENT_GET(to->agent.moved), low = AGENT_GET(to->stack_low);
	const uint64_t *src = (const uint64_t *)(const void *)from;
	uint64_t *dst = (uint64_t *)(void *)to;

	for (size_t i = 0; i < sizeof(*to) / sizeof(uint64_t); i++)
		__atomic_store_n(&dst[i], __atomic_load_n(&src[i], __ATOMIC_RELAXED), __ATOMIC_RELAXED);
	AGENT_SET(to->agent.moved, moved);
	if (AGENT_GET(to->stack_low) == UINT64_MAX && AGENT_GET(from->agent.moved) != 0)
		AGENT_SET(to->stack_low, low);
}

/*
 * The replacement's snapshot of another thread's slot, taken while its
 * owner may be counting: a racy read by design (each word is read whole;
 * the owner copies its exact figures over the snapshot when it follows,
 * see region_move). Not instrumented by ThreadSanitizer for that reason,
 * and read through a volatile pointer so it stays word by word.
 */
__attribute__((no_sanitize("thread")))
static void slot_snapshot(agent_slot *to, const agent_slot *from)
{
	const volatile uint64_t *src = (const volatile uint64_t *)(const volatile void *)from;
	uint64_t *dst = (uint64_t *)(void *)to;

	for (size_t i = 0; i < sizeof(*to) / sizeof(uint64_t); i++)
		dst[i] = src[i];
	to->agent.moved = 0;
}

agent_slot *agent_region_follow(agent_slot *t)
{
	agent_slot *n;

	while ((n = (agent_slot *)(uintptr_t)__atomic_load_n(&t->agent.moved,
	    __ATOMIC_ACQUIRE)) != NULL) {
		slot_copy(n, t);
		if (agent_tls.saved == t)
			agent_tls.saved = n;
		if (agent_tls.slot == t)
			agent_tls.slot = n;
		t = n;
	}
	return t;
}

/* Raises *c to v. */
static void raise_to(uint64_t *c, uint64_t v)
{
	uint64_t cur = __atomic_load_n(c, __ATOMIC_RELAXED);

	while (v > cur && !__atomic_compare_exchange_n(c, &cur, v, 1,
	    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

void agent_region_raise_peak(uint64_t v)
{
	struct region_hdr *r = agent_region_get(), *r2;

	if (r == NULL)
		return;
	raise_to(&r->heap_peak, v);
	/* A replacement that copied the peak before this raise is caught up. */
	r2 = agent_region_get();
	if (r2 != r)
		raise_to(&r2->heap_peak, v);
}

void agent_region_store_mmap(void)
{
	struct region_hdr *r;
	uint64_t v;

	/* Stores of the whole figure, repeated until neither it nor the region
	 * changed meanwhile: racing stores and replacements settle on the
	 * latest value. */
	do {
		v = agent_mmap_live();
		r = agent_region_get();
		if (r == NULL)
			return;
		__atomic_store_n(&r->mmap_live, v, __ATOMIC_RELAXED);
	} while (agent_mmap_live() != v || agent_region_get() != r);
}

/*
 * The region to move into: a memfd to hand over when there is a
 * connection (sock >= 0; its descriptor in *fd), else, when the slots
 * must grow, private memory. NULL when there is nothing to do, or with
 * *err when it cannot be had.
 */
static struct region_hdr *region_make(uint64_t size, int sock, int grow, int *fd, int *err)
{
	struct region_hdr *nw = NULL;

	if (sock >= 0) {
		nw = memfd_region(size, fd, err);
		if (nw == NULL && !rg.said_why) {
			rg.said_why = 1;
			agent_debug_path("not reporting: cannot make a shared region ", "(memfd)",
			    -*err, "");
		}
	}
	if (nw != NULL || !grow)
		return nw;
	nw = raw_mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
	if (nw == NULL)
		*err = -ENOMEM;
	return nw;
}

/*
 * The moves, in order: (1) copy the header, gauges and every slot into the
 * new region, and the profile's records (agent_prof_move), (2) publish it
 * and move the profile's counters (agent_prof_move_counters), (3) mark
 * each old slot with its copy and only then set its traps: stack_low =
 * UINT64_MAX for malloc (agent_stack_deeper), lo = INT64_MAX for free (and
 * hi = INT64_MIN), fields the hot paths only read, so its owner's next
 * allocation or free takes the slow path and copies its own, exact figures
 * over the snapshot (agent_region_follow). Until then a reader sees the
 * snapshot, at most one operation behind. An owner that rewrites one of
 * them just as the traps are set looks at `moved` after writing
 * (agent_slot_slow, agent_stack_deeper), so no move is missed. The old region stays
 * mapped: an idle thread may count into it until it moves. Returns self
 * (the caller's slot) as it is in the new region.
 */
static agent_slot *region_move(struct region_hdr *old, struct region_hdr *nw, uint32_t nslots,
    agent_slot *self)
{
	agent_slot *os, *ns;
	uint32_t used;

	/* (1) */
	pthread_mutex_lock(&rg.gauge_lock);
	used = __atomic_load_n(&old->slots_used, __ATOMIC_ACQUIRE);
	memcpy(nw, old, REGION_SLOT_OFF);
	hdr_init(nw, nslots);
	nw->generation = old->generation + 1;
	nw->slots_used = used;
	os = agent_region_slots(old);
	ns = agent_region_slots(nw);
	for (uint32_t i = 0; i < used; i++)
		slot_snapshot(&ns[i], &os[i]);
	agent_prof_move(old, nw);
	/* (2) */
	__atomic_store_n(&agent_region_ptr, nw, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&rg.gauge_lock);
	agent_prof_move_counters(old, nw);
	/* (3) */
	for (uint32_t i = 0; i < used; i++) {
		if (&os[i] == self)
			continue;
		__atomic_store_n(&os[i].agent.moved, (uint64_t)(uintptr_t)&ns[i], __ATOMIC_SEQ_CST);
		__atomic_store_n(&os[i].agent.hi, INT64_MIN, __ATOMIC_SEQ_CST);
		__atomic_store_n(&os[i].agent.lo, INT64_MAX, __ATOMIC_SEQ_CST);
		__atomic_store_n(&os[i].stack_low, UINT64_MAX, __ATOMIC_SEQ_CST);
	}
	if (self != NULL && self >= os && self < os + used) {
		ns[self - os] = *self;          /* ours: exact, we are its writer */
		ns[self - os].agent.moved = 0;
		self->agent.moved = (uint64_t)(uintptr_t)&ns[self - os];
		self = agent_region_follow(self);
	}
	raise_to(&nw->heap_peak, __atomic_load_n(&old->heap_peak, __ATOMIC_RELAXED));
	agent_region_store_mmap();
	return self;
}

/* Sends the region's memfd (fd) to the daemon at path on sock. Returns 0
 * or a negative errno, said once under MEMPROBE_DEBUG. */
static int region_hand_over(int sock, int fd, const char *path)
{
	int err = reg_send(sock, fd);

	if (err == 0) {
		rg.registered = 1;
		rg.done++;
		reg_remember(path);
		agent_debug("registered with memprobed");
		return 0;
	}
	rg.failed++;
	if (!rg.said_why) {
		rg.said_why = 1;
		agent_debug_path("not reporting: cannot send the region to ", path, -err, "");
	}
	return err;
}

/*
 * Moves the figures into a new region of at least nslots slots: a memfd
 * registered with the daemon when reg (and a daemon is configured), else
 * private memory when the slots must grow. Returns self as it is after the
 * move; *err is 0 or why the daemon has not got the region.
 */
static agent_slot *region_replace_here(uint32_t nslots, agent_slot *self, int reg, int *err)
{
	struct region_hdr *old = agent_region_get(), *nw;
	char path[sizeof(rg.path)];
	int sock = -1, fd = -1;

	*err = 0;
	if (old == NULL)
		return self;
	if (nslots < old->nslots)
		nslots = old->nslots;
	if (reg && rg.configured) {
		sock = reg_connect(path, sizeof(path));
		if (sock < 0) {
			rg.failed++;
			*err = sock;
			if (nslots == old->nslots)
				return self;    /* nothing to hand over, nothing to grow */
		}
	}
	nw = region_make(region_bytes(nslots), sock, nslots != old->nslots, &fd, err);
	if (nw != NULL) {
		self = region_move(old, nw, nslots, self);
		rg.shared = fd >= 0;
		rg.registered = 0;
	}
	if (fd >= 0) {
		*err = region_hand_over(sock, fd, path);
		close(fd);
	}
	if (sock >= 0)
		close(sock);
	return self;
}

/* Whether a socket is there to register on: looked at before a task is
 * started for it. Says why not, once, under MEMPROBE_DEBUG. */
static int daemon_there(int *err)
{
	char path[sizeof(rg.path)];
	struct stat st;

	*err = socket_path(path, sizeof(path));
	if (*err == 0 && stat(path, &st) < 0)
		*err = -errno;
	else if (*err == 0 && !S_ISSOCK(st.st_mode))
		*err = -ENOTSOCK;
	if (*err == 0)
		return 1;
	if (!rg.said_why) {
		rg.said_why = 1;
		agent_debug_path("not reporting: cannot connect to memprobed at ", path, -*err,
		    "; trying again quietly");
	}
	return 0;
}

struct replace_call {
	uint32_t nslots;
	agent_slot *self;
	int *err;
	agent_slot *out;
};

static int replace_entry(void *p)
{
	struct replace_call *c = p;

	c->out = region_replace_here(c->nslots, c->self, 1, c->err);
	return 0;
}

agent_slot *agent_region_replace(uint32_t nslots, agent_slot *self, int reg, int *err)
{
	struct region_hdr *old = agent_region_get();
	struct replace_call c = { nslots, self, err, self };

	*err = 0;
	if (reg && rg.configured && !daemon_there(err)) {
		rg.failed++;
		reg = 0;
		if (old == NULL || nslots <= old->nslots)
			return self;    /* nothing to hand over, nothing to grow */
	}
	if (!reg || !rg.configured)
		return region_replace_here(nslots, self, 0, err);
	/* The connection, the memfd and the pidfd are made in a table of
	 * their own (agent_outside.c). */
	agent_outside(replace_entry, &c);
	return c.out;
}

/* ---- the program's life ---- */

void agent_region_start(void)
{
	const char *v = getenv("MEMPROBE_SOCKET");
	struct region_hdr *r;
	int err;

	if (v != NULL && *v != '\0') {
		if (strlen(v) >= sizeof(rg.path)) {
			agent_warn("MEMPROBE_SOCKET is longer than a socket path can be; not reporting");
			return;
		}
		strcpy(rg.path, v);
		rg.path_from_env = 1;
	}
	agent_core_lock();
	r = agent_region_get();
	if (r == NULL)
		agent_region_create(AGENT_FIRST_SLOTS);
	r = agent_region_get();
	if (r != NULL) {
		r->start_time = start_time();
		r->stack_limit = agent_stack_limit;
		r->size_source = agent_size_kind;
		rg.configured = 1;
		agent_region_replace(r->nslots, agent_tls.saved, 1, &err);
	}
	agent_core_unlock();
	atomic_store(&rg.next_maint_ms, now_ms() + 1000);
}

/* Whether the daemon that took our region is gone and another listens. */
static int daemon_replaced(void)
{
	char path[sizeof(rg.path)];
	struct stat st;

	if (socket_path(path, sizeof(path)) < 0 || stat(path, &st) < 0 || !S_ISSOCK(st.st_mode))
		return 0;               /* none there now: wait for one */
	return st.st_dev != rg.dev || st.st_ino != rg.ino || st.st_ctim.tv_sec != rg.ctime.tv_sec ||
	    st.st_ctim.tv_nsec != rg.ctime.tv_nsec;
}

void agent_region_maintain(void)
{
	uint64_t now = now_ms(), next = atomic_load(&rg.next_maint_ms);
	struct region_hdr *r;
	int err;

	if (now < next || !rg.configured || agent_disabled)
		return;
	if (!atomic_compare_exchange_strong(&rg.next_maint_ms, &next, now + 1000))
		return;         /* another thread does it */
	if (rg.registered && !daemon_replaced())
		return;
	agent_core_lock();
	r = agent_region_get();
	if (r != NULL && getpid() == agent_pid)
		agent_region_replace(r->nslots, agent_tls.saved, 1, &err);
	agent_core_unlock();
}

int agent_region_flush(void)
{
	int saved = errno, err = 0;
	unsigned char mode;
	struct region_hdr *r;

	if (!rg.configured)
		return -ECANCELED;
	if (rg.registered && !daemon_replaced())
		return 0;
	mode = agent_enter();
	agent_core_lock();
	r = agent_region_get();
	if (r != NULL)
		agent_region_replace(r->nslots, agent_tls.saved, 1, &err);
	agent_core_unlock();
	agent_leave(mode);
	errno = saved;
	return err < 0 ? err : 0;
}

void agent_region_exit(int status)
{
	struct region_hdr *r = agent_region_get();

	if (r == NULL || getpid() != agent_pid)
		return;         /* a vfork child shares our memory but is not us */
	__atomic_store_n(&r->exit_status, (int64_t)status, __ATOMIC_RELAXED);
	__atomic_store_n(&r->exit_kind, REGION_EXIT_EXIT, __ATOMIC_RELEASE);
}

int agent_region_gauge(const char *name, double value)
{
	size_t n = name != NULL ? strnlen(name, REGION_GAUGE_NAME_MAX + 1) : 0;
	struct region_hdr *r;
	struct region_gauge *g;
	unsigned i;
	int err = 0;

	if (!proto_gauge_name_ok(name, n))
		return -EINVAL;
	pthread_mutex_lock(&rg.gauge_lock);
	r = agent_region_get();
	if (r == NULL) {
		err = -ENODEV;
		goto out;
	}
	g = (struct region_gauge *)(void *)((char *)r + REGION_GAUGE_OFF);
	for (i = 0; i < r->ngauges; i++)
		if (strncmp(g[i].name, name, REGION_GAUGE_NAME_MAX) == 0)
			break;
	if (i == r->ngauges) {
		if (i == REGION_GAUGES) {
			err = -ENOSPC;
			goto out;
		}
		memset(g[i].name, 0, sizeof(g[i].name));
		memcpy(g[i].name, name, n);
		__atomic_store_n(&r->ngauges, i + 1, __ATOMIC_RELEASE);
	}
	memcpy(&g[i].value, &value, sizeof(value));
	__atomic_store_n(&g[i].state, 1, __ATOMIC_RELEASE);
out:
	pthread_mutex_unlock(&rg.gauge_lock);
	return err;
}

void agent_region_counts(uint64_t *done, uint64_t *failed)
{
	*done = rg.done;
	*failed = rg.failed;
}

/* Says why and turns the agent off for good in this process: every call
 * is forwarded from now on. */
static void stop_counting(const char *why)
{
	agent_warn(why);
	agent_disabled = 1;
	agent_tls.slot = NULL;
	agent_tls.mode = AGENT_BUSY;
}

void agent_region_postfork_child(void)
{
	struct region_hdr *r = agent_region_get();

	/* An assignment, not pthread_mutex_init(): every page the child
	 * touches is a page fault, and a first call through the PLT here
	 * would fault on several (the lazy binding's lookups, our GOT). */
	rg.gauge_lock = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
	rg.registered = 0;
	rg.done = rg.failed = 0;
	rg.said_why = 0;
	atomic_store(&rg.next_maint_ms, 0);
	if (r == NULL)
		return;
	if (rg.shared) {
		/* The memfd's pages are the parent's too: move ours to private
		 * memory at the same address before anything is counted. Only
		 * what is in use is copied (the header, the gauges set, the
		 * slots used): each page written is a fault in every child. */
		uint64_t used = REGION_SLOT_OFF + (uint64_t)r->slots_used * r->slot_size;
		uint32_t ng = r->ngauges < REGION_GAUGES ? r->ngauges : REGION_GAUGES;
		char *tmp = raw_mmap(NULL, r->size, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1);

		if (tmp == NULL || used > r->size) {
			stop_counting("fork child: cannot copy the region; counting stops");
			return;
		}
		memcpy(tmp, r, sizeof(*r));
		memcpy(tmp + REGION_GAUGE_OFF, (char *)r + REGION_GAUGE_OFF,
		    ng * sizeof(struct region_gauge));
		memcpy(tmp + REGION_SLOT_OFF, (char *)r + REGION_SLOT_OFF, used - REGION_SLOT_OFF);
		if (syscall(SYS_mremap, tmp, r->size, r->size, MREMAP_MAYMOVE | MREMAP_FIXED, r) ==
		    -1) {
			stop_counting("fork child: cannot move the region; counting stops");
			return;
		}
		rg.shared = 0;
	} else if (r->prof_size != 0 &&
	    raw_mmap((char *)r + r->prof_off, r->prof_size, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1) == NULL) {
		/* The parent's profile is not ours: fresh pages over it. */
		stop_counting("fork child: cannot clear the profile; counting stops");
		return;
	}
	agent_prof_postfork_child(r);
	r->instance = random_u64();
	r->generation = 0;
	r->exit_kind = REGION_EXIT_NONE;
	r->start_time = 0;
}
