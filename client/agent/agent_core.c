/* agent_core.c: threads and their slots, the peak, thread exit and fork, and the process-wide sum. */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

__thread struct agent_tls agent_tls __attribute__((tls_model("initial-exec")));

pid_t agent_pid;
int agent_disabled;
int agent_glibc_sizes;
const char *agent_size_source = "glibc_header";   /* the shim sets both at start */
uint32_t agent_size_kind = REGION_SIZE_GLIBC_HEADER;
uint64_t agent_stack_limit;

/*
 * The registry lock guards taking a slot and replacing the region. It is
 * only ever taken by a thread marked BUSY (whose own allocations, and those
 * of its signal handlers, are then forwarded uncounted), never on the hot
 * path, and it is taken around fork so a child never inherits it held.
 */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t reg_key;
static int reg_key_ok;

/* Live bytes published by all threads (see AGENT_PEAK_BATCH). Private to
 * the agent: the region holds only the peak it gives. */
static _Atomic int64_t live_published;

unsigned char agent_enter(void)
{
	unsigned char mode = agent_tls.mode;

	if (mode == AGENT_ACTIVE)
		agent_tls.saved = agent_tls.slot;
	agent_tls.slot = NULL;
	agent_tls.mode = AGENT_BUSY;
	return mode;
}

void agent_leave(unsigned char mode)
{
	agent_tls.mode = mode;
	if (mode == AGENT_ACTIVE)
		agent_tls.slot = agent_tls.saved;
}

/* The mode a registered thread counts in. */
static unsigned char counting_mode(void)
{
	return agent_glibc_sizes ? AGENT_ACTIVE : AGENT_GENERIC;
}

/* ---- the peak and the slow path ---- */

/* Charges the sampler's countdown with what the room has handed out
 * since it was armed. */
static void room_charge(agent_slot *t)
{
	t->agent.sample_left -= t->agent.armed - t->agent.room;
	t->agent.armed = t->agent.room;
}

/* Arms the room (see agent_room_spent). */
static void room_set(agent_slot *t)
{
	int64_t r = AGENT_GET(t->agent.hi) - t->net;

	room_charge(t);
	if (r > t->agent.sample_left)
		r = t->agent.sample_left;
	if (r < 0)
		r = 0;
	t->agent.room = t->agent.armed = r;
}

int agent_sample_due(agent_slot *t)
{
	room_charge(t);
	if (t->agent.sample_left >= 0)
		return 0;
	t->agent.sample_left = agent_prof_next();
	return 1;
}

void agent_stack_deeper(agent_slot *t, uintptr_t sp)
{
	agent_stack_seen(t, sp);
	atomic_thread_fence(memory_order_seq_cst);
	if (__atomic_load_n(&t->agent.moved, __ATOMIC_ACQUIRE) != 0) {
		/* Spend the room without a byte charged: armed - room stays. */
		t->agent.armed -= t->agent.room;
		t->agent.room = 0;
	}
}

/* Sets the window around the slot's last publication, and the room. */
static void set_marks(agent_slot *t)
{
	t->agent.mark = t->net;
	AGENT_SET(t->agent.hi, t->agent.mark + AGENT_PEAK_BATCH);
	AGENT_SET(t->agent.lo, t->agent.mark - AGENT_PEAK_BATCH);
	room_set(t);
}

static void publish(agent_slot *t)
{
	int64_t delta = t->net - t->agent.mark;
	int64_t live = atomic_fetch_add_explicit(&live_published, delta,
	    memory_order_relaxed) + delta;

	set_marks(t);
	if (live > 0)
		agent_region_raise_peak((uint64_t)live);
}

