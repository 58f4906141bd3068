/* agent_profile.c: the heap profile: sampling, stack capture, and the stacks and mappings in the region. */
#include "agent.h"
#include "profile.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <unwind.h>

/*
 * Which allocations are sampled is said in common/profile.h; how a sampled
 * block is shaped, so that free() knows it without a lookup, in
 * agent_shim.c. This file keeps the rest, all of it off the allocator's
 * fast path:
 *
 * - the countdown: each thread's slot->agent.sample_left, drawn here and
 *   spent through the room (agent_room_spent, agent_sample_due);
 * - stack capture with libgcc's unwinder (_Unwind_Backtrace), which reads
 *   the DWARF call frame information every Debian binary carries (they have
 *   no frame pointers), finds objects with _dl_find_object (lock-free, no
 *   allocation) and is primed at start so its one-time set-up never runs
 *   inside a sample;
 * - the stacks and mappings, in the profile area of the shared region, and
 *   a private index from a stack's hash to its record;
 * - in a Python process, the Python functions its stacks name (read from
 *   code objects by agent_python.c), with a private index from a code
 *   object to its record, and the Python frames put into each stack in
 *   place of the interpreter loop's native frames (with_python).
 *
 * No locks: every shared change is a compare-and-swap, so a sample taken
 * in a signal handler, or in a fork child whose parent was mid-sample,
 * cannot deadlock. The thread is AGENT_BUSY while it samples, so
 * allocations made meanwhile (by the unwinder, or a signal handler) are
 * forwarded and never sampled into a half-written record.
 *
 * Moving. A region is replaced (agent_region.c) while other threads may be
 * sampling. Its profile moves in two steps: agent_prof_move() marks the
 * old area's claim counters PROF_MOVED (no new record can be claimed in
 * it) and copies the records that are ready; once the new region is
 * published, agent_prof_move_counters() swaps each counter of the old area
 * with PROF_MOVED and adds what it held to the new one. A writer whose
 * compare-and-swap meets PROF_MOVED follows agent_moved to the newer area
 * and adds there, so no count is lost or counted twice; a writer that was
 * filling a record when the copy passed it copies the record itself.
 *
 * Memory: the area is profile_area_size(max_stacks, PROF_MAPS_DEFAULT,
 * max_pyfuncs) bytes of the region (2.9 MiB at 4096 stacks, and 3.3 MiB
 * more for 4096 Python functions in a Python process; pages are touched
 * as records are added), and the private indexes 16 bytes per record
 * (64 KiB at 4096).
 */

uint64_t agent_prof_rate;
uint64_t agent_prof_secret;
uint32_t agent_prof_epoch;
static uint32_t max_stacks = PROF_STACKS_DEFAULT;
static int configured;

/* The private indexes, from a stack's hash to its record and from a code
 * object's address to its Python function: open addressing, each entry
 * (key >> 32) << 32 | epoch << 20 | id, written once by compare-and-swap.
 * An entry of another epoch (a parent's, in a fork child) is free. */
#define INDEX_ID_BITS 20
#define INDEX_EPOCH_MASK 0xfffu
struct index {
	uint64_t *v;
	uint32_t mask;
};
static struct index stack_index, pyfunc_index;
static uint32_t max_pyfuncs;

/* Our own code, whose frames lead every captured stack and are left out. */
static uintptr_t self_lo, self_hi;
/* The main program's path, which its link map leaves empty. */
static char exe_path[PROF_PATH_MAX];

/* ---- the environment ---- */

/* Reads a decimal number in [lo, hi] from the environment; the default
 * when unset; said once under MEMPROBE_DEBUG when malformed. */
static uint64_t env_number(const char *name, uint64_t def, uint64_t lo, uint64_t hi)
{
	const char *v = getenv(name);
	uint64_t n = 0;

	if (v == NULL || *v == '\0')
		return def;
	for (const char *c = v; *c != '\0'; c++) {
		if (*c < '0' || *c > '9' || n > (UINT64_MAX - 9) / 10) {
			agent_debug_path("ignoring ", name, EINVAL, ": not a number; using the default");
			return def;
		}
		n = n * 10 + (uint64_t)(*c - '0');
	}
	if (n < lo || n > hi) {
		agent_debug_path("ignoring ", name, ERANGE, ": out of range; using the default");
		return def;
	}
	return n;
}

