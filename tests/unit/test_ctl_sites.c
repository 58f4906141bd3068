/* test_ctl_sites.c: unit tests of memprobectl's call-site table from canned /sites answers (client/ctl/ctl_sites.c). */
#include "ctl_fmt.h"
#include "ctl_sites.h"
#include "harness.h"

#include <errno.h>
#include <stdlib.h>

/* A process's sites as /api/v1/processes/{pid}/sites gives them: a
 * symbolized site, one without a function (an address in a mapping), one
 * with a hostile name and file, a C++ name far wider than a terminal, a
 * small site, and [other]. */
static const char *const sites_json =
    "{\"pid\": 4242, \"comm\": \"prof_hold\", \"exited\": false, \"rate\": 16384,"
    " \"order\": \"inuse\", \"samples\": 530, \"folded\": 0, \"unwind_failed\": 0,"
    " \"total\": {\"inuse_bytes\": 9437184, \"inuse_objects\": 9300,"
    "  \"alloc_bytes\": 10485760, \"alloc_objects\": 10400},"
    " \"sites\": ["
    "{\"function\": \"hold_blocks\", \"file\": \"tests/progs/prof_hold.c\", \"line\": 31,"
    " \"inuse_bytes\": 8388608, \"inuse_objects\": 8192, \"alloc_bytes\": 8388608,"
    " \"alloc_objects\": 8192, \"share\": 0.888889,"
    " \"frames\": [{\"address\": \"0x55d0c0de1234\", \"function\": \"hold_blocks\","
    "  \"file\": \"tests/progs/prof_hold.c\", \"line\": 31, \"mapping\": \"/work/prof_hold\","
    "  \"build_id\": \"ab12\"}]},"
    "{\"function\": null, \"file\": null, \"line\": 0,"
    " \"inuse_bytes\": 524288, \"inuse_objects\": 512, \"alloc_bytes\": 1048576,"
    " \"alloc_objects\": 1024, \"share\": 0.055556,"
    " \"frames\": [{\"address\": \"0x7f0000abcdef\", \"function\": null, \"file\": null,"
    "  \"line\": 0, \"mapping\": \"/usr/lib/x86_64-linux-gnu/libstripped.so.1\","
    "  \"build_id\": null}]},"
    "{\"function\": \"evil\\u001b[2J\", \"file\": \"/tmp/\\u0007bell.c\", \"line\": 7,"
    " \"inuse_bytes\": 262144, \"inuse_objects\": 300, \"alloc_bytes\": 262144,"
    " \"alloc_objects\": 300, \"share\": 0.027778, \"frames\": []},"
    "{\"function\": \"std::vector<std::basic_string<char, std::char_traits<char>,"
    " std::allocator<char> >, std::allocator<std::basic_string<char> > >::_M_realloc_insert\","
    " \"file\": \"/usr/include/c++/12/bits/vector.tcc\", \"line\": 440,"
    " \"inuse_bytes\": 261120, \"inuse_objects\": 255, \"alloc_bytes\": 523264,"
    " \"alloc_objects\": 511, \"share\": 0.027669, \"frames\": []},"
    "{\"function\": \"small_fn\", \"file\": \"small.c\", \"line\": 0,"
    " \"inuse_bytes\": 1024, \"inuse_objects\": 1, \"alloc_bytes\": 1024,"
    " \"alloc_objects\": 1, \"share\": 0.000109, \"frames\": []},"
    "{\"function\": \"[other]\", \"file\": null, \"line\": 0,"
    " \"inuse_bytes\": 0, \"inuse_objects\": 0, \"alloc_bytes\": 262144,"
    " \"alloc_objects\": 372, \"share\": 0, \"frames\": []}"
    "]}";

static json_t *
parse(const char *text)
{
	json_error_t err;
	json_t *j = json_loads(text, 0, &err);

	if (j == NULL)
		fprintf(stderr, "bad test JSON: %s (line %d)\n", err.text, err.line);
	return j;
}

