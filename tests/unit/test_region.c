/* test_region.c: the shared region's reader on regions built by hand, hostile ones included. */
#include "harness.h"
#include "proto.h"
#include "region.h"

#include <stdlib.h>

/* A C region of n slots, zeroed, with a valid header. */
static struct region_hdr *make(uint32_t nslots)
{
	uint64_t size = region_size_for(nslots);
	struct region_hdr *h = calloc(1, size);

	region_hdr_init(h, PROTO_AGENT_C, nslots);
	return h;
}

static struct region_slot *slot(struct region_hdr *h, unsigned i)
{
	return (struct region_slot *)(void *)((char *)h + h->slot_off) + i;
}

static void check_refuses_bad_headers(void)
{
	struct region_hdr *h = make(4), c;

	CHECK(region_check(h, h->size, &c) == 0);
	CHECK(region_check(h, h->size - 4096, &c) < 0);       /* size differs */
	h->nslots = 1000;                                      /* past the end */
	CHECK(region_check(h, h->size, &c) < 0);
	h->nslots = 4;
	h->slot_size = 8;
	CHECK(region_check(h, h->size, &c) < 0);
	h->slot_size = sizeof(struct region_slot);
	h->agent = 9;
	CHECK(region_check(h, h->size, &c) < 0);
	h->agent = PROTO_AGENT_C;
	h->magic ^= 1;
	CHECK(region_check(h, h->size, &c) < 0);
	free(h);
}

/* Sums over live and exited slots; free ones are skipped; histogram
 * buckets from bins; slots_used past nslots is clamped. */
static void read_sums_slots(void)
{
	struct region_hdr *h = make(4), c;
	struct proto_sample s;
	uint64_t peak = 0;

	h->slots_used = 99;
	slot(h, 0)->state = REGION_SLOT_LIVE;
	slot(h, 0)->net = 3000;
	slot(h, 0)->alloc_bytes = 5000;
	slot(h, 0)->frees = 1;
	slot(h, 0)->bins[3] = 2;        /* 16 bytes or less: bucket 0 */
	slot(h, 0)->bins[10] = 1;       /* (1024, 2048]: bucket 4 */
	slot(h, 1)->state = REGION_SLOT_EXITED;
	slot(h, 1)->net = -1000;        /* freed what another thread made */
	slot(h, 1)->frees = 1;
	slot(h, 2)->state = REGION_SLOT_FREE;
	slot(h, 2)->net = 1 << 30;      /* never counted */
	h->heap_peak = 2500;
	CHECK(region_check(h, h->size, &c) == 0);
	region_read(h, &c, &s, &peak, NULL, 0);
	CHECK_U64(s.heap_live_bytes, ==, 2000);
	CHECK_U64(s.heap_allocations, ==, 3);
	CHECK_U64(s.heap_frees, ==, 2);
	CHECK_U64(s.heap_live_blocks, ==, 1);
	CHECK_U64(s.hist_count[0], ==, 2);
	CHECK_U64(s.hist_count[4], ==, 1);
	CHECK_U64(s.threads, ==, 1);
	CHECK_U64(s.heap_peak_bytes, ==, 2500);
	/* The peak a reader saw never goes down. */
	h->heap_peak = 0;
	region_read(h, &c, &s, &peak, NULL, 0);
	CHECK_U64(s.heap_peak_bytes, ==, 2500);
	free(h);
}

/* Hostile figures are clamped: live never negative nor above allocated. */
static void read_clamps_hostile_figures(void)
{
	struct region_hdr *h = make(2), c;
	struct proto_sample s;

	h->slots_used = 2;
	slot(h, 0)->state = REGION_SLOT_LIVE;
	slot(h, 0)->net = -5;
	slot(h, 0)->frees = 10;
	h->heap_peak = UINT64_MAX;
	CHECK(region_check(h, h->size, &c) == 0);
	region_read(h, &c, &s, NULL, NULL, 0);
	CHECK_U64(s.heap_live_bytes, ==, 0);
	CHECK_U64(s.heap_live_blocks, ==, 0);
	CHECK_U64(s.heap_peak_bytes, ==, 0);       /* nothing was ever allocated */
	slot(h, 0)->net = 1 << 20;
	slot(h, 0)->alloc_bytes = 100;
	region_read(h, &c, &s, NULL, NULL, 0);
	CHECK_U64(s.heap_live_bytes, ==, 0);
	free(h);
}

/* A stack pointer outside the thread's stack shows nothing; an earlier
 * thread's depth in the slot stays. */
static void read_stack_depths(void)
{
	struct region_hdr *h = make(2), c;
	struct region_stack st[2];
	struct proto_sample s;

	h->slots_used = 2;
	slot(h, 0)->state = REGION_SLOT_LIVE;
	slot(h, 0)->is_main = 1;
	slot(h, 0)->stack_top = 0x7fff00100000;
	slot(h, 0)->stack_size = 8 << 20;
	slot(h, 0)->stack_low = 0x7fff00100000 - 40960;
	slot(h, 1)->state = REGION_SLOT_LIVE;
	slot(h, 1)->stack_top = 0x7f0000100000;
	slot(h, 1)->stack_size = 1 << 20;
	slot(h, 1)->stack_low = 0x1000;            /* a heap stack: outside */
	slot(h, 1)->stack_peak_prev = 8192;
	CHECK(region_check(h, h->size, &c) == 0);
	CHECK_U64(region_read(h, &c, &s, NULL, st, 2), ==, 2);
	CHECK_U64(s.stack_main_peak_bytes, ==, 40960);
	CHECK_U64(s.stack_peak_bytes, ==, 40960);
	CHECK_U64(st[1].depth, ==, 8192);
	free(h);
}

/* Gauges: set ones with valid names are read; others are not. */
static void read_gauges(void)
{
	struct region_hdr *h = make(0), c;
	struct region_gauge *g = (struct region_gauge *)(void *)((char *)h + REGION_GAUGE_OFF);
	char name[REGION_GAUGE_NAME_MAX + 1];
	double v;

	g[0].state = 1;
	g[0].value = 2.5;
	memcpy(g[0].name, "queue.depth", 11);
	g[1].state = 1;
	memcpy(g[1].name, "bad name", 8);
	g[2].state = 0;
	memcpy(g[2].name, "unset", 5);
	g[3].state = 1;
	memset(g[3].name, 'a', sizeof(g[3].name));  /* no NUL: 128 bytes, valid */
	CHECK(region_check(h, h->size, &c) == 0);
	CHECK(region_gauge(h, &c, 0, name, sizeof(name), &v) == 1);
	CHECK_STR(name, "queue.depth");
	CHECK(v == 2.5);
	CHECK(region_gauge(h, &c, 1, name, sizeof(name), &v) == 0);
	CHECK(region_gauge(h, &c, 2, name, sizeof(name), &v) == 0);
	CHECK(region_gauge(h, &c, 3, name, sizeof(name), &v) == 1);
	CHECK_U64(strlen(name), ==, REGION_GAUGE_NAME_MAX);
	CHECK(region_gauge(h, &c, REGION_GAUGES, name, sizeof(name), &v) == 0);
	free(h);
}

int main(void)
{
	RUN_TEST(check_refuses_bad_headers);
	RUN_TEST(read_sums_slots);
	RUN_TEST(read_clamps_hostile_figures);
	RUN_TEST(read_stack_depths);
	RUN_TEST(read_gauges);
	return HARNESS_EXIT();
}
