/* log.c: leveled logging to stderr, journald-aware, with a per-key rate limiter. */
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 2048
#define LOG_RATE_SLOTS 32

static const char *log_progname = "memprobed";
static int log_journal;                 /* stderr is journald's stream */
static int log_level_cur = LOG_LEVEL_INFO;

/* syslog priorities for the "<N>" prefix journald understands. */
static const int log_prio[] = {
	[LOG_LEVEL_ERROR] = 3,
	[LOG_LEVEL_WARN] = 4,
	[LOG_LEVEL_INFO] = 6,
	[LOG_LEVEL_DEBUG] = 7,
};

static const char *const log_names[] = {
	[LOG_LEVEL_ERROR] = "error",
	[LOG_LEVEL_WARN] = "warn",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
};

/* Words in front of a message on a terminal; info needs none. */
static const char *const log_tags[] = {
	[LOG_LEVEL_ERROR] = "error: ",
	[LOG_LEVEL_WARN] = "warning: ",
	[LOG_LEVEL_INFO] = "",
	[LOG_LEVEL_DEBUG] = "debug: ",
};

struct log_rate {
	const char *key;        /* NULL: free slot */
	int64_t second;         /* monotonic second of the current window */
	unsigned count;         /* lines logged in that second */
	uint64_t suppressed;
};

static pthread_mutex_t log_rate_lock = PTHREAD_MUTEX_INITIALIZER;
static struct log_rate log_rates[LOG_RATE_SLOTS];

void log_init(const char *progname)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (progname != NULL) {
		const char *slash = strrchr(progname, '/');
		log_progname = slash != NULL ? slash + 1 : progname;
	}
	/* systemd sets JOURNAL_STREAM to stderr's device:inode; a child whose
	 * stderr was redirected elsewhere inherits the variable, so compare. */
	log_journal = 0;
	if (js != NULL && sscanf(js, "%llu:%llu", &dev, &ino) == 2 &&
	    fstat(STDERR_FILENO, &st) == 0 &&
	    (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino)
		log_journal = 1;
}

void log_set_level(enum log_level level)
{
	__atomic_store_n(&log_level_cur, (int)level, __ATOMIC_RELAXED);
}

int log_level_parse(const char *s)
{
	for (size_t i = 0; i < sizeof(log_names) / sizeof(log_names[0]); i++)
		if (strcmp(s, log_names[i]) == 0)
			return (int)i;
	return -EINVAL;
}

const char *log_level_name(enum log_level level)
{
	if ((unsigned)level >= sizeof(log_names) / sizeof(log_names[0]))
		return "?";
	return log_names[level];
}

static int log_enabled(enum log_level level)
{
	return (int)level <= __atomic_load_n(&log_level_cur, __ATOMIC_RELAXED);
}

/* Formats one line and writes it with a single write(2), so lines from the
 * HTTP thread and the main thread never interleave. */
static void log_emit(enum log_level level, int errnum, const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX];
	size_t n;
	int r;

	if (log_journal)
		r = snprintf(line, sizeof(line), "<%d>", log_prio[level]);
	else
		r = snprintf(line, sizeof(line), "%s: %s", log_progname, log_tags[level]);
	n = r > 0 ? (size_t)r : 0;
	r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	if (r > 0)
		n += (size_t)r;
	if (n >= sizeof(line))
		n = sizeof(line) - 1;
	if (errnum != 0 && n < sizeof(line) - 1) {
		r = snprintf(line + n, sizeof(line) - n, ": %s", strerror(errnum));
		if (r > 0)
			n += (size_t)r;
		if (n >= sizeof(line))
			n = sizeof(line) - 1;
	}
	/* Truncated lines still end in a newline. */
	if (n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, n);
}

static void log_emitf(enum log_level level, int errnum, const char *fmt, ...) LOG_PRINTF(3, 4);

static void log_emitf(enum log_level level, int errnum, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(level, errnum, fmt, ap);
	va_end(ap);
}

