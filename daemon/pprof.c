/* pprof.c: a pprof profile built in memory, then encoded with protobuf-c (daemon/profile.proto) and gzipped with zlib. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define ZLIB_CONST
#include <zlib.h>

#include "pprof.h"
#include "profile.pb-c.h"

typedef Perftools__Profiles__Profile PbProfile;
typedef Perftools__Profiles__ValueType PbValueType;
typedef Perftools__Profiles__Sample PbSample;
typedef Perftools__Profiles__Mapping PbMapping;
typedef Perftools__Profiles__Location PbLocation;
typedef Perftools__Profiles__Line PbLine;
typedef Perftools__Profiles__Function PbFunction;

/*
 * Ids 0..n-1 of one table by the hash of their key: open addressing, a
 * slot holds id + 1 (0 is empty), and the slots are at most half full.
 * hash[id] is kept to compare cheaply and to rehash.
 */
struct idx {
	uint32_t *slot;
	size_t mask;                    /* slots - 1 */
	uint64_t *hash;
	size_t n, hcap;
};

/* A location as kept: its lines are line[line0, line0 + nline). */
struct ploc {
	uint64_t mapping_id, address;
	uint32_t line0, nline;
};

/* A sample as kept: its location ids are frame[frame0, frame0 + nframe),
 * its values val[i * ntypes, (i + 1) * ntypes). */
struct psample {
	uint32_t frame0, nframe;
};

struct pprof {
	char **str;                     /* owned copies; str[0] is "" */
	size_t nstr, capstr, strbytes;
	struct idx stri;

	PbValueType type[PPROF_MAX_TYPES];
	size_t ntypes;
	PbValueType period_type;
	int64_t period, time_nanos, duration_nanos;

	PbMapping *map;                 /* map[i].id == i + 1 */
	size_t nmap, capmap;

	PbFunction *fn;                 /* fn[i].id == i + 1 */
	size_t nfn, capfn;
	struct idx fni;

	struct ploc *loc;               /* location id i + 1 */
	size_t nloc, caploc;
	struct idx loci;
	PbLine *line;
	size_t nline, capline;

	struct psample *smp;
	size_t nsmp, capsmp;
	uint32_t *frame;                /* location ids */
	size_t nframe, capframe;
	int64_t *val;
	size_t nval, capval;
};

#define FNV_SEED 14695981039346656037ull

static uint64_t fnv(uint64_t h, const void *data, size_t n)
{
	const unsigned char *b = data;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ull;
	return h;
}

static uint64_t fnv_u64(uint64_t h, uint64_t v)
{
	return fnv(h, &v, sizeof(v));
}

/* arr with room for need elements of size elem, doubling its capacity
 * *cap; when out of memory, arr itself with *cap unchanged. */
static void *grown(void *arr, size_t *cap, size_t need, size_t elem)
{
	size_t ncap = *cap != 0 ? *cap : 16;
	void *na;

	if (need <= *cap)
		return arr;
	while (ncap < need)
		ncap *= 2;
	na = realloc(arr, ncap * elem);
	if (na == NULL)
		return arr;
	*cap = ncap;
	return na;
}

/* Makes room for n elements in the array a of capacity cap (lvalues);
 * evaluates to 0 or -ENOMEM. */
#define RESERVE(a, cap, n) \
	((a) = grown((a), &(cap), (n), sizeof(*(a))), (cap) >= (n) ? 0 : -ENOMEM)

static int idx_init(struct idx *x)
{
	memset(x, 0, sizeof(*x));
	x->slot = calloc(64, sizeof(*x->slot));
	if (x->slot == NULL)
		return -ENOMEM;
	x->mask = 63;
	return 0;
}

static void idx_free(struct idx *x)
{
	free(x->slot);
	free(x->hash);
}

typedef int (*idx_eq_fn)(const struct pprof *p, uint32_t id, const void *key);

/* The slot of the id whose key equals key (hash h), or the empty slot
 * where it would go. */
static uint32_t *idx_slot(const struct idx *x, uint64_t h, idx_eq_fn eq, const struct pprof *p,
    const void *key)
{
	for (size_t i = h & x->mask;; i = (i + 1) & x->mask) {
		uint32_t s = x->slot[i];

		if (s == 0 || (x->hash[s - 1] == h && eq(p, s - 1, key)))
			return &x->slot[i];
	}
}

/* The id whose key equals key (hash h), or -1. */
static int idx_find(const struct idx *x, uint64_t h, idx_eq_fn eq, const struct pprof *p,
    const void *key)
{
	uint32_t s = *idx_slot(x, h, eq, p, key);

	return s != 0 ? (int)s - 1 : -1;
}

