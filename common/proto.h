/* proto.h: the memprobe wire protocol between agents and memprobed. */
#ifndef MEMPROBE_PROTO_H
#define MEMPROBE_PROTO_H

#include <stddef.h>
#include <stdint.h>

/*
 * Transport: a Unix socket of type SOCK_SEQPACKET, one message per datagram.
 * Every message is a 12-byte header followed by `length` bytes of body.
 * All integers are little-endian; doubles are IEEE 754 binary64 sent as
 * their bit pattern in a little-endian u64; strings are a u16 length then
 * that many bytes, no terminator.
 *
 *   offset 0  u32 magic    PROTO_MAGIC ("MPRB" read as bytes)
 *   offset 4  u16 version  PROTO_VERSION
 *   offset 6  u16 type     enum proto_type
 *   offset 8  u32 length   body length in bytes (<= PROTO_MAX_BODY)
 *
 * The decoder accepts a datagram only if its size is exactly
 * PROTO_HDR_SIZE + length and the body is exactly as long as its type and
 * flags say. Nothing in a message is trusted for identity: the daemon takes
 * pid, uid and gid from the kernel.
 */

#define PROTO_MAGIC     0x4252504du /* bytes 'M' 'P' 'R' 'B' */
#define PROTO_VERSION   1
#define PROTO_HDR_SIZE  12
#define PROTO_MAX_BODY  4096
#define PROTO_MAX_MSG   (PROTO_HDR_SIZE + PROTO_MAX_BODY)

#define PROTO_COMM_MAX  64          /* the kernel's comm is 15; room for argv[0] */
#define PROTO_EXE_MAX   1024
#define PROTO_GAUGE_NAME_MAX 128

enum proto_type {
	PROTO_HELLO  = 1,
	PROTO_SAMPLE = 2,
	PROTO_GAUGE  = 3,
	PROTO_BYE    = 4,
	PROTO_REGISTER = 5,
};

enum proto_agent {
	PROTO_AGENT_C      = 1,
	PROTO_AGENT_PYTHON = 2,
};

/*
 * HELLO body:
 *   u16 agent (enum proto_agent), u16 reserved (0),
 *   u64 start_time (clock ticks since boot, /proc/self/stat field 22),
 *   u64 stack_limit (bytes, RLIMIT_STACK of the main thread; 0 unknown),
 *   str comm (1..PROTO_COMM_MAX), str exe (0..PROTO_EXE_MAX).
 * comm and exe are descriptive only; any byte is allowed except NUL.
 */
struct proto_hello {
	uint16_t agent;
	uint64_t start_time;
	uint64_t stack_limit;
	char comm[PROTO_COMM_MAX + 1];   /* NUL-terminated after decode */
	char exe[PROTO_EXE_MAX + 1];
};

/*
 * Allocation-size histogram: fixed upper bounds (bytes, inclusive), the same
 * in every agent and every scrape; the last bucket is +Inf. Which bucket a
 * size falls in: region_bin() and region_bin_bucket() (region.h).
 */
#define PROTO_HIST_BUCKETS 12
extern const uint64_t proto_hist_bounds[PROTO_HIST_BUCKETS - 1];

/*
 * SAMPLE body: u32 flags (which sections follow), u32 reserved (0), then the
 * common section, then each section whose flag is set, in flag order. Every
 * field is a u64. A set flag not defined here is an error, so a message is
 * exactly as long as its flags say.
 */
enum proto_sample_flag {
	PROTO_S_HEAP   = 1u << 0,
	PROTO_S_STACK  = 1u << 1,
	PROTO_S_HIST   = 1u << 2,
	PROTO_S_PYTHON = 1u << 3,
};
#define PROTO_S_ALL (PROTO_S_HEAP | PROTO_S_STACK | PROTO_S_HIST | PROTO_S_PYTHON)

struct proto_sample {
	uint32_t flags;

	/* common: always present */
	uint64_t seq;                  /* sample number on this connection */
	uint64_t threads;              /* live threads the agent knows of */
	uint64_t samples_dropped;      /* samples the agent could not send */