static uint64_t random_word(void)
{
	uint64_t v = 0;

	if (syscall(SYS_getrandom, &v, sizeof(v), 1 /* GRND_NONBLOCK */) != (long)sizeof(v))
		v = (uint64_t)(uintptr_t)&v * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
	return v;
}

static _Unwind_Reason_Code prime_frame(struct _Unwind_Context *ctx, void *arg)
{
	(void)ctx;
	(void)arg;
	return _URC_NO_REASON;
}

/* Finds our own code and the main program's path, and runs the unwinder
 * once, so that its one-time set-up is done. */
static void prime(void)
{
	struct dl_find_object fo;
	ssize_t n;

	if (_dl_find_object((void *)(uintptr_t)&prime, &fo) == 0) {
		self_lo = (uintptr_t)fo.dlfo_map_start;
		self_hi = (uintptr_t)fo.dlfo_map_end;
	}
	n = readlink("/proc/self/exe", exe_path, sizeof(exe_path) - 1);
	exe_path[n > 0 ? n : 0] = '\0';
	_Unwind_Backtrace(prime_frame, NULL);
}

/* An index for up to n records, in memory of the agent's own. */
static int index_make(struct index *x, uint64_t n)
{
	uint64_t slots;
	void *p;

	for (slots = 1; slots < 2 * n; slots <<= 1)
		;
	/* A system call, not our mmap hook: this is the agent's memory. */
	p = (void *)syscall(SYS_mmap, NULL, slots * sizeof(uint64_t), PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -ENOMEM;
	x->v = p;
	x->mask = (uint32_t)(slots - 1);
	return 0;
}

int agent_prof_setup(void)
{
	uint64_t rate, stacks;
	uint32_t pyfuncs;

	if (configured)
		return 0;
	configured = 1;
	rate = env_number("MEMPROBE_PROFILE_RATE", PROF_RATE_DEFAULT, 0, 1ull << 40);
	stacks = env_number("MEMPROBE_PROFILE_MAX_STACKS", PROF_STACKS_DEFAULT, 2, PROF_STACKS_MAX);
	if (rate == 0)
		return 0;
	if (index_make(&stack_index, stacks) < 0) {
		agent_debug("profiling off: no memory for the stack index");
		return -ENOMEM;
	}
	max_stacks = (uint32_t)stacks;
	agent_prof_secret = random_word() | (1ull << 63);
	agent_prof_epoch = (uint32_t)random_word() & INDEX_EPOCH_MASK;
	prime();
	agent_prof_rate = rate;
	pyfuncs = agent_py_setup(1);
	if (pyfuncs > 0 && index_make(&pyfunc_index, pyfuncs) == 0)
		max_pyfuncs = pyfuncs;
	return 0;
}

uint64_t agent_prof_area_size(void)
{
	return agent_prof_rate != 0 ? profile_area_size(max_stacks, PROF_MAPS_DEFAULT, max_pyfuncs) : 0;
}

static struct prof_hdr *area_of(struct region_hdr *r)
{
	if (r == NULL || r->prof_off == 0)
		return NULL;
	return (struct prof_hdr *)(void *)((char *)r + r->prof_off);
}

void agent_prof_area_init(struct region_hdr *r)
{
	struct prof_hdr *a = area_of(r);

	if (a != NULL)
		profile_init(a, agent_prof_rate, max_stacks, PROF_MAPS_DEFAULT, max_pyfuncs);
}

static struct prof_stack *stack_at(struct prof_hdr *a, uint32_t id)
{
	return (struct prof_stack *)(void *)((char *)a + a->stack_off + (uint64_t)id * a->stack_size);
}

static struct prof_map *map_at(struct prof_hdr *a, uint32_t i)
{
	return (struct prof_map *)(void *)((char *)a + a->map_off + (uint64_t)i * a->map_size);
}

static struct prof_pyfunc *pyfunc_at(struct prof_hdr *a, uint32_t i)
{
	return (struct prof_pyfunc *)(void *)((char *)a + a->pyfunc_off + (uint64_t)i * a->pyfunc_size);
}

/* The tables whose records are written whole, once: mappings and Python
 * functions. Their records start with their state. */
enum whole {
	WHOLE_MAPS,
	WHOLE_PYFUNCS,
};

static void *whole_at(struct prof_hdr *a, enum whole t, uint32_t i)
{
	return t == WHOLE_MAPS ? (void *)map_at(a, i) : (void *)pyfunc_at(a, i);
}

static size_t whole_size(enum whole t)
{
	return t == WHOLE_MAPS ? sizeof(struct prof_map) : sizeof(struct prof_pyfunc);
}

/* The table's claim counter, as an offset into the header. */
static size_t whole_used(enum whole t)
{
	return t == WHOLE_MAPS ? offsetof(struct prof_hdr, maps_used) :
	    offsetof(struct prof_hdr, pyfuncs_used);
}

static struct prof_hdr *moved_to(struct prof_hdr *a)
{
	return (struct prof_hdr *)(uintptr_t)__atomic_load_n(&a->agent_moved, __ATOMIC_ACQUIRE);
}

/* ---- counters that may move ---- */

/* Adds d to the counter at byte `off` of area a (a header field) or of
 * its stack `id` (id >= 0), following the area's moves. */
static void counter_add(struct prof_hdr *a, long id, size_t off, int64_t d)
{
	while (a != NULL) {
		char *base = id >= 0 ? (char *)stack_at(a, (uint32_t)id) : (char *)a;
		int64_t *c = (int64_t *)(void *)(base + off);
		int64_t cur = __atomic_load_n(c, __ATOMIC_RELAXED);

		while (cur != PROF_MOVED) {
			if (__atomic_compare_exchange_n(c, &cur, cur + d, 1, __ATOMIC_SEQ_CST,
			    __ATOMIC_RELAXED))
				return;
		}
		a = moved_to(a);
	}
}

#define HDR_ADD(a, field, d) counter_add(a, -1, offsetof(struct prof_hdr, field), d)
#define STACK_ADD(a, id, field, d) \
	counter_add(a, (long)(id), offsetof(struct prof_stack, field), d)

/* Claims the next record of a claim counter (stacks_used or maps_used at
 * byte `off` of the header) below max, following moves. Returns the
 * index, or -1 when full; *in is the area it was claimed in. */
static int64_t claim(struct prof_hdr *a, size_t off, uint32_t max, struct prof_hdr **in)
{
	while (a != NULL) {
		int64_t *c = (int64_t *)(void *)((char *)a + off);
		int64_t n = __atomic_load_n(c, __ATOMIC_RELAXED);

		while (n != PROF_MOVED) {
			if (n < 0 || n >= (int64_t)max)
				return -1;
			if (__atomic_compare_exchange_n(c, &n, n + 1, 1, __ATOMIC_SEQ_CST,
			    __ATOMIC_RELAXED)) {
				*in = a;
				return n;
			}
		}
		a = moved_to(a);
	}
	return -1;
}

/* Writes record s's stack (hash and frames; not its counters) into d,
 * then makes d ready. */
static void stack_publish(struct prof_stack *d, const struct prof_stack *s)
{
	d->hash = s->hash;
	d->nframes = s->nframes;
	memcpy(d->frames, s->frames, s->nframes * sizeof(s->frames[0]));
	__atomic_store_n(&d->state, PROF_READY, __ATOMIC_SEQ_CST);
}

/* Writes record m of table t (all of it but its state) into d, then
 * makes d ready. */
static void whole_publish(void *d, const void *m, enum whole t)
{
	memcpy((char *)d + sizeof(uint32_t), (const char *)m + sizeof(uint32_t),
	    whole_size(t) - sizeof(uint32_t));
	__atomic_store_n((uint32_t *)d, PROF_READY, __ATOMIC_SEQ_CST);
}

/* After a record claimed in area a was made ready: while a was moved
 * meanwhile, the copy may have passed it by; write it into each newer
 * area too (the same bytes the copy would have written). */
static void chase_stack(struct prof_hdr *a, uint32_t id)
{
	const struct prof_stack *s = stack_at(a, id);

	while (__atomic_load_n(&a->stacks_used, __ATOMIC_SEQ_CST) == PROF_MOVED &&
	    (a = moved_to(a)) != NULL)
		stack_publish(stack_at(a, id), s);
}

static void chase_whole(struct prof_hdr *a, enum whole t, uint32_t i)
{
	const void *m = whole_at(a, t, i);

	while (__atomic_load_n((int64_t *)(void *)((char *)a + whole_used(t)), __ATOMIC_SEQ_CST) ==
	    PROF_MOVED && (a = moved_to(a)) != NULL)
		whole_publish(whole_at(a, t, i), m, t);
}

/* ---- moving with the region ---- */

/* Marks a claim counter moved and gives its count to the new area. */
static int64_t move_claims(int64_t *from, int64_t *to, int64_t max)
{
	int64_t n = __atomic_exchange_n(from, PROF_MOVED, __ATOMIC_SEQ_CST);

	if (n < 0 || n == PROF_MOVED)
		n = 0;
	if (n > max)
		n = max;
	__atomic_store_n(to, n, __ATOMIC_SEQ_CST);
	return n;
}

/* Copies the ready records [0, n) of table t from area a to b. */
static void copy_whole(struct prof_hdr *a, struct prof_hdr *b, enum whole t, int64_t n)
{
	for (int64_t i = 0; i < n; i++) {
		const void *m = whole_at(a, t, (uint32_t)i);

		if (__atomic_load_n((const uint32_t *)m, __ATOMIC_ACQUIRE) == PROF_READY)
			whole_publish(whole_at(b, t, (uint32_t)i), m, t);
	}
}

void agent_prof_move(struct region_hdr *old, struct region_hdr *nw)
{
	struct prof_hdr *a = area_of(old), *b = area_of(nw);
	int64_t ns, nm, np;

	if (a == NULL || b == NULL)
		return;
	profile_init(b, agent_prof_rate, max_stacks, PROF_MAPS_DEFAULT, max_pyfuncs);
	__atomic_store_n(&a->agent_moved, (uint64_t)(uintptr_t)b, __ATOMIC_SEQ_CST);
	ns = move_claims(&a->stacks_used, &b->stacks_used, a->max_stacks);
	nm = move_claims(&a->maps_used, &b->maps_used, a->max_maps);
	np = move_claims(&a->pyfuncs_used, &b->pyfuncs_used, a->max_pyfuncs);
	/* A record not ready yet is copied by its writer (chase_stack,
	 * chase_whole). */
	for (int64_t i = 1; i < ns; i++) {
		const struct prof_stack *s = stack_at(a, (uint32_t)i);

		if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) == PROF_READY)
			stack_publish(stack_at(b, (uint32_t)i), s);
	}
	copy_whole(a, b, WHOLE_MAPS, nm);
	copy_whole(a, b, WHOLE_PYFUNCS, np);
}

