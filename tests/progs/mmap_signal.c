/* mmap_signal.c: threads map and unmap while signals whose handler maps and unmaps too hit them; must finish with the mapping figure back where it was. */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "memprobe.h"

/*
 * Usage: mmap_signal [ITERATIONS]
 *
 * WORKERS threads each map, touch and unmap (and sometimes mremap) in a
 * loop ITERATIONS times (default 20000), while a signaller thread sends
 * them SIGUSR1 with pthread_kill as fast as it can; the handler maps,
 * touches and unmaps a region of its own, as stop-the-world collectors and
 * crash handlers do. With many iterations a signal often lands while the
 * worker is inside an mmap hook. Meanwhile the main thread forks a few
 * times; each child maps, allocates and exits.
 *
 * Then the stop-the-world pattern of signal-based collectors (Boehm GC):
 * while the workers map and unmap again, the main thread suspends them all
 * with SIGUSR2 (each handler says so and waits in sigsuspend for SIGUSR1),
 * maps and unmaps 50 times itself while they are stopped, possibly inside
 * a hook, and restarts them (each says it is running again); STW_ROUNDS
 * times.
 *
 * Run with the agent preloaded: memprobe_snapshot() (found with dlsym)
 * must show the main thread's own held mappings while held, and exactly
 * the starting figure at the end. Prints "fail ..." lines for what went
 * wrong, then "ok" or "failed"; exits 0 or 1. A deadlock shows as a
 * program that never ends.
 */

#define WORKERS 3
#define HOLD    8                   /* mappings the main thread holds */
#define KIB     1024ul

static atomic_int done_workers;
static atomic_long handler_runs;
static atomic_int handler_bad;
static long iterations = 20000;
static int failures;

static void on_usr1(int sig)
{
	int saved = errno;
	char *p;

	(void)sig;
	p = mmap(NULL, 8 * KIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		atomic_store(&handler_bad, 1);
	} else {
		p[0] = 1;
		p[4096] = 2;
		if (munmap(p, 8 * KIB) != 0)
			atomic_store(&handler_bad, 1);
	}
	atomic_fetch_add(&handler_runs, 1);
	errno = saved;
}

static void *worker(void *arg)
{
	(void)arg;
	for (long i = 0; i < iterations; i++) {
		size_t len = (size_t)(1 + i % 16) * 4 * KIB;
		char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			continue;
		p[0] = (char)i;
		if (i % 7 == 0) {
			char *q = mremap(p, len, len + 64 * KIB, MREMAP_MAYMOVE);

			if (q != MAP_FAILED) {
				p = q;
				len += 64 * KIB;
			}
		}
		munmap(p, len);
	}
	atomic_fetch_add(&done_workers, 1);
	return NULL;
}

static pthread_t workers[WORKERS];

/* ---- stop the world ---- */

#define STW_ROUNDS 200

static sem_t stopped, resumed;
static atomic_int stw_go, stw_end;

/* Maps and unmaps until the end of the phase. */
static void *stw_worker(void *arg)
{
	(void)arg;
	while (!atomic_load(&stw_end)) {
		char *p = mmap(NULL, 20 * KIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		    -1, 0);

		if (p != MAP_FAILED) {
			p[0] = 1;
			munmap(p, 20 * KIB);
		}
	}
	return NULL;
}

static void on_usr2(int sig)
{
	int saved = errno;
	sigset_t wait;

	(void)sig;
	sigfillset(&wait);
	sigdelset(&wait, SIGUSR1);
	sem_post(&stopped);
	while (!atomic_load(&stw_go))
		sigsuspend(&wait);
	sem_post(&resumed);
	errno = saved;
}

