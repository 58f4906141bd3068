/* ingest.h: agent connections: accepts agents, decodes their messages, watches their processes, feeds the process table. */
#ifndef MEMPROBE_INGEST_H
#define MEMPROBE_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"
#include "ptab.h"

/*
 * Why a message was rejected: the decoder's reasons (enum proto_err, whose
 * values are the indices here) and the daemon's own. Index 0 is unused.
 */
enum ingest_reason {
	INGEST_R_SEQUENCE = PROTO_E__COUNT,   /* before HELLO, a 2nd HELLO, after BYE */
	INGEST_R_RATE,                        /* above max_message_rate: dropped, not closed */
	INGEST_R_CREDENTIALS,                 /* SCM_CREDENTIALS differ from SO_PEERCRED */
	INGEST_R_REGION,                      /* REGISTER: no memfd, bad seals, size or header */
	INGEST_R_PENDING_LIMIT,               /* a uid above max_pending_per_uid: its oldest closed */
	INGEST_R_HELLO_TIMEOUT,               /* no HELLO within hello_timeout: closed */
	INGEST_R__COUNT
};

/* The `reason` label of index i, 1 <= i < INGEST_R__COUNT. */
const char *ingest_reason_name(unsigned i);

/* Message types counted, by enum proto_type (index 0 unused). */
#define INGEST_NTYPES (PROTO_REGISTER + 1)

/* The `type` label of proto type t ("hello", "sample", "gauge", "bye",
 * "register"). */
const char *ingest_type_name(unsigned t);

/* The daemon's own ingest figures; counters since start. */
struct ingest_stats {
	uint64_t connections_accepted;
	uint64_t connections_refused;           /* max_connections, or out of descriptors */
	uint64_t connections_open;
	uint64_t agents_connected;              /* processes reporting: a region mapped and
	                                           live, or a connection past HELLO */
	uint64_t received[INGEST_NTYPES];       /* valid messages by type */
	uint64_t rejected[INGEST_R__COUNT];     /* by enum proto_err / ingest_reason */
};

struct ingest_limits {
	unsigned max_connections;
	unsigned max_message_rate;              /* per connection and second */
	unsigned max_pending_per_uid;           /* connections before HELLO, per uid */
	unsigned hello_timeout;                 /* seconds a connection has for its HELLO */
};

struct ingest;
struct agentsock;

/*
 * Serves agents on the listening agent socket `sock` (agentsock.h), which
 * the ingest owns from the call on, even when it fails. Entries go into pt,
 * which must outlive the ingest. Returns 0 and *out, or a negative errno
 * with the failed step in err (errsize bytes; the caller adds the path).
 */
int ingest_open(struct ingest **out, struct agentsock *sock, const struct ingest_limits *lim,
    struct ptab *pt, char *err, size_t errsize);

/* The agent socket's path (for an adopted socket, its bound address). */
const char *ingest_path(const struct ingest *ing);

/* Makes the agent socket again if its file was removed or replaced since we
 * bound it (not for a socket passed by systemd). Called once a second;
 * failures are logged (rate-limited) and retried at the next call. */
void ingest_check_socket(struct ingest *ing);

/* An epoll descriptor that is readable when ingest_run() has work. */
int ingest_fd(const struct ingest *ing);

/* Accepts connections and reads messages until nothing is ready; never
 * blocks. `now` is the monotonic time in seconds. */
void ingest_run(struct ingest *ing, double now);

/*
 * Closes the connections that have not said HELLO within hello_timeout
 * seconds of their accept (counted as reason "hello_timeout"). Called
 * once a second: it looks at the oldest pending connections only, so its
 * cost is the number it closes, not the number open.
 */
void ingest_expire(struct ingest *ing, double now);

/* Changes the limits; open connections above max_connections stay, and
 * so do pending ones above a lowered max_pending_per_uid (until the next
 * connection of their uid, or their timeout). */
void ingest_set_limits(struct ingest *ing, const struct ingest_limits *lim);

/* Copies the counters; callable from any thread. */
void ingest_stats(const struct ingest *ing, struct ingest_stats *out);

struct fdstore;

/* Where taken regions are kept for the next daemon (fdstore.h); NULL: no
 * store. */
void ingest_set_store(struct ingest *ing, struct fdstore *fs);

/*
 * Takes back a region a previous daemon kept, stored under `name`
 * (fdstore_name()) as descriptor fd (consumed): its process is watched
 * again, or shows as exited with its final figures when it ended
 * meanwhile. Returns 0 or a negative errno (logged).
 */
int ingest_restore(struct ingest *ing, const char *name, int fd, double now);

/* Closes every connection (their entries exit at `now`) and the agent
 * socket (agentsock_close()), and frees ing. */
void ingest_close(struct ingest *ing, double now);

#endif
