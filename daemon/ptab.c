/* ptab.c: the process table: one entry per agent-instrumented process. */
#include "ptab.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "bycmd.h"
#include "heapprof.h"
#include "history.h"
#include "profsym.h"
#include "utf8.h"

enum ptab_state {
	PTAB_LIVE,
	PTAB_EXITED,
	PTAB_STALE,     /* its pid was reused: hidden, freed at its last close */
};

struct ptab_gslot {
	char name[PROTO_GAUGE_NAME_MAX + 1];
	double value;
};

/* A shared region the entry holds: a read-only mapping, owned. */
struct ptab_rg {
	void *base;                     /* NULL: none */
	uint64_t len;
	struct region_hdr hdr;          /* as checked when it was taken */
	uint64_t peak_seen;             /* the highest live figure read from it */
};

struct ptab_proc {
	struct ptab_proc *hnext;        /* hash chain (by pid) */
	struct ptab_proc *prev, *next;  /* every entry, oldest first */
	pid_t pid;
	uint64_t start_time;
	uid_t uid;
	char *comm;                     /* owned, valid UTF-8 */
	char *exe;
	enum ptab_state state;
	unsigned agents;
	unsigned conns[3];              /* open connections per enum proto_agent */
	unsigned nconn;
	double created;
	double exited_at;
	uint64_t hello_stack_limit;
	uint64_t samples;
	uint32_t have;
	int have_threads;
	int threads_from_c;
	struct proto_sample s;
	struct ptab_gslot *gauges;      /* sorted by name */
	unsigned ngauges, capgauges;
	uint64_t gauges_dropped;
	int have_procfs;
	struct procfs_status pfs;
	uint64_t res_peak, res_main_peak;       /* resident-page peaks (stackres.h) */
	enum ptab_stack_source stack_source;
	struct ptab_rg rg[3];           /* by enum proto_agent; [0] unused */
	int watched;                    /* the caller watches it (ptab_region_open) */
	struct proto_sample base;       /* counters of earlier images (exec) */
	uint32_t base_have;
	struct ptab_exit exit;
	uint32_t size_source;           /* enum region_size_source of the C region */
	struct history hist;            /* recent figures, a point a second */
	/* The heap profile: a copy kept when the process exited (its region
	 * is unmapped then), and the symbols of its addresses (per program
	 * image). Both owned references; NULL: none. */
	struct heapprof *prof;
	struct profsym *syms;
};

/* A command's retired counters, in a chained hash by comm. */
struct ptab_ret {
	struct ptab_ret *next;
	char *comm;
	uint32_t have;
	struct proto_sample s;
};

#define PTAB_RET_BUCKETS 1024

struct ptab {
	pthread_mutex_t lock;
	struct ptab_limits lim;
	struct ptab_proc **buckets;
	size_t nbuckets;                /* a power of two */
	struct ptab_proc *head, *tail;
	size_t n;
	uint64_t refused;
	uint64_t gauges_dropped;
	struct ptab_ret *ret[PTAB_RET_BUCKETS];
	size_t nret;
	size_t chars;                   /* bytes of names held by entries */
};

struct ptab *ptab_new(const struct ptab_limits *lim)
{
	struct ptab *pt = calloc(1, sizeof(*pt));

	if (pt == NULL)
		return NULL;
	pt->nbuckets = 256;
	pt->buckets = calloc(pt->nbuckets, sizeof(*pt->buckets));
	if (pt->buckets == NULL)
		goto fail;
	if (pthread_mutex_init(&pt->lock, NULL) != 0)
		goto fail;
	pt->lim = *lim;
	return pt;
fail:
	free(pt->buckets);
	free(pt);
	return NULL;
}

static void ptab_rg_drop(struct ptab_rg *rg)
{
	if (rg->base != NULL)
		munmap(rg->base, rg->len);
	memset(rg, 0, sizeof(*rg));
}

static void ptab_proc_free(struct ptab_proc *p)
{
	for (unsigned k = 0; k < 3; k++)
		ptab_rg_drop(&p->rg[k]);
	free(p->comm);
	free(p->exe);
	free(p->gauges);
	history_free(&p->hist);
	heapprof_unref(p->prof);
	profsym_unref(p->syms);
	free(p);
}

static size_t ptab_strhash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h & (PTAB_RET_BUCKETS - 1);
}

/* Adds the counters in s (sections `have`) to command comm's retired
 * sums. Bounded by max_processes commands; past that, dropped. */
static void ptab_retire_as(struct ptab *pt, const char *comm, uint32_t have,
    const struct proto_sample *s)
{
	size_t h = ptab_strhash(comm);
	struct ptab_ret *r;

	if (!(have & (PROTO_S_HEAP | PROTO_S_HIST | PROTO_S_PYTHON)))
		return;
	for (r = pt->ret[h]; r != NULL; r = r->next)
		if (strcmp(r->comm, comm) == 0)
			break;
	if (r == NULL) {
		if (pt->nret >= pt->lim.max_processes)
			return;
		r = calloc(1, sizeof(*r));
		if (r == NULL)
			return;
		r->comm = strdup(comm);
		if (r->comm == NULL) {
			free(r);
			return;
		}
		r->next = pt->ret[h];
		pt->ret[h] = r;
		pt->nret++;
	}
	r->have |= have & (PROTO_S_HEAP | PROTO_S_HIST | PROTO_S_PYTHON);
	r->s.flags = r->have;
	bycmd_add_counters(&r->s, s, have);
}

/* An entry that is going away: its counters join its command's. */
static void ptab_retire(struct ptab *pt, const struct ptab_proc *p)
{
	if (p->samples == 0)
		return;
	ptab_retire_as(pt, p->comm, p->have, &p->s);
}

