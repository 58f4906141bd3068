/* test_agent_core.c: the agent's counting core called directly, never preloaded: counters, bins, the peak bound and mmap ranges. */
#include <pthread.h>

#include <stdatomic.h>
#include <stdlib.h>

#include "agent.h"
#include "harness.h"
#include "profile.h"

/* What the shim (not linked here) gives agent_python.c: no sampled
 * blocks, so no Python object is ever sampled. */
int agent_sampled_blocks_work(void)
{
	return 0;
}

int agent_sample_ok(void)
{
	return 0;
}

void *agent_sample_carve(void *r, size_t size, const struct agent_stack *s)
{
	(void)size;
	(void)s;
	return r;
}

/* The process-wide figures now, as memprobed would read them. */
static struct proto_sample collect(void)
{
	struct proto_sample s;

	agent_collect(&s);
	return s;
}

/* The region's peak as the publications left it (agent_collect would
 * raise it to the exact sum first). */
static uint64_t published_peak(void)
{
	struct region_hdr *r = agent_region_get();

	return r != NULL ? __atomic_load_n(&r->heap_peak, __ATOMIC_RELAXED) : 0;
}

/* The calling thread's slot, registered as the shim's slow path would. */
static agent_slot *my_slot(void)
{
	agent_slot *t = agent_thread_slow();

	return t != NULL ? t : agent_tls.saved;
}

/* ---- the peak bound with two threads (AGENT_PEAK_BATCH each, unpublished) ---- */

static pthread_barrier_t held, read_done;

static void *hold_60000(void *arg)
{
	agent_slot *t = my_slot();

	(void)arg;
	if (t != NULL)
		agent_on_alloc(t, 60000);
	pthread_barrier_wait(&held);
	pthread_barrier_wait(&read_done);
	if (t != NULL)
		agent_on_free(t, 60000);
	return NULL;
}

/* Two threads each hold 60,000 bytes, under the batch: neither publishes,
 * so the published peak misses all 120,000 (within 2 * AGENT_PEAK_BATCH),
 * and the reader's exact sum puts it right. */
static void peak_within_threads_times_batch(void)
{
	pthread_t th[2];
	struct proto_sample s;

	pthread_barrier_init(&held, NULL, 3);
	pthread_barrier_init(&read_done, NULL, 3);
	for (int i = 0; i < 2; i++)
		CHECK(pthread_create(&th[i], NULL, hold_60000, NULL) == 0);
	pthread_barrier_wait(&held);
	CHECK(agent_region_get() != NULL);
	CHECK_U64(published_peak(), ==, 0);
	CHECK_U64(120000 - published_peak(), <, 2 * AGENT_PEAK_BATCH);
	s = collect();
	CHECK_U64(s.heap_live_bytes, ==, 120000);
	CHECK_U64(s.heap_peak_bytes, ==, 120000);
	CHECK_U64(published_peak(), ==, 120000);
	pthread_barrier_wait(&read_done);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	s = collect();
	CHECK_U64(s.heap_live_bytes, ==, 0);
	CHECK_U64(s.heap_peak_bytes, ==, 120000);
	pthread_barrier_destroy(&held);
	pthread_barrier_destroy(&read_done);
}

/* ---- the peak bound with one thread ---- */

static void *climb_and_fall(void *arg)
{
	agent_slot *t = my_slot();

	(void)arg;
	if (t == NULL)
		return NULL;
	for (int i = 0; i < 1000; i++)
		agent_on_alloc(t, 1000);
	for (int i = 0; i < 1000; i++)
		agent_on_free(t, 1000);
	return NULL;
}

/*
 * One thread climbs to 1,000,000 live bytes in 1,000-byte steps and falls
 * back to 0. It publishes each time it has moved more than 65,536 bytes:
 * at 66,000, 132,000, ..., 990,000 (15 times 66 blocks); 1,056,000 is never
 * reached. So the peak is 990,000: below the true 1,000,000, by less than
 * AGENT_PEAK_BATCH, never above it.
 */
static void peak_one_thread_below_by_under_batch(void)
{
	pthread_t th;
	struct proto_sample s;

	CHECK(pthread_create(&th, NULL, climb_and_fall, NULL) == 0);
	pthread_join(th, NULL);
	s = collect();
	CHECK_U64(s.heap_live_bytes, ==, 0);
	CHECK_U64(s.heap_peak_bytes, ==, 990000);
	CHECK_U64(1000000 - s.heap_peak_bytes, <, AGENT_PEAK_BATCH);
}

/* ---- counters and size bins ---- */

/* Counters are the sums over every slot, the exited threads' included;
 * each size lands in the bucket whose bound is the first at or above it. */
