/* ptab.h: the process table: one entry per agent-instrumented process. */
#ifndef MEMPROBE_PTAB_H
#define MEMPROBE_PTAB_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "procfs.h"
#include "proto.h"
#include "region.h"

/*
 * A process is keyed by (pid, start time): the start time is read from
 * /proc by the caller (the kernel's word, never the message's), so a reused
 * pid makes a new entry. Several connections of one process (the C agent and
 * the Python agent) share the entry. When the last connection closes the
 * entry turns "exited", keeps its final figures, and is dropped exited_ttl
 * seconds later by ptab_expire().
 *
 * Threads: ingest (the main thread) writes, HTTP threads take snapshots; a
 * mutex inside guards the table. Times are seconds on one monotonic clock,
 * passed in by the caller so tests can drive a fake clock.
 */
struct ptab;
struct ptab_proc;               /* an entry, held by its connections */

struct ptab_limits {
	unsigned max_processes;     /* entries, exited included */
	unsigned max_gauges;        /* per process */
	double exited_ttl;          /* seconds */
	unsigned history_length;    /* points kept per process; 0: no history */
};

struct ptab_key {
	pid_t pid;
	uint64_t start_time;        /* clock ticks since boot; 0 if unknown */
};

/* Agent kinds seen by an entry, as bits. */
#define PTAB_AGENT_BIT(kind) (1u << (kind))     /* kind: enum proto_agent */

/* Returns a new, empty table, or NULL when out of memory. */
struct ptab *ptab_new(const struct ptab_limits *lim);

/* Frees the table and every entry; no ptab_proc may be used afterwards. */
void ptab_free(struct ptab *pt);

/* Changes the limits; existing entries and gauges above them are kept. */
void ptab_set_limits(struct ptab *pt, const struct ptab_limits *lim);

/*
 * A connection of process `key`, run by `uid`, said HELLO. Finds or creates
 * the entry, revives it if it had exited, updates comm/exe (made valid UTF-8)
 * from the HELLO and counts the connection. An entry of the same pid with
 * another start time is a dead process whose pid was reused: it is removed
 * (or hidden until its connections close). When the table is full the
 * oldest exited entry makes room; if none has exited, the process is refused
 * and counted. Returns 0 and the entry in *out (valid until the matching
 * ptab_conn_closed()), -ENOSPC when refused, or -ENOMEM.
 */
int ptab_conn_open(struct ptab *pt, const struct ptab_key *key, uid_t uid,
    const struct proto_hello *hello, double now, struct ptab_proc **out);

/*
 * A process handed over a shared region (REGISTER): a read-only mapping of
 * `len` bytes at `base`, checked by region_check() into *hdr. comm and exe
 * were read from /proc by the caller. Finds or creates the entry of `key`
 * as ptab_conn_open() does (and revives an exited one), and takes the
 * mapping (unmapped when it is replaced, when the process has exited and
 * its final figures are read, or with the entry):
 *  - a region of the same agent kind and instance replaces the one held
 *    when its generation is higher (the agent moved its figures);
 *  - one of another instance is a new program image (exec): the old
 *    image's counters are kept as the entry's base so they never go down,
 *    or, when the command changed, retired under the old command.
 * The caller watches the process (its pidfd) and calls ptab_proc_exited()
 * once; `*watch_new` says whether this call started the entry's life (so a
 * watch is needed) or the entry already has one.
 * Returns 0 and *out; -EALREADY when an older or equal generation came (the
 * caller unmaps it); -ENOSPC when refused (table full); -ENOMEM.
 */
int ptab_region_open(struct ptab *pt, const struct ptab_key *key, uid_t uid,
    const char *comm, const char *exe, void *base, uint64_t len,
    const struct region_hdr *hdr, double now, struct ptab_proc **out, int *watch_new);

/* How a process ended, as far as the daemon could tell. */
struct ptab_exit {
	int known;                      /* 0: unknown */
	int code;                       /* exit status, when exited normally */
	int signal;                     /* the signal that killed it, or 0 */
};

/*
 * The watched process is gone (its pidfd said so): its final figures are
 * read from its regions, which are then unmapped, and it turns exited (once
 * no legacy connection is open either). Exactly once per watch.
 */
void ptab_proc_exited(struct ptab *pt, struct ptab_proc *p, const struct ptab_exit *how,
    double now);

/* The start time the entry was keyed with, and its pid (for the caller's
 * /proc reads when it exits). */
void ptab_proc_key(const struct ptab_proc *p, struct ptab_key *out);

