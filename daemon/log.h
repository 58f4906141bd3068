/* log.h: leveled logging to stderr, journald-aware, with a per-key rate limiter. */
#ifndef MEMPROBE_LOG_H
#define MEMPROBE_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

#define LOG_PRINTF(f, a) __attribute__((format(printf, f, a)))

/*
 * Sets the program name used as a line prefix and checks whether stderr is
 * journald's stream (JOURNAL_STREAM names stderr's device:inode); then every
 * line starts with a syslog "<N>" priority instead of the name. Call once,
 * before any thread starts.
 */
void log_init(const char *progname);

/* Messages less severe than `level` are dropped. Thread-safe. */
void log_set_level(enum log_level level);

/* Parses "debug", "info", "warn" or "error"; returns the level or -EINVAL. */
int log_level_parse(const char *s);

/* The name log_level_parse() accepts for `level`. */
const char *log_level_name(enum log_level level);

/* One line each; log_warn and fatal append ": " and strerror(errno).
 * fatal and fatalx exit(1): they are for the daemon's own invariants and
 * startup failures, never for anything a client sends. */
void log_warn(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_warnx(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_info(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_debug(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_error(const char *fmt, ...) LOG_PRINTF(1, 2);
void fatal(const char *fmt, ...) LOG_PRINTF(1, 2) __attribute__((noreturn));
void fatalx(const char *fmt, ...) LOG_PRINTF(1, 2) __attribute__((noreturn));

/*
 * A warning any client can trigger: at most LOG_RATE_BURST lines per second
 * per `key` (a static string naming the kind of event, e.g. "reject"); the
 * rest are counted and reported as one "KEY: suppressed K messages" line
 * when the next second's first message for that key is logged or
 * log_ratelimit_flush() runs. Thread-safe.
 */
#define LOG_RATE_BURST 5
void log_ratelimited(const char *key, const char *fmt, ...) LOG_PRINTF(2, 3);

/* Copies s into buf (size bytes) with every byte outside printable ASCII
 * written as \xNN, so a client's string cannot forge log lines. Returns buf. */
const char *log_escape(const char *s, char *buf, size_t size);

/* Reports pending "suppressed" counts of keys whose second has passed;
 * the main loop calls it once a second. */
void log_ratelimit_flush(void);

#endif
