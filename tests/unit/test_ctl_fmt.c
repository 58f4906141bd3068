/* test_ctl_fmt.c: unit tests of memprobectl's output helpers (client/ctl/ctl_fmt.c). */
#include "ctl_fmt.h"
#include "harness.h"

#include <stdlib.h>

static const char *
bytes(uint64_t v)
{
	static char buf[CTL_FMT_NUM_LEN];

	return ctl_fmt_bytes(buf, sizeof(buf), v);
}

static void
test_bytes_below_kib_are_exact(void)
{
	CHECK_STR(bytes(0), "0 B");
	CHECK_STR(bytes(1), "1 B");
	CHECK_STR(bytes(1023), "1023 B");
}

static void
test_bytes_one_decimal_rounded(void)
{
	CHECK_STR(bytes(1024), "1.0 KiB");
	CHECK_STR(bytes(1536), "1.5 KiB");
	/* 1126 is 1.0996 KiB, 1178 is 1.1504 KiB: to nearest, not truncated */
	CHECK_STR(bytes(1126), "1.1 KiB");
	CHECK_STR(bytes(1178), "1.2 KiB");
	/* 1.05 KiB is 1075.2 bytes: 1075 is below it, 1076 above */
	CHECK_STR(bytes(1075), "1.0 KiB");
	CHECK_STR(bytes(1076), "1.1 KiB");
	CHECK_STR(bytes(135168), "132.0 KiB");
	CHECK_STR(bytes(157286400), "150.0 MiB");
	CHECK_STR(bytes(3221225472ull), "3.0 GiB");
	CHECK_STR(bytes(5000000000ull), "4.7 GiB");
	CHECK_STR(bytes(1ull << 40), "1.0 TiB");
	CHECK_STR(bytes(1ull << 50), "1.0 PiB");
	CHECK_STR(bytes(1ull << 60), "1.0 EiB");
}

static void
test_bytes_rounding_carries_to_next_unit(void)
{
	/* 1023.95 KiB and more would print as "1024.0 KiB" */
	CHECK_STR(bytes(1048524), "1023.9 KiB");
	CHECK_STR(bytes(1048525), "1.0 MiB");
	CHECK_STR(bytes(1048575), "1.0 MiB");
	CHECK_STR(bytes((1ull << 30) - 1), "1.0 GiB");
	CHECK_STR(bytes((1ull << 30) - (1ull << 20)), "1023.0 MiB");
}

static void
test_bytes_extremes_do_not_overflow(void)
{
	CHECK_STR(bytes(UINT64_MAX), "16.0 EiB");
	CHECK_STR(bytes(INT64_MAX), "8.0 EiB");
	CHECK_STR(bytes((1ull << 60) * 15 + (1ull << 59)), "15.5 EiB");
}

static void
test_bytes_truncates_safely(void)
{
	char buf[4];

	memset(buf, 'x', sizeof(buf));
	ctl_fmt_bytes(buf, sizeof(buf), 1536);
	CHECK_STR(buf, "1.5");
}

static void
test_u64(void)
{
	char buf[CTL_FMT_NUM_LEN];

	CHECK_STR(ctl_fmt_u64(buf, sizeof(buf), 0), "0");
	CHECK_STR(ctl_fmt_u64(buf, sizeof(buf), 1048575), "1048575");
	CHECK_STR(ctl_fmt_u64(buf, sizeof(buf), UINT64_MAX), "18446744073709551615");
}

static void
test_text_keeps_printable_and_utf8(void)
{
	char buf[64];

	CHECK_STR(ctl_fmt_text(buf, sizeof(buf), "postgres: writer"), "postgres: writer");
	CHECK_STR(ctl_fmt_text(buf, sizeof(buf), "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80"),
	    "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80");
	CHECK_STR(ctl_fmt_text(buf, sizeof(buf), ""), "");
}

static void
test_text_replaces_controls(void)
{
	char buf[64];

	/* ESC, newline, tab, DEL */
	CHECK_STR(ctl_fmt_text(buf, sizeof(buf), "a\x1b[31mb\nc\td\x7f"), "a?[31mb?c?d?");
	/* C1 CSI encoded in UTF-8 (U+009B), and raw */
	CHECK_STR(ctl_fmt_text(buf, sizeof(buf), "x\xc2\x9b" "2Jy"), "x?2Jy");
	CHECK_STR(ctl_fmt_text(buf, sizeof(buf), "x\x9b" "2Jy"), "x?2Jy");
	/* a lead byte without its continuation bytes, and a stray continuation */
	CHECK_STR(ctl_fmt_text(buf, sizeof(buf), "a\xe2\x82" "b\x80"), "a??b?");
	CHECK_STR(ctl_fmt_text(buf, sizeof(buf), "\xff\xfe"), "??");
}

