/* refresh.c: a thread that reads /proc figures of the live tracked processes on a timer. */
#include "refresh.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "procfs.h"
#include "stackres.h"

struct refresh {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;            /* on CLOCK_MONOTONIC */
	struct ptab *pt;
	double interval;                /* guarded by lock */
	int stop;                       /* guarded by lock */
	double last_seconds;            /* guarded by lock */
	uint64_t last_processes;
	/* The refresh thread's own: */
	struct stackres *sr;            /* per (process, thread) pagemap scans */
	int said_thp, said_huge, said_denied;
};

/* The resident-page stack figures (stackres.h) of the live processes
 * keys[0..n), whose /proc/PID/status was read into st (ok[i]). */
static void refresh_stacks(struct refresh *r, const struct ptab_key *keys, size_t n,
    const struct procfs_status *st, const int *ok)
{
	enum procfs_thp thp = procfs_thp_mode();
	struct ptab_srange *rg = NULL;
	struct ptab_sdepth *d;
	size_t nrg = 0, j = 0;

	d = calloc(n ? n : 1, sizeof(*d));
	if (d == NULL || ptab_stack_ranges(r->pt, keys, n, &rg, &nrg) < 0) {
		log_ratelimited("refresh", "/proc refresh: out of memory; stack figures not updated");
		free(d);
		return;
	}
	if (thp == PROCFS_THP_ALWAYS && !r->said_thp) {
		log_info("transparent huge pages are \"always\": a first touch can make 2 MiB "
		    "of a stack resident, so pagemap is not read; stack depth comes from "
		    "VmStk (main threads) and stack pointers at allocations");
		r->said_thp = 1;
	}
	for (size_t i = 0; i < n; i++) {
		struct stackres_result res = { 0 };
		size_t first = j;
		int e = 0, huge = 0;

		while (j < nrg && rg[j].key == i)
			j++;
		if (j > first)
			e = stackres_measure(r->sr, &keys[i], rg + first, j - first, thp, &res, &huge);
		if (huge && !r->said_huge) {
			log_info("pid %d: a thread's stack has transparent huge pages; its depth "
			    "comes from stack pointers at allocations (VmStk for a main thread)",
			    (int)keys[i].pid);
			r->said_huge = 1;
		}
		if (res.denied && !r->said_denied) {
			log_info("/proc/%d/pagemap: %s; stack depth of processes not ours to "
			    "read comes from VmStk (main threads) and stack pointers at "
			    "allocations (other threads)", (int)keys[i].pid, strerror(-e));
			r->said_denied = 1;
		}
		stackres_figures(&res, ok[i], st[i].stack_mapped, &d[i]);
		d[i].instance = j > first ? rg[first].instance : 0;
	}
	stackres_sweep(r->sr);
	ptab_set_stack_depths(r->pt, keys, d, n);
	free(rg);
	free(d);
}

static void refresh_pass(struct refresh *r)
{
	struct ptab_key *keys;
	struct procfs_status *st;
	int *ok;
	size_t n;
	double t0 = clock_mono();

	if (ptab_live_keys(r->pt, &keys, &n) < 0)
		return;
	st = calloc(n ? n : 1, sizeof(*st));
	ok = calloc(n ? n : 1, sizeof(*ok));
	if (st == NULL || ok == NULL) {
		log_ratelimited("refresh", "/proc refresh: out of memory; figures not updated");
		goto out;
	}
	/* A process gone meanwhile just keeps its last figures. */
	for (size_t i = 0; i < n; i++)
		ok[i] = procfs_status(keys[i].pid, &st[i]) == 0;
	ptab_set_procfs(r->pt, keys, st, ok, n);
	refresh_stacks(r, keys, n, st, ok);
	pthread_mutex_lock(&r->lock);
	r->last_seconds = clock_mono() - t0;
	r->last_processes = n;
	pthread_mutex_unlock(&r->lock);
out:
	free(keys);
	free(st);
	free(ok);
}

static void *refresh_main(void *arg)
{
	struct refresh *r = arg;
	double next = clock_mono();

	pthread_mutex_lock(&r->lock);
	while (!r->stop) {
		double now = clock_mono();

		if (r->interval > 0 && now >= next) {
			next = now + r->interval;
			pthread_mutex_unlock(&r->lock);
			refresh_pass(r);
			pthread_mutex_lock(&r->lock);
			continue;
		}
		if (r->interval > 0) {
			struct timespec ts;
			double until = next < now + r->interval ? next : now + r->interval;

			ts.tv_sec = (time_t)until;
			ts.tv_nsec = (long)((until - (double)ts.tv_sec) * 1e9);
			pthread_cond_timedwait(&r->cond, &r->lock, &ts);
		} else {
			pthread_cond_wait(&r->cond, &r->lock);
			next = clock_mono();
		}
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

int refresh_start(struct refresh **out, struct ptab *pt, double interval)
{
	struct refresh *r = calloc(1, sizeof(*r));
	pthread_condattr_t ca;
	int e;

	if (r == NULL)
		return -ENOMEM;
	r->pt = pt;
	r->interval = interval;
	r->sr = stackres_new();
	if (r->sr == NULL) {
		free(r);
		return -ENOMEM;
	}
	pthread_mutex_init(&r->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->cond, &ca);
	pthread_condattr_destroy(&ca);
	e = pthread_create(&r->thread, NULL, refresh_main, r);
	if (e != 0) {
		pthread_cond_destroy(&r->cond);
		pthread_mutex_destroy(&r->lock);
		stackres_free(r->sr);
		free(r);
		return -e;
	}
	*out = r;
	return 0;
}

void refresh_set_interval(struct refresh *r, double interval)
{
	pthread_mutex_lock(&r->lock);
	r->interval = interval;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

void refresh_last(struct refresh *r, double *seconds, uint64_t *processes)
{
	pthread_mutex_lock(&r->lock);
	*seconds = r->last_seconds;
	*processes = r->last_processes;
	pthread_mutex_unlock(&r->lock);
}

void refresh_stop(struct refresh *r)
{
	if (r == NULL)
		return;
	pthread_mutex_lock(&r->lock);
	r->stop = 1;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
	pthread_join(r->thread, NULL);
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->lock);
	stackres_free(r->sr);
	free(r);
}