/* Makes room for one more id, so that idx_add() cannot fail. Returns 0
 * or -ENOMEM. */
static int idx_reserve(struct idx *x)
{
	size_t nslots = (x->mask + 1) * 2;
	uint32_t *ns;

	if (RESERVE(x->hash, x->hcap, x->n + 1) < 0)
		return -ENOMEM;
	if ((x->n + 1) * 2 <= x->mask + 1)
		return 0;
	ns = calloc(nslots, sizeof(*ns));
	if (ns == NULL)
		return -ENOMEM;
	for (size_t id = 0; id < x->n; id++) {
		size_t i = x->hash[id] & (nslots - 1);

		while (ns[i] != 0)
			i = (i + 1) & (nslots - 1);
		ns[i] = (uint32_t)id + 1;
	}
	free(x->slot);
	x->slot = ns;
	x->mask = nslots - 1;
	return 0;
}

/* Records the next id, x->n, under hash h, after idx_reserve() and after
 * idx_find() found no equal key. */
static void idx_add(struct idx *x, uint64_t h)
{
	size_t i = h & x->mask;

	while (x->slot[i] != 0)
		i = (i + 1) & x->mask;
	x->slot[i] = (uint32_t)x->n + 1;
	x->hash[x->n++] = h;
}

struct pprof *pprof_new(void)
{
	struct pprof *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	if (idx_init(&p->stri) < 0 || idx_init(&p->fni) < 0 || idx_init(&p->loci) < 0)
		goto fail;
	perftools__profiles__value_type__init(&p->period_type);
	if (pprof_string(p, "") != 0)
		goto fail;
	return p;
fail:
	pprof_free(p);
	return NULL;
}

void pprof_free(struct pprof *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->nstr; i++)
		free(p->str[i]);
	free(p->str);
	idx_free(&p->stri);
	idx_free(&p->fni);
	idx_free(&p->loci);
	free(p->map);
	free(p->fn);
	free(p->loc);
	free(p->line);
	free(p->smp);
	free(p->frame);
	free(p->val);
	free(p);
}

static int str_eq(const struct pprof *p, uint32_t id, const void *key)
{
	return strcmp(p->str[id], key) == 0;
}

int pprof_string(struct pprof *p, const char *s)
{
	size_t len;
	uint64_t h;
	char *copy;
	int id;

	if (s == NULL)
		return -EINVAL;
	len = strnlen(s, PPROF_MAX_STRLEN + 1);
	if (len > PPROF_MAX_STRLEN)
		return -E2BIG;
	h = fnv(FNV_SEED, s, len);
	id = idx_find(&p->stri, h, str_eq, p, s);
	if (id >= 0)
		return id;
	if (p->nstr >= PPROF_MAX_STRINGS || p->strbytes + len + 1 > PPROF_MAX_STRBYTES)
		return -E2BIG;
	if (RESERVE(p->str, p->capstr, p->nstr + 1) < 0 || idx_reserve(&p->stri) < 0)
		return -ENOMEM;
	copy = malloc(len + 1);
	if (copy == NULL)
		return -ENOMEM;
	memcpy(copy, s, len + 1);
	p->str[p->nstr] = copy;
	p->strbytes += len + 1;
	idx_add(&p->stri, h);
	return (int)p->nstr++;
}

/* pprof_string(), with NULL taken as "" (unknown). */
static int opt_string(struct pprof *p, const char *s)
{
	return s != NULL ? pprof_string(p, s) : 0;
}

/* Sets *vt to the strings type and unit. Returns 0 or a negative errno. */
static int value_type(struct pprof *p, PbValueType *vt, const char *type, const char *unit)
{
	int t = pprof_string(p, type), u;

	if (t < 0)
		return t;
	u = pprof_string(p, unit);
	if (u < 0)
		return u;
	perftools__profiles__value_type__init(vt);
	vt->type = t;
	vt->unit = u;
	return 0;
}

int pprof_sample_type(struct pprof *p, const char *type, const char *unit)
{
	int r;

	if (p->nsmp > 0)
		return -EINVAL;
	if (p->ntypes >= PPROF_MAX_TYPES)
		return -E2BIG;
	r = value_type(p, &p->type[p->ntypes], type, unit);
	if (r < 0)
		return r;
	p->ntypes++;
	return 0;
}

int pprof_period(struct pprof *p, const char *type, const char *unit, int64_t period)
{
	int r = value_type(p, &p->period_type, type, unit);

	if (r < 0)
		return r;
	p->period = period;
	return 0;
}

