/* stackres.c: each thread's peak stack depth from its resident pages (/proc/PID/pagemap). */
#include "stackres.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int stackres_range_init(struct stackres_range *r, uint32_t tid, int is_main, uint64_t top,
    uint64_t size)
{
	memset(r, 0, sizeof(*r));
	if (top == 0 || (size == 0 && !is_main) || size > top)
		return -EINVAL;
	r->tid = tid;
	r->is_main = is_main;
	r->top = top;
	r->size = size;
	r->top_vpn = (top + PROCFS_PAGE - 1) / PROCFS_PAGE;
	/* An unlimited main stack: the gap rule alone ends the scan. */
	r->lo_vpn = size != 0 ? (top - size) / PROCFS_PAGE : 0;
	r->deep_vpn = r->top_vpn;
	return 0;
}

int stackres_scan(struct stackres_range *r, stackres_read_fn rd, void *ctx, int *full)
{
	uint64_t words[STACKRES_CHUNK];
	uint64_t cur = r->deep_vpn, deep = r->deep_vpn;
	/* The lowest absent page seen so far in this scan: every page from
	 * v up to it was seen touched, or lies above the deepest page found
	 * before (taken as touched, by the assumption in stackres.h). */
	uint64_t run_top = UINT64_MAX;
	unsigned gap = 0;
	int err = 0;

	*full = 0;
	while (cur > r->lo_vpn && gap <= STACKRES_MAXGAP) {
		/* Whole chunks down from the deepest page: in the steady state
		 * one read covers the gap rule's pages. */
		uint64_t start = cur - r->lo_vpn > STACKRES_CHUNK ? cur - STACKRES_CHUNK : r->lo_vpn;
		size_t n;

		n = (size_t)(cur - start);
		err = rd(ctx, start, words, n);
		if (err < 0)
			break;
		for (size_t i = n; i-- > 0 && gap <= STACKRES_MAXGAP; ) {
			uint64_t v = start + i;

			if (!stackres_touched(words[i])) {
				gap++;
				run_top = v;
				continue;
			}
			gap = 0;
			deep = v;
			if (v % STACKRES_BLOCK == 0 && run_top >= v + STACKRES_BLOCK &&
			    v + STACKRES_BLOCK <= r->top_vpn)
				*full = 1;
		}
		cur = start;
	}
	r->deep_vpn = deep;
	return err;
}

uint64_t stackres_depth(const struct stackres_range *r)
{
	if (r->huge || r->deep_vpn >= r->top_vpn)
		return 0;
	return r->top - r->deep_vpn * PROCFS_PAGE;
}

/* ---- per-process state ---- */

struct stackres_proc {
	struct stackres_proc *next;     /* hash chain */
	struct ptab_key key;
	int seen;                       /* measured since the last sweep */
	struct stackres_range *r;       /* owned */
	size_t n;
};

#define STACKRES_BUCKETS 4096u

struct stackres {
	struct stackres_proc *b[STACKRES_BUCKETS];
	size_t n;
};

struct stackres *stackres_new(void)
{
	return calloc(1, sizeof(struct stackres));
}

static void stackres_proc_free(struct stackres_proc *p)
{
	free(p->r);
	free(p);
}

void stackres_free(struct stackres *sr)
{
	if (sr == NULL)
		return;
	for (size_t i = 0; i < STACKRES_BUCKETS; i++) {
		struct stackres_proc *p, *next;

		for (p = sr->b[i]; p != NULL; p = next) {
			next = p->next;
			stackres_proc_free(p);
		}
	}
	free(sr);
}

static size_t stackres_hash(pid_t pid)
{
	return ((uint32_t)pid * 2654435761u) % STACKRES_BUCKETS;
}

static struct stackres_proc *stackres_get(struct stackres *sr, const struct ptab_key *key)
{
	size_t h = stackres_hash(key->pid);
	struct stackres_proc *p;

	for (p = sr->b[h]; p != NULL; p = p->next)
		if (p->key.pid == key->pid && p->key.start_time == key->start_time)
			return p;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->key = *key;
	p->next = sr->b[h];
	sr->b[h] = p;
	sr->n++;
	return p;
}

