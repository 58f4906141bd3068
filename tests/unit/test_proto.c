/* test_proto.c: the wire protocol's encoders and its strict decoder. */
#include "harness.h"
#include "proto.h"
#include "region.h"

static unsigned char buf[PROTO_MAX_MSG + 64];

static size_t sample_hello(void)
{
	struct proto_hello h = { .agent = PROTO_AGENT_C, .start_time = 12345,
	    .stack_limit = 8u << 20 };

	strcpy(h.comm, "alloc_hold");
	strcpy(h.exe, "/usr/bin/alloc_hold");
	return proto_encode_hello(buf, &h);
}

static void put_u32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void hello_roundtrip(void)
{
	struct proto_msg m;
	size_t n = sample_hello();

	CHECK(n > PROTO_HDR_SIZE);
	CHECK(proto_decode(buf, n, &m) == PROTO_OK);
	CHECK_U64(m.type, ==, PROTO_HELLO);
	CHECK_U64(m.u.hello.agent, ==, PROTO_AGENT_C);
	CHECK_U64(m.u.hello.start_time, ==, 12345);
	CHECK_U64(m.u.hello.stack_limit, ==, 8u << 20);
	CHECK_STR(m.u.hello.comm, "alloc_hold");
	CHECK_STR(m.u.hello.exe, "/usr/bin/alloc_hold");
}

static void header_is_little_endian(void)
{
	size_t n = proto_encode_bye(buf);

	CHECK_U64(n, ==, PROTO_HDR_SIZE);
	CHECK(memcmp(buf, "MPRB", 4) == 0);
	CHECK_U64(buf[4], ==, PROTO_VERSION);
	CHECK_U64(buf[5], ==, 0);
	CHECK_U64(buf[6], ==, PROTO_BYE);
	CHECK_U64(buf[8] | buf[9] | buf[10] | buf[11], ==, 0);
}

static void sample_roundtrip_all_sections(void)
{
	struct proto_sample s = { .flags = PROTO_S_ALL };
	struct proto_msg m;
	size_t n;

	s.seq = 7;
	s.threads = 3;
	s.heap_live_bytes = 1ull << 40;
	s.heap_live_blocks = 4096;
	s.heap_peak_bytes = UINT64_MAX;
	s.mmap_live_bytes = 99;
	s.stack_limit_bytes = 8u << 20;
	for (int i = 0; i < PROTO_HIST_BUCKETS; i++)
		s.hist_count[i] = (uint64_t)i * 11;
	s.hist_sum = 5;
	s.py_gc_uncollectable[2] = 42;
	s.py_gc_count[0] = 700;
	n = proto_encode_sample(buf, &s);
	CHECK(n > 0);
	CHECK(proto_decode(buf, n, &m) == PROTO_OK);
	CHECK_U64(m.type, ==, PROTO_SAMPLE);
	CHECK(memcmp(&m.u.sample, &s, sizeof(s)) == 0);
}

static void sample_sections_are_optional(void)
{
	struct proto_sample s = { .flags = PROTO_S_PYTHON, .py_recursion_limit = 1000 };
	struct proto_msg m;
	size_t n_py, n_heap;

	n_py = proto_encode_sample(buf, &s);
	CHECK(proto_decode(buf, n_py, &m) == PROTO_OK);
	CHECK_U64(m.u.sample.py_recursion_limit, ==, 1000);
	CHECK_U64(m.u.sample.heap_live_bytes, ==, 0);
	s.flags = PROTO_S_HEAP;
	n_heap = proto_encode_sample(buf, &s);
	CHECK(n_heap != n_py);
	CHECK(proto_decode(buf, n_heap, &m) == PROTO_OK);
}

static void sample_flags_must_match_length(void)
{
	struct proto_sample s = { .flags = PROTO_S_HEAP | PROTO_S_STACK };
	struct proto_msg m;
	size_t n = proto_encode_sample(buf, &s);

	/* Claim a section that is not there. */
	put_u32(buf + PROTO_HDR_SIZE, PROTO_S_HEAP | PROTO_S_STACK | PROTO_S_HIST);
	CHECK(proto_decode(buf, n, &m) == PROTO_E_BODY);
	/* An undefined flag. */
	put_u32(buf + PROTO_HDR_SIZE, PROTO_S_HEAP | PROTO_S_STACK | (1u << 9));
	CHECK(proto_decode(buf, n, &m) == PROTO_E_BODY);
	/* The encoder refuses an undefined flag too. */
	s.flags = 1u << 20;
	CHECK_U64(proto_encode_sample(buf, &s), ==, 0);
}