/* Runs the view into a string; the caller free()s it. */
static char *
render(const json_t *j, const struct ctl_sites_view *v, int *rc)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	if (f == NULL)
		return NULL;
	*rc = ctl_view_sites(f, j, v);
	fclose(f);
	return out;
}

/* Renders the sites JSON TEXT with V, checking that it does; the caller
 * free()s the result. */
static char *
render_text(const char *text, const struct ctl_sites_view *v)
{
	json_t *j = parse(text);
	int rc = -1;
	char *out = render(j, v, &rc);

	CHECK(rc == 0);
	json_decref(j);
	return out;
}

static int
count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* The widest line of S, in columns. */
static size_t
widest_line(const char *s)
{
	size_t most = 0;

	while (*s) {
		const char *end = strchr(s, '\n');
		size_t len = end != NULL ? (size_t)(end - s) : strlen(s);
		char line[4096];
		size_t w;

		snprintf(line, sizeof(line), "%.*s", (int)len, s);
		w = ctl_fmt_width(line);
		if (w > most)
			most = w;
		if (end == NULL)
			break;
		s = end + 1;
	}
	return most;
}

static void
test_table_in_use(void)
{
	struct ctl_sites_view v = { .limit = 0 };
	char *out = render_text(sites_json, &v);

	/* In the daemon's order; no function: the address and the mapping's
	 * file name; controls as '?'; the line left out when 0; [other] with
	 * no file; shares as percentages. */
	CHECK_STR(out,
	    "prof_hold (pid 4242, live): 530 samples, one per 16.0 KiB allocated on average\n"
	    "estimated: 9.0 MiB in use in 9300 objects, 10.0 MiB allocated in 10400 objects\n"
	    "\n"
	    "FUNCTION                                                                                                                                           FILE:LINE                                   IN USE  OBJECTS  SHARE\n"
	    "hold_blocks                                                                                                                                        tests/progs/prof_hold.c:31                 8.0 MiB     8192    89%\n"
	    "0x7f0000abcdef (libstripped.so.1)                                                                                                                  -                                        512.0 KiB      512   5.6%\n"
	    "evil?[2J                                                                                                                                           /tmp/?bell.c:7                           256.0 KiB      300   2.8%\n"
	    "std::vector<std::basic_string<char, std::char_traits<char>, std::allocator<char> >, std::allocator<std::basic_string<char> > >::_M_realloc_insert  /usr/include/c++/12/bits/vector.tcc:440  255.0 KiB      255   2.8%\n"
	    "small_fn                                                                                                                                           small.c                                    1.0 KiB        1  <0.1%\n"
	    "[other]                                                                                                                                            -                                              0 B        0     0%\n");
	/* Nothing from the daemon reaches the terminal as a control. */
	CHECK(strchr(out, 0x1b) == NULL && strchr(out, 0x07) == NULL);
	if (harness_failures)
		fprintf(stderr, "%s", out);
	free(out);
}

static void
test_table_allocated_bytes_limit(void)
{
	json_t *j = parse(sites_json);
	struct ctl_sites_view v = { .alloc = true, .bytes = true, .limit = 2 };
	char *out;
	int rc = -1;

	out = render(j, &v, &rc);
	CHECK(rc == 0);
	/* --alloc: the allocated figures; --bytes: byte counts; -n 2: two rows. */
	CHECK(strstr(out, "16384 B allocated on average\n") != NULL);
	CHECK(strstr(out, "9437184 B in use in 9300 objects, 10485760 B allocated") != NULL);
	CHECK(strstr(out, "ALLOCATED  OBJECTS  SHARE\n") != NULL);
	CHECK(strstr(out, "8388608     8192    89%\n") != NULL);
	CHECK(strstr(out, "1048576     1024   5.6%\n") != NULL);
	CHECK(strstr(out, "evil") == NULL && strstr(out, "[other]") == NULL);
	CHECK(count_lines(out) == 6);
	free(out);
	json_decref(j);
}

