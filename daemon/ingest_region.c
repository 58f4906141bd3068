/* ingest_region.c: the regions agents hand over (REGISTER) and their processes, watched until they end. */
#include "ingest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fdstore.h"
#include "ingest_int.h"
#include "log.h"
#include "pidwatch.h"
#include "procfs.h"
#include "region.h"

/*
 * Maps a region's memfd read-only, once its seals promise it can never
 * shrink under us (a shrunk file would fault the daemon on its next read).
 * Returns the mapping and its length, or NULL with why in *why.
 */
static void *ingest_map_region(int fd, uint64_t *len, struct region_hdr *hdr, const char **why)
{
	struct stat st;
	void *base;
	int seals = fcntl(fd, F_GET_SEALS);

	if (seals < 0 || (seals & (F_SEAL_SHRINK | F_SEAL_GROW)) != (F_SEAL_SHRINK | F_SEAL_GROW)) {
		*why = "not a memfd sealed against shrinking and growing";
		return NULL;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < (off_t)REGION_SLOT_OFF ||
	    (uint64_t)st.st_size > REGION_MAX_SIZE) {
		*why = "size out of bounds";
		return NULL;
	}
	*len = (uint64_t)st.st_size;
	base = mmap(NULL, *len, PROT_READ, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		*why = "mmap failed";
		return NULL;
	}
	if (region_check(base, *len, hdr) < 0) {
		munmap(base, *len);
		*why = "bad header";
		return NULL;
	}
	return base;
}

/*
 * Starts watching a process through its pidfd (which the watch owns), or,
 * with pidfd -1 (none could be had: out of descriptors), by looking at its
 * /proc entry on every tick (ingest_expire()).
 */
static int ingest_watch(struct ingest *ing, int pidfd, struct ptab_proc *proc, uid_t uid)
{
	struct epoll_event ev;
	struct watch *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return -ENOMEM;
	w->kind = INGEST_K_WATCH;
	w->fd = pidfd;
	w->proc = proc;
	w->uid = uid;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.ptr = w;
	if (pidfd >= 0 && epoll_ctl(ing->ep, EPOLL_CTL_ADD, pidfd, &ev) < 0) {
		int e = -errno;

		free(w);
		return e;
	}
	w->next = ing->watches;
	if (ing->watches != NULL)
		ing->watches->prev = w;
	ing->watches = w;
	STAT_ADD(ing->st.agents_connected, 1);
	return 0;
}

static void ingest_forget(struct ingest *ing, struct ptab_proc *proc, uid_t uid);

/* How the process of a watch ended; pidfd may be -1. */
static void ingest_exit_status(struct ptab_proc *proc, int pidfd, struct ptab_exit *how)
{
	struct ptab_key key;
	int status;

	memset(how, 0, sizeof(*how));
	ptab_proc_key(proc, &key);
	if (!pidwatch_exit_status(pidfd, key.pid, key.start_time, &status))
		return;
	how->known = 1;
	if (WIFSIGNALED(status))
		how->signal = WTERMSIG(status);
	else
		how->code = WEXITSTATUS(status);
}

void ingest_unwatch(struct ingest *ing, struct watch *w, int ended, double now)
{
	struct ptab_exit how;

	if (w->fd >= 0)
		epoll_ctl(ing->ep, EPOLL_CTL_DEL, w->fd, NULL);
	if (ended) {
		ingest_exit_status(w->proc, w->fd, &how);
		ptab_proc_exited(ing->pt, w->proc, &how, now);
		ingest_forget(ing, w->proc, w->uid);
	}
	if (w->fd >= 0)
		close(w->fd);
	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		ing->watches = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	STAT_SUB(ing->st.agents_connected, 1);
	free(w);
}

/* The store names of the regions of a process. */
static void ingest_forget(struct ingest *ing, struct ptab_proc *proc, uid_t uid)
{
	char name[FDSTORE_NAME_MAX];
	struct ptab_key key;

	if (ing->fs == NULL)
		return;
	ptab_proc_key(proc, &key);
	for (unsigned k = PROTO_AGENT_C; k <= PROTO_AGENT_PYTHON; k++) {
		fdstore_name(name, key.pid, key.start_time, k, uid);
		fdstore_del(ing->fs, name);
	}
}

/*
 * Gives a mapped region to the process table (which owns the mapping from
 * then on), keeps its memfd in the store, and watches the process when
 * `alive` through pidfd (consumed; -1: none, then its /proc entry is
 * looked at); a process already gone has its figures final at once.
 * Returns 0, or a negative errno (the caller logs it).
 */
static int ingest_take_region(struct ingest *ing, const struct conn *c,
    const struct ptab_key *key, uid_t uid, void *base, uint64_t len,
    const struct region_hdr *hdr, int memfd, int pidfd, int alive, double now)
{
	char comm[PROTO_COMM_MAX + 1], exe[PROTO_EXE_MAX + 1], name[FDSTORE_NAME_MAX];
	struct ptab_proc *proc;
	int watch_new = 0, r;

	if (!alive) {
		if (pidfd >= 0)
			close(pidfd);
		pidfd = -1;
	}
	if (c != NULL) {
		ingest_names(c, alive, comm, sizeof(comm), exe, sizeof(exe));
	} else if (!alive || procfs_names(key->pid, comm, sizeof(comm), exe, sizeof(exe)) < 0 ||
	    comm[0] == '\0') {
		strcpy(comm, "?");
		exe[0] = '\0';
	}
	r = ptab_region_open(ing->pt, key, uid, comm, exe, base, len, hdr, now, &proc,
	    &watch_new);
	if (r < 0) {
		munmap(base, len);
		if (pidfd >= 0)
			close(pidfd);
		return r;
	}
	if (ing->fs != NULL && memfd >= 0 && alive) {
		fdstore_name(name, key->pid, key->start_time, hdr->agent, uid);
		if (fdstore_put(ing->fs, name, memfd) < 0)
			log_ratelimited("fdstore", "agent pid %d: cannot keep its region for a restart",
			    (int)key->pid);
	}
	if (!watch_new) {
		if (pidfd >= 0)
			close(pidfd);
		return 0;
	}
	if (!alive || ingest_watch(ing, pidfd, proc, uid) < 0) {
		/* Gone already, or no way to watch it: its figures are final. */
		struct ptab_exit how;

		ingest_exit_status(proc, pidfd, &how);
		ptab_proc_exited(ing->pt, proc, &how, now);
		ingest_forget(ing, proc, uid);
		if (pidfd >= 0)
			close(pidfd);
	}
	return 0;
}