agent_slot *agent_slot_slow(agent_slot *t)
{
	t = agent_region_follow(t);
	if (t->net > AGENT_GET(t->agent.hi) || t->net < AGENT_GET(t->agent.lo))
		publish(t);
	room_set(t);
	/*
	 * The window was just written; a replacement may have set its traps
	 * (stack_low, lo) a moment before and been overwritten. The
	 * replacement marks `moved` before it sets the traps, so looking at
	 * `moved` after writing the window never misses one.
	 */
	atomic_thread_fence(memory_order_seq_cst);
	t = agent_region_follow(t);
	/* The tick: the coarse clock is read from the vDSO, and anything more
	 * happens at most once a second. */
	if (agent_tls.mode != AGENT_BUSY) {
		int saved_errno = errno;
		unsigned char mode = agent_enter();

		agent_region_maintain();
		agent_leave(mode);
		errno = saved_errno;
		t = agent_tls.saved != NULL ? agent_tls.saved : t;
	}
	return t;
}

/* ---- threads ---- */

/* Parses a hex number; returns the first byte after it. */
static const char *parse_hex(const char *p, const char *end, uintptr_t *out)
{
	uintptr_t v = 0;

	for (; p < end; p++) {
		unsigned d;
		if (*p >= '0' && *p <= '9')
			d = (unsigned)(*p - '0');
		else if (*p >= 'a' && *p <= 'f')
			d = (unsigned)(*p - 'a' + 10);
		else
			break;
		v = v << 4 | d;
	}
	*out = v;
	return p;
}

/*
 * The end of the mapping that holds `sp`, from /proc/self/maps, read with
 * raw syscalls: this runs inside malloc, where stdio is off limits.
 * Returns 0 if not found.
 */
static uintptr_t mapping_end(uintptr_t sp)
{
	char buf[4096];
	size_t have = 0;
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	uintptr_t found = 0;

	if (fd < 0)
		return 0;
	for (;;) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - have);
		char *line = buf, *nl;

		if (n <= 0)
			break;
		have += (size_t)n;
		while ((nl = memchr(line, '\n', have - (size_t)(line - buf))) != NULL) {
			uintptr_t lo, hi;
			const char *p = parse_hex(line, nl, &lo);

			if (p < nl && *p == '-') {
				parse_hex(p + 1, nl, &hi);
				if (lo <= sp && sp < hi) {
					found = hi;
					goto out;
				}
			}
			line = nl + 1;
		}
		have -= (size_t)(line - buf);
		memmove(buf, line, have);
		if (have == sizeof(buf))
			have = 0;   /* a line longer than the buffer: skip it */
	}
out:
	close(fd);
	return found;
}

/* Finds the calling thread's real stack: its top and size. */
static void find_stack(int is_main, uint64_t *top, uint64_t *size)
{
	*top = 0;
	*size = 0;
	if (is_main) {
		uintptr_t sp = (uintptr_t)__builtin_frame_address(0);

		*top = mapping_end(sp);
		*size = agent_stack_limit;
	} else {
		pthread_attr_t attr;
		void *addr;
		size_t sz;

		if (pthread_getattr_np(pthread_self(), &attr) != 0)
			return;
		if (pthread_attr_getstack(&attr, &addr, &sz) == 0) {
			*top = (uintptr_t)addr + sz;
			*size = sz;
		}
		pthread_attr_destroy(&attr);
	}
}

/* Deepest stack a slot shows now. */
static uint64_t slot_depth(const agent_slot *t)
{
	uint64_t low = AGENT_GET(t->stack_low), top = t->stack_top;

	if (low == UINT64_MAX || top == 0 || low > top)
		return 0;
	return top - low;
}

/* Whether thread `tid` of this process is gone for good. */
static int tid_gone(uint32_t tid)
{
	return syscall(SYS_tgkill, agent_pid, (pid_t)tid, 0) < 0 && errno == ESRCH;
}

/*
 * A slot for a new thread: an unused one, else one whose thread has gone
 * (its counts stay and the new thread counts on from them), else one of a
 * region twice the size. Under reg_lock. NULL when none can be had.
 */
