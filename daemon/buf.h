/* buf.h: a growable byte buffer for building response bodies. */
#ifndef MEMPROBE_BUF_H
#define MEMPROBE_BUF_H

#include <stddef.h>
#include <stdint.h>

/*
 * Appends never fail visibly: on ENOMEM the buffer turns "failed", later
 * appends are ignored, and buf_failed() says so once the body is built, so
 * builders need one check at the end instead of one per line.
 */
struct buf {
	char *data;             /* owned; NUL-terminated when len > 0 */
	size_t len;
	size_t cap;
	int failed;
};

#define BUF_INIT { NULL, 0, 0, 0 }

/* Appends n bytes of s / the string s / formatted text. */
void buf_append(struct buf *b, const char *s, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Makes room for n more bytes so that appends up to that size do not
 * move the data (a body's expected size, up front). Returns 0, or -1 when
 * the buffer has failed. */
int buf_reserve(struct buf *b, size_t n);

/*
 * For writers that format in place: buf_space() makes room for n more bytes
 * and returns where they start (NULL once the buffer has failed); the
 * writer fills some of them and buf_commit() ends the data at `end`, which
 * lies within that room.
 */
char *buf_space(struct buf *b, size_t n);
void buf_commit(struct buf *b, char *end);

/* Writes v in decimal at p, which has room for BUF_U64_MAX bytes (no
 * NUL); returns the end. */
#define BUF_U64_MAX 20
char *buf_fmt_u64(char *p, uint64_t v);

/* Nonzero if an append ran out of memory. */
int buf_failed(const struct buf *b);

/* Hands the data over: returns it (the caller free()s it; NULL when
 * nothing was appended) and empties *b. */
char *buf_steal(struct buf *b, size_t *len);

/* Frees the data and resets *b to empty. */
void buf_free(struct buf *b);

#endif