void pprof_time(struct pprof *p, int64_t time_nanos, int64_t duration_nanos)
{
	p->time_nanos = time_nanos;
	p->duration_nanos = duration_nanos;
}

int pprof_mapping(struct pprof *p, const struct pprof_map *m)
{
	PbMapping *pm;
	int file, build;

	if (p->nmap >= PPROF_MAX_MAPPINGS)
		return -E2BIG;
	file = opt_string(p, m->filename);
	if (file < 0)
		return file;
	build = opt_string(p, m->build_id);
	if (build < 0)
		return build;
	if (RESERVE(p->map, p->capmap, p->nmap + 1) < 0)
		return -ENOMEM;
	pm = &p->map[p->nmap];
	perftools__profiles__mapping__init(pm);
	pm->id = p->nmap + 1;
	pm->memory_start = m->start;
	pm->memory_limit = m->limit;
	pm->file_offset = m->offset;
	pm->filename = file;
	pm->build_id = build;
	pm->has_functions = (m->flags & PPROF_HAS_FUNCTIONS) != 0;
	pm->has_filenames = (m->flags & PPROF_HAS_FILENAMES) != 0;
	pm->has_line_numbers = (m->flags & PPROF_HAS_LINE_NUMBERS) != 0;
	pm->has_inline_frames = (m->flags & PPROF_HAS_INLINE_FRAMES) != 0;
	return (int)++p->nmap;
}

static int fn_eq(const struct pprof *p, uint32_t id, const void *key)
{
	const PbFunction *a = &p->fn[id], *b = key;

	return a->name == b->name && a->system_name == b->system_name &&
	    a->filename == b->filename && a->start_line == b->start_line;
}

int pprof_function(struct pprof *p, const char *name, const char *system_name,
    const char *filename, int64_t start_line)
{
	PbFunction f = PERFTOOLS__PROFILES__FUNCTION__INIT;
	uint64_t h;
	int id;

	if (name == NULL)
		return -EINVAL;
	if ((id = pprof_string(p, name)) < 0)
		return id;
	f.name = id;
	if ((id = opt_string(p, system_name)) < 0)
		return id;
	f.system_name = id;
	if ((id = opt_string(p, filename)) < 0)
		return id;
	f.filename = id;
	f.start_line = start_line;
	h = fnv_u64(fnv_u64(fnv_u64(fnv_u64(FNV_SEED, (uint64_t)f.name), (uint64_t)f.system_name),
	    (uint64_t)f.filename), (uint64_t)f.start_line);
	id = idx_find(&p->fni, h, fn_eq, p, &f);
	if (id >= 0)
		return id + 1;
	if (p->nfn >= PPROF_MAX_FUNCTIONS)
		return -E2BIG;
	if (RESERVE(p->fn, p->capfn, p->nfn + 1) < 0 || idx_reserve(&p->fni) < 0)
		return -ENOMEM;
	f.id = p->nfn + 1;
	p->fn[p->nfn] = f;
	idx_add(&p->fni, h);
	return (int)++p->nfn;
}

/* A location being looked up: the caller's lines, not yet kept. */
struct loc_key {
	uint64_t mapping_id, address;
	const struct pprof_line *lines;
	size_t n;
};

static int loc_eq(const struct pprof *p, uint32_t id, const void *key)
{
	const struct ploc *l = &p->loc[id];
	const struct loc_key *k = key;

	if (l->mapping_id != k->mapping_id || l->address != k->address || l->nline != k->n)
		return 0;
	for (size_t i = 0; i < k->n; i++) {
		const PbLine *pl = &p->line[l->line0 + i];

		if (pl->function_id != (uint64_t)k->lines[i].function_id ||
		    pl->line != k->lines[i].line)
			return 0;
	}
	return 1;
}

/* Checks a location's ids and sizes; its hash in *h. Returns 0 or a
 * negative errno. */
static int loc_check(const struct pprof *p, const struct loc_key *k, uint64_t *h)
{
	if (k->mapping_id > p->nmap || (k->n > 0 && k->lines == NULL))
		return -EINVAL;
	if (k->n > PPROF_MAX_LINES)
		return -E2BIG;
	*h = fnv_u64(fnv_u64(FNV_SEED, k->mapping_id), k->address);
	for (size_t i = 0; i < k->n; i++) {
		int fid = k->lines[i].function_id;

		if (fid < 1 || (size_t)fid > p->nfn)
			return -EINVAL;
		*h = fnv_u64(fnv_u64(*h, (uint64_t)fid), (uint64_t)k->lines[i].line);
	}
	return 0;
}

