/* itest_badinput.c: malformed agent messages close their connection and change nothing else. */
#include "harness.h"
#include "itest_util.h"
#include "proto.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#define HOLD_BLOCKS 1024
#define HOLD_SIZE   16384
#define REJECTED    "memprobe_daemon_messages_rejected_total"
#define BUF_SIZE    (PROTO_MAX_MSG + 256)

/* What the held program shows; must not move while we send garbage. */
struct figures {
	double live_bytes, live_blocks, allocations, exited;
};

static int read_figures(const char *url, long pid, struct figures *f)
{
	struct it_http r;
	int ok;

	ok = it_get(url, "/metrics", &r) == 0 && r.status == 200 &&
	    it_metric_pid(r.body, "memprobe_heap_live_bytes", pid, &f->live_bytes) &&
	    it_metric_pid(r.body, "memprobe_heap_live_blocks", pid, &f->live_blocks) &&
	    it_metric_pid(r.body, "memprobe_heap_allocations_total", pid, &f->allocations) &&
	    it_metric_pid(r.body, "memprobe_process_exited", pid, &f->exited);
	it_http_free(&r);
	return ok;
}

/* xorshift32 with a fixed seed: the same "random" bytes every run. */
static uint32_t rnd_state = 0x1234567u;

static uint32_t rnd(void)
{
	uint32_t x = rnd_state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	rnd_state = x;
	return x;
}

static void put_le16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

static void put_le32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static size_t encode_hello(unsigned char *buf, const char *comm)
{
	struct proto_hello h = { .agent = PROTO_AGENT_C, .stack_limit = 8 << 20 };

	h.start_time = it_self_start_time();
	snprintf(h.comm, sizeof(h.comm), "%s", comm);
	snprintf(h.exe, sizeof(h.exe), "%s", "/nonexistent/itest");
	return proto_encode_hello(buf, &h);
}

static size_t encode_sample(unsigned char *buf, uint64_t live_bytes)
{
	struct proto_sample s = { .flags = PROTO_S_HEAP, .seq = 1, .threads = 1 };

	s.heap_live_bytes = live_bytes;
	s.heap_live_blocks = 7;
	s.heap_peak_bytes = live_bytes;
	s.heap_allocations = 7;
	s.heap_allocated_bytes = live_bytes;
	return proto_encode_sample(buf, &s);
}

struct bad {
	char what[64];
	const char *reason;     /* reason label that must count it, or NULL */
	size_t len;
	unsigned char buf[BUF_SIZE];
};