/* Forms that are not UTF-8 although their bytes look like it: each byte
 * becomes '?' (they were once let through to the terminal). */
static void
test_text_replaces_overlong_and_surrogates(void)
{
	char buf[64];

	/* '/' as an overlong 3-byte and 4-byte form */
	CHECK_STR(ctl_fmt_text(buf, sizeof(buf), "a\xe0\x80\xaf" "b"), "a???b");
	CHECK_STR(ctl_fmt_text(buf, sizeof(buf), "a\xf0\x80\x80\xaf" "b"), "a????b");
	/* a UTF-16 surrogate (U+D800), and U+110000, past the last code point */
	CHECK_STR(ctl_fmt_text(buf, sizeof(buf), "\xed\xa0\x80"), "???");
	CHECK_STR(ctl_fmt_text(buf, sizeof(buf), "\xf4\x90\x80\x80"), "????");
	/* their well-formed neighbours stay: U+0800, U+D7FF, U+E000, U+10FFFF */
	CHECK_STR(ctl_fmt_text(buf, sizeof(buf), "\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xf4\x8f\xbf\xbf"),
	    "\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xf4\x8f\xbf\xbf");
}

static void
test_text_truncates_on_character_boundary(void)
{
	char buf[5];

	CHECK_STR(ctl_fmt_text(buf, sizeof(buf), "abcdefgh"), "abcd");
	/* "ab" + 3-byte euro: the euro would need bytes 2..4 and the NUL at 5 */
	CHECK_STR(ctl_fmt_text(buf, sizeof(buf), "ab\xe2\x82\xac"), "ab");
	CHECK_STR(ctl_fmt_text(buf, sizeof(buf), "a\xe2\x82\xac"), "a\xe2\x82\xac");
	CHECK_STR(ctl_fmt_text(buf, 1, "abc"), "");
}

static void
test_width_counts_characters(void)
{
	CHECK_U64(ctl_fmt_width(""), ==, 0);
	CHECK_U64(ctl_fmt_width("abc"), ==, 3);
	CHECK_U64(ctl_fmt_width("h\xc3\xa9llo"), ==, 5);
	CHECK_U64(ctl_fmt_width("\xe2\x82\xac" "1"), ==, 2);
}

/* Prints T into a string; the caller free()s it. */
static char *
table_text(const struct ctl_table *t)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	if (f == NULL)
		return NULL;
	CHECK(ctl_table_print(t, f) == 0);
	fclose(f);
	return out;
}

static void
test_table_aligns_columns(void)
{
	static const char *const hdr[] = { "PID", "COMM", "HEAP" };
	static const enum ctl_align align[] = { CTL_ALIGN_RIGHT, CTL_ALIGN_LEFT, CTL_ALIGN_RIGHT };
	static const char *const r1[] = { "4242", "postgres", "150.0 MiB" };
	static const char *const r2[] = { "7", "h\xc3\xa9", NULL };
	struct ctl_table *t = ctl_table_new(3, hdr, align);
	char *out;

	CHECK(t != NULL);
	if (t == NULL)
		return;
	CHECK_U64(ctl_table_rows(t), ==, 0);
	CHECK(ctl_table_add(t, r1) == 0);
	CHECK(ctl_table_add(t, r2) == 0);
	CHECK_U64(ctl_table_rows(t), ==, 2);
	out = table_text(t);
	CHECK_STR(out,
	    " PID  COMM           HEAP\n"
	    "4242  postgres  150.0 MiB\n"
	    /* "hé" is 2 columns of 8, 3 bytes: padded by columns, not bytes */
	    "   7  h\xc3\xa9" "      " "  " "        -\n");
	free(out);
	ctl_table_free(t);
}

static void
test_table_no_trailing_blanks(void)
{
	static const char *const hdr[] = { "A", "NAME" };
	static const enum ctl_align align[] = { CTL_ALIGN_RIGHT, CTL_ALIGN_LEFT };
	static const char *const r1[] = { "1", "a-long-name" };
	struct ctl_table *t = ctl_table_new(2, hdr, align);
	char *out;

	CHECK(t != NULL);
	if (t == NULL)
		return;
	out = table_text(t);
	CHECK_STR(out, "A  NAME\n");
	free(out);
	CHECK(ctl_table_add(t, r1) == 0);
	out = table_text(t);
	CHECK_STR(out, "A  NAME\n1  a-long-name\n");
	free(out);
	ctl_table_free(t);
	ctl_table_free(NULL);
}

