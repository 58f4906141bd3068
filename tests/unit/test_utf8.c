/* test_utf8.c: the one UTF-8 validator: what RFC 3629 allows, and the forms it does not. */
#include "harness.h"
#include "utf8.h"

#define LEN(lit) utf8_char_len(lit, sizeof(lit) - 1)

static void well_formed(void)
{
	CHECK_U64(LEN("a"), ==, 1);
	CHECK_U64(utf8_char_len("", 1), ==, 1);              /* NUL is ASCII */
	CHECK_U64(LEN("\x7f"), ==, 1);
	CHECK_U64(LEN("\xc2\x80"), ==, 2);                   /* U+0080 */
	CHECK_U64(LEN("\xdf\xbf"), ==, 2);                   /* U+07FF */
	CHECK_U64(LEN("\xe0\xa0\x80"), ==, 3);               /* U+0800 */
	CHECK_U64(LEN("\xed\x9f\xbf"), ==, 3);               /* U+D7FF */
	CHECK_U64(LEN("\xee\x80\x80"), ==, 3);               /* U+E000 */
	CHECK_U64(LEN("\xef\xbf\xbd"), ==, 3);               /* U+FFFD */
	CHECK_U64(LEN("\xf0\x90\x80\x80"), ==, 4);           /* U+10000 */
	CHECK_U64(LEN("\xf4\x8f\xbf\xbf"), ==, 4);           /* U+10FFFF */
	/* Only the first character counts. */
	CHECK_U64(LEN("\xc3\xa9xyz"), ==, 2);
}

static void overlong_forms(void)
{
	CHECK_U64(LEN("\xc0\xaf"), ==, 0);                   /* '/' in 2 bytes */
	CHECK_U64(LEN("\xc1\xbf"), ==, 0);
	CHECK_U64(LEN("\xe0\x80\xaf"), ==, 0);               /* '/' in 3 bytes */
	CHECK_U64(LEN("\xe0\x9f\xbf"), ==, 0);               /* U+07FF in 3 bytes */
	CHECK_U64(LEN("\xf0\x80\x80\xaf"), ==, 0);           /* '/' in 4 bytes */
	CHECK_U64(LEN("\xf0\x8f\xbf\xbf"), ==, 0);           /* U+FFFF in 4 bytes */
}

static void surrogates_and_beyond(void)
{
	CHECK_U64(LEN("\xed\xa0\x80"), ==, 0);               /* U+D800 */
	CHECK_U64(LEN("\xed\xbf\xbf"), ==, 0);               /* U+DFFF */
	CHECK_U64(LEN("\xf4\x90\x80\x80"), ==, 0);           /* U+110000 */
	CHECK_U64(LEN("\xf5\x80\x80\x80"), ==, 0);
	CHECK_U64(LEN("\xff"), ==, 0);
}

static void stray_and_truncated(void)
{
	CHECK_U64(LEN("\x80"), ==, 0);                       /* a continuation alone */
	CHECK_U64(LEN("\xbf"), ==, 0);
	CHECK_U64(LEN("\xe2\x82"), ==, 0);                   /* cut by the length */
	CHECK_U64(utf8_char_len("\xe2\x82\xac", 2), ==, 0);
	CHECK_U64(LEN("\xe2\x82" "b"), ==, 0);               /* cut by a plain byte */
	CHECK_U64(LEN("\xf0\x9f\x98"), ==, 0);
	/* A NUL-terminated string passed with n = 4 is read up to its NUL only. */
	CHECK_U64(utf8_char_len("\xe2", 4), ==, 0);
	CHECK_U64(utf8_char_len("\xe2\x82\xac", 4), ==, 3);
}

int main(void)
{
	RUN_TEST(well_formed);
	RUN_TEST(overlong_forms);
	RUN_TEST(surrogates_and_beyond);
	RUN_TEST(stray_and_truncated);
	return HARNESS_EXIT();
}
