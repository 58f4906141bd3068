/* demo.c: an endless, gently changing workload for `make run`: threads that allocate, free and recurse. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * Runs until SIGINT or SIGTERM, then joins its threads, frees what it holds
 * and exits 0. The workers:
 *   churn (2 threads)  allocate and free blocks of random sizes (16 B..256 KiB)
 *                      in a small pool, so the allocation histogram fills;
 *   working set        holds a set of 1 MiB blocks whose count drifts slowly
 *                      between 8 and 64, so live heap bytes move up and down;
 *   recursion          recurses to a random depth (up to ~1 MiB of stack) and
 *                      allocates at the bottom, so stack peaks are visible.
 */

#define CHURN_THREADS 2
#define CHURN_SLOTS   256
#define WS_BLOCK      (1u << 20)
#define WS_MIN        8
#define WS_MAX        64
#define FRAME_BYTES   512

static volatile sig_atomic_t stopping;

static void nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !stopping)
		;
}

/* xorshift64: each thread keeps its own state, so no locks and no rand(). */
static uint64_t rnd(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

static void *churn(void *arg)
{
	uint64_t seed = 0x9e3779b97f4a7c15ull * ((uintptr_t)arg + 1);
	void *slot[CHURN_SLOTS] = { 0 };

	while (!stopping) {
		for (int i = 0; i < 64; i++) {
			unsigned k = (unsigned)(rnd(&seed) % CHURN_SLOTS);
			/* Mostly small sizes, now and then a large one. */
			size_t size = (size_t)16 << (rnd(&seed) % 15);

			size += rnd(&seed) % size;
			free(slot[k]);
			slot[k] = malloc(size);
			if (slot[k] != NULL)
				memset(slot[k], 0x5a, size < 64 ? size : 64);
		}
		nap_ms(20);
	}
	for (int k = 0; k < CHURN_SLOTS; k++)
		free(slot[k]);
	return NULL;
}

static void *working_set(void *arg)
{
	uint64_t seed = 0x2545f4914f6cdd1dull;
	void *block[WS_MAX] = { 0 };
	unsigned held = 0, target = WS_MIN;

	(void)arg;
	while (!stopping) {
		/* Drift the target by one step every second or so. */
		if (rnd(&seed) % 4 == 0) {
			if (target == WS_MIN || (target < WS_MAX && rnd(&seed) % 2))
				target++;
			else
				target--;
		}
		while (held < target) {
			block[held] = malloc(WS_BLOCK);
			if (block[held] == NULL)
				break;
			memset(block[held], 0xa5, WS_BLOCK);
			held++;
		}
		while (held > target)
			free(block[--held]);
		nap_ms(250);
	}
	while (held > 0)
		free(block[--held]);
	return NULL;
}

/* Recurses `depth` frames of FRAME_BYTES each, then allocates and frees one
 * block, so the agent sees the stack at its deepest. */
static size_t descend(unsigned depth)
{
	volatile char frame[FRAME_BYTES];
	size_t r;

	frame[0] = (char)depth;
	frame[FRAME_BYTES - 1] = (char)depth;
	if (depth == 0) {
		char *p = malloc(64);

		r = p != NULL;
		free(p);
	} else {
		r = descend(depth - 1);
	}
	return r + (size_t)frame[0] + (size_t)frame[FRAME_BYTES - 1];
}

static void *recursion(void *arg)
{
	uint64_t seed = 0x853c49e6748fea9bull;

	(void)arg;
	while (!stopping) {
		/* Up to 2048 frames of 512 B: about 1 MiB, well inside 8 MiB. */
		descend((unsigned)(rnd(&seed) % 2048));
		nap_ms(500);
	}
	return NULL;
}

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

int main(void)
{
	pthread_t tid[CHURN_THREADS + 2];
	struct sigaction sa;
	int n = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	for (uintptr_t i = 0; i < CHURN_THREADS; i++)
		if (pthread_create(&tid[n], NULL, churn, (void *)i) == 0)
			n++;
	if (pthread_create(&tid[n], NULL, working_set, NULL) == 0)
		n++;
	if (pthread_create(&tid[n], NULL, recursion, NULL) == 0)
		n++;
	if (n == 0) {
		fprintf(stderr, "demo: cannot start any thread\n");
		return 1;
	}

	/* The main thread sleeps until a signal; the workers poll `stopping`. */
	while (!stopping)
		nap_ms(200);
	for (int i = 0; i < n; i++)
		pthread_join(tid[i], NULL);
	return 0;
}