static void
test_table_grows_past_initial_capacity(void)
{
	static const char *const hdr[] = { "N" };
	static const enum ctl_align align[] = { CTL_ALIGN_RIGHT };
	struct ctl_table *t = ctl_table_new(1, hdr, align);
	char num[CTL_FMT_NUM_LEN], *out;
	uint64_t i;

	CHECK(t != NULL);
	if (t == NULL)
		return;
	for (i = 0; i < 1000; i++) {
		const char *row[] = { ctl_fmt_u64(num, sizeof(num), i) };

		CHECK(ctl_table_add(t, row) == 0);
	}
	CHECK_U64(ctl_table_rows(t), ==, 1000);
	out = table_text(t);
	CHECK(out != NULL && strncmp(out, "  N\n  0\n  1\n", 12) == 0);
	CHECK(out != NULL && strstr(out, "\n999\n") != NULL);
	free(out);
	ctl_table_free(t);
}

static void
test_cut_counts_columns_not_bytes(void)
{
	CHECK_U64(ctl_fmt_cut("abcdef", 3), ==, 3);
	CHECK_U64(ctl_fmt_cut("abc", 10), ==, 3);
	CHECK_U64(ctl_fmt_cut("abc", 0), ==, 0);
	/* "hé" + "llo": the é is two bytes and one column */
	CHECK_U64(ctl_fmt_cut("h\xc3\xa9llo", 2), ==, 3);
	/* three block characters of 3 bytes each, cut to 2 columns */
	CHECK_U64(ctl_fmt_cut("\xe2\x96\x81\xe2\x96\x82\xe2\x96\x83", 2), ==, 6);
}

static void
test_pct(void)
{
	char buf[CTL_FMT_NUM_LEN];

	CHECK_STR(ctl_fmt_pct(buf, sizeof(buf), 0, 100), "0%");
	CHECK_STR(ctl_fmt_pct(buf, sizeof(buf), 1, 100000), "<0.1%");
	/* 2736 B of an 8 MiB stack: 0.033% */
	CHECK_STR(ctl_fmt_pct(buf, sizeof(buf), 2736, 8388608), "<0.1%");
	CHECK_STR(ctl_fmt_pct(buf, sizeof(buf), 1, 1000), "0.1%");
	CHECK_STR(ctl_fmt_pct(buf, sizeof(buf), 34, 1000), "3.4%");
	/* 1 MiB of 8 MiB is 12.5%: whole numbers from 10% */
	CHECK_STR(ctl_fmt_pct(buf, sizeof(buf), 1048576, 8388608), "13%");
	CHECK_STR(ctl_fmt_pct(buf, sizeof(buf), 995, 10000), "10%");
	CHECK_STR(ctl_fmt_pct(buf, sizeof(buf), 994, 10000), "9.9%");
	CHECK_STR(ctl_fmt_pct(buf, sizeof(buf), 100, 100), "100%");
	CHECK_STR(ctl_fmt_pct(buf, sizeof(buf), 13, 10), "130%");
	CHECK_STR(ctl_fmt_pct(buf, sizeof(buf), 5, 0), "-");
	CHECK_STR(ctl_fmt_pct(buf, sizeof(buf), UINT64_MAX, UINT64_MAX), "100%");
	CHECK_STR(ctl_fmt_pct(buf, sizeof(buf), UINT64_MAX, 1), "1000000000000000000%");
}

static void
test_fit_cuts_start_or_end(void)
{
	char buf[64];

	/* Fits: unchanged, also at exactly its width. */
	CHECK_STR(ctl_fmt_fit(buf, sizeof(buf), "hold_blocks", 40, false), "hold_blocks");
	CHECK_STR(ctl_fmt_fit(buf, sizeof(buf), "hold_blocks", 11, true), "hold_blocks");
	/* A function keeps its start, a path its end, in 10 columns all told. */
	CHECK_STR(ctl_fmt_fit(buf, sizeof(buf), "very_long_function_name", 10, false),
	    "very_lo...");
	CHECK_STR(ctl_fmt_fit(buf, sizeof(buf), "/usr/src/deep/path/x.c:12", 10, true),
	    ".../x.c:12");
	/* Below 4 columns: no room for dots. */
	CHECK_STR(ctl_fmt_fit(buf, sizeof(buf), "abcdef", 3, false), "abc");
	CHECK_STR(ctl_fmt_fit(buf, sizeof(buf), "abcdef", 3, true), "def");
	CHECK_STR(ctl_fmt_fit(buf, sizeof(buf), "abcdef", 0, false), "");
}

static void
test_fit_counts_characters_and_buffer(void)
{
	char buf[64];

	/* "\u00e9" is two bytes and one column: 6 columns are 3 of them and dots. */
	CHECK_STR(ctl_fmt_fit(buf, sizeof(buf), "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9",
	    6, false), "\xc3\xa9\xc3\xa9\xc3\xa9...");
	CHECK_STR(ctl_fmt_fit(buf, sizeof(buf), "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9",
	    6, true), "...\xc3\xa9\xc3\xa9\xc3\xa9");
	/* A buffer of 7 bytes holds one two-byte character less, never half of one. */
	CHECK_STR(ctl_fmt_fit(buf, 7, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9",
	    6, false), "\xc3\xa9...");
	CHECK_STR(ctl_fmt_fit(buf, 4, "abcdef", 40, false), "abc");
}