/* Once a second: reads every live region into its entry's figures and adds
 * a history point for each. */
void ptab_tick(struct ptab *pt, double now);

/* Stores a SAMPLE that arrived at `now` from a connection of agent kind
 * `agent` into its entry: each section present replaces that section's
 * figures; the thread count comes from the C agent when one reports. */
void ptab_sample(struct ptab *pt, struct ptab_proc *p, unsigned agent,
    const struct proto_sample *s, double now);

/* Sets a program gauge. Returns 0, or -ENOSPC when the entry already holds
 * max_gauges other names (the value is dropped and counted). */
int ptab_gauge(struct ptab *pt, struct ptab_proc *p, const char *name, double value);

/* One connection (of agent kind `agent`, as in its HELLO) of the entry
 * closed; the last one marks it exited at `now`. p must not be used by that
 * connection afterwards. */
void ptab_conn_closed(struct ptab *pt, struct ptab_proc *p, unsigned agent, double now);

/* Drops entries that exited more than exited_ttl seconds before `now`.
 * Returns how many were dropped. */
size_t ptab_expire(struct ptab *pt, double now);

/*
 * /proc figures, refreshed outside the lock: ptab_live_keys() copies the
 * keys of the live entries into a new array (the caller free()s *out), the
 * caller reads /proc for each, and ptab_set_procfs() stores what it read
 * (ok[i] zero: nothing could be read for keys[i], its last figures stay).
 * An entry that has gone or changed meanwhile is skipped.
 */
int ptab_live_keys(struct ptab *pt, struct ptab_key **out, size_t *n);
void ptab_set_procfs(struct ptab *pt, const struct ptab_key *keys,
    const struct procfs_status *st, const int *ok, size_t n);

/*
 * Stack depth from resident pages (stackres.h), measured outside the lock
 * like the /proc figures. ptab_stack_ranges() copies the stack range of
 * every live thread of the live entries keys[0..n) (as their C agent's
 * region says now) into a new array (the caller free()s *out), each
 * tagged with the index of its key; ptab_set_stack_depths() stores what
 * was measured for keys[i] in d[i]. Returns 0 or -ENOMEM.
 */
struct ptab_srange {
	size_t key;                     /* index into keys */
	uint64_t instance;              /* the region's program image */
	uint32_t tid;
	int is_main;
	uint64_t top, size;             /* region.h: struct region_stack */
};
int ptab_stack_ranges(struct ptab *pt, const struct ptab_key *keys, size_t n,
    struct ptab_srange **out, size_t *nout);

/* Where a process's resident stack figures come from. */
enum ptab_stack_source {
	PTAB_STACK_AGENT,               /* none: stack pointers at allocations only */
	PTAB_STACK_VMSTK,               /* main thread from VmStk; others from the agent */
	PTAB_STACK_PAGEMAP,             /* every live thread's resident pages */
};

/* Resident-page figures of one process, in bytes. Each is a floor that
 * the entry keeps as a peak: its reported stack_peak_bytes and
 * stack_main_peak_bytes are the larger of these peaks and the agent's. */
struct ptab_sdepth {
	int set;                        /* 0: nothing measured; skipped */
	uint64_t instance;              /* of the ranges measured; 0: any */
	enum ptab_stack_source source;
	uint64_t peak;                  /* deepest thread */
	uint64_t main_peak;             /* the main thread */
};
void ptab_set_stack_depths(struct ptab *pt, const struct ptab_key *keys,
    const struct ptab_sdepth *d, size_t n);

/* ---- snapshots: plain data, copied out under the lock ---- */

struct ptab_gauge {
	const char *name;
	double value;
};

struct ptab_view {
	pid_t pid;
	uint64_t start_time;
	uid_t uid;
	const char *comm;               /* valid UTF-8, never NULL */
	const char *exe;                /* valid UTF-8, may be "" */
	unsigned agents;                /* PTAB_AGENT_BIT()s */
	unsigned connections;           /* open now */
	int exited;
	double exited_seconds;          /* since it exited; 0 while live */
	struct ptab_exit exit;          /* how, once exited */
	const char *size_source;        /* how the C agent sizes blocks ("glibc_header",
	                                   "usable", "requested"); NULL: no C agent */
	double age_seconds;             /* since the entry was created */
	uint64_t hello_stack_limit;     /* from the last HELLO */
	uint64_t samples;               /* SAMPLEs received */
	uint32_t have;                  /* PROTO_S_* sections ever received */
	int have_threads;               /* a SAMPLE arrived: s.threads is set */
	struct proto_sample s;          /* latest figures of each section */
	int have_procfs;                /* pfs is set */
	struct procfs_status pfs;       /* latest /proc figures */
	enum ptab_stack_source stack_source;    /* of the resident-page figures */
	size_t ngauges;
	const struct ptab_gauge *gauges;        /* sorted by name */
	uint64_t gauges_dropped;
};