/* Swaps a counter out of the old area and adds it to the new one. */
static void move_counter(int64_t *from, int64_t *to)
{
	int64_t v = __atomic_exchange_n(from, PROF_MOVED, __ATOMIC_SEQ_CST);

	if (v != PROF_MOVED)
		__atomic_fetch_add(to, v, __ATOMIC_SEQ_CST);
}

void agent_prof_move_counters(struct region_hdr *old, struct region_hdr *nw)
{
	struct prof_hdr *a = area_of(old), *b = area_of(nw);
	int64_t n;

	if (a == NULL || b == NULL)
		return;
	n = __atomic_load_n(&b->stacks_used, __ATOMIC_ACQUIRE);
	for (int64_t i = 0; i < n && i < (int64_t)a->max_stacks; i++) {
		struct prof_stack *s = stack_at(a, (uint32_t)i), *d = stack_at(b, (uint32_t)i);

		move_counter(&s->alloc_objects, &d->alloc_objects);
		move_counter(&s->alloc_bytes, &d->alloc_bytes);
		move_counter(&s->inuse_objects, &d->inuse_objects);
		move_counter(&s->inuse_bytes, &d->inuse_bytes);
		move_counter(&s->samples, &d->samples);
		move_counter(&s->inuse_samples, &d->inuse_samples);
	}
	move_counter(&a->samples, &b->samples);
	move_counter(&a->folded, &b->folded);
	move_counter(&a->unwind_failed, &b->unwind_failed);
	move_counter(&a->maps_dropped, &b->maps_dropped);
	move_counter(&a->sample_ns, &b->sample_ns);
	move_counter(&a->pyfuncs_dropped, &b->pyfuncs_dropped);
	move_counter(&a->py_samples, &b->py_samples);
}

