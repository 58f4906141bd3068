/* agent_outside.c: runs the agent's descriptor work in a transient task with a descriptor table of its own. */
#include "agent.h"

#include <link.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/*
 * Registering takes descriptors: a connection, a memfd, a pidfd. Made in
 * the program's own table they take the lowest free numbers for a few
 * microseconds, and in a program with several threads another thread can
 * meet them there: its dup2() onto that number closes our socket, and our
 * close() then closes the file it put there. So the work runs in a task
 * of the program's thread group (its pid is ours: the kernel's credentials
 * and a pidfd of getpid() name the program) that shares our memory but not
 * our descriptor table, which it gets a copy of and drops when it ends.
 * The calling thread waits for it (CLONE_VFORK) with every signal blocked,
 * and the task runs on the caller's TLS (no CLONE_SETTLS) while the caller
 * waits, so errno and agent_tls are the caller's. A single-threaded program
 * has nothing running meanwhile; a multi-threaded one could see a thread of
 * ours in /proc/self/task for those microseconds, which is all it sees.
 *
 * One task at a time: callers hold the registry lock (agent_core_lock), so
 * one stack serves. Where clone is refused (a seccomp filter), the work
 * runs in place, as before. Under valgrind too: valgrind does not refuse
 * such a clone, it ends the whole program ("Valgrind does not support
 * general clone()"), so agent_outside_setup() looks for valgrind's
 * preloaded core once, at load, and the work runs in place from then on.
 */
static _Alignas(64) unsigned char outside_stack[64 * 1024];
static int in_place;

static int valgrind_object(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	(void)arg;
	return info->dlpi_name != NULL && strstr(info->dlpi_name, "/vgpreload_core-") != NULL;
}

void agent_outside_setup(void)
{
	in_place = dl_iterate_phdr(valgrind_object, NULL) != 0;
	if (in_place)
		agent_debug("under valgrind: registering in place, not in a task of its own");
}

struct outside_call {
	int (*fn)(void *);
	void *arg;
	int ret;
};

static int outside_entry(void *p)
{
	struct outside_call *c = p;

	c->ret = c->fn(c->arg);
	return 0;
}

int agent_outside(int (*fn)(void *), void *arg)
{
	struct outside_call c = { fn, arg, 0 };
	sigset_t all, old;
	int tid;

	if (in_place)
		return fn(arg);

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	tid = clone(outside_entry, outside_stack + sizeof(outside_stack),
	    CLONE_VM | CLONE_FS | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM | CLONE_VFORK, &c);
	if (tid < 0) {
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		return fn(arg);
	}
	/* The caller wakes when the task lets go of our memory, a moment
	 * before the kernel takes it out of the thread group: until then
	 * the program would still count two threads (unshare(CLONE_NEWUSER)
	 * would fail). That moment is a few microseconds; the wait is
	 * bounded all the same. */
	for (int i = 0; i < 100000 && syscall(SYS_tgkill, getpid(), tid, 0) == 0; i++)
		sched_yield();
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return c.ret;
}
