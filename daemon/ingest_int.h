/* ingest_int.h: what ingest.c and ingest_region.c share: the ingest's state, its connections and watches. Not for other modules. */
#ifndef MEMPROBE_INGEST_INT_H
#define MEMPROBE_INGEST_INT_H

#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "ingest.h"
#include "pending.h"
#include "proto.h"
#include "ptab.h"

/* What an epoll event's pointer names (its first field). */
enum ingest_kind {
	INGEST_K_CONN = 1,
	INGEST_K_WATCH,
};

/* Descriptors a message may carry: a REGISTER's memfd and pidfd. */
#define INGEST_MAX_FDS 2

/* A process that handed over its region: its pidfd says when it ends. */
struct watch {
	int kind;                       /* INGEST_K_WATCH */
	struct watch *prev, *next;
	int fd;                         /* pidfd */
	struct ptab_proc *proc;         /* owned by the ptab, kept while watched */
	uid_t uid;
};

struct conn {
	int kind;                       /* INGEST_K_CONN */
	struct conn *prev, *next;
	struct pending_node pn;         /* pending until its HELLO */
	int fd;
	pid_t pid;                      /* SO_PEERCRED at accept */
	uid_t uid;
	gid_t gid;
	uint64_t start_time;            /* from /proc at accept */
	int have_start_time;
	int have_names;                 /* comm and exe read from /proc at accept */
	char comm[PROTO_COMM_MAX + 1];
	char exe[PROTO_EXE_MAX + 1];
	unsigned agent;                 /* enum proto_agent once HELLO came */
	int hello;
	int bye;
	int registered;                 /* a REGISTER came: nothing may follow */
	struct ptab_proc *proc;         /* set by HELLO; owned by the ptab */
	int64_t rate_second;
	unsigned rate_count;
};

struct ingest {
	int ep;
	struct agentsock *sock;         /* the listener */
	int tfd;                        /* timerfd: the end of an accept backoff */
	unsigned backoff_ms;            /* > 0: the listener rests (out of descriptors) */
	unsigned remake_failures;       /* attempts to make the socket again, in a row */
	struct ingest_limits lim;
	struct ptab *pt;
	struct conn *conns;
	unsigned nconn;
	struct watch *watches;
	struct fdstore *fs;             /* where regions outlive us; may be NULL */
	struct pending *pending;        /* connections before their HELLO */
	struct ingest_stats st;         /* updated with atomics, read by HTTP */
	unsigned char buf[PROTO_MAX_MSG + 1];
};

#define STAT_ADD(field, n) __atomic_fetch_add(&(field), (n), __ATOMIC_RELAXED)
#define STAT_SUB(field, n) __atomic_fetch_sub(&(field), (n), __ATOMIC_RELAXED)

/*
 * The names of a connection's process, from /proc: read now when it still
 * runs (`alive`), else as read when it connected, else "?" (ingest.c).
 */
void ingest_names(const struct conn *c, int alive, char *comm, size_t csize, char *exe,
    size_t esize);

/* Closes the *nfd descriptors of fds that are not -1; *nfd becomes 0. */
void ingest_close_fds(int *fds, int *nfd);

/*
 * A REGISTER: maps the region, checks who sent it, and gives it to the
 * process table. fds[0] is the memfd, fds[1] (optional) the sender's pidfd;
 * both are consumed. Returns 0, or -1 to reject the connection
 * (ingest_region.c).
 */
int ingest_register(struct ingest *ing, struct conn *c, const struct proto_register *m,
    int *fds, int *nfd, double now);

/* The watched process ended (`ended`) or the ingest closes: its final
 * figures when ended, then the watch goes. */
void ingest_unwatch(struct ingest *ing, struct watch *w, int ended, double now);

/* Ends the watches without a pidfd whose process is gone: its /proc entry
 * went or now belongs to another process. Called once a second. */
void ingest_expire_watches(struct ingest *ing, double now);

#endif