void agent_prof_postfork_child(struct region_hdr *r)
{
	agent_prof_epoch = (agent_prof_epoch + 1) & INDEX_EPOCH_MASK;
	agent_prof_area_init(r);
	/* A new generator: the child's samples are not its parent's. */
	agent_tls.rng = 0;
}

/* ---- the countdown ---- */

/* A uniform draw in (0, 1], from the thread's xorshift state. */
static double uniform(void)
{
	uint64_t x = agent_tls.rng;

	if (x == 0)
		x = random_word() | 1;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	agent_tls.rng = x;
	return (double)((x >> 11) + 1) * 0x1p-53;
}

int64_t agent_prof_next(void)
{
	double d;

	/* Before the first region is made the rate is not known yet: look
	 * again after a while. */
	if (!configured)
		return agent_disabled ? INT64_MAX : AGENT_PEAK_BATCH;
	if (agent_prof_rate == 0)
		return INT64_MAX;
	d = -log(uniform()) * (double)agent_prof_rate;
	return d < 0x1p62 ? (int64_t)d : (int64_t)1 << 62;
}

/* ---- mappings ---- */

static int map_known(struct prof_hdr *a, uint64_t addr)
{
	int64_t n = __atomic_load_n(&a->maps_used, __ATOMIC_ACQUIRE);

	for (int64_t i = 0; i < n && i < (int64_t)a->max_maps; i++) {
		const struct prof_map *m = map_at(a, (uint32_t)i);

		if (__atomic_load_n(&m->state, __ATOMIC_ACQUIRE) != PROF_WRITING &&
		    addr - m->start < m->end - m->start)
			return 1;
	}
	return 0;
}