static void counters_and_bins(void)
{
	struct proto_sample a = collect(), b;
	agent_slot *t = my_slot();
	static const uint64_t sizes[] = { 24, 24, 64, 65, 100, 4096, 1u << 20, (1u << 20) + 1 };
	uint64_t sum = 0;

	CHECK(t != NULL);
	if (t == NULL)
		return;
	CHECK(agent_tls.mode == AGENT_ACTIVE);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		agent_on_alloc(t, sizes[i]);
		sum += sizes[i];
	}
	agent_on_free(t, 24);
	agent_on_fail(t);
	b = collect();
	CHECK_U64(b.heap_live_bytes - a.heap_live_bytes, ==, sum - 24);
	CHECK_U64(b.heap_allocations - a.heap_allocations, ==, 8);
	CHECK_U64(b.heap_frees - a.heap_frees, ==, 1);
	CHECK_U64(b.heap_live_blocks - a.heap_live_blocks, ==, 7);
	CHECK_U64(b.heap_failed - a.heap_failed, ==, 1);
	CHECK_U64(b.heap_allocated_bytes - a.heap_allocated_bytes, ==, sum);
	CHECK_U64(b.hist_sum - a.hist_sum, ==, sum);
	/* Bounds 16, 64, 256, 1 Ki, 4 Ki, 16 Ki, 64 Ki, 256 Ki, 1 Mi, ... */
	CHECK_U64(b.hist_count[0] - a.hist_count[0], ==, 0);
	CHECK_U64(b.hist_count[1] - a.hist_count[1], ==, 3);      /* 24, 24, 64 */
	CHECK_U64(b.hist_count[2] - a.hist_count[2], ==, 2);      /* 65, 100 */
	CHECK_U64(b.hist_count[4] - a.hist_count[4], ==, 1);      /* 4096 */
	CHECK_U64(b.hist_count[8] - a.hist_count[8], ==, 1);      /* 1 MiB */
	CHECK_U64(b.hist_count[9] - a.hist_count[9], ==, 1);      /* 1 MiB + 1 */
	/* Put back what this test left live, for the tests after it. */
	for (size_t i = 1; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		agent_on_free(t, sizes[i]);
	CHECK_U64(collect().heap_live_bytes, ==, a.heap_live_bytes);
}

/* ---- mmap ranges ---- */

#define PG 4096u
/* Addresses nothing is mapped at: the table is only told, never maps. */
#define A ((char *)0x100000000)
#define C ((char *)0x180000000)
#define E ((char *)0x1c0000000)

static uint64_t mmap_live_stored(void)
{
	agent_region_store_mmap();
	return collect().mmap_live_bytes;
}

/* Anonymous mappings count whole pages; unmapping part, moving, a file
 * mapped over them (MAP_FIXED) each rewrite exactly the range they name. */
static void mmap_ranges(void)
{
	uint64_t base = agent_mmap_live();

	agent_mmap_mapped(agent_mmap_begin(), A, 3 * PG, 1);
	CHECK_U64(agent_mmap_live() - base, ==, 3 * PG);
	agent_mmap_mapped(agent_mmap_begin(), A + 8 * PG, 5 * PG, 0);  /* a file: not counted */
	CHECK_U64(agent_mmap_live() - base, ==, 3 * PG);
	agent_mmap_unmapped(agent_mmap_begin(), A + PG, PG);            /* the middle page */
	CHECK_U64(agent_mmap_live() - base, ==, 2 * PG);
	/* mremap of A's first page to C, grown to 2 pages */
	agent_mmap_moved(agent_mmap_begin(), A, PG, C, 2 * PG, 0);
	CHECK_U64(agent_mmap_live() - base, ==, 3 * PG);
	/* MREMAP_DONTUNMAP keeps the old range counted */
	agent_mmap_moved(agent_mmap_begin(), A + 2 * PG, PG, C + 4 * PG, PG, 1);
	CHECK_U64(agent_mmap_live() - base, ==, 4 * PG);
	agent_mmap_mapped(agent_mmap_begin(), C, PG, 0);                /* a file over C */
	CHECK_U64(agent_mmap_live() - base, ==, 3 * PG);
	agent_mmap_mapped(agent_mmap_begin(), C + 8 * PG, 1, 1);        /* 1 byte is a page */
	CHECK_U64(agent_mmap_live() - base, ==, 4 * PG);
	CHECK_U64(mmap_live_stored(), ==, agent_mmap_live());
	/* Everything from A up to E: nothing of ours is left counted. */
	agent_mmap_unmapped(agent_mmap_begin(), A, (size_t)(E - A));
	CHECK_U64(agent_mmap_live(), ==, base);
	/* A failed call publishes nothing. */
	agent_mmap_begin();
	agent_mmap_abort();
	CHECK_U64(agent_mmap_live(), ==, base);
}

/*
 * Order: thread 1 takes its munmap ticket before its system call; the
 * kernel unmaps E, thread 2's mmap gets E and its op reaches the table
 * first. Thread 1's late removal is older than the mapping, so E stays
 * counted: last ticket wins, not last applied.
 */