int pprof_location(struct pprof *p, int mapping_id, uint64_t address,
    const struct pprof_line *lines, size_t n)
{
	struct loc_key k = { (uint64_t)mapping_id, address, lines, n };
	struct ploc *l;
	uint64_t h;
	int r;

	if (mapping_id < 0)
		return -EINVAL;
	if ((r = loc_check(p, &k, &h)) < 0)
		return r;
	r = idx_find(&p->loci, h, loc_eq, p, &k);
	if (r >= 0)
		return r + 1;
	if (p->nloc >= PPROF_MAX_LOCATIONS || p->nline + n > PPROF_MAX_ALL_LINES)
		return -E2BIG;
	if (RESERVE(p->loc, p->caploc, p->nloc + 1) < 0 ||
	    RESERVE(p->line, p->capline, p->nline + n) < 0 || idx_reserve(&p->loci) < 0)
		return -ENOMEM;
	l = &p->loc[p->nloc];
	l->mapping_id = k.mapping_id;
	l->address = address;
	l->line0 = (uint32_t)p->nline;
	l->nline = (uint32_t)n;
	for (size_t i = 0; i < n; i++) {
		PbLine *pl = &p->line[p->nline++];

		perftools__profiles__line__init(pl);
		pl->function_id = (uint64_t)lines[i].function_id;
		pl->line = lines[i].line;
	}
	idx_add(&p->loci, h);
	return (int)++p->nloc;
}

int pprof_sample(struct pprof *p, const int *location_ids, size_t n, const int64_t *values)
{
	struct psample *s;

	if (p->ntypes == 0 || values == NULL || (n > 0 && location_ids == NULL))
		return -EINVAL;
	if (n > PPROF_MAX_DEPTH || p->nsmp >= PPROF_MAX_SAMPLES ||
	    p->nframe + n > PPROF_MAX_ALL_FRAMES)
		return -E2BIG;
	for (size_t i = 0; i < n; i++)
		if (location_ids[i] < 1 || (size_t)location_ids[i] > p->nloc)
			return -EINVAL;
	if (RESERVE(p->smp, p->capsmp, p->nsmp + 1) < 0 ||
	    RESERVE(p->frame, p->capframe, p->nframe + n) < 0 ||
	    RESERVE(p->val, p->capval, p->nval + p->ntypes) < 0)
		return -ENOMEM;
	s = &p->smp[p->nsmp++];
	s->frame0 = (uint32_t)p->nframe;
	s->nframe = (uint32_t)n;
	for (size_t i = 0; i < n; i++)
		p->frame[p->nframe++] = (uint32_t)location_ids[i];
	memcpy(&p->val[p->nval], values, p->ntypes * sizeof(*values));
	p->nval += p->ntypes;
	return 0;
}

/*
 * The message protobuf-c packs: its arrays of pointers and the samples
 * and locations with their arrays fixed, over the kept tables of p
 * (strings, values, mappings, functions and lines are pointed to, not
 * copied; protobuf-c's pack only reads them).
 */
struct msg {
	PbProfile prof;
	PbValueType type[PPROF_MAX_TYPES], *typep[PPROF_MAX_TYPES], period_type;
	PbSample *smp, **smpp;
	uint64_t *frame;
	PbMapping **mapp;
	PbLocation *loc, **locp;
	PbLine **linep;
	PbFunction **fnp;
};

static void msg_free(struct msg *m)
{
	free(m->smp);
	free(m->smpp);
	free(m->frame);
	free(m->mapp);
	free(m->loc);
	free(m->locp);
	free(m->linep);
	free(m->fnp);
}

/* Array of n elements of size elem; never NULL when n is 0 (1 byte). */
static void *alloc_n(size_t n, size_t elem)
{
	return malloc(n > 0 ? n * elem : 1);
}

static int msg_alloc(struct msg *m, const struct pprof *p)
{
	memset(m, 0, sizeof(*m));
	m->smp = alloc_n(p->nsmp, sizeof(*m->smp));
	m->smpp = alloc_n(p->nsmp, sizeof(*m->smpp));
	m->frame = alloc_n(p->nframe, sizeof(*m->frame));
	m->mapp = alloc_n(p->nmap, sizeof(*m->mapp));
	m->loc = alloc_n(p->nloc, sizeof(*m->loc));
	m->locp = alloc_n(p->nloc, sizeof(*m->locp));
	m->linep = alloc_n(p->nline, sizeof(*m->linep));
	m->fnp = alloc_n(p->nfn, sizeof(*m->fnp));
	if (m->smp == NULL || m->smpp == NULL || m->frame == NULL || m->mapp == NULL ||
	    m->loc == NULL || m->locp == NULL || m->linep == NULL || m->fnp == NULL) {
		msg_free(m);
		return -ENOMEM;
	}
	return 0;
}

