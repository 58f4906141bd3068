/* ctl_fmt.c: memprobectl's output helpers: human byte sizes, safe text, aligned tables. */
#include "ctl_fmt.h"
#include "utf8.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define COL_GAP "  "

/*
 * BYTES / UNIT in tenths, rounded to nearest. Split into quotient and
 * remainder so that nothing overflows: the remainder is below 2^60 for the
 * largest unit, and 10 * 2^60 + 2^59 still fits in 64 bits.
 */
static uint64_t
tenths_of(uint64_t bytes, uint64_t unit)
{
	return bytes / unit * 10 + ((bytes % unit) * 10 + unit / 2) / unit;
}

char *
ctl_fmt_bytes(char *buf, size_t size, uint64_t bytes)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	const unsigned last = sizeof(units) / sizeof(units[0]) - 1;
	uint64_t unit = 1, tenths;
	unsigned k = 0;

	if (bytes < 1024) {
		snprintf(buf, size, "%" PRIu64 " B", bytes);
		return buf;
	}
	while (k < last && bytes / 1024 >= unit) {
		unit *= 1024;
		k++;
	}
	tenths = tenths_of(bytes, unit);
	/* 1048575 bytes is 1023.999 KiB: say "1.0 MiB", not "1024.0 KiB". */
	if (tenths >= 10240 && k < last) {
		unit *= 1024;
		k++;
		tenths = tenths_of(bytes, unit);
	}
	snprintf(buf, size, "%" PRIu64 ".%u %s", tenths / 10, (unsigned)(tenths % 10), units[k]);
	return buf;
}

char *
ctl_fmt_u64(char *buf, size_t size, uint64_t v)
{
	snprintf(buf, size, "%" PRIu64, v);
	return buf;
}

/*
 * Length of the character at P: of a well-formed UTF-8 sequence
 * (utf8_char_len: no overlong forms, no surrogates), else 1 (one stray
 * byte). *SHOW says whether it may reach a terminal as is: not C0 controls
 * or DEL, not C1 controls (U+0080..U+009F, which some terminals act on),
 * not stray bytes.
 */
static size_t
char_len(const unsigned char *p, bool *show)
{
	size_t n;

	*show = false;
	if (p[0] < 0x80) {
		*show = p[0] >= 0x20 && p[0] != 0x7f;
		return 1;
	}
	/* P is NUL-terminated: utf8_char_len stops at the NUL. */
	n = utf8_char_len((const char *)p, 4);
	if (n == 0)
		return 1;
	*show = !(p[0] == 0xc2 && p[1] < 0xa0);
	return n;
}

char *
ctl_fmt_text(char *buf, size_t size, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0;

	if (size == 0)
		return buf;
	while (*p) {
		bool show;
		size_t n = char_len(p, &show);

		if (o + (show ? n : 1) >= size)
			break;
		if (show) {
			memcpy(buf + o, p, n);
			o += n;
		} else {
			buf[o++] = '?';
		}
		p += n;
	}
	buf[o] = '\0';
	return buf;
}

