/* prof_cases.c: heap profile cases with known answers: threads, a fork child, allocations in a signal handler, more stacks than the table holds. */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "progs/progs.h"

/*
 * Usage: prof_cases SCENARIO [N]
 *
 *   threads N   N threads each hold 2 MiB from thread_hold
 *   fork        the parent holds 8 MiB from parent_hold, then forks; the
 *               child frees half of what it inherited and holds 4 MiB
 *               from child_hold; it prints "child PID" and waits
 *   signal      a SIGUSR1 handler, raised 256 times, holds 8 MiB from
 *               handler_hold (32 KiB a raise); raise() makes the signal
 *               arrive outside malloc, where the handler may allocate
 *   stacks N    allocates one 4 KiB block from each of 2^N distinct call
 *               stacks (N levels of left/right calls, 1..16)
 *
 * Each prints "site NAME inuse BYTES OBJECTS" (usable bytes, which the
 * profile counts) for the sites it holds, then "ready PID", and waits for
 * a line on stdin (or its end) before it exits 0 (a fork child is ended
 * by its parent).
 */

#define MIB (1024ul * 1024)

struct tally {
	size_t bytes, objects;
};

static void say_site(const char *name, const struct tally *t)
{
	char line[160];

	snprintf(line, sizeof(line), "site %s inuse %zu %zu\n", name, t->bytes, t->objects);
	prog_say(line);
}

/* Allocates `bytes` in blocks of `block` from the caller's call site;
 * the blocks are never freed (the process ends with them). Each holder
 * stores its own line in site_tag, so no two are folded into one. */
static volatile int site_tag;

#define HOLDER(name) \
	static __attribute__((noinline)) void name(size_t bytes, size_t block, struct tally *t) \
	{ \
		for (size_t done = 0; done < bytes; done += block) { \
			char *p = malloc(block); \
			if (p == NULL) \
				exit(3); \
			memset(p, 7, block); \
			__atomic_add_fetch(&t->bytes, malloc_usable_size(p), __ATOMIC_RELAXED); \
			__atomic_add_fetch(&t->objects, 1, __ATOMIC_RELAXED); \
			__asm__ volatile("" : : "r"(p) : "memory"); \
		} \
		site_tag = __LINE__; \
	}

HOLDER(thread_hold)
HOLDER(parent_hold)
HOLDER(child_hold)

static void wait_line(void)
{
	char line[64];

	prog_read_line(line, sizeof(line));
}

static void say_ready(void)
{
	char line[64];

	snprintf(line, sizeof(line), "ready %ld\n", (long)getpid());
	prog_say(line);
}

/* ---- threads ---- */

static struct tally t_threads;

static void *thread_main(void *arg)
{
	(void)arg;
	thread_hold(2 * MIB, 256, &t_threads);
	return NULL;
}

static int threads(int n)
{
	pthread_t th[64];

	if (n < 1 || n > 64)
		return 2;
	for (int i = 0; i < n; i++)
		if (pthread_create(&th[i], NULL, thread_main, NULL) != 0)
			return 3;
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	say_site("thread_hold", &t_threads);
	say_ready();
	wait_line();
	return 0;
}

/* ---- fork ---- */

static struct tally t_parent, t_child;

/* The child's lines come before the parent's "ready": it says them, then
 * writes a byte on `said`, which the parent waits for. */
static int fork_case(void)
{
	int in[2], said[2];
	pid_t pid;
	char line[64];

	parent_hold(8 * MIB, 256, &t_parent);
	if (pipe(in) < 0 || pipe(said) < 0)
		return 3;
	pid = fork();
	if (pid < 0)
		return 3;
	if (pid == 0) {
		close(in[1]);
		close(said[0]);
		child_hold(4 * MIB, 256, &t_child);
		snprintf(line, sizeof(line), "child %ld\n", (long)getpid());
		say_site("child_hold", &t_child);
		prog_say(line);
		if (write(said[1], "x", 1) != 1)
			_exit(3);
		/* until the parent closes the pipe */
		while (read(in[0], line, 1) > 0 || errno == EINTR)
			;
		_exit(0);
	}
	close(in[0]);
	close(said[1]);
	while (read(said[0], line, 1) < 0 && errno == EINTR)
		;
	say_site("parent_hold", &t_parent);
	say_ready();
	wait_line();
	close(in[1]);
	waitpid(pid, NULL, 0);
	return 0;
}

/* ---- a signal handler ---- */

static struct tally t_handler;

static __attribute__((noinline)) void handler_hold(void)
{
	for (int i = 0; i < 8; i++) {
		char *p = malloc(4096);

		if (p == NULL)
			_exit(3);
		memset(p, 5, 4096);
		t_handler.bytes += malloc_usable_size(p);
		t_handler.objects++;
		__asm__ volatile("" : : "r"(p) : "memory");
	}
}

static void on_usr1(int sig)
{
	(void)sig;
	handler_hold();
}

static int signal_case(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	for (int i = 0; i < 256; i++)
		raise(SIGUSR1);
	say_site("handler_hold", &t_handler);
	say_ready();
	wait_line();
	return 0;
}

/* ---- more stacks than the table holds ---- */

static struct tally t_leaf;

static void walk(int depth);

static __attribute__((noinline)) void go_left(int depth)
{
	walk(depth - 1);
	__asm__ volatile("" : : : "memory");
}

static __attribute__((noinline)) void go_right(int depth)
{
	walk(depth - 1);
	__asm__ volatile("" : : : "memory");
}

static __attribute__((noinline)) void leaf_alloc(void)
{
	char *p = malloc(4096);

	if (p == NULL)
		exit(3);
	memset(p, 3, 4096);
	t_leaf.bytes += malloc_usable_size(p);
	t_leaf.objects++;
	__asm__ volatile("" : : "r"(p) : "memory");
}

/* Every path of left/right turns down to depth 0 is a stack of its own. */
static __attribute__((noinline)) void walk(int depth)
{
	if (depth == 0) {
		leaf_alloc();
		return;
	}
	go_left(depth);
	go_right(depth);
}

static int stacks(int n)
{
	if (n < 1 || n > 16)
		return 2;
	walk(n);
	say_site("leaf_alloc", &t_leaf);
	say_ready();
	wait_line();
	return 0;
}

int main(int argc, char **argv)
{
	int n = argc > 2 ? atoi(argv[2]) : 0;

	if (argc < 2) {
		fprintf(stderr, "usage: prof_cases threads N | fork | signal | stacks N\n");
		return 2;
	}
	if (strcmp(argv[1], "threads") == 0)
		return threads(n);
	if (strcmp(argv[1], "fork") == 0)
		return fork_case();
	if (strcmp(argv[1], "signal") == 0)
		return signal_case();
	if (strcmp(argv[1], "stacks") == 0)
		return stacks(n);
	fprintf(stderr, "prof_cases: unknown scenario %s\n", argv[1]);
	return 2;
}