static void
test_bar(void)
{
	char buf[64];

	CHECK_STR(ctl_fmt_bar(buf, sizeof(buf), 0, 100, 40), "");
	CHECK_STR(ctl_fmt_bar(buf, sizeof(buf), 5, 0, 40), "");
	CHECK_STR(ctl_fmt_bar(buf, sizeof(buf), 100, 100, 40),
	    "########################################");
	CHECK_STR(ctl_fmt_bar(buf, sizeof(buf), 50, 100, 10), "#####");
	/* rounded to nearest: 0.26 * 10 = 2.6 */
	CHECK_STR(ctl_fmt_bar(buf, sizeof(buf), 26, 100, 10), "###");
	/* a count above 0 is never drawn as nothing */
	CHECK_STR(ctl_fmt_bar(buf, sizeof(buf), 1, 1000000, 40), "#");
	/* above the maximum: clamped */
	CHECK_STR(ctl_fmt_bar(buf, sizeof(buf), 300, 100, 4), "####");
	/* cut to the buffer */
	CHECK_STR(ctl_fmt_bar(buf, 4, 100, 100, 40), "###");
}

static void
test_duration(void)
{
	char buf[32];

	CHECK_STR(ctl_fmt_duration(buf, sizeof(buf), 0), "0.0 s");
	CHECK_STR(ctl_fmt_duration(buf, sizeof(buf), 0.44), "0.4 s");
	CHECK_STR(ctl_fmt_duration(buf, sizeof(buf), 12.4), "12 s");
	CHECK_STR(ctl_fmt_duration(buf, sizeof(buf), 303), "5 min 3 s");
	CHECK_STR(ctl_fmt_duration(buf, sizeof(buf), 7500), "2 h 5 min");
	CHECK_STR(ctl_fmt_duration(buf, sizeof(buf), 3 * 86400 + 4 * 3600 + 59), "3 d 4 h");
	CHECK_STR(ctl_fmt_duration(buf, sizeof(buf), -5), "0.0 s");
}

static void
test_spark(void)
{
	static const uint64_t v[] = { 0, 1, 50, 100 };
	char buf[64];

	CHECK_STR(ctl_fmt_spark(buf, sizeof(buf), v, 4, 100, 0), " .=#");
	CHECK_STR(ctl_fmt_spark(buf, sizeof(buf), v, 4, 100, 1),
	    "\xe2\x96\x81\xe2\x96\x81\xe2\x96\x85\xe2\x96\x88");
	/* only the newest values that fit: 3 bytes hold 2 ASCII values */
	CHECK_STR(ctl_fmt_spark(buf, 3, v, 4, 100, 0), "=#");
	/* a 7-byte buffer holds 2 UTF-8 values */
	CHECK_STR(ctl_fmt_spark(buf, 7, v, 4, 100, 1), "\xe2\x96\x85\xe2\x96\x88");
	CHECK_STR(ctl_fmt_spark(buf, sizeof(buf), v, 4, 0, 0), "    ");
	CHECK_STR(ctl_fmt_spark(buf, sizeof(buf), v, 0, 100, 0), "");
}

int
main(void)
{
	RUN_TEST(test_bytes_below_kib_are_exact);
	RUN_TEST(test_bytes_one_decimal_rounded);
	RUN_TEST(test_bytes_rounding_carries_to_next_unit);
	RUN_TEST(test_bytes_extremes_do_not_overflow);
	RUN_TEST(test_bytes_truncates_safely);
	RUN_TEST(test_u64);
	RUN_TEST(test_text_keeps_printable_and_utf8);
	RUN_TEST(test_text_replaces_controls);
	RUN_TEST(test_text_replaces_overlong_and_surrogates);
	RUN_TEST(test_text_truncates_on_character_boundary);
	RUN_TEST(test_width_counts_characters);
	RUN_TEST(test_table_aligns_columns);
	RUN_TEST(test_table_no_trailing_blanks);
	RUN_TEST(test_table_grows_past_initial_capacity);
	RUN_TEST(test_cut_counts_columns_not_bytes);
	RUN_TEST(test_pct);
	RUN_TEST(test_fit_cuts_start_or_end);
	RUN_TEST(test_fit_counts_characters_and_buffer);
	RUN_TEST(test_bar);
	RUN_TEST(test_duration);
	RUN_TEST(test_spark);
	return HARNESS_EXIT();
}