/* Copies the GNU build-id of the object whose notes are in [p, p + len). */
static void note_build_id(const unsigned char *p, uint64_t len, struct prof_map *m)
{
	uint64_t off = 0;

	while (off + sizeof(ElfW(Nhdr)) <= len) {
		const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)(const void *)(p + off);
		uint64_t name = (nh->n_namesz + 3) & ~3ull, desc = (nh->n_descsz + 3) & ~3ull;
		const unsigned char *d = p + off + sizeof(*nh) + name;

		if (sizeof(*nh) + name + desc > len - off)
			return;
		if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
		    memcmp(p + off + sizeof(*nh), "GNU", 4) == 0 && nh->n_descsz > 0 &&
		    nh->n_descsz <= PROF_BUILD_ID_MAX) {
			memcpy(m->build_id, d, nh->n_descsz);
			m->build_id_len = nh->n_descsz;
			return;
		}
		off += sizeof(*nh) + name + desc;
	}
}

/* Adds one record per executable segment of the object holding addr,
 * read from its program headers in memory (the object's first page holds
 * its ELF header and program headers). */
static void map_add(struct prof_hdr *a, uint64_t addr)
{
	struct dl_find_object fo;
	const ElfW(Ehdr) *eh;
	const ElfW(Phdr) *ph;
	const char *path;
	struct prof_map tmpl;
	uint64_t bias, span;

	if (_dl_find_object((void *)(uintptr_t)addr, &fo) != 0 || fo.dlfo_link_map == NULL)
		return;
	eh = fo.dlfo_map_start;
	span = (uint64_t)((char *)fo.dlfo_map_end - (char *)fo.dlfo_map_start);
	if (span < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh->e_phentsize != sizeof(*ph) || eh->e_phoff > span ||
	    (uint64_t)eh->e_phnum * sizeof(*ph) > span - eh->e_phoff)
		return;
	ph = (const ElfW(Phdr) *)(const void *)((const char *)eh + eh->e_phoff);
	bias = fo.dlfo_link_map->l_addr;
	path = fo.dlfo_link_map->l_name;
	if (path == NULL || path[0] == '\0')
		path = exe_path;
	if (path[0] != '/')
		return;         /* the vDSO: not a file */
	memset(&tmpl, 0, sizeof(tmpl));
	for (unsigned i = 0; i < eh->e_phnum; i++)
		if (ph[i].p_type == PT_NOTE && tmpl.build_id_len == 0 &&
		    ph[i].p_vaddr + bias >= (uint64_t)(uintptr_t)eh &&
		    ph[i].p_vaddr + bias + ph[i].p_filesz <= (uint64_t)(uintptr_t)fo.dlfo_map_end)
			note_build_id((const unsigned char *)(uintptr_t)(ph[i].p_vaddr + bias),
			    ph[i].p_filesz, &tmpl);
	memcpy(tmpl.path, path, strnlen(path, sizeof(tmpl.path) - 1));
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		struct prof_hdr *in;
		int64_t k;

		if (ph[i].p_type != PT_LOAD || !(ph[i].p_flags & PF_X))
			continue;
		k = claim(a, offsetof(struct prof_hdr, maps_used), a->max_maps, &in);
		if (k < 0) {
			HDR_ADD(a, maps_dropped, 1);
			return;
		}
		tmpl.start = (bias + ph[i].p_vaddr) & ~4095ull;
		tmpl.end = (bias + ph[i].p_vaddr + ph[i].p_memsz + 4095) & ~4095ull;
		tmpl.offset = ph[i].p_offset & ~4095ull;
		whole_publish(map_at(in, (uint32_t)k), &tmpl, WHOLE_MAPS);
		chase_whole(in, WHOLE_MAPS, (uint32_t)k);
	}
}

