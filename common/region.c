/* region.c: checks and reads a shared region (region.h) without trusting a byte of it. */
#include "region.h"

#include <errno.h>
#include <string.h>

#include "proto.h"

_Static_assert(sizeof(struct region_hdr) <= REGION_HDR_SIZE, "header fits its page");
_Static_assert(sizeof(struct region_slot) % 64 == 0, "slots are whole cache lines");
_Static_assert(REGION_SLOT_OFF % 64 == 0, "slots start on a cache line");
_Static_assert(sizeof(struct region_gauge) == 144, "gauge layout");

/* A field the writer may change at any time, read once. */
#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

void region_hdr_init(struct region_hdr *h, unsigned agent, uint32_t nslots)
{
	h->magic = REGION_MAGIC;
	h->layout = REGION_LAYOUT;
	h->agent = agent;
	h->size = region_size_for(nslots);
	h->slot_off = REGION_SLOT_OFF;
	h->slot_size = sizeof(struct region_slot);
	h->nslots = nslots;
}

int region_check(const void *base, uint64_t len, struct region_hdr *hdr_out)
{
	const struct region_hdr *h = base;
	struct region_hdr c;
	uint64_t end;

	if (len < REGION_SLOT_OFF || len > REGION_MAX_SIZE)
		return -EINVAL;
	memcpy(&c, h, sizeof(c));
	if (c.magic != REGION_MAGIC || c.layout != REGION_LAYOUT || c.size != len)
		return -EINVAL;
	if (c.agent != PROTO_AGENT_C && c.agent != PROTO_AGENT_PYTHON)
		return -EPROTO;
	if (c.nslots > REGION_MAX_SLOTS)
		return -EINVAL;
	if (c.nslots > 0) {
		if (c.slot_off != REGION_SLOT_OFF || c.slot_size != sizeof(struct region_slot))
			return -EINVAL;
		end = (uint64_t)c.slot_off + (uint64_t)c.nslots * c.slot_size;
		if (end > len)
			return -EINVAL;
	}
	*hdr_out = c;
	return 0;
}

/* Bin b holds (2^b, 2^(b+1)] (bin 3 also 0..16) and bucket i holds
 * (16*4^(i-1), 16*4^i], so bins 0..3 -> 0, 4,5 -> 1, 6,7 -> 2, ... */
unsigned region_bin_bucket(unsigned b)
{
	unsigned i = b < 3 ? 0 : (b - 2) / 2;

	return i < PROTO_HIST_BUCKETS - 1 ? i : PROTO_HIST_BUCKETS - 1;
}

/* Deepest stack a slot shows, from the lowest stack pointer inside its
 * stack; a pointer outside it (a coroutine, a signal stack) shows nothing. */
static uint64_t region_slot_depth(const struct region_slot *sl, uint64_t *top, uint64_t *size)
{
	uint64_t low = LOAD(sl->stack_low), t = LOAD(sl->stack_top), z = LOAD(sl->stack_size);
	uint64_t prev = LOAD(sl->stack_peak_prev), d = 0;

	*top = t;
	*size = z;
	if (t != 0 && low <= t && (z == 0 || t - low <= z))
		d = t - low;
	return d > prev ? d : prev;
}

static void region_read_python(const struct region_hdr *m, struct proto_sample *s)
{
	s->threads = LOAD(m->threads);
	if (LOAD(m->py_set) == 0)
		return;
	s->flags |= PROTO_S_PYTHON;
	s->py_allocated_blocks = LOAD(m->py_allocated_blocks);
	s->py_recursion_limit = LOAD(m->py_recursion_limit);
	s->py_stack_depth_peak = LOAD(m->py_stack_depth_peak);
	for (int g = 0; g < 3; g++) {
		s->py_gc_collections[g] = LOAD(m->py_gc_collections[g]);
		s->py_gc_collected[g] = LOAD(m->py_gc_collected[g]);
		s->py_gc_uncollectable[g] = LOAD(m->py_gc_uncollectable[g]);
		s->py_gc_count[g] = LOAD(m->py_gc_count[g]);
	}
}