static void mmap_last_ticket_wins(void)
{
	uint64_t base = agent_mmap_live();
	uint64_t t_unmap = agent_mmap_begin();
	uint64_t t_map = agent_mmap_begin();

	agent_mmap_mapped(t_map, E, 2 * PG, 1);
	agent_mmap_unmapped(t_unmap, E, 2 * PG);
	CHECK_U64(agent_mmap_live() - base, ==, 2 * PG);
	/* A newer unmap does remove it. */
	agent_mmap_unmapped(agent_mmap_begin(), E, 2 * PG);
	CHECK_U64(agent_mmap_live(), ==, base);
}

/* ---- the heap profile moves with the region ---- */

#define SAMPLERS 4
#define SAMPLES_EACH 3000

static _Atomic int samplers_done;

/* Two call sites, so records are made while the region moves. */
static __attribute__((noinline)) uint32_t site_one(void)
{
	uint32_t id = agent_prof_sample(4096);

	__asm__ volatile("" : : : "memory");
	return id;
}

static __attribute__((noinline)) uint32_t site_two(void)
{
	uint32_t id = agent_prof_sample(4096);

	__asm__ volatile("" : : : "memory");
	return id;
}

/* Samples SAMPLES_EACH allocations of 4096 bytes and frees every other. */
static void *sampler(void *arg)
{
	(void)arg;
	my_slot();
	for (int i = 0; i < SAMPLES_EACH; i++) {
		uint32_t id = (i & 1) ? site_one() : site_two();

		if (i % 2 == 0)
			agent_prof_unsample(id, 4096);
	}
	atomic_fetch_add(&samplers_done, 1);
	return NULL;
}

/* Sums of the current region's profile, as memprobed reads it. */
static void profile_sums(struct prof_view *v, int64_t *samples, int64_t *inuse_samples,
    int64_t *inuse_bytes)
{
	struct region_hdr *r = agent_region_get();
	struct prof_stack_read s;

	*samples = *inuse_samples = *inuse_bytes = 0;
	CHECK_I64(profile_check(r, r->size, r->prof_off, r->prof_size, v), ==, 0);
	for (uint32_t i = 0; i < v->nstacks; i++) {
		if (!profile_stack(v, i, &s))
			continue;
		*samples += s.samples;
		*inuse_samples += s.inuse_samples;
		*inuse_bytes += s.inuse_bytes;
	}
}

/*
 * Four threads sample while the region is replaced six times (each with
 * twice the slots): every sample and every free lands exactly once in the
 * newest region, whichever region it began in.
 */
static void profile_moves_with_region(void)
{
	pthread_t th[SAMPLERS];
	struct prof_view v;
	int64_t samples, live, bytes, w_obj, w_bytes;
	unsigned char mode;
	int moves = 0, err;

	CHECK_U64(agent_prof_rate, ==, 16384);
	for (int i = 0; i < SAMPLERS; i++)
		pthread_create(&th[i], NULL, sampler, NULL);
	while (atomic_load(&samplers_done) < SAMPLERS || moves == 0) {
		struct region_hdr *r = agent_region_get();

		if (r->nslots * 2 > REGION_MAX_SLOTS)
			continue;
		mode = agent_enter();
		agent_core_lock();
		agent_region_replace(r->nslots * 2, agent_tls.saved, 0, &err);
		agent_core_unlock();
		agent_leave(mode);
		moves++;
	}
	for (int i = 0; i < SAMPLERS; i++)
		pthread_join(th[i], NULL);
	profile_sums(&v, &samples, &live, &bytes);
	profile_weight(4096, 16384, &w_obj, &w_bytes);
	CHECK_I64(v.samples, ==, SAMPLERS * SAMPLES_EACH);
	CHECK_I64(samples, ==, SAMPLERS * SAMPLES_EACH);
	CHECK_I64(live, ==, SAMPLERS * SAMPLES_EACH / 2);
	CHECK_I64(bytes, ==, (int64_t)SAMPLERS * SAMPLES_EACH / 2 * w_bytes);
	CHECK_I64(v.folded, ==, 0);
	/* [other] and the sites: linked into this test, the agent's code is
	 * the program's, so its leading frames are skipped and the two sites
	 * may show as one stack */
	CHECK_U64(v.nstacks, >=, 2);
	CHECK_U64(v.nmaps, >=, 1);
	printf("# %d region moves while sampling\n", moves);
}

int main(void)
{
	setenv("MEMPROBE_PROFILE_RATE", "16384", 1);
	agent_glibc_sizes = 1;          /* threads count on the fast path */
	if (agent_core_init() < 0) {
		printf("FAIL agent_core_init\n");
		return EXIT_FAILURE;
	}
	/* The peak tests first: the peak only rises. */
	RUN_TEST(peak_within_threads_times_batch);
	RUN_TEST(peak_one_thread_below_by_under_batch);
	RUN_TEST(counters_and_bins);
	RUN_TEST(mmap_ranges);
	RUN_TEST(mmap_last_ticket_wins);
	RUN_TEST(profile_moves_with_region);
	return HARNESS_EXIT();
}