/* Counters of processes whose entries are gone, summed per command, so
 * per-command sums never go down (series = command). */
struct ptab_retired {
	const char *comm;
	uint32_t have;                  /* PROTO_S_* sections summed */
	struct proto_sample s;          /* only the counter fields are set */
};

struct ptab_snap {
	size_t n;
	struct ptab_view *procs;        /* sorted by pid */
	size_t nretired;
	const struct ptab_retired *retired;
	uint64_t live;                  /* entries with an open connection */
	uint64_t processes_refused;     /* since start */
	uint64_t gauges_dropped;        /* since start, all entries */
	struct ptab_limits limits;
};

/* Copies the table into a new snapshot (one allocation; strings and gauges
 * inside it). Returns 0 and *out, which the caller frees with
 * ptab_snap_free(), or -ENOMEM. */
int ptab_snapshot(struct ptab *pt, double now, struct ptab_snap **out);

void ptab_snap_free(struct ptab_snap *snap);

/* ---- history: recent figures of one process, for plots (history.h) ---- */

/*
 * Each SAMPLE updates the newest point; a new point starts when the newest
 * is a second old or more, so a ring of history_length points spans about
 * history_length seconds whatever the agent's interval. Times are on the
 * caller's monotonic clock.
 */
struct ptab_hpoint {
	double t;
	uint64_t heap_live_bytes;
	uint64_t heap_peak_bytes;
	uint64_t heap_live_blocks;
	uint64_t stack_peak_bytes;
	uint64_t mmap_live_bytes;
	uint64_t resident_bytes;        /* latest /proc figure, when have_resident */
	uint64_t threads;
	int have_resident;              /* 0: /proc not read yet (null in JSON) */
};

struct ptab_hist {
	pid_t pid;
	uint64_t start_time;
	const char *comm;
	int exited;
	size_t n;
	const struct ptab_hpoint *points;       /* oldest first */
};

/* Copies the history of the tracked process `pid` into a new ptab_hist
 * (one allocation; the caller free()s it). Returns 0, -ENOENT when no
 * tracked process has that pid, or -ENOMEM. */
int ptab_history(struct ptab *pt, pid_t pid, struct ptab_hist **out);

/* Approximate bytes held by the table and its entries (for the benchmark
 * and /api/v1/status). */
size_t ptab_memory(struct ptab *pt);

/* ---- heap profiles (heapprof.h, profsym.h) ---- */

struct heapprof;
struct profsym;

/*
 * A process's heap profile as one request sees it: the profile (read now
 * from the region of a live process, or the copy kept since it exited,
 * for exited_ttl), the symbol cache of its program image, and its names.
 * Every pointer is the holder's own (references and copies), valid after
 * the entry has gone; ptab_profile_release() drops them.
 */
struct ptab_profile {
	pid_t pid;
	uint64_t start_time;
	int exited;
	char *comm, *exe;
	struct heapprof *hp;
	struct profsym *syms;
};

/*
 * The profile of the newest tracked process `pid` into *out. Returns 0;
 * -ENOENT when no tracked process has that pid; -ENODATA when it has no
 * profile (profiling off, or no C agent); -EINVAL when its profile area
 * is malformed; -ENOMEM. *out needs no release unless 0 is returned.
 */
int ptab_profile(struct ptab *pt, pid_t pid, struct ptab_profile *out);
void ptab_profile_release(struct ptab_profile *pp);

/* The profiles of every tracked process that has one, into a new array
 * (*n of them; free with ptab_profiles_free()). Returns 0 or -ENOMEM. */
int ptab_profiles(struct ptab *pt, struct ptab_profile **out, size_t *n);
void ptab_profiles_free(struct ptab_profile *v, size_t n);

/* Bytes of profiles the table keeps (copies of exited processes' and
 * symbol caches), and how many exited processes keep a copy. */
void ptab_profile_memory(struct ptab *pt, size_t *bytes, size_t *kept);

/* Entries in the table (exited ones included, as in a snapshot) and those
 * with an agent connected, without copying anything (for systemd's
 * STATUS=). */
void ptab_counts(struct ptab *pt, size_t *tracked, size_t *live);

#endif
