/* agent_sizes.c: block -> requested size, for allocators that cannot say how big a block is (no malloc_usable_size of their own). */
#include "agent.h"

#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/*
 * Only used when the allocator under the agent has no malloc_usable_size
 * (agent_shim.c, size source "requested"): then every allocation records its block's
 * requested size here and every free takes it out.
 *
 * SHARDS open-addressing tables (linear probing, tombstones) keyed by block
 * address, in memory mapped with raw system calls. Each shard has a spin
 * flag held for one probe sequence: never across a system call (a table
 * that must grow is mapped before the flag is taken and unmapped after it
 * is released). A signal handler that allocates while its own thread holds
 * a shard would wait for itself, so a thread never waits for a shard it
 * holds: the call fails instead. A thread that finds a shard held by
 * another spins briefly, then yields, and gives up after SPIN_LIMIT rounds
 * (the holder may be suspended by a stop-the-world signal; a holder that
 * is merely descheduled runs again long before). A failed record
 * means the block is not counted at all (the shim counts it only once it is
 * recorded); a failed take means its free is not counted; either is said
 * once under MEMPROBE_DEBUG=1.
 */

#define SHARDS 64
#define MIN_CAP 256                 /* slots; a page */
#define SPIN_LIMIT 10000           /* rounds: 100 pauses, then yields */
#define EMPTY 0
#define TOMB 1

struct slot {
	uintptr_t key;
	size_t size;
};

struct shard {
	_Atomic int busy;
	struct slot *s;
	size_t cap;                 /* power of two */
	size_t used;                /* keys and tombstones */
	size_t live;                /* keys */
	char pad[64 - sizeof(int) - sizeof(void *) - 3 * sizeof(size_t)];
};

static struct shard shards[SHARDS];
static _Atomic int said_busy, said_full;
/* The shard this thread holds, plus one; 0 none. */
static __thread int holding __attribute__((tls_model("initial-exec")));

static size_t hash(uintptr_t p)
{
	return (size_t)((p >> 4) * 0x9e3779b97f4a7c15ull);
}

static struct shard *shard_of(uintptr_t p)
{
	return &shards[hash(p) >> 58];
}

static int lock(struct shard *sh)
{
	if (holding)
		return -1;
	for (int n = 0; n < SPIN_LIMIT; n++) {
		if (atomic_exchange_explicit(&sh->busy, 1, memory_order_acquire) == 0) {
			holding = (int)(sh - shards) + 1;
			return 0;
		}
		if (n >= 100)
			sched_yield();
#if defined(__x86_64__)
		else
			__builtin_ia32_pause();
#endif
	}
	if (atomic_exchange(&said_busy, 1) == 0)
		agent_debug("block size table held too long (a suspended thread?): a block is not counted");
	return -1;
}

static void unlock(struct shard *sh)
{
	holding = 0;
	atomic_store_explicit(&sh->busy, 0, memory_order_release);
}

static struct slot *map_slots(size_t cap)
{
	long r = syscall(SYS_mmap, NULL, cap * sizeof(struct slot), PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return r == -1 ? NULL : (struct slot *)r;
}

/* Records p (replacing a stale entry for it: a free whose take failed). */
static void put_locked(struct shard *sh, uintptr_t p, size_t size)
{
	size_t mask = sh->cap - 1, i = (hash(p) >> 8) & mask, tomb = SIZE_MAX;

	for (; sh->s[i].key != EMPTY; i = (i + 1) & mask) {
		if (sh->s[i].key == p) {
			sh->s[i].size = size;
			return;
		}
		if (sh->s[i].key == TOMB && tomb == SIZE_MAX)
			tomb = i;
	}
	if (tomb != SIZE_MAX)
		i = tomb;
	else
		sh->used++;
	sh->live++;
	sh->s[i].key = p;
	sh->s[i].size = size;
}

/* Moves the shard into `fresh` (cap slots); returns the old slots to unmap. */
static struct slot *rehash_locked(struct shard *sh, struct slot *fresh, size_t cap,
    size_t *old_cap)
{
	struct slot *old = sh->s;

	*old_cap = sh->cap;
	sh->s = fresh;
	sh->cap = cap;
	sh->used = sh->live = 0;
	for (size_t i = 0; i < *old_cap; i++)
		if (old[i].key > TOMB)
			put_locked(sh, old[i].key, old[i].size);
	return old;
}

/* The capacity a shard with `live` keys wants. */
static size_t want_cap(size_t live)
{
	size_t cap = MIN_CAP;

	while (cap < 4 * (live + 1))
		cap *= 2;
	return cap;
}

int agent_sizes_put(void *block, size_t size)
{
	uintptr_t p = (uintptr_t)block;
	struct shard *sh = shard_of(p);

	for (int round = 0; round < 3; round++) {
		struct slot *fresh = NULL, *old = NULL;
		size_t cap = 0, old_cap = 0;

		if (lock(sh) < 0)
			return -1;
		if (sh->s != NULL && (sh->used + 1) * 4 <= sh->cap * 3) {
			put_locked(sh, p, size);
			unlock(sh);
			return 0;
		}
		cap = want_cap(sh->live);
		unlock(sh);
		/* Full (of keys or of tombstones): a new table, mapped unlocked. */
		fresh = map_slots(cap);
		if (fresh == NULL)
			break;
		if (lock(sh) < 0) {
			syscall(SYS_munmap, fresh, cap * sizeof(struct slot));
			return -1;
		}
		if (sh->s == NULL || (sh->used + 1) * 4 > sh->cap * 3) {
			if (want_cap(sh->live) <= cap) {
				old = rehash_locked(sh, fresh, cap, &old_cap);
				fresh = NULL;
			}
		}
		unlock(sh);
		if (fresh != NULL)
			syscall(SYS_munmap, fresh, cap * sizeof(struct slot));
		if (old != NULL)
			syscall(SYS_munmap, old, old_cap * sizeof(struct slot));
	}
	if (atomic_exchange(&said_full, 1) == 0)
		agent_debug("cannot grow the block size table: some blocks are not counted");
	return -1;
}

/* Finds block's slot; NULL if it is not there. Shard held. */
static struct slot *find_locked(struct shard *sh, uintptr_t p)
{
	size_t mask, i;

	if (sh->s == NULL)
		return NULL;
	mask = sh->cap - 1;
	for (i = (hash(p) >> 8) & mask; sh->s[i].key != EMPTY; i = (i + 1) & mask)
		if (sh->s[i].key == p)
			return &sh->s[i];
	return NULL;
}

int agent_sizes_get(void *block, size_t *size, int take)
{
	uintptr_t p = (uintptr_t)block;
	struct shard *sh = shard_of(p);
	struct slot *e;

	if (lock(sh) < 0)
		return -1;
	e = find_locked(sh, p);
	if (e != NULL) {
		*size = e->size;
		if (take) {
			e->key = TOMB;
			sh->live--;
		}
	}
	unlock(sh);
	return e != NULL ? 0 : -1;
}

void agent_sizes_postfork(void)
{
	/* Only this thread is left. A shard another thread held may be half
	 * written: it is forgotten (its blocks' frees are then not counted).
	 * One this thread holds (fork from a handler that interrupted it) is
	 * finished by this thread when the handler returns. */
	for (int i = 0; i < SHARDS; i++) {
		if (atomic_load(&shards[i].busy) && holding != i + 1) {
			shards[i].s = NULL;
			shards[i].cap = shards[i].used = shards[i].live = 0;
			atomic_store(&shards[i].busy, 0);
		}
	}
}
