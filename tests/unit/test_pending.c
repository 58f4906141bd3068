/* test_pending.c: connections before HELLO: counts per uid and the order of their age. */
#include "harness.h"
#include "pending.h"

#define N 600

static void counts_and_order(void)
{
	static struct pending_node nodes[N];
	struct pending *p = pending_new();

	if (p == NULL) {
		CHECK(0);
		return;
	}
	memset(nodes, 0, sizeof(nodes));
	/* 600 nodes over 300 uids (more than the buckets), two each. */
	for (int i = 0; i < N; i++)
		CHECK(pending_add(p, &nodes[i], (uid_t)(1000 + i % 300), (double)i) == 0);
	CHECK_U64(pending_total(p), ==, N);
	CHECK_U64(pending_count(p, 1000), ==, 2);
	CHECK_U64(pending_count(p, 1299), ==, 2);
	CHECK_U64(pending_count(p, 999), ==, 0);
	CHECK(pending_oldest(p) == &nodes[0]);
	CHECK(pending_oldest_of(p, 1001) == &nodes[1]);
	CHECK(pending_oldest_of(p, 42) == NULL);
	CHECK(pending_is(&nodes[7]));

	/* Removing the oldest of a uid makes its next one the oldest. */
	pending_remove(p, &nodes[1]);
	CHECK(!pending_is(&nodes[1]));
	CHECK(pending_oldest_of(p, 1001) == &nodes[301]);
	CHECK_U64(pending_count(p, 1001), ==, 1);
	/* Removing twice, or a node never added, changes nothing. */
	pending_remove(p, &nodes[1]);
	CHECK_U64(pending_total(p), ==, N - 1);

	/* From the middle and the end of the global order. */
	pending_remove(p, &nodes[300]);
	pending_remove(p, &nodes[N - 1]);
	CHECK(pending_oldest(p) == &nodes[0]);
	pending_remove(p, &nodes[0]);
	CHECK(pending_oldest(p) == &nodes[2]);
	CHECK(pending_oldest_of(p, 1000) == NULL);
	CHECK_U64(pending_count(p, 1000), ==, 0);
	CHECK_U64(pending_total(p), ==, N - 4);

	/* Oldest first, all the way: since is increasing. */
	{
		double last = -1;
		size_t n = 0;

		for (struct pending_node *o; (o = pending_oldest(p)) != NULL; n++) {
			CHECK(o->since > last);
			last = o->since;
			pending_remove(p, o);
		}
		CHECK_U64(n, ==, N - 4);
	}
	CHECK_U64(pending_total(p), ==, 0);
	CHECK(pending_oldest(p) == NULL);
	/* A uid whose last node went can come back. */
	CHECK(pending_add(p, &nodes[5], 1005, 1e6) == 0);
	CHECK_U64(pending_count(p, 1005), ==, 1);
	CHECK(pending_oldest_of(p, 1005) == &nodes[5]);
	pending_free(p);
	CHECK(!pending_is(&nodes[5]));
}

int main(void)
{
	RUN_TEST(counts_and_order);
	return HARNESS_EXIT();
}
