/* guest_signals.c: a program that owns every signal; it must receive none it did not ask for (issue 12, signals). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "progs/progs.h"

/*
 * Usage: guest_signals
 *
 * 1. Says which signals have a handler or are blocked as main begins (an
 *    exec leaves none, so any there is an agent's), and how many POSIX
 *    timers the process has (/proc/self/timers, when the kernel has it).
 * 2. Resets every signal 1..SIGRTMAX to SIG_DFL (so a stray one kills it),
 *    installs its own SIGRTMAX handler, blocks SIGRTMIN..SIGRTMAX and
 *    sigtimedwait()s for them for 200 ms while it allocates, runs a thread
 *    and forks a child that allocates; then unblocks them. Every signal that
 *    arrived is counted and named.
 * 3. Signals in its own mmap: a thread sends SIGRTMAX to the main thread,
 *    one after the other, while main maps and unmaps, and the handler maps and
 *    unmaps too (what a stop-the-world collector's handler does). A hook
 *    that holds a lock across the system call deadlocks here.
 * Prints only what does not depend on timing; exits 0, or 1 when a stray
 * signal came.
 */

#define WAIT_MS 200
#define MAP_ROUNDS 20000
#define HANDLED_MIN 200

static volatile sig_atomic_t got_rtmax;         /* in phase 2: strays */
static volatile sig_atomic_t handler_maps;      /* phase 3: handler on */
static volatile sig_atomic_t handled;
static volatile sig_atomic_t main_done;
static pthread_t main_thread;

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_rtmax(int sig)
{
	(void)sig;
	if (!handler_maps) {
		got_rtmax++;
		return;
	}
	/* A collector's handler: it maps while the interrupted code maps. */
	void *p = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p != MAP_FAILED) {
		((char *)p)[0] = 1;
		munmap(p, 65536);
	}
	handled++;
}

/* Lists signals s in 1..SIGRTMAX for which pred(s) holds. */
static void list(const char *what, int (*pred)(int))
{
	printf("%s:", what);
	for (int s = 1; s <= SIGRTMAX; s++)
		if (pred(s))
			printf(" %d", s);
	printf("\n");
}

static int has_handler(int s)
{
	struct sigaction sa;

	if (sigaction(s, NULL, &sa) < 0)
		return 0;
	return sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN;
}

static sigset_t start_mask;

static int blocked_at_start(int s)
{
	return sigismember(&start_mask, s) == 1;
}

static int count_timers(void)
{
	FILE *f = fopen("/proc/self/timers", "r");
	char line[256];
	int n = 0;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		n += strncmp(line, "ID:", 3) == 0;
	fclose(f);
	return n;
}

static void *churner(void *arg)
{
	(void)arg;
	for (int i = 0; i < 4; i++)
		prog_churn();
	return NULL;
}

static void *sender(void *arg)
{
	(void)arg;
	/* One at a time: the next goes once the last was handled, so the
	 * signals land all over main's loop instead of piling up. */
	while (!main_done) {
		sig_atomic_t before = handled;

		pthread_kill(main_thread, SIGRTMAX);
		while (handled == before && !main_done)
			sched_yield();
	}
	return NULL;
}

int main(void)
{
	struct sigaction sa;
	sigset_t rt;
	struct timespec ts;
	siginfo_t si;
	long long end;
	int strays = 0, nstray = 0, stray_sig[16];
	pthread_t th;
	pid_t child;
	int st, timers;

	setvbuf(stdout, NULL, _IOLBF, 0);
	sigprocmask(SIG_BLOCK, NULL, &start_mask);
	list("handlers at start", has_handler);
	list("blocked at start", blocked_at_start);
	timers = count_timers();
	if (timers >= 0)
		printf("timers at start: %d\n", timers);

	/* 2. Every signal is ours. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (int s = 1; s <= SIGRTMAX; s++)
		sigaction(s, &sa, NULL);        /* SIGKILL, SIGSTOP: EINVAL */
	sa.sa_handler = on_rtmax;
	sigaction(SIGRTMAX, &sa, NULL);
	sigemptyset(&rt);
	for (int s = SIGRTMIN; s <= SIGRTMAX; s++)
		sigaddset(&rt, s);
	sigprocmask(SIG_BLOCK, &rt, NULL);

	prog_churn();
	if (pthread_create(&th, NULL, churner, NULL) != 0)
		return 2;
	fflush(NULL);
	child = fork();
	if (child == 0) {
		prog_churn();
		_exit(0);
	}
	end = now_ms() + WAIT_MS;
	for (long long left; (left = end - now_ms()) > 0;) {
		int s;

		ts.tv_sec = left / 1000;
		ts.tv_nsec = (left % 1000) * 1000000L;
		s = sigtimedwait(&rt, &si, &ts);
		if (s > 0) {
			if (nstray < 16)
				stray_sig[nstray++] = s;
			strays++;
		}
		prog_churn();
	}
	pthread_join(th, NULL);
	if (child > 0)
		waitpid(child, &st, 0);
	sigprocmask(SIG_UNBLOCK, &rt, NULL);    /* anything pending now lands */
	strays += got_rtmax;
	printf("signals received: %d", strays);
	for (int i = 0; i < nstray; i++)
		printf(" %d", stray_sig[i]);
	printf("%s\n", got_rtmax ? " (handler)" : "");
	timers = count_timers();
	if (timers >= 0)
		printf("timers after: %d\n", timers);

	/* 3. Signals landing in mmap, the handler mapping too. */
	handler_maps = 1;
	main_thread = pthread_self();
	if (pthread_create(&th, NULL, sender, NULL) != 0)
		return 2;
	for (int i = 0; i < MAP_ROUNDS || handled < HANDLED_MIN; i++) {
		void *p = mmap(NULL, 4096 * (1 + i % 8), PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED) {
			printf("mmap: %s\n", strerror(errno));
			break;
		}
		munmap(p, 4096 * (1 + i % 8));
	}
	main_done = 1;
	pthread_join(th, NULL);
	printf("mmap with signals in it: done\n");
	return strays ? 1 : 0;
}
