/* pending.c: agent connections that have not said HELLO yet: counts per uid, oldest first. */
#include "pending.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* Buckets of the uid table: a few hundred uids at once is a large host;
 * chains grow past that, which costs time, never correctness. */
#define PENDING_BUCKETS 256

/* A list of nodes through one of their links. */
struct pending_list {
	struct pending_node *head, *tail;
};

/* One uid that has pending nodes; freed with its last one. */
struct pending_uid {
	struct pending_uid *next;       /* in its bucket */
	uid_t uid;
	unsigned n;
	struct pending_list nodes;      /* through same_uid */
};

struct pending {
	struct pending_list nodes;      /* through all */
	size_t total;
	struct pending_uid *bucket[PENDING_BUCKETS];
};

#define LINK_ALL offsetof(struct pending_node, all)
#define LINK_UID offsetof(struct pending_node, same_uid)

/* The link at offset off (LINK_ALL or LINK_UID) of n. */
static struct pending_link *pending_link(struct pending_node *n, size_t off)
{
	return (struct pending_link *)(void *)((char *)n + off);
}

static void pending_push(struct pending_list *l, struct pending_node *n, size_t off)
{
	struct pending_link *k = pending_link(n, off);

	k->next = NULL;
	k->prev = l->tail;
	if (l->tail != NULL)
		pending_link(l->tail, off)->next = n;
	else
		l->head = n;
	l->tail = n;
}

static void pending_unlink(struct pending_list *l, struct pending_node *n, size_t off)
{
	struct pending_link *k = pending_link(n, off);

	if (k->prev != NULL)
		pending_link(k->prev, off)->next = k->next;
	else
		l->head = k->next;
	if (k->next != NULL)
		pending_link(k->next, off)->prev = k->prev;
	else
		l->tail = k->prev;
	k->prev = k->next = NULL;
}

static size_t pending_hash(uid_t uid)
{
	/* Fibonacci hashing: consecutive uids spread over the buckets. */
	return (size_t)(((uint32_t)uid * 2654435769u) >> 24) % PENDING_BUCKETS;
}

static struct pending_uid *pending_find(const struct pending *p, uid_t uid)
{
	struct pending_uid *u;

	for (u = p->bucket[pending_hash(uid)]; u != NULL; u = u->next)
		if (u->uid == uid)
			return u;
	return NULL;
}

struct pending *pending_new(void)
{
	return calloc(1, sizeof(struct pending));
}

void pending_free(struct pending *p)
{
	if (p == NULL)
		return;
	while (p->nodes.head != NULL)
		pending_remove(p, p->nodes.head);
	free(p);
}

int pending_add(struct pending *p, struct pending_node *n, uid_t uid, double now)
{
	struct pending_uid *u = pending_find(p, uid);

	if (u == NULL) {
		size_t b = pending_hash(uid);

		u = calloc(1, sizeof(*u));
		if (u == NULL)
			return -ENOMEM;
		u->uid = uid;
		u->next = p->bucket[b];
		p->bucket[b] = u;
	}
	n->owner = u;
	n->since = now;
	pending_push(&p->nodes, n, LINK_ALL);
	pending_push(&u->nodes, n, LINK_UID);
	u->n++;
	p->total++;
	return 0;
}

void pending_remove(struct pending *p, struct pending_node *n)
{
	struct pending_uid *u = n->owner, **link;

	if (u == NULL)
		return;
	pending_unlink(&p->nodes, n, LINK_ALL);
	pending_unlink(&u->nodes, n, LINK_UID);
	n->owner = NULL;
	p->total--;
	if (--u->n > 0)
		return;
	for (link = &p->bucket[pending_hash(u->uid)]; *link != u; link = &(*link)->next)
		;
	*link = u->next;
	free(u);
}

int pending_is(const struct pending_node *n)
{
	return n->owner != NULL;
}

unsigned pending_count(const struct pending *p, uid_t uid)
{
	const struct pending_uid *u = pending_find(p, uid);

	return u != NULL ? u->n : 0;
}

size_t pending_total(const struct pending *p)
{
	return p->total;
}

struct pending_node *pending_oldest(const struct pending *p)
{
	return p->nodes.head;
}

struct pending_node *pending_oldest_of(const struct pending *p, uid_t uid)
{
	const struct pending_uid *u = pending_find(p, uid);

	return u != NULL ? u->nodes.head : NULL;
}