static void
test_table_fits_width(void)
{
	json_t *j = parse(sites_json);
	struct ctl_sites_view v = { .width = 80 };
	char *out;
	int rc = -1;

	out = render(j, &v, &rc);
	CHECK(rc == 0);
	/* The table fits 80 columns (the summary is not cut). */
	CHECK(strstr(out, "FUNCTION") != NULL);
	CHECK_U64(widest_line(strstr(out, "FUNCTION")), <=, 80);
	/* A name keeps its start, a path its end and its line. */
	CHECK(strstr(out, "\nstd::vector<std::basic_strin...  ...ts/vector.tcc:440  255.0 KiB") !=
	    NULL);
	CHECK(strstr(out, "\nhold_blocks                      ...gs/prof_hold.c:31    8.0 MiB") !=
	    NULL);
	CHECK(strstr(out, "\n0x7f0000abcdef (libstripped....  -                     512.0 KiB") !=
	    NULL);
	/* Short cells are not cut. */
	CHECK(strstr(out, "\nevil?[2J                         /tmp/?bell.c:7        256.0 KiB") !=
	    NULL);
	if (harness_failures)
		fprintf(stderr, "%s", out);
	free(out);
	json_decref(j);
}

static void
test_summary_notes_and_empty(void)
{
	json_t *j = parse("{\"pid\": 9, \"comm\": \"x\\u009b\", \"exited\": true, \"rate\": 524288,"
	    " \"samples\": 0, \"folded\": 12, \"unwind_failed\": 3, \"total\": {}, \"sites\": []}");
	struct ctl_sites_view v = { .limit = 20 };
	char *out;
	int rc = -1;

	out = render(j, &v, &rc);
	CHECK(rc == 0);
	/* A C1 control in the name is replaced too; unknown totals are "-". */
	CHECK_STR(out,
	    "x? (pid 9, exited): 0 samples, one per 512.0 KiB allocated on average\n"
	    "estimated: - in use in - objects, - allocated in - objects\n"
	    "12 samples folded into [other]: the agent's table of stacks is full\n"
	    "3 samples whose stack could not be unwound\n"
	    "\n"
	    "no call sites sampled yet\n");
	free(out);
	json_decref(j);
}

static void
test_not_sites(void)
{
	json_t *j = parse("{\"error\": \"no\"}");
	struct ctl_sites_view v = { 0 };
	char *out;
	int rc = 0;

	out = render(j, &v, &rc);
	CHECK(rc == -EPROTO);
	free(out);
	json_decref(j);
	/* Sites that are not objects, and figures of the wrong type, are skipped or "-". */
	j = parse("{\"sites\": [1, \"x\", {\"function\": 5, \"inuse_bytes\": -1, \"share\": \"a\","
	    " \"frames\": [{\"address\": 7}]}]}");
	out = render(j, &v, &rc);
	CHECK(rc == 0);
	CHECK(strstr(out, "\n?         -               -        -      -\n") != NULL);
	if (harness_failures)
		fprintf(stderr, "%s", out);
	free(out);
	json_decref(j);
}

/* A Python program's sites: two named by their Python functions, a
 * native one below them, and a name far wider than a terminal. */