/* ---- stacks ---- */

_Unwind_Reason_Code agent_stack_frame(struct _Unwind_Context *ctx, void *arg)
{
	struct agent_stack *c = arg;
	uintptr_t ip = _Unwind_GetIP(ctx);

	if (ip == 0)
		return _URC_END_OF_STACK;
	/* Our own frames lead the stack (the hook, this file, the unwinder's
	 * entry); the program's begin at the first frame outside them. */
	if (c->n == 0 && ip - self_lo < self_hi - self_lo && c->skipped < 16) {
		c->skipped++;
		return _URC_NO_REASON;
	}
	c->frames[c->n++] = ip;
	/* Past the interpreter loop's outermost frame: its start-up. */
	if (c->evals_left > 0 && agent_py_eval_frame(ip) && --c->evals_left == 0)
		return _URC_END_OF_STACK;
	return c->n == PROF_MAX_FRAMES ? _URC_END_OF_STACK : _URC_NO_REASON;
}

static uint64_t stack_hash(const uint64_t *f, unsigned n)
{
	uint64_t h = 0x6a09e667f3bcc909ull ^ n;

	for (unsigned i = 0; i < n; i++) {
		h ^= f[i];
		h *= 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	return h;
}

static int same_stack(struct prof_hdr *a, uint32_t id, const void *what)
{
	const struct agent_stack *want = what;
	const struct prof_stack *s;

	if (id >= a->max_stacks)
		return 0;
	s = stack_at(a, id);
	return __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) == PROF_READY && s->nframes == want->n &&
	    memcmp(s->frames, want->frames, want->n * sizeof(want->frames[0])) == 0;
}

/* An index entry, and its parts. */
static uint64_t index_entry(uint64_t h, uint32_t id)
{
	return (h & ~0xffffffffull) | (uint64_t)agent_prof_epoch << INDEX_ID_BITS | id;
}

