/* proto.c: strict decoder and allocation-free encoders of the wire protocol. */
#include "proto.h"

#include <string.h>

const uint64_t proto_hist_bounds[PROTO_HIST_BUCKETS - 1] = {
	16, 64, 256, 1024, 4096, 16384, 65536, 262144,
	1048576, 4194304, 16777216,
};

static const char *const proto_errnames[PROTO_E__COUNT] = {
	[PROTO_OK] = "ok",
	[PROTO_E_SHORT] = "short",
	[PROTO_E_LONG] = "long",
	[PROTO_E_MAGIC] = "magic",
	[PROTO_E_VERSION] = "version",
	[PROTO_E_TYPE] = "type",
	[PROTO_E_BODY] = "body",
	[PROTO_E_STRING] = "string",
};

const char *proto_strerror(enum proto_err err)
{
	if ((unsigned)err >= PROTO_E__COUNT)
		return "unknown";
	return proto_errnames[err];
}

/* Sizes of the SAMPLE sections, in u64 fields. */
#define S_COMMON_FIELDS 3
#define S_HEAP_FIELDS   8
#define S_STACK_FIELDS  3
#define S_HIST_FIELDS   (PROTO_HIST_BUCKETS + 1)
#define S_PYTHON_FIELDS 15

static size_t sample_body_size(uint32_t flags)
{
	size_t n = S_COMMON_FIELDS;

	if (flags & PROTO_S_HEAP)
		n += S_HEAP_FIELDS;
	if (flags & PROTO_S_STACK)
		n += S_STACK_FIELDS;
	if (flags & PROTO_S_HIST)
		n += S_HIST_FIELDS;
	if (flags & PROTO_S_PYTHON)
		n += S_PYTHON_FIELDS;
	return 8 + 8 * n;
}

/* ---- little-endian writer; the caller guarantees room ---- */

struct wbuf {
	unsigned char *p;
};

static void put16(struct wbuf *w, uint16_t v)
{
	w->p[0] = (unsigned char)v;
	w->p[1] = (unsigned char)(v >> 8);
	w->p += 2;
}

static void put32(struct wbuf *w, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		w->p[i] = (unsigned char)(v >> (8 * i));
	w->p += 4;
}

static void put64(struct wbuf *w, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		w->p[i] = (unsigned char)(v >> (8 * i));
	w->p += 8;
}

static void putstr(struct wbuf *w, const char *s, size_t n)
{
	put16(w, (uint16_t)n);
	memcpy(w->p, s, n);
	w->p += n;
}

static void put64s(struct wbuf *w, const uint64_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		put64(w, v[i]);
}

/* Writes the header for a body of `len` bytes; returns the total size. */
static size_t finish(void *buf, uint16_t type, const struct wbuf *w)
{
	unsigned char *start = buf;
	size_t body = (size_t)(w->p - start) - PROTO_HDR_SIZE;
	struct wbuf h = { start };

	put32(&h, PROTO_MAGIC);
	put16(&h, PROTO_VERSION);
	put16(&h, type);
	put32(&h, (uint32_t)body);
	return PROTO_HDR_SIZE + body;
}

static size_t bounded_strlen(const char *s, size_t max)
{
	size_t n = 0;

	while (n <= max && s[n] != '\0')
		n++;
	return n;
}

int proto_gauge_name_ok(const char *name, size_t n)
{
	const unsigned char *s = (const unsigned char *)name;

	if (n == 0 || n > PROTO_GAUGE_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		    c == ':' || c == '-'))
			return 0;
	}
	return 1;
}

size_t proto_encode_hello(void *buf, const struct proto_hello *h)
{
	struct wbuf w = { (unsigned char *)buf + PROTO_HDR_SIZE };
	size_t comm = bounded_strlen(h->comm, PROTO_COMM_MAX);
	size_t exe = bounded_strlen(h->exe, PROTO_EXE_MAX);

	if (comm == 0 || comm > PROTO_COMM_MAX || exe > PROTO_EXE_MAX)
		return 0;
	if (h->agent != PROTO_AGENT_C && h->agent != PROTO_AGENT_PYTHON)
		return 0;
	put16(&w, h->agent);
	put16(&w, 0);
	put64(&w, h->start_time);
	put64(&w, h->stack_limit);
	putstr(&w, h->comm, comm);
	putstr(&w, h->exe, exe);
	return finish(buf, PROTO_HELLO, &w);
}