size_t
ctl_fmt_width(const char *s)
{
	size_t w = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

size_t
ctl_fmt_cut(const char *s, size_t cols)
{
	size_t i = 0;

	while (s[i] != '\0') {
		size_t n = 1;

		if (cols == 0)
			break;
		/* A lead byte and its continuation bytes are one column. */
		while (s[i + n] != '\0' && ((unsigned char)s[i + n] & 0xc0) == 0x80)
			n++;
		i += n;
		cols--;
	}
	return i;
}

#define DOTS "..."

char *
ctl_fmt_fit(char *buf, size_t size, const char *s, size_t cols, bool keep_end)
{
	size_t w = ctl_fmt_width(s);

	if (size == 0)
		return buf;
	if (cols > w)
		cols = w;
	/* One column less at a time until the bytes fit SIZE too. */
	for (;; cols--) {
		bool cut = cols < w;
		size_t dots = cut && cols > 3 ? 3 : 0;
		size_t keep = cols - dots;              /* columns of S kept */
		size_t from = keep_end && cut ? ctl_fmt_cut(s, w - keep) : 0;
		size_t n = keep_end && cut ? strlen(s + from) : ctl_fmt_cut(s, keep);

		if (dots + n < size || cols == 0) {
			if (keep_end) {
				memcpy(buf, DOTS, dots);
				memcpy(buf + dots, s + from, n);
			} else {
				memcpy(buf, s, n);
				memcpy(buf + n, DOTS, dots);
			}
			buf[dots + n] = '\0';
			return buf;
		}
	}
}

char *
ctl_fmt_pct(char *buf, size_t size, uint64_t part, uint64_t whole)
{
	/* In thousandths, in long double: part may be near 2^64. */
	long double pm;

	if (whole == 0) {
		snprintf(buf, size, "-");
		return buf;
	}
	pm = (long double)part * 1000.0L / (long double)whole;
	if (part == 0)
		snprintf(buf, size, "0%%");
	else if (pm < 1.0L)
		snprintf(buf, size, "<0.1%%");
	else if (pm < 99.5L)
		/* Halves round up, by hand: printf rounds them to even. */
		snprintf(buf, size, "%u.%u%%", (unsigned)(pm + 0.5L) / 10, (unsigned)(pm + 0.5L) % 10);
	else
		/* Clamped: a tiny WHOLE must not overflow the conversion. */
		snprintf(buf, size, "%" PRIu64 "%%",
		    (uint64_t)(pm < 1e19L ? pm / 10.0L + 0.5L : 1e18L));
	return buf;
}

char *
ctl_fmt_bar(char *buf, size_t size, uint64_t v, uint64_t max, unsigned width)
{
	size_t n = 0;

	if (size == 0)
		return buf;
	if (v > 0 && max > 0) {
		long double w = (long double)(v > max ? max : v) * width / (long double)max;

		n = (size_t)(w + 0.5L);
		if (n == 0)
			n = 1;
	}
	if (n > size - 1)
		n = size - 1;
	memset(buf, '#', n);
	buf[n] = '\0';
	return buf;
}

char *
ctl_fmt_duration(char *buf, size_t size, double seconds)
{
	uint64_t s;

	if (!(seconds >= 0))
		seconds = 0;
	if (seconds < 10) {
		snprintf(buf, size, "%.1f s", seconds);
		return buf;
	}
	s = seconds < 1e15 ? (uint64_t)(seconds + 0.5) : (uint64_t)1e15;
	if (s < 60)
		snprintf(buf, size, "%" PRIu64 " s", s);
	else if (s < 3600)
		snprintf(buf, size, "%" PRIu64 " min %" PRIu64 " s", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, size, "%" PRIu64 " h %" PRIu64 " min", s / 3600, s % 3600 / 60);
	else
		snprintf(buf, size, "%" PRIu64 " d %" PRIu64 " h", s / 86400, s % 86400 / 3600);
	return buf;
}

char *
ctl_fmt_spark(char *buf, size_t size, const uint64_t *v, size_t n, uint64_t max, int utf8)
{
	static const char *const blocks[8] = {
		"\xe2\x96\x81", "\xe2\x96\x82", "\xe2\x96\x83", "\xe2\x96\x84",
		"\xe2\x96\x85", "\xe2\x96\x86", "\xe2\x96\x87", "\xe2\x96\x88",
	};
	static const char ascii[8] = { ' ', '.', ':', '-', '=', '+', '*', '#' };
	size_t cw = utf8 ? 3 : 1, fit, o = 0;

	if (size == 0)
		return buf;
	fit = (size - 1) / cw;
	if (n > fit) {
		v += n - fit;
		n = fit;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned step = 0;

		if (max > 0 && v[i] > 0) {
			long double h = (long double)(v[i] > max ? max : v[i]) * 7 / (long double)max;

			step = (unsigned)(h + 0.5L);
			/* The ASCII lowest step is a blank: keep a non-zero value visible. */
			if (step == 0 && !utf8)
				step = 1;
		}
		if (utf8) {
			memcpy(buf + o, blocks[step], 3);
			o += 3;
		} else {
			buf[o++] = ascii[step];
		}
	}
	buf[o] = '\0';
	return buf;
}

struct ctl_table {
	size_t ncols;
	size_t nrows;             /* rows in cells, the header included */
	size_t cap;               /* rows cells has room for */
	enum ctl_align *align;    /* owned, ncols entries */
	char **cells;             /* owned, nrows * ncols strings, each owned */
};

static int
table_append(struct ctl_table *t, const char *const *cells)
{
	size_t i;
	char **row;

	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		char **grown = realloc(t->cells, cap * t->ncols * sizeof(*grown));

		if (grown == NULL)
			return -ENOMEM;
		t->cells = grown;
		t->cap = cap;
	}
	row = t->cells + t->nrows * t->ncols;
	for (i = 0; i < t->ncols; i++) {
		row[i] = strdup(cells[i] ? cells[i] : "-");
		if (row[i] == NULL) {
			while (i-- > 0)
				free(row[i]);
			return -ENOMEM;
		}
	}
	t->nrows++;
	return 0;
}

struct ctl_table *
ctl_table_new(size_t ncols, const char *const *headers, const enum ctl_align *align)
{
	struct ctl_table *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->ncols = ncols;
	t->align = calloc(ncols, sizeof(*t->align));
	if (t->align == NULL)
		goto fail;
	memcpy(t->align, align, ncols * sizeof(*t->align));
	if (table_append(t, headers) < 0)
		goto fail;
	return t;
fail:
	ctl_table_free(t);
	return NULL;
}

int
ctl_table_add(struct ctl_table *t, const char *const *cells)
{
	return table_append(t, cells);
}

size_t
ctl_table_rows(const struct ctl_table *t)
{
	return t->nrows - 1;
}

int
ctl_table_print(const struct ctl_table *t, FILE *f)
{
	size_t *width, r, c;

	width = calloc(t->ncols, sizeof(*width));
	if (width == NULL)
		return -ENOMEM;
	for (r = 0; r < t->nrows; r++)
		for (c = 0; c < t->ncols; c++) {
			size_t w = ctl_fmt_width(t->cells[r * t->ncols + c]);

			if (w > width[c])
				width[c] = w;
		}
	for (r = 0; r < t->nrows; r++) {
		for (c = 0; c < t->ncols; c++) {
			const char *cell = t->cells[r * t->ncols + c];
			size_t pad = width[c] - ctl_fmt_width(cell);
			bool last = c + 1 == t->ncols;

			if (c > 0)
				fputs(COL_GAP, f);
			if (t->align[c] == CTL_ALIGN_RIGHT)
				fprintf(f, "%*s", (int)pad, "");
			fputs(cell, f);
			if (t->align[c] == CTL_ALIGN_LEFT && !last)
				fprintf(f, "%*s", (int)pad, "");
		}
		fputc('\n', f);
	}
	free(width);
	return ferror(f) ? -EIO : 0;
}

void
ctl_table_free(struct ctl_table *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t->align);
	free(t);
}
