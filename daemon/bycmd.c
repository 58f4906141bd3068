/* bycmd.c: series = command: a snapshot's processes summed into one row per command. */
#include "bycmd.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int bycmd_cmp_view(const void *a, const void *b)
{
	const struct ptab_view *const *x = a, *const *y = b;

	return strcmp((*x)->comm, (*y)->comm);
}

static int bycmd_cmp_retired(const void *a, const void *b)
{
	const struct ptab_retired *const *x = a, *const *y = b;

	return strcmp((*x)->comm, (*y)->comm);
}

static int bycmd_cmp_gauge(const void *a, const void *b)
{
	const struct ptab_gauge *x = a, *y = b;

	return strcmp(x->name, y->name);
}

static void bycmd_max(uint64_t *d, uint64_t v)
{
	if (v > *d)
		*d = v;
}

void bycmd_add_counters(struct proto_sample *d, const struct proto_sample *s, uint32_t have)
{
	d->samples_dropped += s->samples_dropped;
	if (have & PROTO_S_HEAP) {
		d->heap_allocations += s->heap_allocations;
		d->heap_frees += s->heap_frees;
		d->heap_allocated_bytes += s->heap_allocated_bytes;
		d->heap_failed += s->heap_failed;
	}
	if (have & PROTO_S_HIST) {
		for (unsigned k = 0; k < PROTO_HIST_BUCKETS; k++)
			d->hist_count[k] += s->hist_count[k];
		d->hist_sum += s->hist_sum;
	}
	if (have & PROTO_S_PYTHON) {
		for (unsigned g = 0; g < 3; g++) {
			d->py_gc_collections[g] += s->py_gc_collections[g];
			d->py_gc_collected[g] += s->py_gc_collected[g];
			d->py_gc_uncollectable[g] += s->py_gc_uncollectable[g];
		}
	}
}

/* Adds a live process's gauges into d: sizes sum, peaks and limits take
 * the largest. Exited processes hold no memory: only their counters count. */
static void bycmd_add_gauges(struct ptab_view *d, const struct ptab_view *v)
{
	struct proto_sample *a = &d->s;
	const struct proto_sample *s = &v->s;

	a->heap_live_bytes += s->heap_live_bytes;
	a->heap_live_blocks += s->heap_live_blocks;
	a->heap_peak_bytes += s->heap_peak_bytes;
	a->mmap_live_bytes += s->mmap_live_bytes;
	a->threads += s->threads;
	a->py_allocated_blocks += s->py_allocated_blocks;
	bycmd_max(&a->stack_peak_bytes, s->stack_peak_bytes);
	bycmd_max(&a->stack_main_peak_bytes, s->stack_main_peak_bytes);
	bycmd_max(&a->stack_limit_bytes, s->stack_limit_bytes);
	bycmd_max(&a->py_recursion_limit, s->py_recursion_limit);
	bycmd_max(&a->py_stack_depth_peak, s->py_stack_depth_peak);
	if (v->have_procfs) {
		d->pfs.resident += v->pfs.resident;
		d->pfs.resident_peak += v->pfs.resident_peak;
		d->pfs.stack_mapped += v->pfs.stack_mapped;
		d->pfs.data += v->pfs.data;
		d->pfs.threads += v->pfs.threads;
	}
}

/* Program gauges of one name sum across the processes: sorts g[0..n) by
 * name, merges equal names and returns how many are left. */
static size_t bycmd_merge_gauges(struct ptab_gauge *g, size_t n)
{
	size_t out = 0;

	qsort(g, n, sizeof(*g), bycmd_cmp_gauge);
	for (size_t k = 0; k < n; k++) {
		if (out > 0 && strcmp(g[out - 1].name, g[k].name) == 0)
			g[out - 1].value += g[k].value;
		else
			g[out++] = g[k];
	}
	return out;
}

/* The arrays of one build, all in one allocation. */
struct bycmd_work {
	const struct ptab_view **pv;            /* snapshot processes by comm */
	const struct ptab_retired **pr;         /* retired sums by comm */
	struct ptab_view *rows;
	struct ptab_gauge *gauges;              /* every live process's, rows' in turn */
	unsigned *nlive, *nexited;
};

static void *bycmd_alloc(const struct ptab_snap *snap, struct bycmd_work *w)
{
	size_t nv = snap->n, nr = snap->nretired, ng = 0;
	char *m;

	for (size_t k = 0; k < nv; k++)
		ng += snap->procs[k].ngauges;
	m = calloc(1, (nv + nr) * (sizeof(*w->pv) + sizeof(*w->rows) + 2 * sizeof(unsigned)) +
	    nr * sizeof(*w->pr) + ng * sizeof(*w->gauges) + 64);
	if (m == NULL)
		return NULL;
	w->rows = (struct ptab_view *)(void *)m;
	w->gauges = (struct ptab_gauge *)(void *)(w->rows + nv + nr);
	w->pv = (const struct ptab_view **)(void *)(w->gauges + ng);
	w->pr = (const struct ptab_retired **)(void *)(w->pv + nv);
	w->nlive = (unsigned *)(void *)(w->pr + nr);
	w->nexited = w->nlive + nv + nr;
	return m;
}

int bycmd_build(const struct ptab_snap *snap, struct bycmd *out)
{
	size_t nv = snap->n, nr = snap->nretired, i = 0, j = 0, n = 0;
	struct ptab_gauge *g;
	struct bycmd_work w;
	void *mem = bycmd_alloc(snap, &w);

	if (mem == NULL)
		return -ENOMEM;
	for (size_t k = 0; k < nv; k++)
		w.pv[k] = &snap->procs[k];
	for (size_t k = 0; k < nr; k++)
		w.pr[k] = &snap->retired[k];
	qsort(w.pv, nv, sizeof(*w.pv), bycmd_cmp_view);
	qsort(w.pr, nr, sizeof(*w.pr), bycmd_cmp_retired);

	/* Merge the two sorted lists, one row per comm. */
	g = w.gauges;
	while (i < nv || j < nr) {
		struct ptab_view *d = &w.rows[n];
		size_t ng = 0;

		if (j >= nr || (i < nv && strcmp(w.pv[i]->comm, w.pr[j]->comm) <= 0))
			d->comm = w.pv[i]->comm;
		else
			d->comm = w.pr[j]->comm;
		d->exe = "";
		d->gauges = g;
		for (; i < nv && strcmp(w.pv[i]->comm, d->comm) == 0; i++) {
			const struct ptab_view *v = w.pv[i];

			d->have |= v->have;
			d->have_threads |= v->have_threads;
			d->have_procfs |= v->have_procfs;
			bycmd_add_counters(&d->s, &v->s, v->have);
			if (v->exited) {
				w.nexited[n]++;
				continue;
			}
			w.nlive[n]++;
			bycmd_add_gauges(d, v);
			for (size_t k = 0; k < v->ngauges; k++)
				g[ng++] = v->gauges[k];
		}
		for (; j < nr && strcmp(w.pr[j]->comm, d->comm) == 0; j++) {
			d->have |= w.pr[j]->have;
			bycmd_add_counters(&d->s, &w.pr[j]->s, w.pr[j]->have);
		}
		d->ngauges = bycmd_merge_gauges(g, ng);
		g += d->ngauges;
		n++;
	}
	out->n = n;
	out->v = w.rows;
	out->nlive = w.nlive;
	out->nexited = w.nexited;
	out->mem = mem;
	return 0;
}

void bycmd_free(struct bycmd *bc)
{
	free(bc->mem);
	bc->mem = NULL;
	bc->n = 0;
}