	/* PROTO_S_HEAP */
	uint64_t heap_live_bytes;      /* usable bytes of live blocks */
	uint64_t heap_live_blocks;
	uint64_t heap_peak_bytes;
	uint64_t heap_allocations;     /* counters, monotonic per process */
	uint64_t heap_frees;
	uint64_t heap_allocated_bytes;
	uint64_t heap_failed;
	uint64_t mmap_live_bytes;

	/* PROTO_S_STACK */
	uint64_t stack_peak_bytes;     /* deepest thread */
	uint64_t stack_main_peak_bytes;
	uint64_t stack_limit_bytes;    /* main thread */

	/* PROTO_S_HIST: per-bucket (non-cumulative) counts and the size sum */
	uint64_t hist_count[PROTO_HIST_BUCKETS];
	uint64_t hist_sum;

	/* PROTO_S_PYTHON */
	uint64_t py_allocated_blocks;
	uint64_t py_recursion_limit;
	uint64_t py_stack_depth_peak;  /* frames */
	uint64_t py_gc_collections[3];
	uint64_t py_gc_collected[3];
	uint64_t py_gc_uncollectable[3];
	uint64_t py_gc_count[3];
};

/* GAUGE body: u64 value (double bits), str name (1..PROTO_GAUGE_NAME_MAX,
 * [A-Za-z0-9_.:-] only). */
struct proto_gauge {
	double value;
	char name[PROTO_GAUGE_NAME_MAX + 1];
};

/* Whether name[0..n) is a valid gauge name (1..PROTO_GAUGE_NAME_MAX bytes
 * of [A-Za-z0-9_.:-]). */
int proto_gauge_name_ok(const char *name, size_t n);

/* BYE body: empty. */

/*
 * REGISTER body: u16 agent (enum proto_agent), u16 reserved (0),
 * u32 layout (REGION_LAYOUT of region.h). It carries SCM_RIGHTS: the
 * region's sealed memfd and, after it, a pidfd of the sender (optional).
 * It is the only message of its connection: the agent closes the socket
 * right after sending it, and the daemon never answers.
 */
struct proto_register {
	uint16_t agent;
	uint32_t layout;
};

struct proto_msg {
	uint16_t type;
	union {
		struct proto_hello hello;
		struct proto_sample sample;
		struct proto_gauge gauge;
		struct proto_register reg;
	} u;
};

/* Why a message was rejected; also the `reason` label of the daemon's
 * rejected-message counter. PROTO_OK is 0. */
enum proto_err {
	PROTO_OK = 0,
	PROTO_E_SHORT,      /* shorter than a header, or than its length says */
	PROTO_E_LONG,       /* longer than its length says, or than PROTO_MAX_MSG */
	PROTO_E_MAGIC,
	PROTO_E_VERSION,
	PROTO_E_TYPE,
	PROTO_E_BODY,       /* body size or a field is wrong for its type */
	PROTO_E_STRING,     /* a string is empty, too long or holds NUL/bad bytes */
	PROTO_E__COUNT
};

/* Short stable name of an error ("short", "magic", ...), for labels and logs. */
const char *proto_strerror(enum proto_err err);

/*
 * Decodes one datagram of `len` bytes into *out. Checks every length, enum
 * and string before it is read; never reads past buf[len - 1].
 * Returns PROTO_OK or the reason the message is invalid; *out is then
 * unspecified.
 */
enum proto_err proto_decode(const void *buf, size_t len, struct proto_msg *out);

/*
 * Encoders: write one complete message into buf (at least PROTO_MAX_MSG
 * bytes). Return the number of bytes written, or 0 if an argument would make
 * an invalid message (too-long string, unknown flag). They never allocate and
 * are async-signal-safe, so the agent can call them anywhere.
 */
size_t proto_encode_hello(void *buf, const struct proto_hello *h);
size_t proto_encode_sample(void *buf, const struct proto_sample *s);
size_t proto_encode_gauge(void *buf, const struct proto_gauge *g);
size_t proto_encode_bye(void *buf);
size_t proto_encode_register(void *buf, const struct proto_register *r);

#endif