static int index_current(uint64_t e)
{
	return e != 0 && ((e >> INDEX_ID_BITS) & INDEX_EPOCH_MASK) == agent_prof_epoch;
}

/* The record of key hash h in index x that match() says is the one (given
 * the area, a candidate id, and what the caller is looking for); -1 when
 * it has none yet. */
static long index_find(const struct index *x, uint64_t h, struct prof_hdr *a,
    int (*match)(struct prof_hdr *, uint32_t, const void *), const void *what)
{
	for (uint32_t i = 0, k = (uint32_t)h & x->mask; i <= x->mask; i++, k = (k + 1) & x->mask) {
		uint64_t e = __atomic_load_n(&x->v[k], __ATOMIC_ACQUIRE);
		uint32_t id = (uint32_t)(e & ((1u << INDEX_ID_BITS) - 1));

		if (!index_current(e))
			return -1;
		if ((e >> 32) == (h >> 32) && match(a, id, what))
			return (long)id;
	}
	return -1;
}

/* Enters a new record in index x, in the first free entry. */
static void index_put(struct index *x, uint64_t h, uint32_t id)
{
	uint64_t want = index_entry(h, id);

	for (uint32_t i = 0, k = (uint32_t)h & x->mask; i <= x->mask; i++, k = (k + 1) & x->mask) {
		uint64_t e = __atomic_load_n(&x->v[k], __ATOMIC_ACQUIRE);

		while (!index_current(e))
			if (__atomic_compare_exchange_n(&x->v[k], &e, want, 0, __ATOMIC_SEQ_CST,
			    __ATOMIC_ACQUIRE))
				return;
	}
}

/* Makes a record for a new stack; its id, or 0 ([other]) when the table is
 * full or being moved. */
static uint32_t stack_add(struct prof_hdr *a, uint64_t h, const uint64_t *f, unsigned n)
{
	struct prof_hdr *in;
	struct prof_stack *s;
	int64_t id = claim(a, offsetof(struct prof_hdr, stacks_used), a->max_stacks, &in);

	if (id < 0) {
		HDR_ADD(a, folded, 1);
		return 0;
	}
	for (unsigned i = 0; i < n; i++)
		if (!prof_frame_is_py(f[i]) && !map_known(in, f[i]))
			map_add(in, f[i]);
	s = stack_at(in, (uint32_t)id);
	s->hash = h;
	s->nframes = n;
	memcpy(s->frames, f, n * sizeof(f[0]));
	__atomic_store_n(&s->state, PROF_READY, __ATOMIC_SEQ_CST);
	chase_stack(in, (uint32_t)id);
	index_put(&stack_index, h, (uint32_t)id);
	return (uint32_t)id;
}

/* ---- Python functions ---- */

struct pyfunc_key {
	uintptr_t code;
	uint64_t ident;
};

static int same_pyfunc(struct prof_hdr *a, uint32_t id, const void *what)
{
	const struct pyfunc_key *k = what;
	const struct prof_pyfunc *f;

	if (id >= a->max_pyfuncs)
		return 0;
	f = pyfunc_at(a, id);
	return __atomic_load_n(&f->state, __ATOMIC_ACQUIRE) == PROF_READY &&
	    f->agent_code == k->code && f->agent_ident == k->ident;
}

/* The Python function of a code object: its id, made the first time the
 * code object is met (its names read then, once); 0, "[python]", when
 * the table is full. */
static uint32_t pyfunc_id(struct prof_hdr *a, uintptr_t code)
{
	struct pyfunc_key k = { code, agent_py_ident(code) };
	uint64_t h = (code >> 4) * 0x9e3779b97f4a7c15ull;
	struct prof_hdr *in;
	struct prof_pyfunc *f;
	long id = index_find(&pyfunc_index, h, a, same_pyfunc, &k);

	if (id >= 0)
		return (uint32_t)id;
	id = claim(a, offsetof(struct prof_hdr, pyfuncs_used), a->max_pyfuncs, &in);
	if (id < 0) {
		HDR_ADD(a, pyfuncs_dropped, 1);
		return 0;
	}
	f = pyfunc_at(in, (uint32_t)id);
	f->agent_code = code;
	f->agent_ident = k.ident;
	agent_py_describe(code, f);
	__atomic_store_n(&f->state, PROF_READY, __ATOMIC_SEQ_CST);
	chase_whole(in, WHOLE_PYFUNCS, (uint32_t)id);
	index_put(&pyfunc_index, h, (uint32_t)id);
	return (uint32_t)id;
}