static void gauge_roundtrip_and_names(void)
{
	struct proto_gauge g = { .value = -2.5 };
	struct proto_msg m;
	size_t n;

	strcpy(g.name, "queue.depth:main-1");
	n = proto_encode_gauge(buf, &g);
	CHECK(n > 0);
	CHECK(proto_decode(buf, n, &m) == PROTO_OK);
	CHECK(m.u.gauge.value == -2.5);
	CHECK_STR(m.u.gauge.name, "queue.depth:main-1");
	strcpy(g.name, "bad name");
	CHECK_U64(proto_encode_gauge(buf, &g), ==, 0);
	g.name[0] = '\0';
	CHECK_U64(proto_encode_gauge(buf, &g), ==, 0);
	/* A bad byte smuggled past the encoder is caught by the decoder. */
	strcpy(g.name, "abc");
	n = proto_encode_gauge(buf, &g);
	buf[n - 2] = '"';
	CHECK(proto_decode(buf, n, &m) == PROTO_E_STRING);
}

static void every_truncation_is_rejected(void)
{
	struct proto_sample s = { .flags = PROTO_S_ALL };
	struct proto_msg m;
	size_t n = proto_encode_sample(buf, &s);

	for (size_t len = 0; len < n; len++) {
		enum proto_err e = proto_decode(buf, len, &m);
		CHECK(e == PROTO_E_SHORT);
		if (e != PROTO_E_SHORT) {
			fprintf(stderr, "  at length %zu: %s\n", len, proto_strerror(e));
			break;
		}
	}
	n = sample_hello();
	for (size_t len = 0; len < n; len++)
		CHECK(proto_decode(buf, len, &m) != PROTO_OK);
}

static void body_length_lies_are_rejected(void)
{
	struct proto_msg m;
	size_t n = sample_hello();

	/* Header says one byte less than the datagram holds. */
	put_u32(buf + 8, (uint32_t)(n - PROTO_HDR_SIZE - 1));
	CHECK(proto_decode(buf, n, &m) == PROTO_E_LONG);
	/* Header says more than the datagram holds. */
	put_u32(buf + 8, (uint32_t)(n - PROTO_HDR_SIZE + 1));
	CHECK(proto_decode(buf, n, &m) == PROTO_E_SHORT);
	/* Header claims a huge body. */
	put_u32(buf + 8, 0xffffffffu);
	CHECK(proto_decode(buf, n, &m) == PROTO_E_LONG);
	/* A datagram bigger than any message. */
	CHECK(proto_decode(buf, PROTO_MAX_MSG + 1, &m) == PROTO_E_LONG);
}

static void hello_string_lies_are_rejected(void)
{
	struct proto_msg m;
	size_t n = sample_hello();
	size_t comm_off = PROTO_HDR_SIZE + 20;

	/* comm length pointing past the body */
	buf[comm_off] = 0xff;
	buf[comm_off + 1] = 0x0f;
	CHECK(proto_decode(buf, n, &m) == PROTO_E_STRING);
	/* empty comm */
	n = sample_hello();
	buf[comm_off] = 0;
	buf[comm_off + 1] = 0;
	CHECK(proto_decode(buf, n, &m) != PROTO_OK);
	/* NUL inside comm */
	n = sample_hello();
	buf[comm_off + 3] = '\0';
	CHECK(proto_decode(buf, n, &m) == PROTO_E_STRING);
	/* unknown agent kind */
	n = sample_hello();
	buf[PROTO_HDR_SIZE] = 9;
	CHECK(proto_decode(buf, n, &m) == PROTO_E_BODY);
	/* trailing garbage after exe, length fixed up to include it */
	n = sample_hello();
	buf[n] = 'x';
	put_u32(buf + 8, (uint32_t)(n + 1 - PROTO_HDR_SIZE));
	CHECK(proto_decode(buf, n + 1, &m) == PROTO_E_BODY);
}

static void wrong_magic_version_type(void)
{
	struct proto_msg m;
	size_t n = proto_encode_bye(buf);

	buf[0] = 'X';
	CHECK(proto_decode(buf, n, &m) == PROTO_E_MAGIC);
	n = proto_encode_bye(buf);
	buf[4] = PROTO_VERSION + 1;
	CHECK(proto_decode(buf, n, &m) == PROTO_E_VERSION);
	n = proto_encode_bye(buf);
	buf[6] = 77;
	CHECK(proto_decode(buf, n, &m) == PROTO_E_TYPE);
	n = proto_encode_bye(buf);
	buf[6] = 0;
	CHECK(proto_decode(buf, n, &m) == PROTO_E_TYPE);
	CHECK_STR(proto_strerror(PROTO_E_MAGIC), "magic");
	CHECK_STR(proto_strerror((enum proto_err)1000), "unknown");
}

static void random_bytes_never_crash(void)
{
	struct proto_msg m;
	uint64_t x = 0x9e3779b97f4a7c15ull;
	int ok = 0;

	for (int round = 0; round < 20000; round++) {
		size_t len = (size_t)(x % (PROTO_MAX_MSG + 32));
		for (size_t i = 0; i < len; i++) {
			x ^= x << 13; x ^= x >> 7; x ^= x << 17;
			buf[i] = (unsigned char)x;
		}
		/* Half the time make the header plausible, to reach the bodies. */
		if (round & 1 && len >= PROTO_HDR_SIZE) {
			memcpy(buf, "MPRB", 4);
			buf[4] = PROTO_VERSION; buf[5] = 0;
			buf[6] = (unsigned char)(1 + x % 4); buf[7] = 0;
			put_u32(buf + 8, (uint32_t)(len - PROTO_HDR_SIZE));
		}
		if (proto_decode(buf, len, &m) == PROTO_OK)
			ok++;
	}
	/* Random bodies almost never form a valid message. */
	CHECK(ok < 200);
}

