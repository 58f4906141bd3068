/* ctl_fmt.h: memprobectl's output helpers: human byte sizes, safe text, aligned tables. */
#ifndef MEMPROBE_CTL_FMT_H
#define MEMPROBE_CTL_FMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Enough for any ctl_fmt_bytes() or decimal uint64_t result, with its NUL. */
#define CTL_FMT_NUM_LEN 24

/*
 * Writes BYTES to BUF (SIZE bytes, at least CTL_FMT_NUM_LEN for no
 * truncation) in binary units: "512 B" below 1 KiB, else one decimal in
 * KiB, MiB, GiB, TiB, PiB or EiB ("1.5 MiB"), rounded to nearest; a value
 * that rounds up to 1024.0 of a unit is shown as 1.0 of the next. Returns BUF.
 */
char *ctl_fmt_bytes(char *buf, size_t size, uint64_t bytes);

/* Writes V to BUF in decimal, as ctl_fmt_bytes() does with its size rules. Returns BUF. */
char *ctl_fmt_u64(char *buf, size_t size, uint64_t v);

/*
 * Copies S (untrusted: from the daemon, hence from any process) into BUF so
 * that it cannot move the terminal: control bytes, C1 controls and bytes
 * that are not well-formed UTF-8 each become '?'. Truncates to fit SIZE on
 * a character boundary. Returns BUF.
 */
char *ctl_fmt_text(char *buf, size_t size, const char *s);

/* Columns S takes on a terminal, counting one per UTF-8 character. */
size_t ctl_fmt_width(const char *s);

/*
 * Bytes of the longest prefix of S that fits in COLS columns (counted as
 * ctl_fmt_width() does), never splitting a UTF-8 character.
 */
size_t ctl_fmt_cut(const char *s, size_t cols);

/*
 * Writes S (safe text, as ctl_fmt_text() gives) to BUF (SIZE bytes) cut to
 * COLS columns: unchanged when it fits; else its start followed by "..."
 * or, with KEEP_END, "..." followed by its end (a path's file name and
 * line), in COLS columns all told (no dots below 4 columns). Never splits
 * a UTF-8 character, also when SIZE is what cuts. Returns BUF.
 */
char *ctl_fmt_fit(char *buf, size_t size, const char *s, size_t cols, bool keep_end);

/*
 * Writes PART as a percentage of WHOLE to BUF: "0%", "<0.1%" when above 0
 * but below a tenth, one decimal below 10% ("3.4%"), whole numbers above
 * ("45%", "130%"). WHOLE 0 gives "-". Returns BUF.
 */
char *ctl_fmt_pct(char *buf, size_t size, uint64_t part, uint64_t whole);

/*
 * Writes a bar of V against MAX, WIDTH columns at most, to BUF: '#' for
 * each full column, rounded to nearest, and at least one for any V above 0.
 * Nothing for V 0 or MAX 0. Cut to fit SIZE. Returns BUF.
 */
char *ctl_fmt_bar(char *buf, size_t size, uint64_t v, uint64_t max, unsigned width);

/*
 * Writes a duration in SECONDS (not negative) to BUF the way people say
 * it: "0.4 s", "12 s", "5 min 3 s", "2 h 5 min", "3 d 4 h". Returns BUF.
 */
char *ctl_fmt_duration(char *buf, size_t size, double seconds);

/*
 * Writes a sparkline of the N values V (oldest first) to BUF: one
 * character per value, its height V[i] of MAX in 8 steps ("▁▂▃▄▅▆▇█" when
 * UTF8, else " .:-=+*#"); a value above 0 is never drawn as the lowest
 * step's blank. Only the last values that fit SIZE are drawn. MAX 0
 * draws every value as the lowest step. Returns BUF.
 */
char *ctl_fmt_spark(char *buf, size_t size, const uint64_t *v, size_t n, uint64_t max,
    int utf8);

enum ctl_align {
	CTL_ALIGN_LEFT,
	CTL_ALIGN_RIGHT,
};

/* A table of strings printed with aligned columns, two spaces apart. */
struct ctl_table;

/*
 * Returns a new table of NCOLS columns whose header row is HEADERS (copied)
 * and whose column alignments are ALIGN (copied), or NULL when out of
 * memory. The caller frees it with ctl_table_free().
 */
struct ctl_table *ctl_table_new(size_t ncols, const char *const *headers,
    const enum ctl_align *align);

/* Appends a row of ncols cells (copied; a NULL cell prints as "-"). Returns 0 or -ENOMEM. */
int ctl_table_add(struct ctl_table *t, const char *const *cells);

/* Rows added so far, the header not counted. */
size_t ctl_table_rows(const struct ctl_table *t);

/*
 * Prints the header and every row to F, each column as wide as its widest
 * cell, no trailing blanks. Returns 0, -ENOMEM, or -EIO when F reports
 * an error.
 */
int ctl_table_print(const struct ctl_table *t, FILE *f);

/* Frees T and every cell; NULL is allowed. */
void ctl_table_free(struct ctl_table *t);

#endif