static void msg_samples(struct msg *m, const struct pprof *p)
{
	for (size_t i = 0; i < p->nframe; i++)
		m->frame[i] = p->frame[i];
	for (size_t i = 0; i < p->nsmp; i++) {
		PbSample *s = &m->smp[i];

		perftools__profiles__sample__init(s);
		s->n_location_id = p->smp[i].nframe;
		s->location_id = m->frame + p->smp[i].frame0;
		s->n_value = p->ntypes;
		s->value = p->val + i * p->ntypes;
		m->smpp[i] = s;
	}
}

static void msg_locations(struct msg *m, const struct pprof *p)
{
	for (size_t i = 0; i < p->nline; i++)
		m->linep[i] = &p->line[i];
	for (size_t i = 0; i < p->nloc; i++) {
		PbLocation *l = &m->loc[i];

		perftools__profiles__location__init(l);
		l->id = i + 1;
		l->mapping_id = p->loc[i].mapping_id;
		l->address = p->loc[i].address;
		l->n_line = p->loc[i].nline;
		l->line = m->linep + p->loc[i].line0;
		m->locp[i] = l;
	}
}

/* Fills m->prof from p. Returns 0 or -ENOMEM; msg_free() m after a 0. */
static int msg_build(struct msg *m, const struct pprof *p)
{
	PbProfile *pr = &m->prof;

	if (msg_alloc(m, p) < 0)
		return -ENOMEM;
	perftools__profiles__profile__init(pr);
	for (size_t i = 0; i < p->ntypes; i++) {
		m->type[i] = p->type[i];
		m->typep[i] = &m->type[i];
	}
	for (size_t i = 0; i < p->nmap; i++)
		m->mapp[i] = &p->map[i];
	for (size_t i = 0; i < p->nfn; i++)
		m->fnp[i] = &p->fn[i];
	msg_samples(m, p);
	msg_locations(m, p);
	pr->n_sample_type = p->ntypes;
	pr->sample_type = m->typep;
	pr->n_sample = p->nsmp;
	pr->sample = m->smpp;
	pr->n_mapping = p->nmap;
	pr->mapping = m->mapp;
	pr->n_location = p->nloc;
	pr->location = m->locp;
	pr->n_function = p->nfn;
	pr->function = m->fnp;
	pr->n_string_table = p->nstr;
	pr->string_table = p->str;
	pr->time_nanos = p->time_nanos;
	pr->duration_nanos = p->duration_nanos;
	m->period_type = p->period_type;
	pr->period_type = &m->period_type;
	pr->period = p->period;
	return 0;
}

/* The gzip form of in[0, n) in a new buffer (*out, the caller's to
 * free(), *len bytes). Returns 0, -E2BIG past zlib's 4 GiB, -ENOMEM or
 * -EIO. */
static int gzip_buf(const unsigned char *in, size_t n, unsigned char **out, size_t *len)
{
	z_stream z;
	uLong bound;
	unsigned char *buf;
	int r;

	if (n > UINT_MAX / 2)
		return -E2BIG;
	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	bound = deflateBound(&z, (uLong)n);
	buf = malloc(bound);
	if (buf == NULL) {
		deflateEnd(&z);
		return -ENOMEM;
	}
	z.next_in = in;
	z.avail_in = (uInt)n;
	z.next_out = buf;
	z.avail_out = (uInt)bound;
	r = deflate(&z, Z_FINISH);
	deflateEnd(&z);
	if (r != Z_STREAM_END) {
		free(buf);
		return -EIO;
	}
	*out = buf;
	*len = z.total_out;
	return 0;
}

int pprof_encode(const struct pprof *p, int gzip, unsigned char **out, size_t *len)
{
	struct msg m;
	unsigned char *raw;
	size_t n;
	int r;

	if (msg_build(&m, p) < 0)
		return -ENOMEM;
	n = perftools__profiles__profile__get_packed_size(&m.prof);
	raw = malloc(n > 0 ? n : 1);
	if (raw == NULL) {
		msg_free(&m);
		return -ENOMEM;
	}
	perftools__profiles__profile__pack(&m.prof, raw);
	msg_free(&m);
	if (!gzip) {
		*out = raw;
		*len = n;
		return 0;
	}
	r = gzip_buf(raw, n, out, len);
	free(raw);
	return r;
}