static uint64_t py_frame(struct prof_hdr *a, const struct agent_pyframe *f)
{
	return PROF_PY_MAKE(pyfunc_id(a, f->code), f->line);
}

/*
 * Stack s with the thread's Python frames where the interpreter's loop
 * ran them, into m: each native frame of _PyEval_EvalFrameDefault gives
 * way to the Python frames it ran, from the innermost left to the first
 * that loop was called for (is_entry). Python frames left when the native
 * stack ends (the unwinder stopped early) follow it. Returns m, or s when
 * the thread has no Python frames.
 */
static const struct agent_stack *with_python(struct prof_hdr *a, const struct agent_stack *s,
    struct agent_stack *m)
{
	struct agent_pyframe py[PROF_MAX_FRAMES];
	unsigned np, pi = 0, n = 0;

	if (a->max_pyfuncs == 0 || (np = agent_py_frames(py, PROF_MAX_FRAMES)) == 0)
		return s;
	for (unsigned i = 0; i < s->n && n < PROF_MAX_FRAMES; i++) {
		if (pi == np || !agent_py_eval_frame(s->frames[i])) {
			m->frames[n++] = s->frames[i];
			continue;
		}
		do
			m->frames[n++] = py_frame(a, &py[pi]);
		while (!py[pi++].entry && pi < np && n < PROF_MAX_FRAMES);
	}
	while (pi < np && n < PROF_MAX_FRAMES)
		m->frames[n++] = py_frame(a, &py[pi++]);
	m->n = n;
	m->skipped = s->skipped;
	m->t0 = s->t0;
	HDR_ADD(a, py_samples, 1);
	return m;
}

int64_t agent_prof_clock(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

uint32_t agent_prof_sample(uint64_t size)
{
	struct agent_stack s;

	agent_stack_capture(&s);
	return agent_prof_record(&s, size);
}

uint32_t agent_prof_record(const struct agent_stack *native, uint64_t size)
{
	struct prof_hdr *a = area_of(agent_region_get());
	const struct agent_stack *s;
	struct agent_stack merged;
	int64_t obj, bytes;
	long id = 0;

	if (a == NULL)
		return 0;
	s = with_python(a, native, &merged);
	if (s->n == 0) {
		HDR_ADD(a, unwind_failed, 1);
	} else {
		uint64_t h = stack_hash(s->frames, s->n);

		id = index_find(&stack_index, h, a, same_stack, s);
		if (id < 0)
			id = stack_add(a, h, s->frames, s->n);
	}
	profile_weight(size, agent_prof_rate, &obj, &bytes);
	STACK_ADD(a, id, alloc_objects, obj);
	STACK_ADD(a, id, alloc_bytes, bytes);
	STACK_ADD(a, id, inuse_objects, obj);
	STACK_ADD(a, id, inuse_bytes, bytes);
	STACK_ADD(a, id, samples, 1);
	STACK_ADD(a, id, inuse_samples, 1);
	HDR_ADD(a, samples, 1);
	HDR_ADD(a, sample_ns, agent_prof_clock() - s->t0);
	return (uint32_t)id;
}

void agent_prof_unsample(uint32_t id, uint64_t size)
{
	struct prof_hdr *a = area_of(agent_region_get());
	int64_t obj, bytes;

	if (a == NULL || id >= a->max_stacks)
		return;
	profile_weight(size, agent_prof_rate, &obj, &bytes);
	STACK_ADD(a, id, inuse_objects, -obj);
	STACK_ADD(a, id, inuse_bytes, -bytes);
	STACK_ADD(a, id, inuse_samples, -1);
}
