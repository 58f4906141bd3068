/* sites.c: a heap profile's call sites: stacks merged after symbolization, ranked, as JSON and as top leaf functions. */
#include "sites.h"


#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "demangle.h"
#include "heapprof.h"
#include "utf8.h"

/* The four estimates, in this order everywhere below. */
enum { V_ALLOC_OBJ, V_ALLOC_BYTES, V_INUSE_OBJ, V_INUSE_BYTES, V_N };

struct site {
	int64_t v[V_N];
	uint32_t stack;                 /* a stack of the site, to print its frames */
	uint64_t hash;                  /* of its symbolized frames */
};

/* a + b for figures >= 0, stopping at INT64_MAX. */
static int64_t sat_add(int64_t a, int64_t b)
{
	return b > INT64_MAX - a ? INT64_MAX : a + b;
}

static void sites_add(int64_t *d, const struct heapprof_stack *s)
{
	const int64_t add[V_N] = { s->alloc_objects, s->alloc_bytes, s->inuse_objects, s->inuse_bytes };

	for (int k = 0; k < V_N; k++)
		d[k] = sat_add(d[k], add[k]);
}

/* Objects in PROF_OBJ_ONE units, rounded to whole ones. */
static int64_t sites_objects(int64_t fixed)
{
	return fixed / PROF_OBJ_ONE + (fixed % PROF_OBJ_ONE >= PROF_OBJ_ONE / 2);
}

/* ---- what a stack reads as ---- */

static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
	return h;
}

/* Hash of stack i as symbolized: strings are the profsym's, one pointer
 * per distinct string, so their addresses stand for them. */
static uint64_t sites_hash(const struct ptab_profile *pp, const struct profsym_set *set,
    uint32_t i)
{
	const struct heapprof_stack *s = &pp->hp->stacks[i];
	const uint64_t *f = heapprof_frames(pp->hp, i);
	uint64_t h = i == 0 ? 1 : 2;    /* [other] is a site of its own */

	for (uint32_t k = 0; k < s->nframes; k++) {
		const struct profsym_addr *a = profsym_set_find(set, f[k]);

		if (a == NULL || a->nframes == 0) {
			h = mix(h, f[k]);
			continue;
		}
		for (unsigned j = 0; j < a->nframes; j++) {
			h = mix(h, (uint64_t)(uintptr_t)a->frames[j].function);
			h = mix(h, (uint64_t)(uintptr_t)a->frames[j].file);
			h = mix(h, a->frames[j].line);
		}
		h = mix(h, 0xff);
	}
	return h;
}

static int frame_eq(const struct profsym_addr *a, const struct profsym_addr *b, uint64_t x,
    uint64_t y)
{
	if (a == NULL || b == NULL || a->nframes == 0 || b->nframes == 0)
		return (a == NULL || a->nframes == 0) && (b == NULL || b->nframes == 0) && x == y;
	if (a->kind != b->kind || a->nframes != b->nframes)
		return 0;
	for (unsigned j = 0; j < a->nframes; j++)
		if (a->frames[j].function != b->frames[j].function ||
		    a->frames[j].file != b->frames[j].file || a->frames[j].line != b->frames[j].line)
			return 0;
	return 1;
}

/* Whether stacks i and j read the same. */
static int sites_same(const struct ptab_profile *pp, const struct profsym_set *set,
    uint32_t i, uint32_t j)
{
	const struct heapprof_stack *a = &pp->hp->stacks[i], *b = &pp->hp->stacks[j];
	const uint64_t *fa = heapprof_frames(pp->hp, i), *fb = heapprof_frames(pp->hp, j);

	if ((i == 0) != (j == 0) || a->nframes != b->nframes)
		return 0;
	for (uint32_t k = 0; k < a->nframes; k++)
		if (!frame_eq(profsym_set_find(set, fa[k]), profsym_set_find(set, fb[k]), fa[k], fb[k]))
			return 0;
	return 1;
}

static int site_hash_cmp(const void *x, const void *y)
{
	const struct site *a = x, *b = y;

	if (a->hash != b->hash)
		return a->hash < b->hash ? -1 : 1;
	return a->stack < b->stack ? -1 : a->stack > b->stack;
}

/* Every stack's site, merged: a new array in *out, *n of them. */
static int sites_merge(const struct ptab_profile *pp, const struct profsym_set *set,
    struct site **out, size_t *n)
{
	const struct heapprof *hp = pp->hp;
	struct site *v = calloc(hp->nstacks ? hp->nstacks : 1, sizeof(*v));
	size_t m = 0;