static agent_slot *slot_get(void)
{
	struct region_hdr *r = agent_region_get();
	agent_slot *slots = agent_region_slots(r);
	uint32_t used = r->slots_used;
	int err;

	if (used < r->nslots) {
		__atomic_store_n(&r->slots_used, used + 1, __ATOMIC_RELEASE);
		return &slots[used];
	}
	for (uint32_t i = 0; i < used; i++)
		if (slots[i].state == REGION_SLOT_EXITED && tid_gone(slots[i].tid))
			return &slots[i];
	if (r->nslots >= REGION_MAX_SLOTS / 2)
		return NULL;
	agent_region_replace(r->nslots * 2, NULL, 1, &err);
	r = agent_region_get();
	if (err < 0 || r->slots_used >= r->nslots)
		return NULL;
	slots = agent_region_slots(r);
	used = r->slots_used;
	__atomic_store_n(&r->slots_used, used + 1, __ATOMIC_RELEASE);
	return &slots[used];
}

/* Registers the calling thread. Returns its slot or NULL. */
static agent_slot *thread_register(void)
{
	int saved_errno = errno;
	agent_slot *t = NULL;
	uint64_t top, size;
	pid_t tid;
	int is_main;

	agent_tls.mode = AGENT_BUSY;
	if (agent_disabled)
		return NULL;
	tid = (pid_t)syscall(SYS_gettid);
	if (agent_pid == 0)
		agent_pid = getpid();
	is_main = tid == agent_pid;
	find_stack(is_main, &top, &size);
	pthread_mutex_lock(&reg_lock);
	if (agent_region_get() != NULL || agent_region_create(AGENT_FIRST_SLOTS) == 0)
		t = slot_get();
	if (t != NULL) {
		if (t->state != REGION_SLOT_FREE && slot_depth(t) > t->stack_peak_prev)
			t->stack_peak_prev = slot_depth(t);
		AGENT_SET(t->stack_low, UINT64_MAX);
		t->stack_top = top;
		t->stack_size = size;
		t->tid = (uint32_t)tid;
		t->is_main = (uint32_t)is_main;
		t->agent.sample_left = agent_prof_next();
		t->agent.room = t->agent.armed = 0;
		set_marks(t);
		t->agent.moved = 0;
		__atomic_store_n(&t->state, REGION_SLOT_LIVE, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&reg_lock);
	errno = saved_errno;
	if (t == NULL) {
		agent_warn("no slot for a thread; this thread is not counted");
		return NULL;
	}
	if (reg_key_ok)
		pthread_setspecific(reg_key, t);
	agent_tls.saved = t;
	agent_tls.mode = counting_mode();
	agent_tls.slot = agent_tls.mode == AGENT_ACTIVE ? t : NULL;
	return t;
}

/* The key's destructor: the thread is exiting. Its slot keeps its counts
 * (and takes what it frees from here on) until the thread is gone. */
static void thread_exit(void *arg)
{
	unsigned char mode = agent_tls.mode;
	agent_slot *t;
	uint64_t depth;

	(void)arg;
	if (agent_tls.saved == NULL || (mode != AGENT_ACTIVE && mode != AGENT_GENERIC))
		return;
	t = agent_region_follow(agent_tls.saved);
	agent_tls.slot = NULL;
	agent_tls.mode = AGENT_DEAD;
	depth = slot_depth(t);
	if (depth > t->stack_peak_prev)
		t->stack_peak_prev = depth;
	publish(t);
	__atomic_store_n(&t->state, REGION_SLOT_EXITED, __ATOMIC_RELEASE);
}

void agent_thread_started(void)
{
	if (agent_tls.mode == AGENT_NEW)
		thread_register();
}

agent_slot *agent_thread_slow(void)
{
	switch (agent_tls.mode) {
	case AGENT_NEW:
		return thread_register();
	case AGENT_ACTIVE:          /* on the fast path, but the block was mmapped */
	case AGENT_GENERIC:
	case AGENT_DEAD:
		return agent_tls.saved != NULL ? agent_region_follow(agent_tls.saved) : NULL;
	default:
		return NULL;
	}
}

/* ---- the whole process ---- */

void agent_collect(struct proto_sample *s)
{
	struct region_hdr *r = agent_region_get();
	struct region_hdr h;

	memset(s, 0, sizeof(*s));
	if (r == NULL || region_check(r, r->size, &h) < 0) {
		s->stack_limit_bytes = agent_stack_limit;
		return;
	}
	region_read(r, &h, s, NULL, NULL, 0);
	agent_region_raise_peak(s->heap_live_bytes);
	if (s->heap_peak_bytes < s->heap_live_bytes)
		s->heap_peak_bytes = s->heap_live_bytes;
}

/* ---- fork ---- */

static void fork_prepare(void)
{
	pthread_mutex_lock(&reg_lock);
	agent_mmap_prefork();
}

static void fork_parent(void)
{
	agent_mmap_postfork(0);
	pthread_mutex_unlock(&reg_lock);
}

/*
 * In the child only the forking thread is left. The others' blocks are
 * still in the child's heap, so their slots keep their counts, as exited
 * threads; the child's region becomes its own, and its peak starts from
 * what it inherited.
 */
static void fork_child(void)
{
	unsigned char mode = agent_tls.mode;
	agent_slot *self = mode == AGENT_ACTIVE || mode == AGENT_GENERIC ? agent_tls.saved : NULL;
	struct region_hdr *r;
	int64_t live = 0;

	agent_mmap_postfork(1);
	/* Not pthread_mutex_init(): see agent_region_postfork_child(). */
	reg_lock = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
	agent_pid = getpid();
	agent_region_postfork_child();
	r = agent_region_get();
	if (r != NULL) {
		agent_slot *slots = agent_region_slots(r);

		for (uint32_t i = 0; i < r->slots_used; i++) {
			agent_slot *t = &slots[i];

			if (t->state == REGION_SLOT_FREE)
				continue;
			live += t->net;
			if (t == self || t->state != REGION_SLOT_LIVE)
				continue;
			if (slot_depth(t) > t->stack_peak_prev)
				t->stack_peak_prev = slot_depth(t);
			t->state = REGION_SLOT_EXITED;
		}
		/* A replacement in flight in the parent is not the child's. */
		for (uint32_t i = 0; i < r->slots_used; i++)
			slots[i].agent.moved = 0;
		r->heap_peak = live > 0 ? (uint64_t)live : 0;
	}
	if (self != NULL) {
		self->is_main = 1;
		self->tid = (uint32_t)agent_pid;
		set_marks(self);
		/* The child hands its region to memprobed at its first
		 * publication, once its heap has grown by AGENT_PEAK_BATCH: a
		 * child that only execs, or leaves at once, costs nothing and
		 * is not seen; its heap is its parent's. */
	}
	atomic_store_explicit(&live_published, live, memory_order_relaxed);
}

int agent_core_init(void)
{
	struct rlimit rl;
	struct region_hdr *r;
	int err;

	agent_pid = getpid();
	if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		agent_stack_limit = rl.rlim_cur;
	r = agent_region_get();
	if (r != NULL) {
		agent_slot *slots = agent_region_slots(r);

		r->stack_limit = agent_stack_limit;
		for (uint32_t i = 0; i < r->slots_used; i++)
			if (slots[i].is_main)
				slots[i].stack_size = agent_stack_limit;
	}
	err = pthread_key_create(&reg_key, thread_exit);
	if (err != 0)
		return -err;
	reg_key_ok = 1;
	/* Threads registered before the key existed get it now (only the
	 * constructor's own thread can have run by then). */
	if (agent_tls.mode == AGENT_ACTIVE || agent_tls.mode == AGENT_GENERIC)
		pthread_setspecific(reg_key, agent_tls.saved);
	err = pthread_atfork(fork_prepare, fork_parent, fork_child);
	return -err;
}

void agent_core_lock(void)
{
	pthread_mutex_lock(&reg_lock);
}

void agent_core_unlock(void)
{
	pthread_mutex_unlock(&reg_lock);
}