static const char *const py_sites_json =
    "{\"pid\": 77, \"comm\": \"python3\", \"exited\": false, \"rate\": 524288,"
    " \"order\": \"inuse\", \"samples\": 200, \"folded\": 0, \"py_samples\": 180,"
    " \"pyfuncs_dropped\": 4, \"unwind_failed\": 0,"
    " \"total\": {\"inuse_bytes\": 85983232, \"inuse_objects\": 20000,"
    "  \"alloc_bytes\": 85983232, \"alloc_objects\": 20000},"
    " \"sites\": ["
    "{\"function\": \"build_cache\", \"file\": \"/srv/app/cache.py\", \"line\": 8,"
    " \"inuse_bytes\": 67108864, \"inuse_objects\": 16384, \"alloc_bytes\": 67108864,"
    " \"alloc_objects\": 16384, \"share\": 0.780488,"
    " \"python\": {\"function\": \"build_cache\", \"file\": \"/srv/app/cache.py\", \"line\": 8},"
    " \"frames\": [{\"kind\": \"native\", \"address\": \"0x7f0000001234\","
    "  \"function\": \"PyBytes_FromStringAndSize\", \"file\": null, \"line\": 0,"
    "  \"mapping\": \"/usr/bin/python3.11\", \"build_id\": null},"
    "  {\"kind\": \"python\", \"address\": null, \"function\": \"build_cache\","
    "  \"file\": \"/srv/app/cache.py\", \"line\": 8, \"mapping\": null, \"build_id\": null}]},"
    "{\"function\": \"Loader.load_rows.<locals>.<listcomp>\", \"file\": \"/srv/app/rows.py\","
    " \"line\": 12, \"inuse_bytes\": 16777216, \"inuse_objects\": 3500, \"alloc_bytes\": 16777216,"
    " \"alloc_objects\": 3500, \"share\": 0.195122,"
    " \"python\": {\"function\": \"Loader.load_rows.<locals>.<listcomp>\","
    "  \"file\": \"/srv/app/rows.py\", \"line\": 12}, \"frames\": []},"
    "{\"function\": \"_PyObject_GC_Resize\", \"file\": \"Objects/gcmodule.c\", \"line\": 2349,"
    " \"inuse_bytes\": 2097152, \"inuse_objects\": 116, \"alloc_bytes\": 2097152,"
    " \"alloc_objects\": 116, \"share\": 0.02439, \"python\": null, \"frames\": []}"
    "]}";

/* Python sites are marked [py]; the summary says how many samples ran
 * Python code and how many functions the agent had no room for. */
static void
test_table_python(void)
{
	struct ctl_sites_view v = { .limit = 0 };
	char *out = render_text(py_sites_json, &v);

	CHECK_STR(out,
	    "python3 (pid 77, live): 200 samples (180 in Python code), one per 512.0 KiB allocated on average\n"
	    "estimated: 82.0 MiB in use in 20000 objects, 82.0 MiB allocated in 20000 objects\n"
	    "4 Python functions beyond the agent's table: shown as [python]\n"
	    "\n"
	    "FUNCTION                                   FILE:LINE                  IN USE  OBJECTS  SHARE\n"
	    "build_cache [py]                           /srv/app/cache.py:8      64.0 MiB    16384    78%\n"
	    "Loader.load_rows.<locals>.<listcomp> [py]  /srv/app/rows.py:12      16.0 MiB     3500    20%\n"
	    "_PyObject_GC_Resize                        Objects/gcmodule.c:2349   2.0 MiB      116   2.4%\n");
	if (harness_failures)
		fprintf(stderr, "%s", out);
	free(out);
	/* Cut to a terminal's width, a Python name keeps its tag. */
	v.width = 60;
	out = render_text(py_sites_json, &v);
	CHECK_U64(widest_line(strstr(out, "FUNCTION")), <=, 60);
	CHECK(strstr(out, "\nbuild_cache [py]  ...pp/cache.py:8  64.0 MiB    16384    78%\n") != NULL);
	CHECK(strstr(out, "\nLoader.l... [py]  ...pp/rows.py:12  16.0 MiB     3500    20%\n") != NULL);
	CHECK(strstr(out, "\n_PyObject_GC_...  ...module.c:2349   2.0 MiB      116   2.4%\n") != NULL);
	if (harness_failures)
		fprintf(stderr, "%s", out);
	free(out);
}

int
main(void)
{
	RUN_TEST(test_table_in_use);
	RUN_TEST(test_table_allocated_bytes_limit);
	RUN_TEST(test_table_fits_width);
	RUN_TEST(test_summary_notes_and_empty);
	RUN_TEST(test_not_sites);
	RUN_TEST(test_table_python);
	return HARNESS_EXIT();
}
