/* agent_core.c: the thread registry, thread exit and fork, and the process-wide sum. */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

__thread struct agent_tls agent_tls __attribute__((tls_model("initial-exec")));

_Atomic int64_t agent_live_published;
_Atomic uint64_t agent_peak;
pid_t agent_pid;
int agent_disabled;
int agent_glibc_sizes;
uint64_t agent_stack_limit;

/*
 * The registry: every slot in use, linked under reg_lock. Slots come from
 * mmap'd pages that are never unmapped, so a pointer to a slot never
 * dangles; a freed slot goes to reg_free for the next thread.
 */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct agent_thread *reg_head;
static struct agent_thread *reg_free;
static uint64_t reg_count;
static pthread_key_t reg_key;
static int reg_key_ok;

/* What exited threads counted, and what exiting threads count directly:
 * shared, so updated with atomic adds (never on the hot path). */
struct shared_counters {
	_Atomic uint64_t alloc_bytes;
	_Atomic uint64_t free_bytes;
	_Atomic uint64_t frees;
	_Atomic uint64_t failed;
	_Atomic uint64_t bins[AGENT_BINS];
};

static struct shared_counters retired;
static _Atomic uint64_t retired_stack_peak;
static _Atomic uint64_t retired_main_peak;

#define SLOTS_PER_CHUNK 64

static struct agent_thread *slot_get(void)
{
	struct agent_thread *t;

