/* pending.h: agent connections that have not said HELLO yet: counts per uid, oldest first. */
#ifndef MEMPROBE_PENDING_H
#define MEMPROBE_PENDING_H

#include <stddef.h>
#include <sys/types.h>

/*
 * The ingest module keeps every connection between its accept and its
 * HELLO here, to bound how many one uid may hold (max_pending_per_uid) and
 * to close those that stay silent (hello_timeout). Taking the oldest and
 * removing a node are O(1); what is asked by uid looks it up in a hash
 * table of 256 buckets. Single-threaded: the main thread only.
 *
 * A node is embedded in the caller's connection and owned by it; the set
 * only links it. A node must be zeroed before its first pending_add().
 */
struct pending_uid;

struct pending_node;

struct pending_link {
	struct pending_node *prev, *next;
};

struct pending_node {
	struct pending_link all;                /* every pending node, oldest first */
	struct pending_link same_uid;           /* those of its uid, oldest first */
	struct pending_uid *owner;              /* NULL: not pending */
	double since;                           /* monotonic seconds at pending_add() */
};

struct pending;

/* A new empty set, or NULL when out of memory. */
struct pending *pending_new(void);

/* Frees the set. Nodes still in it are unlinked (they stay the caller's). */
void pending_free(struct pending *p);

/* Adds n, which is not pending, as the newest node of uid, at time `now`.
 * Returns 0, or -ENOMEM (n is then not pending). */
int pending_add(struct pending *p, struct pending_node *n, uid_t uid, double now);

/* Takes n out of the set; nothing when n is not pending. */
void pending_remove(struct pending *p, struct pending_node *n);

/* Whether n is in the set. */
int pending_is(const struct pending_node *n);

/* Pending nodes of uid, and of every uid. */
unsigned pending_count(const struct pending *p, uid_t uid);
size_t pending_total(const struct pending *p);

/* The oldest pending node of every uid, or of uid; NULL when none. */
struct pending_node *pending_oldest(const struct pending *p);
struct pending_node *pending_oldest_of(const struct pending *p, uid_t uid);

#endif