void ptab_free(struct ptab *pt)
{
	struct ptab_proc *p, *next;

	if (pt == NULL)
		return;
	for (p = pt->head; p != NULL; p = next) {
		next = p->next;
		ptab_proc_free(p);
	}
	for (size_t i = 0; i < PTAB_RET_BUCKETS; i++) {
		struct ptab_ret *r, *rn;

		for (r = pt->ret[i]; r != NULL; r = rn) {
			rn = r->next;
			free(r->comm);
			free(r);
		}
	}
	pthread_mutex_destroy(&pt->lock);
	free(pt->buckets);
	free(pt);
}

void ptab_set_limits(struct ptab *pt, const struct ptab_limits *lim)
{
	pthread_mutex_lock(&pt->lock);
	pt->lim = *lim;
	pthread_mutex_unlock(&pt->lock);
}

static size_t ptab_hash(const struct ptab *pt, pid_t pid)
{
	uint32_t h = (uint32_t)pid * 2654435761u;

	return (size_t)h & (pt->nbuckets - 1);
}

/* Doubles the bucket array when the table outgrows it; on ENOMEM the
 * chains just get longer. */
static void ptab_grow(struct ptab *pt)
{
	size_t nb = pt->nbuckets * 2;
	struct ptab_proc **b, *p;

	if (pt->n <= pt->nbuckets)
		return;
	b = calloc(nb, sizeof(*b));
	if (b == NULL)
		return;
	free(pt->buckets);
	pt->buckets = b;
	pt->nbuckets = nb;
	for (p = pt->head; p != NULL; p = p->next) {
		size_t h = ptab_hash(pt, p->pid);

		p->hnext = b[h];
		b[h] = p;
	}
}

static void ptab_unlink(struct ptab *pt, struct ptab_proc *p)
{
	struct ptab_proc **pp = &pt->buckets[ptab_hash(pt, p->pid)];

	while (*pp != p)
		pp = &(*pp)->hnext;
	*pp = p->hnext;
	if (p->prev != NULL)
		p->prev->next = p->next;
	else
		pt->head = p->next;
	if (p->next != NULL)
		p->next->prev = p->prev;
	else
		pt->tail = p->prev;
	pt->n--;
}

static void ptab_remove(struct ptab *pt, struct ptab_proc *p)
{
	ptab_unlink(pt, p);
	ptab_retire(pt, p);
	pt->chars -= strlen(p->comm) + strlen(p->exe) + 2;
	ptab_proc_free(p);
}

/* A copy of s with every byte that is not part of valid UTF-8 replaced by
 * U+FFFD, so labels and JSON can carry it. NULL when out of memory. */
static char *utf8_dup(const char *s)
{
	size_t n = strlen(s), i = 0, o = 0;
	char *out = malloc(3 * n + 1);

	if (out == NULL)
		return NULL;
	while (i < n) {
		size_t len = utf8_char_len(s + i, n - i);

		if (len == 0) {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		} else {
			memcpy(out + o, s + i, len);
			o += len;
			i += len;
		}
	}
	out[o] = '\0';
	return out;
}

static int ptab_set_names(struct ptab *pt, struct ptab_proc *p, const char *comm_in,
    const char *exe_in)
{
	char *comm = utf8_dup(comm_in);
	char *exe = utf8_dup(exe_in);

	if (comm == NULL || exe == NULL) {
		free(comm);
		free(exe);
		return -ENOMEM;
	}
	if (p->comm != NULL)
		pt->chars -= strlen(p->comm) + strlen(p->exe) + 2;
	pt->chars += strlen(comm) + strlen(exe) + 2;
	free(p->comm);
	free(p->exe);
	p->comm = comm;
	p->exe = exe;
	return 0;
}

/* Makes room for one entry: the oldest exited one goes. */
static int ptab_make_room(struct ptab *pt)
{
	struct ptab_proc *p, *victim = NULL;

	if (pt->n < pt->lim.max_processes)
		return 0;
	for (p = pt->head; p != NULL; p = p->next)
		if (p->state == PTAB_EXITED &&
		    (victim == NULL || p->exited_at < victim->exited_at))
			victim = p;
	if (victim == NULL)
		return -ENOSPC;
	ptab_remove(pt, victim);
	return pt->n < pt->lim.max_processes ? 0 : -ENOSPC;
}

static unsigned ptab_agent_index(unsigned agent)
{
	return agent < 3 ? agent : 0;
}

/*
 * The entry of key, found or made (a new one named comm and exe), with
 * entries of the same pid and another start time removed or hidden. An
 * exited entry comes back to life. Under the lock. Returns 0 and *out,
 * -ENOSPC (table full) or -ENOMEM.
 */