/* The bucket a size is counted in: its agent bin, folded at read. */
static unsigned hist_bucket(uint64_t size)
{
	return region_bin_bucket(region_bin(size));
}

static void histogram_buckets(void)
{
	CHECK_U64(hist_bucket(0), ==, 0);
	CHECK_U64(hist_bucket(1), ==, 0);
	CHECK_U64(hist_bucket(16), ==, 0);
	CHECK_U64(hist_bucket(17), ==, 1);
	CHECK_U64(hist_bucket(64), ==, 1);
	CHECK_U64(hist_bucket(65), ==, 2);
	for (int i = 0; i < PROTO_HIST_BUCKETS - 1; i++) {
		CHECK_U64(hist_bucket(proto_hist_bounds[i]), ==, i);
		CHECK_U64(hist_bucket(proto_hist_bounds[i] + 1), ==, i + 1);
	}
	CHECK_U64(hist_bucket(UINT64_MAX), ==, PROTO_HIST_BUCKETS - 1);
}

/* The agent's bins: bin b holds (2^b, 2^(b+1)], bin 3 also 0..16. */
static void histogram_bins(void)
{
	CHECK_U64(region_bin(0), ==, 3);
	CHECK_U64(region_bin(16), ==, 3);
	CHECK_U64(region_bin(17), ==, 4);
	CHECK_U64(region_bin(32), ==, 4);
	CHECK_U64(region_bin(33), ==, 5);
	CHECK_U64(region_bin(1u << 20), ==, 19);
	CHECK_U64(region_bin((1u << 20) + 1), ==, 20);
	CHECK_U64(region_bin(UINT64_MAX), ==, 63);
	/* The fast path's variant agrees for every size but 0. */
	for (uint64_t s = 1; s < 70000; s++)
		if (region_bin_nonzero(s) != region_bin(s))
			CHECK_U64(region_bin_nonzero(s), ==, region_bin(s));
	CHECK_U64(region_bin_nonzero(UINT64_MAX), ==, 63);
	CHECK_U64(region_bin_bucket(63), ==, PROTO_HIST_BUCKETS - 1);
}

/* REGISTER: a fixed body; a wrong agent, a non-zero reserved field or any
 * byte too many or too few is refused. */
static void register_roundtrip_and_lies(void)
{
	struct proto_register r = { .agent = PROTO_AGENT_PYTHON, .layout = 1 };
	struct proto_msg m;
	size_t n = proto_encode_register(buf, &r);

	CHECK_U64(n, ==, PROTO_HDR_SIZE + 8);
	CHECK(proto_decode(buf, n, &m) == PROTO_OK);
	CHECK_U64(m.type, ==, PROTO_REGISTER);
	CHECK_U64(m.u.reg.agent, ==, PROTO_AGENT_PYTHON);
	CHECK_U64(m.u.reg.layout, ==, 1);
	buf[PROTO_HDR_SIZE + 2] = 1;            /* reserved */
	CHECK(proto_decode(buf, n, &m) == PROTO_E_BODY);
	r.agent = 7;
	CHECK_U64(proto_encode_register(buf, &r), ==, 0);
	r.agent = PROTO_AGENT_C;
	n = proto_encode_register(buf, &r);
	buf[PROTO_HDR_SIZE] = 9;                /* agent */
	CHECK(proto_decode(buf, n, &m) == PROTO_E_BODY);
	n = proto_encode_register(buf, &r);
	put_u32(buf + 8, 4);                    /* a body shorter than REGISTER's */
	CHECK(proto_decode(buf, PROTO_HDR_SIZE + 4, &m) == PROTO_E_BODY);
}

int main(void)
{
	RUN_TEST(hello_roundtrip);
	RUN_TEST(register_roundtrip_and_lies);
	RUN_TEST(header_is_little_endian);
	RUN_TEST(sample_roundtrip_all_sections);
	RUN_TEST(sample_sections_are_optional);
	RUN_TEST(sample_flags_must_match_length);
	RUN_TEST(gauge_roundtrip_and_names);
	RUN_TEST(every_truncation_is_rejected);
	RUN_TEST(body_length_lies_are_rejected);
	RUN_TEST(hello_string_lies_are_rejected);
	RUN_TEST(wrong_magic_version_type);
	RUN_TEST(random_bytes_never_crash);
	RUN_TEST(histogram_buckets);
	RUN_TEST(histogram_bins);
	return HARNESS_EXIT();
}
