/* test_history.c: unit tests of daemon/history.c, the ring of a process's recent figures. */
#include "harness.h"
#include "history.h"

/* Adds a point at time t whose heap figure is v. */
static void put(struct history *h, unsigned length, double t, uint64_t v)
{
	struct ptab_hpoint *p = history_point(h, length, t);

	if (p != NULL) {
		p->t = t;
		p->heap_live_bytes = v;
	}
}

/* A point a second; within a second the newest is written again. */
static void test_history_slots(void)
{
	struct history h = { 0 };
	struct ptab_hpoint out[4];

	CHECK(history_len(&h) == 0);
	put(&h, 4, 10.0, 1);
	put(&h, 4, 10.5, 2);            /* the same second: replaces */
	put(&h, 4, 11.0, 3);
	CHECK(history_len(&h) == 2);
	CHECK(history_newest(&h) == 11.0);
	history_copy(&h, out);
	CHECK_U64(out[0].heap_live_bytes, ==, 2);
	CHECK_U64(out[1].heap_live_bytes, ==, 3);
	history_free(&h);
	CHECK(history_len(&h) == 0 && history_memory(&h) == 0);
}

/* Grows by doubling from 8 up to the length, then drops the oldest. */
static void test_history_ring(void)
{
	struct history h = { 0 };
	struct ptab_hpoint out[20];

	put(&h, 20, 0.0, 0);
	CHECK_U64(history_memory(&h), ==, 8 * sizeof(struct ptab_hpoint));
	for (unsigned i = 1; i < 9; i++)
		put(&h, 20, i, i);
	CHECK_U64(history_memory(&h), ==, 16 * sizeof(struct ptab_hpoint));
	for (unsigned i = 9; i < 50; i++)
		put(&h, 20, i, i);
	CHECK_U64(history_memory(&h), ==, 20 * sizeof(struct ptab_hpoint));
	CHECK(history_len(&h) == 20);
	history_copy(&h, out);
	CHECK_U64(out[0].heap_live_bytes, ==, 30);
	CHECK_U64(out[19].heap_live_bytes, ==, 49);

	/* A shorter length keeps the newest points; 0 empties the ring. */
	put(&h, 5, 50.0, 50);
	CHECK(history_len(&h) == 5);
	history_copy(&h, out);
	CHECK_U64(out[0].heap_live_bytes, ==, 46);
	CHECK_U64(out[4].heap_live_bytes, ==, 50);
	CHECK(history_point(&h, 0, 51.0) == NULL);
	CHECK(history_len(&h) == 0 && history_memory(&h) == 0);
}

int main(void)
{
	RUN_TEST(test_history_slots);
	RUN_TEST(test_history_ring);
	return HARNESS_EXIT();
}
