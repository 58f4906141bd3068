/* alloc_ring.c: allocation-heavy microbenchmark: random sizes 16..528 bytes through a ring of live blocks. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define RING 1024

static long iterations = 2000000;

static void *worker(void *arg)
{
	uint64_t x = 0x9e3779b97f4a7c15ull ^ (uintptr_t)arg;
	void *ring[RING] = { 0 };
	uint64_t touched = 0;

	for (long i = 0; i < iterations; i++) {
		unsigned slot = (unsigned)(i % RING);
		size_t size;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		size = 16 + (size_t)(x % 513);
		free(ring[slot]);
		ring[slot] = malloc(size);
		if (ring[slot] == NULL)
			abort();
		((volatile char *)ring[slot])[0] = (char)i;
		touched += size;
	}
	for (unsigned i = 0; i < RING; i++)
		free(ring[i]);
	return (void *)(uintptr_t)(touched & 1);
}

/* alloc_ring [THREADS [ITERATIONS]] */
int main(int argc, char **argv)
{
	int threads = argc > 1 ? atoi(argv[1]) : 1;
	pthread_t th[64];

	if (argc > 2)
		iterations = atol(argv[2]);
	if (threads < 1 || threads > 64 || iterations < 1) {
		fprintf(stderr, "usage: alloc_ring [THREADS 1..64 [ITERATIONS]]\n");
		return 2;
	}
	for (int i = 0; i < threads; i++)
		pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)(i + 1));
	for (int i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	return 0;
}