#define LOG_FN(name, level, with_errno) \
void name(const char *fmt, ...) \
{ \
	int saved = errno; \
	va_list ap; \
	if (!log_enabled(level)) \
		return; \
	va_start(ap, fmt); \
	log_emit(level, (with_errno) ? saved : 0, fmt, ap); \
	va_end(ap); \
	errno = saved; \
}

LOG_FN(log_warn, LOG_LEVEL_WARN, 1)
LOG_FN(log_warnx, LOG_LEVEL_WARN, 0)
LOG_FN(log_info, LOG_LEVEL_INFO, 0)
LOG_FN(log_debug, LOG_LEVEL_DEBUG, 0)
LOG_FN(log_error, LOG_LEVEL_ERROR, 0)

void fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_LEVEL_ERROR, saved, fmt, ap);
	va_end(ap);
	exit(1);
}

void fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_LEVEL_ERROR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}

static int64_t log_second(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

/* The slot for `key`, claiming a free one; a full table shares the last
 * slot, which still bounds the output. Called with log_rate_lock held. */
static struct log_rate *log_rate_slot(const char *key)
{
	for (size_t i = 0; i < LOG_RATE_SLOTS; i++) {
		struct log_rate *r = &log_rates[i];

		if (r->key == NULL) {
			r->key = key;
			return r;
		}
		if (r->key == key || strcmp(r->key, key) == 0)
			return r;
	}
	return &log_rates[LOG_RATE_SLOTS - 1];
}

void log_ratelimited(const char *key, const char *fmt, ...)
{
	int saved = errno;
	struct log_rate *r;
	uint64_t suppressed = 0;
	int64_t now;
	int emit;
	va_list ap;

	if (!log_enabled(LOG_LEVEL_WARN))
		return;
	now = log_second();
	pthread_mutex_lock(&log_rate_lock);
	r = log_rate_slot(key);
	if (r->second != now) {
		suppressed = r->suppressed;
		r->suppressed = 0;
		r->second = now;
		r->count = 0;
	}
	emit = r->count < LOG_RATE_BURST;
	if (emit)
		r->count++;
	else
		r->suppressed++;
	pthread_mutex_unlock(&log_rate_lock);

	if (suppressed > 0)
		log_emitf(LOG_LEVEL_WARN, 0, "%s: suppressed %" PRIu64 " messages",
		    key, suppressed);
	if (emit) {
		va_start(ap, fmt);
		log_emit(LOG_LEVEL_WARN, 0, fmt, ap);
		va_end(ap);
	}
	errno = saved;
}

void log_ratelimit_flush(void)
{
	struct { const char *key; uint64_t n; } out[LOG_RATE_SLOTS];
	size_t nout = 0;
	int64_t now = log_second();

	pthread_mutex_lock(&log_rate_lock);
	for (size_t i = 0; i < LOG_RATE_SLOTS; i++) {
		struct log_rate *r = &log_rates[i];

		if (r->key != NULL && r->suppressed > 0 && r->second != now) {
			out[nout].key = r->key;
			out[nout].n = r->suppressed;
			nout++;
			r->suppressed = 0;
		}
	}
	pthread_mutex_unlock(&log_rate_lock);
	for (size_t i = 0; i < nout; i++)
		log_emitf(LOG_LEVEL_WARN, 0, "%s: suppressed %" PRIu64 " messages",
		    out[i].key, out[i].n);
}

const char *log_escape(const char *s, char *buf, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (; *s != '\0' && o + 5 <= size; s++) {
		unsigned char c = (unsigned char)*s;

		if (c >= 0x20 && c < 0x7f && c != '\\') {
			buf[o++] = (char)c;
		} else {
			buf[o++] = '\\';
			buf[o++] = 'x';
			buf[o++] = hex[c >> 4];
			buf[o++] = hex[c & 15];
		}
	}
	buf[o] = '\0';
	return buf;
}