static void stop_the_world(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr2;
	sa.sa_flags = SA_RESTART;
	sigfillset(&sa.sa_mask);
	sigaction(SIGUSR2, &sa, NULL);
	sem_init(&stopped, 0, 0);
	sem_init(&resumed, 0, 0);
	for (int i = 0; i < WORKERS; i++)
		pthread_create(&workers[i], NULL, stw_worker, NULL);
	for (int r = 0; r < STW_ROUNDS; r++) {
		atomic_store(&stw_go, 0);
		for (int i = 0; i < WORKERS; i++)
			pthread_kill(workers[i], SIGUSR2);
		for (int i = 0; i < WORKERS; i++)
			while (sem_wait(&stopped) != 0)
				;
		/* The world is stopped: a worker may be anywhere in a hook. */
		for (int i = 0; i < 50; i++) {
			void *p = mmap(NULL, 12 * KIB, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

			if (p == MAP_FAILED || munmap(p, 12 * KIB) != 0) {
				printf("fail mmap while the world is stopped\n");
				failures++;
				break;
			}
		}
		atomic_store(&stw_go, 1);
		for (int i = 0; i < WORKERS; i++)
			pthread_kill(workers[i], SIGUSR1);
		for (int i = 0; i < WORKERS; i++)
			while (sem_wait(&resumed) != 0)
				;
	}
	atomic_store(&stw_end, 1);
	for (int i = 0; i < WORKERS; i++)
		pthread_join(workers[i], NULL);
}

static void *signaller(void *arg)
{
	(void)arg;
	while (atomic_load(&done_workers) < WORKERS) {
		for (int i = 0; i < WORKERS; i++)
			pthread_kill(workers[i], SIGUSR1);
		sched_yield();
	}
	return NULL;
}

static int (*snap)(struct memprobe_stats *);

static uint64_t mapped_now(void)
{
	struct memprobe_stats s;

	memset(&s, 0, sizeof(s));
	if (snap == NULL || snap(&s) != 0)
		return 0;
	return s.mmap_live_bytes;
}

static void check(const char *when, uint64_t got, uint64_t want)
{
	if (snap != NULL && got != want) {
		printf("fail %s: mmap_live_bytes %llu, want %llu\n", when,
		    (unsigned long long)got, (unsigned long long)want);
		failures++;
	}
}

/* A child of a fork made in the middle of the storm: it must not hang. */
static void child(void)
{
	void *p = mmap(NULL, 64 * KIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	void *m = malloc(1000);

	if (p == MAP_FAILED || munmap(p, 64 * KIB) != 0 || m == NULL)
		_exit(3);
	free(m);
	_exit(0);
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	pthread_t sig_th;
	void *held[HOLD];
	uint64_t base;

	if (argc > 1)
		iterations = strtol(argv[1], NULL, 10);
	setvbuf(stdout, NULL, _IOLBF, 0);
	snap = (int (*)(struct memprobe_stats *))dlsym(RTLD_DEFAULT, "memprobe_snapshot");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);

	base = mapped_now();
	for (int i = 0; i < HOLD; i++) {
		held[i] = mmap(NULL, 256 * KIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		    -1, 0);
		if (held[i] == MAP_FAILED) {
			printf("fail mmap: %s\n", strerror(errno));
			return 1;
		}
	}
	check("holding", mapped_now(), base + HOLD * 256 * KIB);

	for (int i = 0; i < WORKERS; i++)
		pthread_create(&workers[i], NULL, worker, NULL);
	pthread_create(&sig_th, NULL, signaller, NULL);
	for (int i = 0; i < 4; i++) {
		int st = 0;
		pid_t pid = fork();

		if (pid == 0)
			child();
		if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
		    WEXITSTATUS(st) != 0) {
			printf("fail fork child %d: status 0x%x\n", i, st);
			failures++;
		}
	}
	for (int i = 0; i < WORKERS; i++)
		pthread_join(workers[i], NULL);
	pthread_join(sig_th, NULL);

	if (atomic_load(&handler_runs) == 0) {
		printf("fail the handler never ran\n");
		failures++;
	}
	if (atomic_load(&handler_bad)) {
		printf("fail mmap or munmap failed in the handler\n");
		failures++;
	}
	check("after the storm", mapped_now(), base + HOLD * 256 * KIB);
	stop_the_world();
	check("after stopping the world", mapped_now(), base + HOLD * 256 * KIB);
	for (int i = 0; i < HOLD; i++)
		munmap(held[i], 256 * KIB);
	check("at the end", mapped_now(), base);
	printf("%s\n", failures ? "failed" : "ok");
	return failures ? 1 : 0;
}
