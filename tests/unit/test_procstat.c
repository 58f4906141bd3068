/* test_procstat.c: the one /proc/PID/stat parser, on lines the kernel writes and on lines it never would. */
#include <errno.h>
#include <unistd.h>

#include "harness.h"
#include "procstat.h"

/* A line of a zombie on a recent kernel: 52 fields, comm with spaces and ')'. */
static const char full[] =
    "1234 (a) b (c)) Z 1 1234 1234 0 -1 4194560 100 0 0 0 "
    "7 3 0 0 20 0 1 0 98765 1048576 256 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 17 2 0 0 "
    "0 0 0 0 0 0 0 0 0 0 0 9\n";

static void fields_after_the_last_paren(void)
{
	struct procstat st;

	CHECK(procstat_parse(full, &st) == 0);
	CHECK(st.state == 'Z');
	CHECK_U64(st.utime, ==, 7);
	CHECK_U64(st.stime, ==, 3);
	CHECK_U64(st.starttime, ==, 98765);
	CHECK_U64(st.vsize, ==, 1048576);
	CHECK_U64(st.rss, ==, 256);
	CHECK(st.have_exit_code);
	CHECK_U64(st.exit_code, ==, 9);
}

/* An older kernel stops after field 44 or so: fields past 24 are optional. */
static void later_fields_are_optional(void)
{
	struct procstat st;

	CHECK(procstat_parse("1 (init) S 0 1 1 0 -1 0 0 0 0 0 11 12 0 0 20 0 1 0 42 4096 8\n",
	    &st) == 0);
	CHECK_U64(st.starttime, ==, 42);
	CHECK_U64(st.rss, ==, 8);
	CHECK(!st.have_exit_code);
	/* No newline at the end (a read cut at a field's end) parses the same. */
	CHECK(procstat_parse("1 (init) S 0 1 1 0 -1 0 0 0 0 0 11 12 0 0 20 0 1 0 42 4096 8 5",
	    &st) == 0);
	CHECK_U64(st.rss, ==, 8);
}

static void malformed_lines_are_refused(void)
{
	struct procstat st;

	CHECK(procstat_parse("", &st) == -EINVAL);
	CHECK(procstat_parse("garbage", &st) == -EINVAL);
	CHECK(procstat_parse("1234 (x) S 1 2", &st) == -EINVAL);         /* cut before 24 */
	CHECK(procstat_parse("1234 (x)S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21",
	    &st) == -EINVAL);                                            /* no space after ')' */
	CHECK(procstat_parse("1 (x) S 0 1 1 0 -1 0 0 0 0 0 1x 12 0 0 20 0 1 0 42 4096 8\n",
	    &st) == -EINVAL);                                            /* junk in a number */
	CHECK(procstat_parse("1 (x) S 0 1 1 0 -1 0 0 0 0 0 - 12 0 0 20 0 1 0 42 4096 8\n",
	    &st) == -EINVAL);                                            /* a sign, no digits */
	/* One past 2^64 - 1 in field 22. */
	CHECK(procstat_parse("1 (x) S 0 1 1 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 "
	    "18446744073709551616 4096 8\n", &st) == -EINVAL);
	CHECK(procstat_parse("1 (x) S 0 1 1 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 "
	    "18446744073709551615 4096 8\n", &st) == 0);
	CHECK_U64(st.starttime, ==, UINT64_MAX);
}

/* The comm the kernel lets a program set: ") 1 2 3" must not shift fields. */
static void comm_that_looks_like_fields(void)
{
	struct procstat st;

	CHECK(procstat_parse("77 () 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9) R 1 77 77 0 -1 0 0 0 "
	    "0 0 5 6 0 0 20 0 1 0 314 8192 2\n", &st) == 0);
	CHECK(st.state == 'R');
	CHECK_U64(st.utime, ==, 5);
	CHECK_U64(st.starttime, ==, 314);
}

/* This process's own line, as the three callers read it. */
static void own_line(void)
{
	char buf[PROCSTAT_TEXT_MAX];
	struct procstat st;
	FILE *f = fopen("/proc/self/stat", "r");
	size_t n = f != NULL ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

	if (f != NULL)
		fclose(f);
	buf[n] = '\0';
	CHECK(n > 0);
	CHECK(procstat_parse(buf, &st) == 0);
	CHECK(st.state == 'R');
	CHECK(st.starttime > 0);
	CHECK(st.vsize > 0);
}

int main(void)
{
	RUN_TEST(fields_after_the_last_paren);
	RUN_TEST(later_fields_are_optional);
	RUN_TEST(malformed_lines_are_refused);
	RUN_TEST(comm_that_looks_like_fields);
	RUN_TEST(own_line);
	return HARNESS_EXIT();
}