static int ptab_enter(struct ptab *pt, const struct ptab_key *key, const char *comm,
    const char *exe, double now, struct ptab_proc **out)
{
	struct ptab_proc *p, *found = NULL, *next;
	int r;

	/* Entries of this pid with another start time are dead processes. */
	for (p = pt->buckets[ptab_hash(pt, key->pid)]; p != NULL; p = next) {
		next = p->hnext;
		if (p->pid != key->pid || p->state == PTAB_STALE)
			continue;
		if (p->start_time == key->start_time)
			found = p;
		else if (p->nconn == 0 && !p->watched)
			ptab_remove(pt, p);
		else
			p->state = PTAB_STALE;
	}
	p = found;
	if (p != NULL) {
		if (p->state == PTAB_EXITED) {
			/* Back from exited (a reconnect, or an exec): a new life. */
			p->state = PTAB_LIVE;
			p->agents = 0;
			p->exited_at = 0;
			memset(&p->exit, 0, sizeof(p->exit));
		}
		*out = p;
		return 0;
	}
	r = ptab_make_room(pt);
	if (r < 0) {
		pt->refused++;
		return r;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	r = ptab_set_names(pt, p, comm, exe);
	if (r < 0) {
		free(p);
		return r;
	}
	p->pid = key->pid;
	p->start_time = key->start_time;
	p->state = PTAB_LIVE;
	p->created = now;
	p->prev = pt->tail;
	if (pt->tail != NULL)
		pt->tail->next = p;
	else
		pt->head = p;
	pt->tail = p;
	p->hnext = pt->buckets[ptab_hash(pt, p->pid)];
	pt->buckets[ptab_hash(pt, p->pid)] = p;
	pt->n++;
	ptab_grow(pt);
	*out = p;
	return 0;
}

int ptab_conn_open(struct ptab *pt, const struct ptab_key *key, uid_t uid,
    const struct proto_hello *hello, double now, struct ptab_proc **out)
{
	unsigned ai = ptab_agent_index(hello->agent);
	struct ptab_proc *p;
	int r, fresh;

	pthread_mutex_lock(&pt->lock);
	fresh = pt->n;
	r = ptab_enter(pt, key, hello->comm, hello->exe, now, &p);
	if (r < 0)
		goto fail;
	fresh = pt->n != (size_t)fresh;
	/* The C agent's names win; a Python agent's only while no C agent is
	 * connected, so labels do not flap between the two. */
	if (!fresh && (hello->agent == PROTO_AGENT_C || p->conns[PROTO_AGENT_C] == 0)) {
		r = ptab_set_names(pt, p, hello->comm, hello->exe);
		if (r < 0)
			goto fail;
	}
	p->uid = uid;
	p->agents |= PTAB_AGENT_BIT(ai);
	p->conns[ai]++;
	p->nconn++;
	p->hello_stack_limit = hello->stack_limit;
	pthread_mutex_unlock(&pt->lock);
	*out = p;
	return 0;
fail:
	pthread_mutex_unlock(&pt->lock);
	return r;
}

/* The counter fields of s added into d: every section, as an image's
 * counters carry over an exec (the one rule of bycmd.h). */
static void ptab_add_counters(struct proto_sample *d, const struct proto_sample *s)
{
	bycmd_add_counters(d, s, PROTO_S_HEAP | PROTO_S_HIST | PROTO_S_PYTHON);
}

static void ptab_merge_sample(struct proto_sample *d, const struct proto_sample *s);
static void ptab_hist_point(struct ptab *pt, struct ptab_proc *p, double now);
static int ptab_gauge_locked(struct ptab *pt, struct ptab_proc *p, const char *name,
    double value);

/* The reported stack peaks: the agent's (stack pointers at allocations)
 * or the resident-page ones, whichever is deeper. Under the lock. */
static void ptab_stack_apply(struct ptab_proc *p)
{
	struct proto_sample *s = &p->s;

	if (!(p->have & PROTO_S_STACK))
		return;
	if (p->res_main_peak > s->stack_main_peak_bytes)
		s->stack_main_peak_bytes = p->res_main_peak;
	if (p->res_peak > s->stack_peak_bytes)
		s->stack_peak_bytes = p->res_peak;
	if (s->stack_main_peak_bytes > s->stack_peak_bytes)
		s->stack_peak_bytes = s->stack_main_peak_bytes;
}

/* Reads the entry's regions into its figures (and their gauges into its
 * gauges). Under the lock. */
static void ptab_read_regions(struct ptab *pt, struct ptab_proc *p)
{
	for (unsigned k = PROTO_AGENT_C; k <= PROTO_AGENT_PYTHON; k++) {
		struct ptab_rg *rg = &p->rg[k];
		struct proto_sample s;
		char name[REGION_GAUGE_NAME_MAX + 1];
		double value;

		if (rg->base == NULL)
			continue;
		region_read(rg->base, &rg->hdr, &s, &rg->peak_seen, NULL, 0);
		if (k == PROTO_AGENT_C)
			ptab_add_counters(&s, &p->base);
		ptab_merge_sample(&p->s, &s);
		p->have |= s.flags;
		if (k == PROTO_AGENT_C || !p->threads_from_c) {
			p->s.threads = s.threads;
			p->have_threads = 1;
			if (k == PROTO_AGENT_C)
				p->threads_from_c = 1;
		}
		if (k == PROTO_AGENT_C && p->hello_stack_limit == 0)
			p->hello_stack_limit = s.stack_limit_bytes;
		if (k == PROTO_AGENT_C)
			p->size_source = __atomic_load_n(&((const struct region_hdr *)rg->base)->size_source,
			    __ATOMIC_RELAXED);
		p->samples++;
		for (unsigned i = 0; i < REGION_GAUGES; i++)
			if (region_gauge(rg->base, &rg->hdr, i, name, sizeof(name), &value))
				ptab_gauge_locked(pt, p, name, value);
	}
	ptab_stack_apply(p);
}

/* ---- the heap profile ---- */

static void ptab_profile_drop(struct ptab_proc *p)
{
	heapprof_unref(p->prof);
	profsym_unref(p->syms);
	p->prof = NULL;
	p->syms = NULL;
}

/* A new copy of the profile in the entry's C region, or NULL with the
 * reason in *err (-ENOENT: no region or no profile). The area's place is
 * read from the live header: profile_check() trusts none of it. */
static struct heapprof *ptab_profile_read(const struct ptab_proc *p, int *err)
{
	const struct ptab_rg *rg = &p->rg[PROTO_AGENT_C];
	const struct region_hdr *h = rg->base;
	struct heapprof *hp = NULL;

	if (h == NULL) {
		*err = -ENOENT;
		return NULL;
	}
	*err = heapprof_read(rg->base, rg->len, __atomic_load_n(&h->prof_off, __ATOMIC_RELAXED),
	    __atomic_load_n(&h->prof_size, __ATOMIC_RELAXED), &hp);
	return *err == 0 ? hp : NULL;
}

/* The process exited: its profile is copied out before its region goes,
 * and kept for the exited TTL. */
static void ptab_profile_keep(struct ptab_proc *p)
{
	struct heapprof *hp;
	int err;

	if ((hp = ptab_profile_read(p, &err)) == NULL)
		return;
	heapprof_unref(p->prof);
	p->prof = hp;
}

/* An exec: the old image's region of kind k goes. Its counters stay in the
 * entry's base, or are retired under the old command when the name changed
 * (the caller sets the new names after). */
static void ptab_new_image(struct ptab *pt, struct ptab_proc *p, unsigned k, const char *comm)
{
	struct proto_sample s;

	ptab_read_regions(pt, p);
	ptab_rg_drop(&p->rg[k]);
	if (k != PROTO_AGENT_C)
		return;
	/* The old image's addresses mean nothing in the new one. */
	ptab_profile_drop(p);
	/* A new image has a new stack. */
	p->res_peak = p->res_main_peak = 0;
	p->stack_source = PTAB_STACK_AGENT;
	memset(&s, 0, sizeof(s));
	ptab_add_counters(&s, &p->s);
	if (strcmp(comm, p->comm) != 0) {
		ptab_retire_as(pt, p->comm, p->have, &s);
		memset(&p->base, 0, sizeof(p->base));
		memset(&p->s, 0, sizeof(p->s));
		p->have = 0;
		p->samples = 0;
	} else {
		p->base = s;
	}
}

int ptab_region_open(struct ptab *pt, const struct ptab_key *key, uid_t uid,
    const char *comm, const char *exe, void *base, uint64_t len,
    const struct region_hdr *hdr, double now, struct ptab_proc **out, int *watch_new)
{
	unsigned k = ptab_agent_index(hdr->agent);
	struct ptab_proc *p;
	struct ptab_rg *rg;
	int r;

	pthread_mutex_lock(&pt->lock);
	r = ptab_enter(pt, key, comm, exe, now, &p);
	if (r < 0)
		goto out;
	rg = &p->rg[k];
	if (rg->base != NULL && rg->hdr.instance == hdr->instance) {
		if (hdr->generation <= rg->hdr.generation) {
			r = -EALREADY;
			goto out;
		}
		/* The agent moved its figures: the peak seen carries over. */
		uint64_t peak = rg->peak_seen;

		ptab_rg_drop(rg);
		rg->peak_seen = peak;
	} else if (rg->base != NULL) {
		ptab_new_image(pt, p, k, comm);
	}
	if (k == PROTO_AGENT_C || p->conns[PROTO_AGENT_C] == 0) {
		r = ptab_set_names(pt, p, comm, exe);
		if (r < 0)
			goto out;
	}
	rg->base = base;
	rg->len = len;
	rg->hdr = *hdr;
	p->uid = uid;
	p->agents |= PTAB_AGENT_BIT(k);
	*watch_new = !p->watched;
	p->watched = 1;
	ptab_read_regions(pt, p);
	*out = p;
out:
	pthread_mutex_unlock(&pt->lock);
	return r;
}

/* The name of a size source, or NULL for none (or one not known here). */
static const char *ptab_size_source_name(uint32_t src)
{
	static const char *const names[REGION_SIZE__COUNT] = {
		[REGION_SIZE_GLIBC_HEADER] = "glibc_header",
		[REGION_SIZE_USABLE] = "usable",
		[REGION_SIZE_REQUESTED] = "requested",
	};

	return src < REGION_SIZE__COUNT ? names[src] : NULL;
}

/* Once nothing reports for an entry (no connection, no watch) it has
 * exited; one whose pid was reused meanwhile goes at once. Under the lock. */
static void ptab_maybe_exited(struct ptab *pt, struct ptab_proc *p, double now)
{
	if (p->nconn > 0 || p->watched)
		return;
	if (p->state == PTAB_STALE) {
		ptab_remove(pt, p);
	} else {
		p->state = PTAB_EXITED;
		p->exited_at = now;
	}
}

void ptab_proc_key(const struct ptab_proc *p, struct ptab_key *out)
{
	out->pid = p->pid;
	out->start_time = p->start_time;
}

void ptab_proc_exited(struct ptab *pt, struct ptab_proc *p, const struct ptab_exit *how,
    double now)
{
	const struct region_hdr *c;

	pthread_mutex_lock(&pt->lock);
	ptab_read_regions(pt, p);
	ptab_hist_point(pt, p, now);
	if (how != NULL)
		p->exit = *how;
	/* Without the kernel's word (the parent reaped it first), the
	 * agent's record of exit() stands: it can only be about itself. */
	c = p->rg[PROTO_AGENT_C].base;
	if (!p->exit.known && c != NULL &&
	    __atomic_load_n(&c->exit_kind, __ATOMIC_ACQUIRE) == REGION_EXIT_EXIT) {
		p->exit.known = 1;
		p->exit.code = (int)(__atomic_load_n(&c->exit_status, __ATOMIC_RELAXED) & 0xff);
		p->exit.signal = 0;
	}
	ptab_profile_keep(p);
	for (unsigned k = 0; k < 3; k++)
		ptab_rg_drop(&p->rg[k]);
	p->watched = 0;
	ptab_maybe_exited(pt, p, now);
	pthread_mutex_unlock(&pt->lock);
}

void ptab_tick(struct ptab *pt, double now)
{
	pthread_mutex_lock(&pt->lock);
	for (struct ptab_proc *p = pt->head; p != NULL; p = p->next) {
		if (p->state != PTAB_LIVE || !p->watched)
			continue;
		ptab_read_regions(pt, p);
		ptab_hist_point(pt, p, now);
	}
	pthread_mutex_unlock(&pt->lock);
}

/* Copies the sections present in s into d. */
static void ptab_merge_sample(struct proto_sample *d, const struct proto_sample *s)
{
	d->seq = s->seq;
	d->samples_dropped = s->samples_dropped;
	if (s->flags & PROTO_S_HEAP) {
		d->heap_live_bytes = s->heap_live_bytes;
		d->heap_live_blocks = s->heap_live_blocks;
		d->heap_peak_bytes = s->heap_peak_bytes;
		d->heap_allocations = s->heap_allocations;
		d->heap_frees = s->heap_frees;
		d->heap_allocated_bytes = s->heap_allocated_bytes;
		d->heap_failed = s->heap_failed;
		d->mmap_live_bytes = s->mmap_live_bytes;
	}
	if (s->flags & PROTO_S_STACK) {
		d->stack_peak_bytes = s->stack_peak_bytes;
		d->stack_main_peak_bytes = s->stack_main_peak_bytes;
		d->stack_limit_bytes = s->stack_limit_bytes;
	}
	if (s->flags & PROTO_S_HIST) {
		memcpy(d->hist_count, s->hist_count, sizeof(d->hist_count));
		d->hist_sum = s->hist_sum;
	}
	if (s->flags & PROTO_S_PYTHON) {
		d->py_allocated_blocks = s->py_allocated_blocks;
		d->py_recursion_limit = s->py_recursion_limit;
		d->py_stack_depth_peak = s->py_stack_depth_peak;
		memcpy(d->py_gc_collections, s->py_gc_collections, sizeof(d->py_gc_collections));
		memcpy(d->py_gc_collected, s->py_gc_collected, sizeof(d->py_gc_collected));
		memcpy(d->py_gc_uncollectable, s->py_gc_uncollectable, sizeof(d->py_gc_uncollectable));
		memcpy(d->py_gc_count, s->py_gc_count, sizeof(d->py_gc_count));
	}
	d->flags |= s->flags;
}

/* The newest history point: a new one when the newest is a second old,
 * else the newest again. Called with the lock held. */
static void ptab_hist_point(struct ptab *pt, struct ptab_proc *p, double now)
{
	struct ptab_hpoint *pt_ = history_point(&p->hist, pt->lim.history_length, now);

	if (pt_ == NULL)
		return;
	pt_->t = now;
	pt_->heap_live_bytes = p->s.heap_live_bytes;
	pt_->heap_peak_bytes = p->s.heap_peak_bytes;
	pt_->heap_live_blocks = p->s.heap_live_blocks;
	pt_->stack_peak_bytes = p->s.stack_peak_bytes;
	pt_->mmap_live_bytes = p->s.mmap_live_bytes;
	pt_->resident_bytes = p->have_procfs ? p->pfs.resident : 0;
	pt_->have_resident = p->have_procfs;
	pt_->threads = p->s.threads;
}

void ptab_sample(struct ptab *pt, struct ptab_proc *p, unsigned agent,
    const struct proto_sample *s, double now)
{
	pthread_mutex_lock(&pt->lock);
	ptab_merge_sample(&p->s, s);
	p->have |= s->flags;
	ptab_stack_apply(p);
	p->samples++;
	/* Both agents count threads; the C agent sees them all. */
	if (agent == PROTO_AGENT_C || !p->threads_from_c) {
		p->s.threads = s->threads;
		p->have_threads = 1;
		if (agent == PROTO_AGENT_C)
			p->threads_from_c = 1;
	}
	ptab_hist_point(pt, p, now);
	pthread_mutex_unlock(&pt->lock);
}

/* Sets a gauge of the entry, under the lock. */
static int ptab_gauge_locked(struct ptab *pt, struct ptab_proc *p, const char *name,
    double value)
{
	unsigned lo = 0, hi, i;
	int r = 0;

	hi = p->ngauges;
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		int c = strcmp(p->gauges[mid].name, name);

		if (c == 0) {
			p->gauges[mid].value = value;
			goto out;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (p->ngauges >= pt->lim.max_gauges) {
		r = -ENOSPC;
		goto dropped;
	}
	if (p->ngauges == p->capgauges) {
		unsigned cap = p->capgauges ? p->capgauges * 2 : 4;
		struct ptab_gslot *g;

		if (cap > pt->lim.max_gauges)
			cap = pt->lim.max_gauges;
		g = realloc(p->gauges, cap * sizeof(*g));
		if (g == NULL) {
			r = -ENOMEM;
			goto dropped;
		}
		p->gauges = g;
		p->capgauges = cap;
	}
	i = lo;
	memmove(&p->gauges[i + 1], &p->gauges[i], (p->ngauges - i) * sizeof(p->gauges[0]));
	snprintf(p->gauges[i].name, sizeof(p->gauges[i].name), "%s", name);
	p->gauges[i].value = value;
	p->ngauges++;
	goto out;
dropped:
	p->gauges_dropped++;
	pt->gauges_dropped++;
out:
	return r;
}

int ptab_gauge(struct ptab *pt, struct ptab_proc *p, const char *name, double value)
{
	int r;

	pthread_mutex_lock(&pt->lock);
	r = ptab_gauge_locked(pt, p, name, value);
	pthread_mutex_unlock(&pt->lock);
	return r;
}

void ptab_conn_closed(struct ptab *pt, struct ptab_proc *p, unsigned agent, double now)
{
	unsigned ai = ptab_agent_index(agent);

	pthread_mutex_lock(&pt->lock);
	if (p->conns[ai] > 0)
		p->conns[ai]--;
	if (p->nconn > 0)
		p->nconn--;
	ptab_maybe_exited(pt, p, now);
	pthread_mutex_unlock(&pt->lock);
}

size_t ptab_expire(struct ptab *pt, double now)
{
	struct ptab_proc *p, *next;
	size_t n = 0;

	pthread_mutex_lock(&pt->lock);
	for (p = pt->head; p != NULL; p = next) {
		next = p->next;
		if (p->state == PTAB_EXITED && now - p->exited_at >= pt->lim.exited_ttl) {
			ptab_remove(pt, p);
			n++;
		}
	}
	pthread_mutex_unlock(&pt->lock);
	return n;
}

static int ptab_view_cmp(const void *a, const void *b)
{
	const struct ptab_view *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	if (x->start_time != y->start_time)
		return x->start_time < y->start_time ? -1 : 1;
	return 0;
}

#define ALIGN8(n) (((n) + 7) & ~(size_t)7)

/* What a snapshot holds: its views, gauges and bytes of strings. */
struct ptab_snap_size {
	size_t nviews, ngauges, nchars;
};

/* Counts what a snapshot of the table holds, reading the shared regions
 * on the way: their figures are exact at this instant. Lock held. */
static void ptab_snap_measure(struct ptab *pt, struct ptab_snap_size *sz)
{
	memset(sz, 0, sizeof(*sz));
	for (struct ptab_proc *p = pt->head; p != NULL; p = p->next) {
		if (p->state == PTAB_STALE)
			continue;
		if (p->watched)
			ptab_read_regions(pt, p);
		sz->nviews++;
		sz->ngauges += p->ngauges;
		sz->nchars += strlen(p->comm) + strlen(p->exe) + 2;
		for (unsigned i = 0; i < p->ngauges; i++)
			sz->nchars += strlen(p->gauges[i].name) + 1;
	}
	for (size_t i = 0; i < PTAB_RET_BUCKETS; i++)
		for (struct ptab_ret *r = pt->ret[i]; r != NULL; r = r->next)
			sz->nchars += strlen(r->comm) + 1;
}

/* Where a snapshot's parts go in its one allocation. */
struct ptab_snap_parts {
	struct ptab_retired *ret;
	struct ptab_gauge *g;
	char *c;                        /* strings */
};

/* One allocation for a snapshot of sz, its arrays laid out in parts; NULL
 * without memory. */
static struct ptab_snap *ptab_snap_alloc(size_t nret, const struct ptab_snap_size *sz,
    struct ptab_snap_parts *parts)
{
	size_t off_views, off_ret, off_gauges, off_chars;
	struct ptab_snap *snap;

	off_views = ALIGN8(sizeof(*snap));
	off_ret = off_views + ALIGN8(sz->nviews * sizeof(struct ptab_view));
	off_gauges = off_ret + ALIGN8(nret * sizeof(struct ptab_retired));
	off_chars = off_gauges + sz->ngauges * sizeof(struct ptab_gauge);
	snap = malloc(off_chars + sz->nchars);
	if (snap == NULL)
		return NULL;
	memset(snap, 0, sizeof(*snap));
	snap->procs = (struct ptab_view *)(void *)((char *)snap + off_views);
	parts->ret = (struct ptab_retired *)(void *)((char *)snap + off_ret);
	snap->retired = parts->ret;
	parts->g = (struct ptab_gauge *)(void *)((char *)snap + off_gauges);
	parts->c = (char *)snap + off_chars;
	return snap;
}

/* Copies s into the snapshot's strings at *c; returns the copy. */
static const char *ptab_snap_str(char **c, const char *s)
{
	size_t len = strlen(s) + 1;
	char *copy = memcpy(*c, s, len);

	*c += len;
	return copy;
}

/* Entry p as seen at `now`, into v; its strings and gauges go to parts. */
static void ptab_snap_view(struct ptab_view *v, const struct ptab_proc *p, double now,
    struct ptab_snap_parts *parts)
{
	memset(v, 0, sizeof(*v));
	v->pid = p->pid;
	v->start_time = p->start_time;
	v->uid = p->uid;
	v->comm = ptab_snap_str(&parts->c, p->comm);
	v->exe = ptab_snap_str(&parts->c, p->exe);
	v->agents = p->agents;
	v->connections = p->nconn;
	v->exited = p->state == PTAB_EXITED;
	v->exited_seconds = v->exited ? now - p->exited_at : 0;
	v->exit = p->exit;
	v->size_source = ptab_size_source_name(p->size_source);
	v->age_seconds = now - p->created;
	v->hello_stack_limit = p->hello_stack_limit;
	v->samples = p->samples;
	v->have = p->have;
	v->have_threads = p->have_threads;
	v->s = p->s;
	v->ngauges = p->ngauges;
	v->gauges = parts->g;
	for (unsigned i = 0; i < p->ngauges; i++, parts->g++) {
		parts->g->name = ptab_snap_str(&parts->c, p->gauges[i].name);
		parts->g->value = p->gauges[i].value;
	}
	v->gauges_dropped = p->gauges_dropped;
	v->have_procfs = p->have_procfs;
	v->pfs = p->pfs;
	v->stack_source = p->stack_source;
}

/* The retired counters by command, into the snapshot. Lock held. */
static void ptab_snap_retired(const struct ptab *pt, struct ptab_snap *snap,
    struct ptab_snap_parts *parts)
{
	for (size_t i = 0; i < PTAB_RET_BUCKETS; i++) {
		for (const struct ptab_ret *r = pt->ret[i]; r != NULL; r = r->next) {
			struct ptab_retired *o = &parts->ret[snap->nretired++];

			o->comm = ptab_snap_str(&parts->c, r->comm);
			o->have = r->have;
			o->s = r->s;
		}
	}
}

int ptab_snapshot(struct ptab *pt, double now, struct ptab_snap **out)
{
	struct ptab_snap_parts parts;
	struct ptab_snap_size sz;
	struct ptab_snap *snap;

	pthread_mutex_lock(&pt->lock);
	ptab_snap_measure(pt, &sz);
	snap = ptab_snap_alloc(pt->nret, &sz, &parts);
	if (snap == NULL) {
		pthread_mutex_unlock(&pt->lock);
		return -ENOMEM;
	}
	snap->processes_refused = pt->refused;
	snap->gauges_dropped = pt->gauges_dropped;
	snap->limits = pt->lim;
	for (const struct ptab_proc *p = pt->head; p != NULL; p = p->next) {
		if (p->state == PTAB_STALE)
			continue;
		ptab_snap_view(&snap->procs[snap->n++], p, now, &parts);
		if (p->state != PTAB_EXITED)
			snap->live++;
	}
	ptab_snap_retired(pt, snap, &parts);
	pthread_mutex_unlock(&pt->lock);

	qsort(snap->procs, snap->n, sizeof(snap->procs[0]), ptab_view_cmp);
	*out = snap;
	return 0;
}

void ptab_snap_free(struct ptab_snap *snap)
{
	free(snap);
}

int ptab_live_keys(struct ptab *pt, struct ptab_key **out, size_t *n)
{
	struct ptab_key *k;
	struct ptab_proc *p;
	size_t i = 0;

	pthread_mutex_lock(&pt->lock);
	k = malloc((pt->n ? pt->n : 1) * sizeof(*k));
	if (k == NULL) {
		pthread_mutex_unlock(&pt->lock);
		return -ENOMEM;
	}
	for (p = pt->head; p != NULL; p = p->next) {
		if (p->state != PTAB_LIVE)
			continue;
		k[i].pid = p->pid;
		k[i].start_time = p->start_time;
		i++;
	}
	pthread_mutex_unlock(&pt->lock);
	*out = k;
	*n = i;
	return 0;
}

static struct ptab_proc *ptab_find(struct ptab *pt, const struct ptab_key *key)
{
	struct ptab_proc *p;

	for (p = pt->buckets[ptab_hash(pt, key->pid)]; p != NULL; p = p->hnext)
		if (p->pid == key->pid && p->start_time == key->start_time &&
		    p->state != PTAB_STALE)
			return p;
	return NULL;
}

void ptab_set_procfs(struct ptab *pt, const struct ptab_key *keys,
    const struct procfs_status *st, const int *ok, size_t n)
{
	pthread_mutex_lock(&pt->lock);
	for (size_t i = 0; i < n; i++) {
		struct ptab_proc *p;

		if (!ok[i])
			continue;
		p = ptab_find(pt, &keys[i]);
		/* An entry that exited while /proc was read keeps its final
		 * figures from before. */
		if (p == NULL || p->state != PTAB_LIVE)
			continue;
		p->pfs = st[i];
		p->have_procfs = 1;
	}
	pthread_mutex_unlock(&pt->lock);
}

int ptab_stack_ranges(struct ptab *pt, const struct ptab_key *keys, size_t n,
    struct ptab_srange **out, size_t *nout)
{
	struct region_stack *st = NULL;
	struct ptab_srange *o = NULL;
	size_t stcap = 0, no = 0, ocap = 0;
	int err = 0;

	pthread_mutex_lock(&pt->lock);
	for (size_t i = 0; i < n; i++) {
		struct ptab_proc *p = ptab_find(pt, &keys[i]);
		struct ptab_rg *rg;
		struct proto_sample s;
		size_t ns;

		if (p == NULL || p->state != PTAB_LIVE || p->rg[PROTO_AGENT_C].base == NULL)
			continue;
		rg = &p->rg[PROTO_AGENT_C];
		if (rg->hdr.nslots > stcap) {
			struct region_stack *g = realloc(st, rg->hdr.nslots * sizeof(*st));

			if (g == NULL) {
				err = -ENOMEM;
				break;
			}
			st = g;
			stcap = rg->hdr.nslots;
		}
		ns = region_read(rg->base, &rg->hdr, &s, NULL, st, stcap);
		if (ns > stcap)
			ns = stcap;
		for (size_t j = 0; j < ns; j++) {
			if (!st[j].live)
				continue;
			if (no == ocap) {
				size_t cap = ocap ? 2 * ocap : 64;
				struct ptab_srange *g = realloc(o, cap * sizeof(*o));

				if (g == NULL) {
					err = -ENOMEM;
					goto out;
				}
				o = g;
				ocap = cap;
			}
			o[no].key = i;
			o[no].instance = rg->hdr.instance;
			o[no].tid = st[j].tid;
			o[no].is_main = st[j].is_main;
			o[no].top = st[j].top;
			o[no].size = st[j].size;
			no++;
		}
	}
out:
	pthread_mutex_unlock(&pt->lock);
	free(st);
	if (err < 0) {
		free(o);
		return err;
	}
	*out = o;
	*nout = no;
	return 0;
}

void ptab_set_stack_depths(struct ptab *pt, const struct ptab_key *keys,
    const struct ptab_sdepth *d, size_t n)
{
	pthread_mutex_lock(&pt->lock);
	for (size_t i = 0; i < n; i++) {
		struct ptab_proc *p;

		if (!d[i].set)
			continue;
		p = ptab_find(pt, &keys[i]);
		if (p == NULL || p->state != PTAB_LIVE)
			continue;
		/* Ranges of an image the process has left by exec. */
		if (d[i].instance != 0 && p->rg[PROTO_AGENT_C].base != NULL &&
		    p->rg[PROTO_AGENT_C].hdr.instance != d[i].instance)
			continue;
		if (d[i].peak > p->res_peak)
			p->res_peak = d[i].peak;
		if (d[i].main_peak > p->res_main_peak)
			p->res_main_peak = d[i].main_peak;
		p->stack_source = d[i].source;
		ptab_stack_apply(p);
	}
	pthread_mutex_unlock(&pt->lock);
}

int ptab_history(struct ptab *pt, pid_t pid, struct ptab_hist **out)
{
	struct ptab_proc *p, *found = NULL;
	struct ptab_hist *h;
	struct ptab_hpoint *pts;
	size_t off_pts, off_chars, clen;

	pthread_mutex_lock(&pt->lock);
	/* The newest entry of the pid that is not hidden. */
	for (p = pt->buckets[ptab_hash(pt, pid)]; p != NULL; p = p->hnext)
		if (p->pid == pid && p->state != PTAB_STALE &&
		    (found == NULL || p->created > found->created))
			found = p;
	if (found == NULL) {
		pthread_mutex_unlock(&pt->lock);
		return -ENOENT;
	}
	p = found;
	/* The newest point is read now from shared memory, as a scrape is. */
	if (p->watched && history_len(&p->hist) > 0) {
		ptab_read_regions(pt, p);
		ptab_hist_point(pt, p, history_newest(&p->hist));
	}
	clen = strlen(p->comm) + 1;
	off_pts = ALIGN8(sizeof(*h));
	off_chars = off_pts + (size_t)history_len(&p->hist) * sizeof(*pts);
	h = malloc(off_chars + clen);
	if (h == NULL) {
		pthread_mutex_unlock(&pt->lock);
		return -ENOMEM;
	}
	pts = (struct ptab_hpoint *)(void *)((char *)h + off_pts);
	h->pid = p->pid;
	h->start_time = p->start_time;
	h->comm = memcpy((char *)h + off_chars, p->comm, clen);
	h->exited = p->state == PTAB_EXITED;
	h->n = history_len(&p->hist);
	h->points = pts;
	history_copy(&p->hist, pts);
	pthread_mutex_unlock(&pt->lock);
	*out = h;
	return 0;
}

size_t ptab_memory(struct ptab *pt)
{
	struct ptab_proc *p;
	size_t m;

	pthread_mutex_lock(&pt->lock);
	m = sizeof(*pt) + pt->nbuckets * sizeof(pt->buckets[0]) + pt->chars +
	    pt->n * sizeof(struct ptab_proc) + pt->nret * sizeof(struct ptab_ret);
	for (p = pt->head; p != NULL; p = p->next)
		m += p->capgauges * sizeof(struct ptab_gslot) + history_memory(&p->hist);
	pthread_mutex_unlock(&pt->lock);
	return m;
}

void ptab_counts(struct ptab *pt, size_t *tracked, size_t *live)
{
	struct ptab_proc *p;
	size_t t = 0, l = 0;

	pthread_mutex_lock(&pt->lock);
	for (p = pt->head; p != NULL; p = p->next) {
		if (p->state == PTAB_STALE)
			continue;
		t++;
		if (p->state == PTAB_LIVE)
			l++;
	}
	pthread_mutex_unlock(&pt->lock);
	*tracked = t;
	*live = l;
}

/* ---- heap profiles ---- */

/* The newest entry of pid that is not hidden, or NULL. Lock held. */
static struct ptab_proc *ptab_newest(struct ptab *pt, pid_t pid)
{
	struct ptab_proc *found = NULL;

	for (struct ptab_proc *p = pt->buckets[ptab_hash(pt, pid)]; p != NULL; p = p->hnext)
		if (p->pid == pid && p->state != PTAB_STALE &&
		    (found == NULL || p->created > found->created))
			found = p;
	return found;
}

/* The profile of entry p into *out: read now from its region while it
 * runs, else the copy kept at its exit. Lock held. */
static int ptab_profile_get(struct ptab_proc *p, struct ptab_profile *out)
{
	int r = -ENOENT;

	memset(out, 0, sizeof(*out));
	out->pid = p->pid;
	out->start_time = p->start_time;
	out->exited = p->state == PTAB_EXITED;
	if (p->watched && p->rg[PROTO_AGENT_C].base != NULL)
		out->hp = ptab_profile_read(p, &r);
	else if (p->prof != NULL)
		out->hp = heapprof_ref(p->prof);
	if (out->hp == NULL)
		return r == -ENOMEM ? -ENOMEM : r == -EINVAL ? -EINVAL : -ENODATA;
	if (p->syms == NULL)
		p->syms = profsym_new();
	out->syms = profsym_ref(p->syms);
	out->comm = strdup(p->comm);
	out->exe = strdup(p->exe);
	if (out->syms == NULL || out->comm == NULL || out->exe == NULL) {
		ptab_profile_release(out);
		return -ENOMEM;
	}
	return 0;
}

int ptab_profile(struct ptab *pt, pid_t pid, struct ptab_profile *out)
{
	struct ptab_proc *p;
	int r;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&pt->lock);
	p = ptab_newest(pt, pid);
	r = p != NULL ? ptab_profile_get(p, out) : -ENOENT;
	pthread_mutex_unlock(&pt->lock);
	return r;
}

int ptab_profiles(struct ptab *pt, struct ptab_profile **out, size_t *n)
{
	struct ptab_profile *v;
	size_t i = 0;
	int r = 0;

	pthread_mutex_lock(&pt->lock);
	v = calloc(pt->n ? pt->n : 1, sizeof(*v));
	for (struct ptab_proc *p = pt->head; v != NULL && p != NULL; p = p->next) {
		if (p->state == PTAB_STALE)
			continue;
		r = ptab_profile_get(p, &v[i]);
		if (r == -ENOMEM)
			break;
		if (r == 0)
			i++;
		r = 0;
	}
	pthread_mutex_unlock(&pt->lock);
	if (v == NULL || r < 0) {
		ptab_profiles_free(v, i);
		return -ENOMEM;
	}
	*out = v;
	*n = i;
	return 0;
}

void ptab_profile_release(struct ptab_profile *pp)
{
	heapprof_unref(pp->hp);
	profsym_unref(pp->syms);
	free(pp->comm);
	free(pp->exe);
	memset(pp, 0, sizeof(*pp));
}

void ptab_profiles_free(struct ptab_profile *v, size_t n)
{
	for (size_t i = 0; v != NULL && i < n; i++)
		ptab_profile_release(&v[i]);
	free(v);
}

void ptab_profile_memory(struct ptab *pt, size_t *bytes, size_t *kept)
{
	size_t b = 0, k = 0;

	pthread_mutex_lock(&pt->lock);
	for (struct ptab_proc *p = pt->head; p != NULL; p = p->next) {
		if (p->prof != NULL) {
			b += p->prof->bytes;
			k++;
		}
		if (p->syms != NULL)
			b += profsym_memory(p->syms);
	}
	pthread_mutex_unlock(&pt->lock);
	*bytes = b;
	*kept = k;
}