/* Fills *b with the i-th bad message; returns 0 past the last one. */
static int make_bad(int i, struct bad *b)
{
	static const size_t random_sizes[] = { 1, 5, 11, 12, 13, 64, 300, PROTO_MAX_MSG };
	const int nrandom = (int)(sizeof(random_sizes) / sizeof(random_sizes[0]));
	size_t n;

	memset(b, 0, sizeof(*b));
	b->reason = NULL;
	if (i < nrandom) {
		b->len = random_sizes[i];
		snprintf(b->what, sizeof(b->what), "%zu random bytes", b->len);
		for (size_t k = 0; k < b->len; k++)
			b->buf[k] = (unsigned char)rnd();
		if (b->len >= 4 && memcmp(b->buf, "MPRB", 4) == 0)
			b->buf[0] ^= 0xff;
		if (b->len < PROTO_HDR_SIZE)
			b->reason = "short";
		else
			b->reason = "magic";
		return 1;
	}
	switch (i - nrandom) {
	case 0:
		n = encode_hello(b->buf, "itest_bad");
		b->len = n - 10;
		b->reason = "short";
		snprintf(b->what, sizeof(b->what), "HELLO cut from %zu to %zu bytes", n, b->len);
		return 1;
	case 1:
		encode_hello(b->buf, "itest_bad");
		put_le32(b->buf + 8, 0xfffffff0u);
		b->len = PROTO_HDR_SIZE + 16;
		b->reason = "long";
		snprintf(b->what, sizeof(b->what), "header claiming a 4 GiB body");
		return 1;
	case 2:
		b->len = encode_hello(b->buf, "itest_bad");
		b->buf[0] ^= 0x20;
		b->reason = "magic";
		snprintf(b->what, sizeof(b->what), "HELLO with a wrong magic");
		return 1;
	case 3:
		b->len = encode_hello(b->buf, "itest_bad");
		put_le16(b->buf + 4, PROTO_VERSION + 98);
		b->reason = "version";
		snprintf(b->what, sizeof(b->what), "HELLO of version %d", PROTO_VERSION + 98);
		return 1;
	case 4:
		/* A well-formed header whose body is past PROTO_MAX_BODY. */
		b->len = PROTO_MAX_MSG + 200;
		encode_hello(b->buf, "itest_bad");
		put_le32(b->buf + 8, (uint32_t)(b->len - PROTO_HDR_SIZE));
		b->reason = "long";
		snprintf(b->what, sizeof(b->what), "datagram of %zu bytes", b->len);
		return 1;
	case 5:
		b->len = encode_sample(b->buf, 987654321);
		snprintf(b->what, sizeof(b->what), "SAMPLE before HELLO");
		return 1;
	case 6:
		put_le32(b->buf, PROTO_MAGIC);
		put_le16(b->buf + 4, PROTO_VERSION);
		put_le16(b->buf + 6, 77);
		put_le32(b->buf + 8, 0);
		b->len = PROTO_HDR_SIZE;
		b->reason = "type";
		snprintf(b->what, sizeof(b->what), "message of unknown type 77");
		return 1;
	case 7:
		/* comm "ab" with its second byte NUL: header 12, agent 2, reserved
		 * 2, start 8, limit 8, comm length 2, then comm at 34. */
		b->len = encode_hello(b->buf, "ab");
		b->buf[35] = '\0';
		b->reason = "string";
		snprintf(b->what, sizeof(b->what), "HELLO whose comm holds a NUL");
		return 1;
	default:
		return 0;
	}
}

struct counter_wait {
	const char *url;
	const char *reason;     /* NULL: the sum over reasons */
	double above;
	double last;
};

static int counter_above(void *arg)
{
	struct counter_wait *w = arg;
	struct it_http r;
	int ok = 0;

	if (it_get(w->url, "/metrics", &r) == 0 && r.status == 200) {
		w->last = it_metric_sum(r.body, REJECTED, w->reason != NULL ? "reason" : NULL,
		    w->reason);
		ok = w->last > w->above;
	}
	it_http_free(&r);
	return ok;
}

static double rejected(const char *url, const char *reason)
{
	struct counter_wait w = { url, reason, 1e300, -1 };

	counter_above(&w);
	return w.last;
}

/* Sends one bad message on a fresh connection and checks what follows. */
static void check_bad(const struct it_daemon *d, long pid, const struct figures *base,
    const struct bad *b)
{
	struct counter_wait total = { d->url, NULL, 0, 0 };
	struct counter_wait by_reason = { d->url, b->reason, 0, 0 };
	struct figures now;
	struct it_http r = { 0 };
	int fd;

	total.above = rejected(d->url, NULL);
	if (b->reason != NULL)
		by_reason.above = rejected(d->url, b->reason);

	fd = it_seqpacket_connect(d->sock);
	if (fd < 0) {
		fprintf(stderr, "  %s: connect %s: %s\n", b->what, d->sock, strerror(-fd));
		CHECK(0);
		return;
	}
	if (send(fd, b->buf, b->len, MSG_NOSIGNAL) != (ssize_t)b->len) {
		/* A daemon may also refuse it at the socket; that is fine too. */
		fprintf(stderr, "  %s: send: %s (not counted)\n", b->what, strerror(errno));
	}
	if (!it_peer_closed(fd, IT_TIMEOUT_MS)) {
		fprintf(stderr, "  %s: the daemon kept the connection open\n", b->what);
		CHECK(0);
	}
	close(fd);

	if (!it_wait_until(counter_above, &total, IT_TIMEOUT_MS)) {
		fprintf(stderr, "  %s: %s did not grow from %.0f\n", b->what, REJECTED, total.above);
		CHECK(0);
	}
	if (b->reason != NULL && !it_wait_until(counter_above, &by_reason, IT_TIMEOUT_MS)) {
		fprintf(stderr, "  %s: %s{reason=\"%s\"} did not grow from %.0f\n",
		    b->what, REJECTED, b->reason, by_reason.above);
		CHECK(0);
	}

	if (it_get(d->url, "/healthz", &r) < 0 || r.status != 200) {
		fprintf(stderr, "  %s: /healthz status %ld\n", b->what, r.status);
		CHECK(0);
	}
	it_http_free(&r);

	if (!read_figures(d->url, pid, &now)) {
		fprintf(stderr, "  %s: the held program's series are gone\n", b->what);
		CHECK(0);
		return;
	}
	if (memcmp(&now, base, sizeof(now)) != 0) {
		fprintf(stderr, "  %s: figures moved: live %.0f/%.0f blocks %.0f/%.0f "
		    "allocations %.0f/%.0f exited %.0f/%.0f\n", b->what,
		    now.live_bytes, base->live_bytes, now.live_blocks, base->live_blocks,
		    now.allocations, base->allocations, now.exited, base->exited);
		CHECK(0);
	}
}