	if (reg_free == NULL) {
		size_t len = SLOTS_PER_CHUNK * sizeof(struct agent_thread);
		long r = syscall(SYS_mmap, NULL, len, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		struct agent_thread *chunk = (struct agent_thread *)r;

		if (r == -1)
			return NULL;
		for (int i = 0; i < SLOTS_PER_CHUNK; i++) {
			chunk[i].next = reg_free;
			reg_free = &chunk[i];
		}
	}
	t = reg_free;
	reg_free = t->next;
	memset(t, 0, sizeof(*t));
	return t;
}

static void slot_link(struct agent_thread *t)
{
	t->prev = NULL;
	t->next = reg_head;
	if (reg_head != NULL)
		reg_head->prev = t;
	reg_head = t;
	reg_count++;
}

static void slot_unlink(struct agent_thread *t)
{
	if (t->prev != NULL)
		t->prev->next = t->next;
	else
		reg_head = t->next;
	if (t->next != NULL)
		t->next->prev = t->prev;
	reg_count--;
	t->next = reg_free;
	reg_free = t;
}

static uint64_t load(_Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

static void add_shared(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static void raise_to(_Atomic uint64_t *c, uint64_t v)
{
	uint64_t cur = load(c);

	while (v > cur && !atomic_compare_exchange_weak_explicit(c, &cur, v,
	    memory_order_relaxed, memory_order_relaxed))
		;
}

static uint64_t stack_depth(const struct agent_thread *t)
{
	uintptr_t low = AGENT_READ(t->stack_low);

	if (low == UINTPTR_MAX || t->stack_top == 0 || low > t->stack_top)
		return 0;
	return t->stack_top - low;
}

/* Adds a thread's counters into `retired`; its stack peak too. */
static void fold(struct agent_thread *t)
{
	struct agent_counters *c = &t->c;
	uint64_t alloc = AGENT_READ(c->alloc_bytes);
	uint64_t depth = stack_depth(t);

	add_shared(&retired.alloc_bytes, alloc);
	add_shared(&retired.free_bytes, alloc - (uint64_t)AGENT_READ(c->net));
	add_shared(&retired.frees, AGENT_READ(c->frees));
	add_shared(&retired.failed, AGENT_READ(c->failed));
	for (int i = 0; i < AGENT_BINS; i++)
		add_shared(&retired.bins[i], AGENT_READ(c->bins[i]));
	raise_to(&retired_stack_peak, depth);
	if (t->is_main)
		raise_to(&retired_main_peak, depth);
}

/* Sets the window around the thread's last publication. */
static void set_marks(struct agent_thread *t)
{
	t->mark = t->c.net;
	t->hi = t->mark + AGENT_PEAK_BATCH;
	t->lo = t->mark - AGENT_PEAK_BATCH;
}

void agent_publish(struct agent_thread *t)
{
	int64_t delta = t->c.net - t->mark;
	int64_t live = atomic_fetch_add_explicit(&agent_live_published, delta,
	    memory_order_relaxed) + delta;

	set_marks(t);
	if (live > 0)
		raise_to(&agent_peak, (uint64_t)live);
}

void agent_count_shared(int64_t usable)
{
	if (usable > 0) {
		add_shared(&retired.alloc_bytes, (uint64_t)usable);
		add_shared(&retired.bins[agent_bin((uint64_t)usable)], 1);
	} else if (usable < 0) {
		add_shared(&retired.frees, 1);
		add_shared(&retired.free_bytes, (uint64_t)-usable);
	} else {
		add_shared(&retired.failed, 1);
	}
	atomic_fetch_add_explicit(&agent_live_published, usable, memory_order_relaxed);
}

/* The mode a registered thread counts in. */
static unsigned char counting_mode(void)
{
	return agent_glibc_sizes ? AGENT_ACTIVE : AGENT_GENERIC;
}

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

/* Finds the thread's real stack: its top and size. Runs as AGENT_BUSY. */
static void find_stack(struct agent_thread *t)
{
	if (t->is_main) {
		uintptr_t sp = (uintptr_t)__builtin_frame_address(0);

		t->stack_top = mapping_end(sp);
		t->stack_size = agent_stack_limit;
	} else {
		pthread_attr_t attr;
		void *addr;
		size_t size;

		if (pthread_getattr_np(pthread_self(), &attr) != 0)
			return;
		if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
			t->stack_top = (uintptr_t)addr + size;
			t->stack_size = size;
		}
		pthread_attr_destroy(&attr);
	}
}

static void thread_exit(void *arg)
{
	struct agent_thread *t = arg;
	unsigned char mode = agent_tls.mode;

	if (t == NULL || agent_tls.saved != t ||
	    (mode != AGENT_ACTIVE && mode != AGENT_GENERIC))
		return;
	agent_tls.slot = NULL;
	agent_tls.mode = AGENT_DEAD;
	agent_sample_thread_stop(t);
	agent_publish(t);
	pthread_mutex_lock(&reg_lock);
	fold(t);
	slot_unlink(t);
	pthread_mutex_unlock(&reg_lock);
}

/* Registers the calling thread. Returns its slot or NULL. */
static struct agent_thread *thread_register(void)
{
	struct agent_thread *t;
	pid_t tid, pid;

	agent_tls.mode = AGENT_BUSY;
	if (agent_disabled)
		return NULL;
	tid = (pid_t)syscall(SYS_gettid);
	pid = getpid();
	pthread_mutex_lock(&reg_lock);
	t = slot_get();
	if (t != NULL) {
		t->tid = tid;
		t->is_main = tid == pid;
		t->stack_low = UINTPTR_MAX;
		set_marks(t);
		slot_link(t);
	}
	pthread_mutex_unlock(&reg_lock);
	if (t == NULL) {
		agent_warn("cannot map thread slots; this thread is not counted");
		return NULL;
	}
	find_stack(t);
	agent_sample_thread_start(t);
	if (reg_key_ok)
		pthread_setspecific(reg_key, t);
	agent_tls.saved = t;
	agent_tls.mode = counting_mode();
	agent_tls.slot = agent_tls.mode == AGENT_ACTIVE ? t : NULL;
	return t;
}

void agent_thread_started(void)
{
	if (agent_tls.mode == AGENT_NEW)
		thread_register();
}

void agent_sample_stop_all(void)
{
	pthread_mutex_lock(&reg_lock);
	for (struct agent_thread *t = reg_head; t != NULL; t = t->next)
		agent_sample_thread_stop(t);
	pthread_mutex_unlock(&reg_lock);
}

struct agent_thread *agent_thread_slow(void)
{
	switch (agent_tls.mode) {
	case AGENT_NEW:
		return thread_register();
	case AGENT_FORKED:
		agent_tls.mode = AGENT_BUSY;
		agent_report_start();
		agent_sample_thread_start(agent_tls.saved);
		agent_tls.mode = counting_mode();
		agent_tls.slot = agent_tls.mode == AGENT_ACTIVE ? agent_tls.saved : NULL;
		return agent_tls.saved;
	case AGENT_ACTIVE:          /* on the fast path, but the block was mmapped */
	case AGENT_GENERIC:
		return agent_tls.saved;
	default:
		return NULL;
	}
}

void agent_collect(struct proto_sample *s)
{
	struct {
		uint64_t alloc_bytes, free_bytes, frees, failed, bins[AGENT_BINS];
	} sum;
	uint64_t stack_peak, main_peak, allocs = 0;

	memset(s, 0, sizeof(*s));
	pthread_mutex_lock(&reg_lock);
	sum.frees = load(&retired.frees);
	sum.alloc_bytes = load(&retired.alloc_bytes);
	sum.free_bytes = load(&retired.free_bytes);
	sum.failed = load(&retired.failed);
	for (int i = 0; i < AGENT_BINS; i++)
		sum.bins[i] = load(&retired.bins[i]);
	stack_peak = load(&retired_stack_peak);
	main_peak = load(&retired_main_peak);
	for (struct agent_thread *t = reg_head; t != NULL; t = t->next) {
		uint64_t depth = stack_depth(t);
		uint64_t alloc = AGENT_READ(t->c.alloc_bytes);

		sum.frees += AGENT_READ(t->c.frees);
		sum.alloc_bytes += alloc;
		sum.free_bytes += alloc - (uint64_t)AGENT_READ(t->c.net);
		sum.failed += AGENT_READ(t->c.failed);
		for (int i = 0; i < AGENT_BINS; i++)
			sum.bins[i] += AGENT_READ(t->c.bins[i]);
		if (depth > stack_peak)
			stack_peak = depth;
		if (t->is_main && depth > main_peak)
			main_peak = depth;
	}
	s->threads = reg_count;
	pthread_mutex_unlock(&reg_lock);

	s->flags = PROTO_S_HEAP | PROTO_S_STACK | PROTO_S_HIST;
	for (int i = 0; i < AGENT_BINS; i++) {
		allocs += sum.bins[i];
		s->hist_count[agent_bin_bucket((unsigned)i)] += sum.bins[i];
	}
	s->heap_allocations = allocs;
	s->heap_frees = sum.frees;
	s->heap_allocated_bytes = sum.alloc_bytes;
	s->heap_failed = sum.failed;
	/* Frees of blocks made before the agent was loaded can outnumber. */
	s->heap_live_bytes = sum.alloc_bytes > sum.free_bytes ?
	    sum.alloc_bytes - sum.free_bytes : 0;
	s->heap_live_blocks = allocs > sum.frees ? allocs - sum.frees : 0;
	raise_to(&agent_peak, s->heap_live_bytes);
	s->heap_peak_bytes = load(&agent_peak);
	s->hist_sum = sum.alloc_bytes;
	s->stack_peak_bytes = stack_peak;
	s->stack_main_peak_bytes = main_peak;
	s->stack_limit_bytes = agent_stack_limit;
	s->mmap_live_bytes = agent_mmap_live();
}

static void fork_prepare(void)
{
	agent_report_prefork();
	pthread_mutex_lock(&reg_lock);
	agent_mmap_prefork();
}

static void fork_parent(void)
{
	agent_mmap_postfork(0);
	pthread_mutex_unlock(&reg_lock);
	agent_report_postfork(0);
}

/*
 * In the child only the forking thread is left. The others' blocks are
 * still in the child's heap, so their counters are folded in, and the
 * child's peak starts from what it inherited.
 */
static void fork_child(void)
{
	unsigned char mode = agent_tls.mode;
	struct agent_thread *self = mode == AGENT_ACTIVE || mode == AGENT_GENERIC ?
	    agent_tls.saved : NULL;
	struct agent_thread *t, *next;
	int64_t live = 0;

	agent_mmap_postfork(1);
	pthread_mutex_init(&reg_lock, NULL);
	agent_pid = getpid();
	for (t = reg_head; t != NULL; t = next) {
		next = t->next;
		if (t == self)
			continue;
		agent_publish(t);
		fold(t);
		slot_unlink(t);
	}
	if (self != NULL) {
		self->is_main = 1;
		self->tid = agent_pid;
		self->timer_on = 0;     /* timers are not inherited */
		live = self->c.net;
		agent_tls.saved = self;
		agent_tls.slot = NULL;
		agent_tls.mode = AGENT_FORKED;
	}
	live += (int64_t)(load(&retired.alloc_bytes) - load(&retired.free_bytes));
	atomic_store_explicit(&agent_peak, live > 0 ? (uint64_t)live : 0,
	    memory_order_relaxed);
	agent_report_postfork(1);
}

int agent_core_init(void)
{
	struct rlimit rl;
	int err;

	agent_pid = getpid();
	if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		agent_stack_limit = rl.rlim_cur;
	for (struct agent_thread *t = reg_head; t != NULL; t = t->next)
		if (t->is_main)
			t->stack_size = agent_stack_limit;
	agent_sample_init();
	pthread_mutex_lock(&reg_lock);
	for (struct agent_thread *t = reg_head; t != NULL; t = t->next)
		if (t->tid == agent_pid)
			agent_sample_thread_start(t);
	pthread_mutex_unlock(&reg_lock);
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