	if (v == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < hp->nstacks; i++) {
		v[i].stack = i;
		v[i].hash = sites_hash(pp, set, i);
		sites_add(v[i].v, &hp->stacks[i]);
	}
	qsort(v, hp->nstacks, sizeof(*v), site_hash_cmp);
	/* Equal hashes are neighbours; a run that does not read the same as
	 * its first (a collision) starts a site of its own. */
	for (uint32_t i = 0; i < hp->nstacks; i++) {
		if (m > 0 && v[m - 1].hash == v[i].hash && sites_same(pp, set, v[m - 1].stack, v[i].stack)) {
			for (int k = 0; k < V_N; k++)
				v[m - 1].v[k] = sat_add(v[m - 1].v[k], v[i].v[k]);
			continue;
		}
		v[m++] = v[i];
	}
	*out = v;
	*n = m;
	return 0;
}

/* qsort_r(): by the order's bytes, the largest first, then the other's. */
static int site_rank_cmp(const void *x, const void *y, void *ctx)
{
	const struct site *a = x, *b = y;
	enum sites_order order = *(const enum sites_order *)ctx;
	int first = order == SITES_ALLOC ? V_ALLOC_BYTES : V_INUSE_BYTES;
	int second = order == SITES_ALLOC ? V_INUSE_BYTES : V_ALLOC_BYTES;

	if (a->v[first] != b->v[first])
		return a->v[first] > b->v[first] ? -1 : 1;
	if (a->v[second] != b->v[second])
		return a->v[second] > b->v[second] ? -1 : 1;
	return a->stack < b->stack ? -1 : a->stack > b->stack;
}

/* ---- JSON ---- */

/* s as a JSON string; bytes that are not UTF-8 become U+FFFD. */
static void json_str(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	if (s == NULL) {
		buf_puts(b, "null");
		return;
	}
	buf_puts(b, "\"");
	while (*s != '\0') {
		unsigned char c = (unsigned char)*s;
		size_t n = utf8_char_len(s, 4);
		char esc[7] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0 };

		if (n == 0) {
			buf_puts(b, "\xef\xbf\xbd");
			s++;
		} else if (c == '"' || c == '\\') {
			esc[1] = (char)c;
			buf_append(b, esc, 2);
			s++;
		} else if (c < 0x20 || c == 0x7f) {
			buf_append(b, esc, 6);
			s++;
		} else {
			buf_append(b, s, n);
			s += n;
		}
	}
	buf_puts(b, "\"");
}

static void json_hex(struct buf *b, const unsigned char *id, size_t n)
{
	if (n == 0) {
		buf_puts(b, "null");
		return;
	}
	buf_puts(b, "\"");
	for (size_t i = 0; i < n; i++)
		buf_printf(b, "%02x", id[i]);
	buf_puts(b, "\"");
}

/* "inuse_bytes":..,"inuse_objects":..,"alloc_bytes":..,"alloc_objects":.. */
static void json_figures(struct buf *b, const int64_t *v)
{
	buf_printf(b, "\"inuse_bytes\":%" PRId64 ",\"inuse_objects\":%" PRId64
	    ",\"alloc_bytes\":%" PRId64 ",\"alloc_objects\":%" PRId64,
	    v[V_INUSE_BYTES], sites_objects(v[V_INUSE_OBJ]), v[V_ALLOC_BYTES],
	    sites_objects(v[V_ALLOC_OBJ]));
}

/* One frame of a native address (a NULL: not symbolized), or of a Python
 * frame (no address, no mapping). */
static void json_frame(struct buf *b, const struct profsym_addr *a, uint64_t addr,
    const struct heapprof_map *m, const struct profsym_frame *f, int *first)
{
	buf_puts(b, *first ? "{" : ",{");
	*first = 0;
	if (a != NULL && a->kind == PROFSYM_PYTHON) {
		buf_puts(b, "\"kind\":\"python\",\"address\":null,\"function\":");
		json_str(b, f->name);
		buf_puts(b, ",\"file\":");
		json_str(b, f->file);
		buf_printf(b, ",\"line\":%u,\"mapping\":null,\"build_id\":null}", f->line);
		return;
	}
	buf_printf(b, "\"kind\":\"native\",\"address\":\"0x%" PRIx64 "\",\"function\":", addr);
	json_str(b, f != NULL ? f->name : NULL);
	buf_puts(b, ",\"file\":");
	json_str(b, f != NULL ? f->file : NULL);
	buf_printf(b, ",\"line\":%u,\"mapping\":", f != NULL ? f->line : 0);
	json_str(b, m != NULL && m->path[0] != '\0' ? m->path : NULL);
	buf_puts(b, ",\"build_id\":");
	json_hex(b, m != NULL ? m->build_id : NULL, m != NULL ? m->build_id_len : 0);
	buf_puts(b, "}");
}