size_t region_read(const void *base, const struct region_hdr *hdr, struct proto_sample *s,
    uint64_t *peak_seen, struct region_stack *stacks, size_t nstacks)
{
	const struct region_hdr *m = base;      /* the live header, for changing fields */
	const struct region_slot *slots;
	uint64_t net = 0, alloc = 0, frees = 0, failed = 0, allocs = 0, peak;
	uint64_t stack_peak = 0, main_peak = 0, threads = 0;
	uint32_t used;
	size_t ns = 0;

	memset(s, 0, sizeof(*s));
	if (hdr->agent == PROTO_AGENT_PYTHON) {
		region_read_python(m, s);
		return 0;
	}
	slots = (const struct region_slot *)(const void *)((const char *)base + hdr->slot_off);
	used = LOAD(m->slots_used);
	if (used > hdr->nslots)
		used = hdr->nslots;
	for (uint32_t i = 0; i < used; i++) {
		const struct region_slot *sl = &slots[i];
		uint32_t state = LOAD(sl->state);
		uint64_t top, size, depth;

		if (state != REGION_SLOT_LIVE && state != REGION_SLOT_EXITED)
			continue;
		/* Unsigned sums: a hostile slot wraps them, never traps. */
		net += (uint64_t)LOAD(sl->net);
		alloc += LOAD(sl->alloc_bytes);
		frees += LOAD(sl->frees);
		failed += LOAD(sl->failed);
		for (unsigned b = 0; b < REGION_BINS; b++) {
			uint64_t n = LOAD(sl->bins[b]);

			allocs += n;
			s->hist_count[region_bin_bucket(b)] += n;
		}
		depth = region_slot_depth(sl, &top, &size);
		if (depth > stack_peak)
			stack_peak = depth;
		if (LOAD(sl->is_main) && depth > main_peak)
			main_peak = depth;
		if (state == REGION_SLOT_LIVE)
			threads++;
		if (stacks != NULL && ns < nstacks) {
			stacks[ns].tid = LOAD(sl->tid);
			stacks[ns].live = state == REGION_SLOT_LIVE;
			stacks[ns].is_main = LOAD(sl->is_main) != 0;
			stacks[ns].top = top;
			stacks[ns].size = size;
			stacks[ns].depth = depth;
		}
		ns++;
	}
	s->flags = PROTO_S_HEAP | PROTO_S_STACK | PROTO_S_HIST;
	s->threads = threads;
	s->heap_allocations = allocs;
	s->heap_frees = frees;
	s->heap_allocated_bytes = alloc;
	s->heap_failed = failed;
	s->hist_sum = alloc;
	/* Frees of blocks made before the agent loaded can outnumber. */
	s->heap_live_bytes = (int64_t)net > 0 && net <= alloc ? net : 0;
	s->heap_live_blocks = allocs > frees ? allocs - frees : 0;
	peak = LOAD(m->heap_peak);
	if (peak > alloc)
		peak = alloc;            /* never more than was ever handed out */
	if (s->heap_live_bytes > peak)
		peak = s->heap_live_bytes;
	if (peak_seen != NULL) {
		if (*peak_seen > peak)
			peak = *peak_seen;
		*peak_seen = peak;
	}
	s->heap_peak_bytes = peak;
	s->mmap_live_bytes = LOAD(m->mmap_live);
	s->stack_peak_bytes = stack_peak;
	s->stack_main_peak_bytes = main_peak;
	s->stack_limit_bytes = LOAD(m->stack_limit);
	return ns;
}

static int region_name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    c == '_' || c == '.' || c == ':' || c == '-';
}

int region_gauge(const void *base, const struct region_hdr *hdr, unsigned i, char *name,
    size_t nsize, double *value)
{
	const struct region_gauge *g;
	size_t n = 0;

	(void)hdr;
	if (i >= REGION_GAUGES || nsize < REGION_GAUGE_NAME_MAX + 1)
		return 0;
	g = (const struct region_gauge *)(const void *)((const char *)base + REGION_GAUGE_OFF) + i;
	if (__atomic_load_n(&g->state, __ATOMIC_ACQUIRE) != 1)
		return 0;
	memcpy(name, g->name, REGION_GAUGE_NAME_MAX);
	name[REGION_GAUGE_NAME_MAX] = '\0';
	while (n < REGION_GAUGE_NAME_MAX && name[n] != '\0') {
		if (!region_name_char((unsigned char)name[n]))
			return 0;
		n++;
	}
	if (n == 0)
		return 0;
	memcpy(value, &g->value, sizeof(*value));
	return 1;
}