size_t stackres_sweep(struct stackres *sr)
{
	size_t dropped = 0;

	for (size_t i = 0; i < STACKRES_BUCKETS; i++) {
		struct stackres_proc **pp = &sr->b[i], *p;

		while ((p = *pp) != NULL) {
			if (p->seen) {
				p->seen = 0;
				pp = &p->next;
				continue;
			}
			*pp = p->next;
			stackres_proc_free(p);
			sr->n--;
			dropped++;
		}
	}
	return dropped;
}

size_t stackres_count(const struct stackres *sr)
{
	return sr->n;
}

/* The state kept for the thread of range `in`, or a fresh one: a slot
 * reused by another thread, or a stack moved, starts again. */
static int stackres_match(const struct stackres_proc *p, const struct ptab_srange *in,
    struct stackres_range *out)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct stackres_range *k = &p->r[i];

		if (k->instance == in->instance && k->tid == in->tid && k->top == in->top &&
		    k->size == in->size && k->is_main == in->is_main) {
			*out = *k;
			return 0;
		}
	}
	if (stackres_range_init(out, in->tid, in->is_main, in->top, in->size) < 0)
		return -EINVAL;
	out->instance = in->instance;
	return 0;
}

static int stackres_pread(void *ctx, uint64_t vpn, uint64_t *words, size_t n)
{
	return procfs_pagemap_read(*(int *)ctx, vpn, words, n);
}

int stackres_measure(struct stackres *sr, const struct ptab_key *key,
    const struct ptab_srange *ranges, size_t n, enum procfs_thp thp,
    struct stackres_result *out, int *huge_found)
{
	struct stackres_proc *p = stackres_get(sr, key);
	struct stackres_range *r;
	size_t nr = 0;
	int fd, err = 0;

	memset(out, 0, sizeof(*out));
	*huge_found = 0;
	if (p == NULL)
		return -ENOMEM;
	p->seen = 1;
	r = malloc((n ? n : 1) * sizeof(*r));
	if (r == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (stackres_match(p, &ranges[i], &r[nr]) == 0)
			nr++;
	free(p->r);
	p->r = r;
	p->n = nr;
	if (thp == PROCFS_THP_ALWAYS)
		return -EOPNOTSUPP;
	fd = procfs_pagemap_open(key->pid);
	if (fd < 0) {
		out->denied = fd == -EACCES || fd == -EPERM;
		return fd;
	}
	for (size_t i = 0; i < nr; i++) {
		int full;

		if (r[i].huge)
			continue;
		err = stackres_scan(&r[i], stackres_pread, &fd, &full);
		if (err < 0)
			break;
		if (full && thp == PROCFS_THP_MADVISE) {
			uint64_t huge = 0;

			/* Unreadable smaps (the process gone, or too large to
			 * read) is not a clean bill: the range is given up. */
			if (procfs_smaps_huge(key->pid, r[i].deep_vpn * PROCFS_PAGE, &huge) < 0 ||
			    huge > 0) {
				r[i].huge = 1;
				*huge_found = 1;
			}
		}
	}
	close(fd);
	if (err < 0)
		return err;
	out->measured = 1;
	for (size_t i = 0; i < nr; i++) {
		uint64_t d = stackres_depth(&r[i]);

		if (d > out->peak)
			out->peak = d;
		if (r[i].is_main && !r[i].huge) {
			out->main_measured = 1;
			if (d > out->main_peak)
				out->main_peak = d;
		}
	}
	return 0;
}

void stackres_figures(const struct stackres_result *res, int status_ok, uint64_t vmstk,
    struct ptab_sdepth *d)
{
	d->set = 0;
	d->source = PTAB_STACK_AGENT;
	d->peak = d->main_peak = 0;
	if (res->measured) {
		d->set = 1;
		d->source = PTAB_STACK_PAGEMAP;
		d->peak = res->peak;
		d->main_peak = res->main_peak;
	}
	if (!res->main_measured && status_ok) {
		if (!d->set)
			d->source = PTAB_STACK_VMSTK;
		d->set = 1;
		if (vmstk > d->main_peak)
			d->main_peak = vmstk;
	}
	if (d->main_peak > d->peak)
		d->peak = d->main_peak;
}