/* The frames of stack i, leaf first, inlined functions expanded. */
static void json_frames(struct buf *b, const struct ptab_profile *pp,
    const struct profsym_set *set, uint32_t i)
{
	const uint64_t *f = heapprof_frames(pp->hp, i);
	int first = 1;

	buf_puts(b, ",\"frames\":[");
	for (uint32_t k = 0; k < pp->hp->stacks[i].nframes; k++) {
		const struct profsym_addr *a = profsym_set_find(set, f[k]);
		const struct heapprof_map *m = a != NULL && a->map >= 0 ? &pp->hp->maps[a->map] : NULL;

		if (a == NULL || a->nframes == 0)
			json_frame(b, a, f[k], m, NULL, &first);
		for (unsigned j = 0; a != NULL && j < a->nframes; j++)
			json_frame(b, a, f[k], m, &a->frames[j], &first);
	}
	buf_puts(b, "]");
}

/* Stack i's innermost Python frame, or NULL when it has none (or the set
 * lacks it). */
static const struct profsym_frame *sites_py_frame(const struct ptab_profile *pp,
    const struct profsym_set *set, uint32_t i)
{
	const uint64_t *f = heapprof_frames(pp->hp, i);

	for (uint32_t k = 0; k < pp->hp->stacks[i].nframes; k++) {
		const struct profsym_addr *a;

		if (!prof_frame_is_py(f[k]))
			continue;
		a = profsym_set_find(set, f[k]);
		return a != NULL && a->nframes > 0 ? &a->frames[0] : NULL;
	}
	return NULL;
}

/*
 * The frame that names stack i's call site. In a stack with Python
 * frames, its innermost Python frame: the native frames below it are the
 * interpreter's (PyObject_Malloc, list_resize), not the program's.
 * Otherwise its first (innermost inlined first) that is not an allocation
 * wrapper (C++'s operator new, strdup: demangle.h), so that `new` sites
 * are named by the code that said new; the very first when all are
 * wrappers. NULL when that frame has no symbol.
 */
static const struct profsym_frame *sites_leaf_frame(const struct ptab_profile *pp,
    const struct profsym_set *set, uint32_t i)
{
	const uint64_t *f = heapprof_frames(pp->hp, i);
	const struct profsym_frame *first = sites_py_frame(pp, set, i);

	if (first != NULL)
		return first;
	for (uint32_t k = 0; k < pp->hp->stacks[i].nframes; k++) {
		const struct profsym_addr *a = profsym_set_find(set, f[k]);

		if (a == NULL || a->nframes == 0)
			return k == 0 ? NULL : first;
		for (unsigned j = 0; j < a->nframes; j++) {
			if (first == NULL)
				first = &a->frames[j];
			if (!demangle_is_alloc_wrapper(a->frames[j].function))
				return &a->frames[j];
		}
	}
	return first;
}

static void json_site(struct buf *b, const struct ptab_profile *pp,
    const struct profsym_set *set, const struct site *s, enum sites_order order, int64_t total)
{
	const struct profsym_frame *leaf = sites_leaf_frame(pp, set, s->stack);
	const struct profsym_frame *py = sites_py_frame(pp, set, s->stack);
	int64_t mine = order == SITES_ALLOC ? s->v[V_ALLOC_BYTES] : s->v[V_INUSE_BYTES];

	buf_puts(b, "{\"function\":");
	if (s->stack == 0)
		buf_puts(b, "\"[other]\"");
	else
		json_str(b, leaf != NULL ? leaf->name : NULL);
	buf_puts(b, ",\"file\":");
	json_str(b, leaf != NULL ? leaf->file : NULL);
	buf_printf(b, ",\"line\":%u,", leaf != NULL ? leaf->line : 0);
	json_figures(b, s->v);
	buf_printf(b, ",\"share\":%.6g,\"python\":", total > 0 ? (double)mine / (double)total : 0.0);
	if (py != NULL) {
		buf_puts(b, "{\"function\":");
		json_str(b, py->name);
		buf_puts(b, ",\"file\":");
		json_str(b, py->file);
		buf_printf(b, ",\"line\":%u}", py->line);
	} else {
		buf_puts(b, "null");
	}
	json_frames(b, pp, set, s->stack);
	buf_puts(b, "}");
}

int sites_json(const struct ptab_profile *pp, const struct profsym_set *set, unsigned top,
    enum sites_order order, char **out, size_t *len)
{
	const struct heapprof *hp = pp->hp;
	int64_t tot[V_N] = { 0 };
	struct buf b = BUF_INIT;
	struct site *v;
	size_t n;

