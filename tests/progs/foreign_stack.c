/* foreign_stack.c: allocates on stacks that are not the thread's own (a ucontext coroutine on a heap block, a sigaltstack handler); the stack peak must not count them. */
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <ucontext.h>
#include <unistd.h>

#include "memprobe.h"

/*
 * Usage: foreign_stack (with the agent preloaded)
 *
 * In the main thread and then in a second thread (1 MiB stack): run a
 * coroutine with makecontext/swapcontext on a 64 KiB stack that is a heap
 * block, allocating there; then raise SIGUSR1 whose handler runs on a
 * sigaltstack (another heap block) and allocates. Neither thread goes deep
 * on its own stack, so memprobe_snapshot()'s stack peaks must be small
 * (under 512 KiB), below each thread's real limit, and the main thread's
 * above 0 (its own allocations still count). Prints "fail ..." lines,
 * then "ok"; exits 0 or 1.
 */

#define CO_STACK (64 * 1024)
#define SMALL (512 * 1024)

static ucontext_t main_ctx, co_ctx;
static void *volatile sink;
static int failures;

#define FAIL(...) do { failures++; printf("fail " __VA_ARGS__); } while (0)

static void churn(void)
{
	for (int i = 0; i < 64; i++) {
		sink = malloc((size_t)(16 + i * 40));
		free(sink);
		sink = calloc(1, 300000);       /* an mmapped chunk: the slow path */
		free(sink);
	}
}

static void coroutine(void)
{
	churn();
	swapcontext(&co_ctx, &main_ctx);
}

static void on_usr1(int sig)
{
	(void)sig;
	churn();
}

/* The coroutine and the handler, on the calling thread. */
static void foreign(const char *who)
{
	void *co_stack = malloc(CO_STACK);
	stack_t ss = { 0 }, old;
	struct sigaction sa;

	if (co_stack == NULL || getcontext(&co_ctx) != 0) {
		FAIL("%s: coroutine setup\n", who);
		return;
	}
	co_ctx.uc_stack.ss_sp = co_stack;
	co_ctx.uc_stack.ss_size = CO_STACK;
	co_ctx.uc_link = &main_ctx;
	makecontext(&co_ctx, coroutine, 0);
	if (swapcontext(&main_ctx, &co_ctx) != 0)
		FAIL("%s: swapcontext\n", who);

	ss.ss_sp = malloc(CO_STACK);
	ss.ss_size = CO_STACK;
	if (ss.ss_sp == NULL || sigaltstack(&ss, &old) != 0) {
		FAIL("%s: sigaltstack\n", who);
		return;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sa.sa_flags = SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	raise(SIGUSR1);
	ss.ss_flags = SS_DISABLE;
	sigaltstack(&ss, NULL);
	free(ss.ss_sp);
	free(co_stack);
}

static void *thread_main(void *arg)
{
	(void)arg;
	sink = malloc(10);
	free(sink);
	foreign("thread");
	return NULL;
}

int main(void)
{
	int (*snap)(struct memprobe_stats *) =
	    (int (*)(struct memprobe_stats *))dlsym(RTLD_DEFAULT, "memprobe_snapshot");
	struct memprobe_stats s;
	pthread_attr_t attr;
	pthread_t th;
	struct rlimit rl;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (snap == NULL) {
		printf("fail memprobe_snapshot not found: run with the agent preloaded\n");
		return 1;
	}
	sink = malloc(10);
	free(sink);
	foreign("main");
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 1024 * 1024);
	if (pthread_create(&th, &attr, thread_main, NULL) != 0 || pthread_join(th, NULL) != 0)
		FAIL("thread\n");

	memset(&s, 0, sizeof(s));
	snap(&s);
	printf("info stack_peak_bytes %llu stack_main_peak_bytes %llu stack_limit_bytes %llu\n",
	    (unsigned long long)s.stack_peak_bytes, (unsigned long long)s.stack_main_peak_bytes,
	    (unsigned long long)s.stack_limit_bytes);
	if (s.stack_peak_bytes >= SMALL)
		FAIL("stack_peak_bytes %llu: a foreign stack was counted\n",
		    (unsigned long long)s.stack_peak_bytes);
	if (s.stack_main_peak_bytes >= SMALL)
		FAIL("stack_main_peak_bytes %llu: a foreign stack was counted\n",
		    (unsigned long long)s.stack_main_peak_bytes);
	if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    s.stack_peak_bytes > rl.rlim_cur)
		FAIL("stack_peak_bytes %llu above RLIMIT_STACK\n",
		    (unsigned long long)s.stack_peak_bytes);
	if (s.stack_main_peak_bytes == 0)
		FAIL("stack_main_peak_bytes 0: the main thread's own allocations were not seen\n");
	printf("%s\n", failures ? "failed" : "ok");
	return failures ? 1 : 0;
}
