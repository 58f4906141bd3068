/* agent_sample.c: optional stack sampling (MEMPROBE_STACK_SAMPLE_HZ) for threads that recurse without allocating. */
#include "agent.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

/*
 * Off by default. When on, every registered thread gets a timer on its own
 * CPU-time clock (CLOCK_THREAD_CPUTIME_ID, SIGEV_THREAD_ID), so only threads
 * that run are interrupted, and each interruption records the interrupted
 * stack pointer in the thread's slot, exactly as an allocator call would.
 *
 * The signal is the highest real-time signal whose disposition is the
 * default at start (none the program has claimed), or the one named by
 * MEMPROBE_STACK_SAMPLE_SIGNAL (a number). If the program later installs a
 * handler of its own for it, the reporter notices at its next round, stops
 * all sampling timers and warns once: the program's signal is left alone.
 */

int agent_sample_sig;                 /* 0: sampling off */
static long sample_ns;

static void on_sample(int sig, siginfo_t *si, void *ctx)
{
	struct agent_thread *t = agent_tls.saved;
	const ucontext_t *uc = ctx;
	uintptr_t sp;

	(void)sig;
	(void)si;
	if (t == NULL || (agent_tls.mode != AGENT_ACTIVE && agent_tls.mode != AGENT_GENERIC &&
	    agent_tls.mode != AGENT_BUSY))
		return;
#if defined(__x86_64__)
	sp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
	sp = (uintptr_t)uc->uc_mcontext.sp;
#else
	(void)uc;
	sp = agent_sp();
#endif
	/* The thread itself may be between its compare and store of
	 * stack_low; at worst one sample is lost, never a wrong value.
	 * A thread on a coroutine stack is not sampled (agent_stack_seen). */
	if (sp < t->stack_low)
		agent_stack_seen(t, sp);
}

static int choose_signal(void)
{
	const char *v = getenv("MEMPROBE_STACK_SAMPLE_SIGNAL");
	struct sigaction cur;

	if (v != NULL && *v != '\0') {
		char *end;
		long s = strtol(v, &end, 10);

		if (*end != '\0' || s < SIGRTMIN || s > SIGRTMAX) {
			agent_warn("MEMPROBE_STACK_SAMPLE_SIGNAL must be a real-time signal number; sampling off");
			return 0;
		}
		return (int)s;
	}
	for (int s = SIGRTMAX; s >= SIGRTMIN; s--)
		if (sigaction(s, NULL, &cur) == 0 && !(cur.sa_flags & SA_SIGINFO) &&
		    cur.sa_handler == SIG_DFL)
			return s;
	return 0;
}

int agent_sample_init(void)
{
	const char *v = getenv("MEMPROBE_STACK_SAMPLE_HZ");
	struct sigaction sa;
	char *end;
	long hz;
	int sig;

	if (v == NULL || *v == '\0' || strcmp(v, "0") == 0)
		return 0;
	hz = strtol(v, &end, 10);
	if (*end != '\0' || hz < 1 || hz > 10000) {
		agent_warn("MEMPROBE_STACK_SAMPLE_HZ must be 1..10000; sampling off");
		return 0;
	}
	sig = choose_signal();
	if (sig == 0) {
		agent_warn("no free real-time signal for stack sampling; sampling off");
		return 0;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sample;
	sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
	sigfillset(&sa.sa_mask);
	if (sigaction(sig, &sa, NULL) != 0) {
		agent_warn("cannot install the stack sampling handler; sampling off");
		return 0;
	}
	sample_ns = 1000000000L / hz;
	agent_sample_sig = sig;
	agent_debug("stack sampling on");
	return 0;
}

void agent_sample_thread_start(struct agent_thread *t)
{
	struct sigevent sev;
	struct itimerspec its;
	timer_t id;

	if (agent_sample_sig == 0 || t->timer_on)
		return;
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = agent_sample_sig;
	sev._sigev_un._tid = t->tid;
	if (timer_create(CLOCK_THREAD_CPUTIME_ID, &sev, &id) != 0)
		return;
	its.it_interval.tv_sec = sample_ns / 1000000000L;
	its.it_interval.tv_nsec = sample_ns % 1000000000L;
	its.it_value = its.it_interval;
	if (timer_settime(id, 0, &its, NULL) != 0) {
		timer_delete(id);
		return;
	}
	t->timer = id;
	t->timer_on = 1;
}

void agent_sample_thread_stop(struct agent_thread *t)
{
	if (t->timer_on) {
		timer_delete(t->timer);
		t->timer_on = 0;
	}
}

int agent_sample_handler_lost(void)
{
	struct sigaction cur;

	if (agent_sample_sig == 0 || sigaction(agent_sample_sig, NULL, &cur) != 0)
		return 0;
	if ((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == on_sample)
		return 0;
	agent_warn("the program took the stack sampling signal for itself; sampling stopped");
	agent_sample_sig = 0;
	return 1;
}