int ingest_register(struct ingest *ing, struct conn *c, const struct proto_register *m,
    int *fds, int *nfd, double now)
{
	struct region_hdr hdr;
	struct ptab_key key;
	const char *why = NULL;
	uint64_t len = 0;
	void *base = NULL;
	int pidfd = -1, memfd = -1, alive = 1, r;

	if (*nfd < 1)
		why = "no memfd";
	else if (m->layout != REGION_LAYOUT)
		why = "unknown layout";
	else
		base = ingest_map_region(fds[0], &len, &hdr, &why);
	if (base != NULL && hdr.agent != m->agent) {
		why = "agent kind differs from the message";
		munmap(base, len);
		base = NULL;
	}
	if (base != NULL) {
		memfd = fds[0];
		fds[0] = -1;
	}
	if (*nfd > 1 && pidwatch_pid(fds[1]) == c->pid) {
		pidfd = fds[1];
		fds[1] = -1;
	}
	ingest_close_fds(fds, nfd);
	if (base == NULL) {
		STAT_ADD(ing->st.rejected[INGEST_R_REGION], 1);
		log_ratelimited("reject", "agent pid %d: region refused (%s); closing its connection",
		    (int)c->pid, why);
		if (pidfd >= 0)
			close(pidfd);
		return -1;
	}
	/* Without the agent's own pidfd (an old kernel, a Python without
	 * os.pidfd_open) we open one: the sender may have gone and its pid
	 * been reused meanwhile, which the start time below then tells. */
	if (pidfd < 0)
		pidfd = pidwatch_open(c->pid, &alive);
	key.pid = c->pid;
	/* The start time is the kernel's while the process is known to be
	 * alive after reading it; else the region's word stands in (a
	 * process can only name its own pid). */
	if (procfs_start_time(c->pid, &key.start_time) < 0 || !alive ||
	    (pidfd >= 0 && pidwatch_ended(pidfd))) {
		key.start_time = c->have_start_time ? c->start_time : hdr.start_time;
		alive = 0;
	}
	r = ingest_take_region(ing, c, &key, c->uid, base, len, &hdr, memfd, pidfd, alive, now);
	close(memfd);
	if (r == -EALREADY)
		return 0;               /* an older copy that arrived late */
	if (r < 0) {
		log_ratelimited("refuse", "agent pid %d: %s; region not taken", (int)c->pid,
		    r == -ENOSPC ? "process table full (max_processes)" : strerror(-r));
		return -1;
	}
	c->registered = 1;
	pending_remove(ing->pending, &c->pn);
	log_debug("agent pid %d: %s region (generation %llu, %u slots)",
	    (int)c->pid, hdr.agent == PROTO_AGENT_C ? "c" : "python",
	    (unsigned long long)hdr.generation, hdr.nslots);
	return 0;
}

int ingest_restore(struct ingest *ing, const char *name, int fd, double now)
{
	struct region_hdr hdr;
	struct procstat st;
	struct ptab_key key;
	const char *why = NULL;
	unsigned agent;
	uint64_t len;
	uid_t uid;
	void *base;
	int pidfd = -1, alive = 1, r;

	if (fdstore_parse(name, &key.pid, &key.start_time, &agent, &uid) < 0) {
		close(fd);
		return -EINVAL;
	}
	base = ingest_map_region(fd, &len, &hdr, &why);
	if (base == NULL || hdr.agent != agent) {
		if (base != NULL)
			munmap(base, len);
		close(fd);
		log_warnx("kept region %s: %s; dropped", name, why != NULL ? why : "agent kind");
		return -EINVAL;
	}
	/* Still the same process? Else it ended while no daemon ran: its
	 * figures are final. */
	pidfd = pidwatch_open(key.pid, &alive);
	if (procfs_stat(key.pid, &st) < 0 || st.starttime != key.start_time ||
	    (pidfd >= 0 && pidwatch_ended(pidfd)))
		alive = 0;
	r = ingest_take_region(ing, NULL, &key, uid, base, len, &hdr, fd, pidfd, alive, now);
	close(fd);
	return r == -EALREADY ? 0 : r;
}

void ingest_set_store(struct ingest *ing, struct fdstore *fs)
{
	ing->fs = fs;
}

void ingest_expire_watches(struct ingest *ing, double now)
{
	struct watch *w, *next;

	for (w = ing->watches; w != NULL; w = next) {
		struct ptab_key key;
		uint64_t st;

		next = w->next;
		if (w->fd >= 0)
			continue;
		ptab_proc_key(w->proc, &key);
		if (procfs_start_time(key.pid, &st) < 0 || st != key.start_time)
			ingest_unwatch(ing, w, 1, now);
	}
}