/* Whether this process shows a series with the given live bytes. */
struct self_wait {
	const char *url;
	double want;
	double last;
};

static int self_shows(void *arg)
{
	struct self_wait *w = arg;
	struct it_http r;
	int ok = 0;

	w->last = -1;
	if (it_get(w->url, "/metrics", &r) == 0 && r.status == 200 &&
	    it_metric_pid(r.body, "memprobe_heap_live_bytes", (long)getpid(), &w->last))
		ok = w->last == w->want;
	it_http_free(&r);
	return ok;
}

static void bad_input(void)
{
	static struct bad b;    /* 4 KiB+: off the stack */
	unsigned char msg[BUF_SIZE];
	struct it_daemon d;
	struct it_proc hold = { .in_fd = -1, .out_fd = -1 };
	struct self_wait sw;
	struct figures base;
	size_t n;
	long pid;
	int fd = -1;

	REQUIRE(it_daemon_start(&d, 60) == 0);
	pid = it_hold_start(&hold, d.sock, HOLD_BLOCKS, HOLD_SIZE, NULL);
	REQUIRE(pid > 0);
	/* Every block plus the array holding them: the program is idle now. */
	REQUIRE(it_wait_metric(d.url, "memprobe_heap_live_blocks", pid, HOLD_BLOCKS + 1,
	    1e12, IT_TIMEOUT_MS, NULL));
	REQUIRE(read_figures(d.url, pid, &base));
	CHECK_U64(base.live_bytes, >=, (uint64_t)HOLD_BLOCKS * HOLD_SIZE);
	CHECK_U64(base.exited, ==, 0);

	for (int i = 0; make_bad(i, &b); i++)
		check_bad(&d, pid, &base, &b);

	/* The SAMPLE sent before any HELLO left no trace under our pid. */
	sw = (struct self_wait){ d.url, 987654321, -1 };
	self_shows(&sw);
	CHECK(sw.last == -1);

	/* Control: the same socket takes a well-formed HELLO and SAMPLE from us,
	 * so the rejections above were for the faults, not for the sender. */
	fd = it_seqpacket_connect(d.sock);
	REQUIRE(fd >= 0);
	n = encode_hello(msg, "itest_control");
	REQUIRE(n > 0 && send(fd, msg, n, MSG_NOSIGNAL) == (ssize_t)n);
	n = encode_sample(msg, 12345);
	REQUIRE(n > 0 && send(fd, msg, n, MSG_NOSIGNAL) == (ssize_t)n);
	sw = (struct self_wait){ d.url, 12345, -1 };
	if (!it_wait_until(self_shows, &sw, IT_TIMEOUT_MS)) {
		fprintf(stderr, "  control: memprobe_heap_live_bytes{pid=\"%ld\"}: last %.0f, "
		    "want 12345\n", (long)getpid(), sw.last);
		CHECK(0);
	}
out:
	if (fd >= 0)
		close(fd);
	it_proc_kill(&hold);
	CHECK(it_daemon_finish(&d, harness_failures) == 0);
}

int itest_badinput_run(void)
{
	if (it_selected("bad_input"))
		RUN_TEST(bad_input);
	return harness_failed_tests;
}