	if (sites_merge(pp, set, &v, &n) < 0)
		return -ENOMEM;
	for (uint32_t i = 0; i < hp->nstacks; i++)
		sites_add(tot, &hp->stacks[i]);
	qsort_r(v, n, sizeof(*v), site_rank_cmp, &order);
	buf_printf(&b, "{\"pid\":%d,\"comm\":", (int)pp->pid);
	json_str(&b, pp->comm);
	buf_printf(&b, ",\"exited\":%s,\"rate\":%" PRIu64 ",\"order\":\"%s\",\"samples\":%" PRId64
	    ",\"folded\":%" PRId64 ",\"py_samples\":%" PRId64 ",\"pyfuncs_dropped\":%" PRId64
	    ",\"unwind_failed\":%" PRId64 ",\"sample_ns\":%" PRId64 ",\"total\":{",
	    pp->exited ? "true" : "false", hp->rate, order == SITES_ALLOC ? "alloc" : "inuse",
	    hp->samples, hp->folded, hp->py_samples, hp->pyfuncs_dropped, hp->unwind_failed,
	    hp->sample_ns);
	json_figures(&b, tot);
	buf_puts(&b, "},\"sites\":[");
	for (size_t i = 0; i < n && i < top; i++) {
		if (i > 0)
			buf_puts(&b, ",");
		json_site(&b, pp, set, &v[i], order, order == SITES_ALLOC ? tot[V_ALLOC_BYTES] :
		    tot[V_INUSE_BYTES]);
	}
	buf_puts(&b, "]}");
	free(v);
	if (buf_failed(&b)) {
		buf_free(&b);
		return -ENOMEM;
	}
	*out = buf_steal(&b, len);
	return 0;
}

/* ---- leaf functions ---- */

static int leaf_name_cmp(const void *x, const void *y)
{
	return strcmp(((const struct sites_leaf *)x)->name, ((const struct sites_leaf *)y)->name);
}

static int leaf_bytes_cmp(const void *x, const void *y)
{
	const struct sites_leaf *a = x, *b = y;

	if (a->inuse_bytes != b->inuse_bytes)
		return a->inuse_bytes > b->inuse_bytes ? -1 : 1;
	return strcmp(a->name, b->name);
}

/* Makes s valid UTF-8 for a label value: a byte that does not start a
 * whole character (a name's own, or one cut short by the buffer) becomes
 * '?'. */
static void leaf_printable(char *s)
{
	while (*s != '\0') {
		size_t n = utf8_char_len(s, 4);

		if (n == 0) {
			*s++ = '?';
			continue;
		}
		s += n;
	}
}

/* The name of stack i's leaf function: for a Python function its
 * qualified name and its file's base name, "load_rows (rows.py)", as
 * names such as "<module>" recur in every file. */
static void leaf_name(const struct ptab_profile *pp, const struct profsym_set *set, uint32_t i,
    char *out, size_t size)
{
	const struct profsym_frame *py = sites_py_frame(pp, set, i);
	const struct profsym_frame *f = py != NULL ? py : sites_leaf_frame(pp, set, i);
	const char *base;

	if (i == 0)
		snprintf(out, size, "[other]");
	else if (py != NULL && py->file != NULL) {
		base = strrchr(py->file, '/');
		snprintf(out, size, "%s (%s)", py->name, base != NULL && base[1] != '\0' ? base + 1 : py->file);
	} else if (f != NULL && f->name != NULL)
		snprintf(out, size, "%s", f->name);
	else if (pp->hp->stacks[i].nframes > 0)
		snprintf(out, size, "0x%" PRIx64, heapprof_frames(pp->hp, i)[0]);
	else
		snprintf(out, size, "[unknown]");
	leaf_printable(out);
}

int sites_top_leaves(const struct ptab_profile *pp, const struct profsym_set *set,
    struct sites_leaf *out, size_t n)
{
	const struct heapprof *hp = pp->hp;
	struct sites_leaf *v = calloc(hp->nstacks ? hp->nstacks : 1, sizeof(*v));
	size_t m = 0;

	if (v == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < hp->nstacks; i++) {
		leaf_name(pp, set, i, v[i].name, sizeof(v[i].name));
		v[i].inuse_bytes = hp->stacks[i].inuse_bytes;
	}
	qsort(v, hp->nstacks, sizeof(*v), leaf_name_cmp);
	for (uint32_t i = 0; i < hp->nstacks; i++) {
		if (m > 0 && strcmp(v[m - 1].name, v[i].name) == 0) {
			v[m - 1].inuse_bytes = sat_add(v[m - 1].inuse_bytes, v[i].inuse_bytes);
			continue;
		}
		v[m++] = v[i];
	}
	qsort(v, m, sizeof(*v), leaf_bytes_cmp);
	if (m > n)
		m = n;
	memcpy(out, v, m * sizeof(*v));
	free(v);
	return (int)m;
}