size_t proto_encode_sample(void *buf, const struct proto_sample *s)
{
	struct wbuf w = { (unsigned char *)buf + PROTO_HDR_SIZE };

	if (s->flags & ~(uint32_t)PROTO_S_ALL)
		return 0;
	put32(&w, s->flags);
	put32(&w, 0);
	put64(&w, s->seq);
	put64(&w, s->threads);
	put64(&w, s->samples_dropped);
	if (s->flags & PROTO_S_HEAP) {
		put64(&w, s->heap_live_bytes);
		put64(&w, s->heap_live_blocks);
		put64(&w, s->heap_peak_bytes);
		put64(&w, s->heap_allocations);
		put64(&w, s->heap_frees);
		put64(&w, s->heap_allocated_bytes);
		put64(&w, s->heap_failed);
		put64(&w, s->mmap_live_bytes);
	}
	if (s->flags & PROTO_S_STACK) {
		put64(&w, s->stack_peak_bytes);
		put64(&w, s->stack_main_peak_bytes);
		put64(&w, s->stack_limit_bytes);
	}
	if (s->flags & PROTO_S_HIST) {
		put64s(&w, s->hist_count, PROTO_HIST_BUCKETS);
		put64(&w, s->hist_sum);
	}
	if (s->flags & PROTO_S_PYTHON) {
		put64(&w, s->py_allocated_blocks);
		put64(&w, s->py_recursion_limit);
		put64(&w, s->py_stack_depth_peak);
		put64s(&w, s->py_gc_collections, 3);
		put64s(&w, s->py_gc_collected, 3);
		put64s(&w, s->py_gc_uncollectable, 3);
		put64s(&w, s->py_gc_count, 3);
	}
	return finish(buf, PROTO_SAMPLE, &w);
}

size_t proto_encode_gauge(void *buf, const struct proto_gauge *g)
{
	struct wbuf w = { (unsigned char *)buf + PROTO_HDR_SIZE };
	size_t n = bounded_strlen(g->name, PROTO_GAUGE_NAME_MAX);
	uint64_t bits;

	if (!proto_gauge_name_ok(g->name, n))
		return 0;
	memcpy(&bits, &g->value, sizeof(bits));
	put64(&w, bits);
	putstr(&w, g->name, n);
	return finish(buf, PROTO_GAUGE, &w);
}

size_t proto_encode_bye(void *buf)
{
	struct wbuf w = { (unsigned char *)buf + PROTO_HDR_SIZE };

	return finish(buf, PROTO_BYE, &w);
}

size_t proto_encode_register(void *buf, const struct proto_register *r)
{
	struct wbuf w = { (unsigned char *)buf + PROTO_HDR_SIZE };

	if (r->agent != PROTO_AGENT_C && r->agent != PROTO_AGENT_PYTHON)
		return 0;
	put16(&w, r->agent);
	put16(&w, 0);
	put32(&w, r->layout);
	return finish(buf, PROTO_REGISTER, &w);
}

/* ---- bounds-checked little-endian reader ---- */

struct rbuf {
	const unsigned char *p;
	size_t left;
	int bad;        /* set once any read ran past the end */
};

static uint64_t getn(struct rbuf *r, unsigned n)
{
	uint64_t v = 0;

	if (r->bad || r->left < n) {
		r->bad = 1;
		return 0;
	}
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)r->p[i] << (8 * i);
	r->p += n;
	r->left -= n;
	return v;
}

static uint16_t get16(struct rbuf *r) { return (uint16_t)getn(r, 2); }
static uint32_t get32(struct rbuf *r) { return (uint32_t)getn(r, 4); }
static uint64_t get64(struct rbuf *r) { return getn(r, 8); }

static void get64s(struct rbuf *r, uint64_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		v[i] = get64(r);
}

/*
 * Reads a string of at most `max` bytes into out (max + 1 bytes) and
 * NUL-terminates it. Returns its length, or -1 if it is too long, runs past
 * the body or holds a NUL byte.
 */
static long getstr(struct rbuf *r, char *out, size_t max)
{
	size_t n = get16(r);

	if (r->bad || n > max || n > r->left)
		return -1;
	if (memchr(r->p, '\0', n) != NULL)
		return -1;
	memcpy(out, r->p, n);
	out[n] = '\0';
	r->p += n;
	r->left -= n;
	return (long)n;
}

static enum proto_err decode_hello(struct rbuf *r, struct proto_hello *h)
{
	long comm, exe;

	h->agent = get16(r);
	if (get16(r) != 0 || r->bad)
		return PROTO_E_BODY;
	if (h->agent != PROTO_AGENT_C && h->agent != PROTO_AGENT_PYTHON)
		return PROTO_E_BODY;
	h->start_time = get64(r);
	h->stack_limit = get64(r);
	if (r->bad)
		return PROTO_E_BODY;
	comm = getstr(r, h->comm, PROTO_COMM_MAX);
	if (comm <= 0)
		return PROTO_E_STRING;
	exe = getstr(r, h->exe, PROTO_EXE_MAX);
	if (exe < 0)
		return PROTO_E_STRING;
	return r->left == 0 ? PROTO_OK : PROTO_E_BODY;
}

