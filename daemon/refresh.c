/* refresh.c: a thread that reads /proc figures of the live tracked processes on a timer. */
#include "refresh.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "procfs.h"

struct refresh {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;            /* on CLOCK_MONOTONIC */
	struct ptab *pt;
	double interval;                /* guarded by lock */
	int stop;                       /* guarded by lock */
	double last_seconds;            /* guarded by lock */
	uint64_t last_processes;
};

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
	pthread_mutex_init(&r->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->cond, &ca);
	pthread_condattr_destroy(&ca);
	e = pthread_create(&r->thread, NULL, refresh_main, r);
	if (e != 0) {
		pthread_cond_destroy(&r->cond);
		pthread_mutex_destroy(&r->lock);
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
	free(r);
}
