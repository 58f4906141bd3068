/* guest_fdrace.c: threads close and reopen their descriptors while others fork children that allocate; no file may change under them (issue 12). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/*
 * Usage: guest_fdrace DIR ROUNDS MIN_MS
 *
 * RACERS threads each own a file DIR/race.N, open as descriptor F with a
 * spare B = dup(F). Each round a racer closes F, makes a few system calls,
 * puts the file back on F with dup2(B, F), checks that F is still its file (fstat: same
 * device and inode as B's) and writes one record through it. A descriptor
 * the agent took in between (it is the lowest free one, often F) and then
 * closed would close the racer's file, or the racer's dup2 would silently
 * replace the agent's. FORKERS threads meanwhile allocate (the agent's
 * slow path runs on them: registering again once a second when there is
 * no daemon) and fork children that allocate (each registers with
 * memprobed) and exit. The racers go on for
 * at least ROUNDS rounds and MIN_MS milliseconds, so an agent retrying a
 * daemon once a second gets its chances. At the end each file must hold
 * exactly its records, in order.
 *
 * Prints one line that does not depend on timing; exits 0, or 1 when a
 * racer found its descriptor changed.
 */

#define RACERS  4
#define FORKERS 2
#define REC     16

static const char *dir;
static long rounds;
static long long until_ms;
static volatile int racing = 1;
static int broken;
static pthread_mutex_t say_lock = PTHREAD_MUTEX_INITIALIZER;

struct racer {
	int id;
	int fd, spare;
	long done;
};

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void complain(const char *fmt, int id, long round, long a, long b)
{
	pthread_mutex_lock(&say_lock);
	if (broken++ < 8) {
		fprintf(stderr, fmt, id, round, a, b);
		fputc('\n', stderr);
	}
	pthread_mutex_unlock(&say_lock);
}

static void *racer(void *arg)
{
	struct racer *r = arg;
	struct stat want, got;
	char rec[REC + 1];

	if (fstat(r->spare, &want) < 0)
		return NULL;
	for (long i = 0; i < rounds || now_ms() < until_ms; i++) {
		/* The descriptor stays closed for a few system calls. */
		close(r->fd);
		for (int k = 0; k < 20; k++)
			getppid();
		if (dup2(r->spare, r->fd) != r->fd) {
			complain("racer %d round %ld: dup2: errno %ld%ld", r->id, i, errno, 0);
			break;
		}
		if (fstat(r->fd, &got) < 0) {
			complain("racer %d round %ld: fstat: errno %ld%ld", r->id, i, errno, 0);
			break;
		}
		if (got.st_ino != want.st_ino || got.st_dev != want.st_dev) {
			complain("racer %d round %ld: its descriptor is another file (inode %ld, "
			    "want %ld)", r->id, i, (long)got.st_ino, (long)want.st_ino);
			break;
		}
		snprintf(rec, sizeof(rec), "%02d %012ld\n", r->id, i);
		if (write(r->fd, rec, REC) != REC) {
			complain("racer %d round %ld: write: errno %ld%ld", r->id, i, errno, 0);
			break;
		}
		r->done = i + 1;
	}
	return NULL;
}

static void *forker(void *arg)
{
	long *children = arg;

	while (racing) {
		pid_t pid;
		int st;

		/* The parent allocates too, out of the racers' way: its agent's
		 * slow path runs here, on another thread than theirs. */
		for (int i = 0; i < 16; i++) {
			char *p = malloc(16384);

			if (p != NULL)
				memset(p, i, 16384);
			free(p);
		}
		pid = fork();

		if (pid == 0) {
			/* Past the agent's tick: the child registers. */
			for (int i = 0; i < 40; i++) {
				char *p = malloc(16384);

				if (p != NULL)
					memset(p, i, 16384);
				free(p);
			}
			_exit(0);
		}
		if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
		    WEXITSTATUS(st) != 0) {
			complain("forker %d child %ld: failed (%ld)%ld", 0, *children, st, 0);
			break;
		}
		++*children;
	}
	return NULL;
}

/* Whether racer r's file holds exactly its records 0..r->done-1. */
static int file_ok(const struct racer *r)
{
	char path[4096], want[REC + 1], got[REC];
	int fd, ok = 1;

	snprintf(path, sizeof(path), "%s/race.%d", dir, r->id);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	for (long i = 0; i < r->done && ok; i++) {
		snprintf(want, sizeof(want), "%02d %012ld\n", r->id, i);
		ok = read(fd, got, REC) == REC && memcmp(got, want, REC) == 0;
	}
	ok = ok && read(fd, got, 1) == 0;
	close(fd);
	return ok;
}

int main(int argc, char **argv)
{
	struct racer rs[RACERS];
	pthread_t rt[RACERS], ft[FORKERS];
	long children[FORKERS] = { 0 };

	if (argc != 4) {
		fprintf(stderr, "usage: guest_fdrace DIR ROUNDS MIN_MS\n");
		return 2;
	}
	dir = argv[1];
	rounds = atol(argv[2]);
	until_ms = now_ms() + atol(argv[3]);
	for (int i = 0; i < RACERS; i++) {
		char path[4096];

		snprintf(path, sizeof(path), "%s/race.%d", dir, i);
		rs[i].id = i;
		rs[i].done = 0;
		rs[i].fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
		rs[i].spare = rs[i].fd >= 0 ? dup(rs[i].fd) : -1;
		if (rs[i].spare < 0) {
			perror(path);
			return 2;
		}
	}
	/* The spares move up, out of the way: the low numbers are the racers'. */
	for (int i = 0; i < RACERS; i++) {
		int hi = fcntl(rs[i].spare, F_DUPFD, 100);

		close(rs[i].spare);
		rs[i].spare = hi;
	}
	for (int i = 0; i < FORKERS; i++)
		pthread_create(&ft[i], NULL, forker, &children[i]);
	for (int i = 0; i < RACERS; i++)
		pthread_create(&rt[i], NULL, racer, &rs[i]);
	for (int i = 0; i < RACERS; i++)
		pthread_join(rt[i], NULL);
	racing = 0;
	for (int i = 0; i < FORKERS; i++)
		pthread_join(ft[i], NULL);
	for (int i = 0; i < RACERS; i++) {
		if (rs[i].done < rounds)
			broken++;
		else if (!file_ok(&rs[i])) {
			fprintf(stderr, "racer %d: its file does not hold its %ld records\n", i,
			    rs[i].done);
			broken++;
		}
	}
	if (children[0] + children[1] == 0)
		broken++;
	printf("fdrace: %s, %d racers of at least %ld rounds, %d forkers\n",
	    broken ? "descriptors changed under the program" : "ok", RACERS, rounds, FORKERS);
	return broken ? 1 : 0;
}