static enum proto_err decode_sample(struct rbuf *r, struct proto_sample *s)
{
	memset(s, 0, sizeof(*s));
	s->flags = get32(r);
	if (r->bad || (s->flags & ~(uint32_t)PROTO_S_ALL))
		return PROTO_E_BODY;
	/* Check the whole size first, so no field below can run short. */
	if (r->left + 4 != sample_body_size(s->flags))
		return PROTO_E_BODY;
	if (get32(r) != 0)
		return PROTO_E_BODY;
	s->seq = get64(r);
	s->threads = get64(r);
	s->samples_dropped = get64(r);
	if (s->flags & PROTO_S_HEAP) {
		s->heap_live_bytes = get64(r);
		s->heap_live_blocks = get64(r);
		s->heap_peak_bytes = get64(r);
		s->heap_allocations = get64(r);
		s->heap_frees = get64(r);
		s->heap_allocated_bytes = get64(r);
		s->heap_failed = get64(r);
		s->mmap_live_bytes = get64(r);
	}
	if (s->flags & PROTO_S_STACK) {
		s->stack_peak_bytes = get64(r);
		s->stack_main_peak_bytes = get64(r);
		s->stack_limit_bytes = get64(r);
	}
	if (s->flags & PROTO_S_HIST) {
		get64s(r, s->hist_count, PROTO_HIST_BUCKETS);
		s->hist_sum = get64(r);
	}
	if (s->flags & PROTO_S_PYTHON) {
		s->py_allocated_blocks = get64(r);
		s->py_recursion_limit = get64(r);
		s->py_stack_depth_peak = get64(r);
		get64s(r, s->py_gc_collections, 3);
		get64s(r, s->py_gc_collected, 3);
		get64s(r, s->py_gc_uncollectable, 3);
		get64s(r, s->py_gc_count, 3);
	}
	return (!r->bad && r->left == 0) ? PROTO_OK : PROTO_E_BODY;
}

static enum proto_err decode_gauge(struct rbuf *r, struct proto_gauge *g)
{
	uint64_t bits = get64(r);
	long n;

	if (r->bad)
		return PROTO_E_BODY;
	memcpy(&g->value, &bits, sizeof(bits));
	n = getstr(r, g->name, PROTO_GAUGE_NAME_MAX);
	if (n <= 0 || !proto_gauge_name_ok(g->name, (size_t)n))
		return PROTO_E_STRING;
	return r->left == 0 ? PROTO_OK : PROTO_E_BODY;
}

static enum proto_err decode_register(struct rbuf *r, struct proto_register *g)
{
	g->agent = get16(r);
	if (get16(r) != 0)
		return PROTO_E_BODY;
	g->layout = get32(r);
	if (r->bad || r->left != 0)
		return PROTO_E_BODY;
	if (g->agent != PROTO_AGENT_C && g->agent != PROTO_AGENT_PYTHON)
		return PROTO_E_BODY;
	return PROTO_OK;
}

enum proto_err proto_decode(const void *buf, size_t len, struct proto_msg *out)
{
	struct rbuf r = { buf, len, 0 };
	uint32_t magic, body;
	uint16_t version;

	if (len < PROTO_HDR_SIZE)
		return PROTO_E_SHORT;
	if (len > PROTO_MAX_MSG)
		return PROTO_E_LONG;
	magic = get32(&r);
	version = get16(&r);
	out->type = get16(&r);
	body = get32(&r);
	if (magic != PROTO_MAGIC)
		return PROTO_E_MAGIC;
	if (version != PROTO_VERSION)
		return PROTO_E_VERSION;
	if (body > PROTO_MAX_BODY || body > r.left)
		return body > PROTO_MAX_BODY ? PROTO_E_LONG : PROTO_E_SHORT;
	if (body < r.left)
		return PROTO_E_LONG;

	switch (out->type) {
	case PROTO_HELLO:
		return decode_hello(&r, &out->u.hello);
	case PROTO_SAMPLE:
		return decode_sample(&r, &out->u.sample);
	case PROTO_GAUGE:
		return decode_gauge(&r, &out->u.gauge);
	case PROTO_BYE:
		return body == 0 ? PROTO_OK : PROTO_E_BODY;
	case PROTO_REGISTER:
		return decode_register(&r, &out->u.reg);
	default:
		return PROTO_E_TYPE;
	}
}
