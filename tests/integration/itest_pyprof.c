/* itest_pyprof.c: Python functions in heap profiles: a real python3 with the agent preloaded, its structures attributed to the functions, files and lines that made them. */
#include "harness.h"
#include "itest_util.h"

#include <jansson.h>
#include <math.h>
#include <sys/wait.h>

#include "profile.h"

/*
 * tests/progs/py_prof/main.py builds structures in known functions of two
 * modules and says, for each, "site FUNCTION FILE LINE BYTES": the usable
 * bytes it holds, counted the way the profile counts them. The profile is
 * read back through /sites (each site's frames: kind, function, file,
 * line) and, for the first test, through go tool pprof. At rate 16384 the
 * 16 MiB of tuples and ints get about 1,100 samples (error 3 %) and the
 * 64 MiB of 4 KiB bytes objects about 3,600: the bound is 15 %, as the
 * issue asks.
 */

#define PY_RATE "16384"

/* One structure the script holds. */
struct py_site {
	char function[64], file[64];
	long line;
	double bytes;
};

/* The site lines of a run, parsed; the number read. */
static int py_sites(const struct it_prog *r, struct py_site *out, int max)
{
	int n = 0;

	for (int i = 0; i < r->nsites && n < max; i++)
		if (sscanf(r->sites[i].raw, "site %63s %63s %ld %lf", out[n].function, out[n].file,
		    &out[n].line, &out[n].bytes) == 4)
			n++;
	return n;
}

/* Whether frame f is the Python frame of s's function at s's file:line. */
static int frame_is(json_t *f, const struct py_site *s)
{
	const char *kind = json_string_value(json_object_get(f, "kind"));
	const char *fn = json_string_value(json_object_get(f, "function"));
	const char *file = json_string_value(json_object_get(f, "file"));
	size_t fl, sl = strlen(s->file);

	if (kind == NULL || strcmp(kind, "python") != 0 || fn == NULL || file == NULL ||
	    strcmp(fn, s->function) != 0 || json_integer_value(json_object_get(f, "line")) != s->line)
		return 0;
	fl = strlen(file);
	return fl >= sl && strcmp(file + fl - sl, s->file) == 0 &&
	    (fl == sl || file[fl - sl - 1] == '/');
}

/* The index of the first frame of `frames` that is s's, or -1. */
static long frame_index(json_t *frames, const struct py_site *s)
{
	size_t i;
	json_t *f;

	json_array_foreach(frames, i, f)
		if (frame_is(f, s))
			return (long)i;
	return -1;
}

/* The in-use bytes of the sites whose stacks hold s's frame. */
static double held_by(json_t *sites, const struct py_site *s)
{
	double sum = 0;
	size_t i;
	json_t *site;

	json_array_foreach(json_object_get(sites, "sites"), i, site)
		if (frame_index(json_object_get(site, "frames"), s) >= 0)
			sum += json_number_value(json_object_get(site, "inuse_bytes"));
	return sum;
}

struct held_wait {
	const struct it_daemon *d;
	long pid;
	const struct py_site *s;
	json_t *got;
};

/* Whether /sites shows at least half of s's bytes under s (the samples
 * reach memprobed as they are taken; the poll bounds registration). */
static int held_enough(void *arg)
{
	struct held_wait *w = arg;
	long status;
	/* The largest sites only: all of them are megabytes of JSON, which
	 * under ASan take memprobed longer than a request may. */
	json_t *j = it_get_sites(w->d, w->pid, "top=200", &status);

	if (j == NULL)
		return 0;
	if (held_by(j, w->s) < w->s->bytes / 2) {
		json_decref(j);
		return 0;
	}
	json_decref(w->got);
	w->got = j;
	return 1;
}

/* Runs main.py with ARGS (and the Python agent too, with_agent), and
 * checks every structure it names within 15 % of its bytes, in a stack
 * that holds its function at its file:line. The run is left in *r for
 * more checks, with its last /sites in *sites (caller json_decref()s). */
static int py_run(struct it_daemon *d, struct it_prog *r, const char *scenario, int with_agent,
    struct py_site *s, int *ns, json_t **sites)
{
	char *argv[] = { "/usr/bin/env", "python3", "tests/progs/py_prof/main.py",
	    with_agent ? "--agent" : (char *)(uintptr_t)scenario,
	    with_agent ? (char *)(uintptr_t)scenario : NULL, NULL };

	*sites = NULL;
	if (it_prog_start(r, d, argv, PY_RATE, "PYTHONPATH=client/python") < 0)
		return -1;
	*ns = py_sites(r, s, 4);
	if (*ns == 0) {
		fprintf(stderr, "  main.py %s named no site\n", scenario);
		return -1;
	}
	for (int i = 0; i < *ns; i++) {
		struct held_wait w = { d, r->pid, &s[i], NULL };
		char what[160];

		if (!it_wait_until(held_enough, &w, IT_TIMEOUT_MS)) {
			fprintf(stderr, "  /sites never showed %s at %s:%ld\n", s[i].function,
			    s[i].file, s[i].line);
			json_decref(w.got);
			return -1;
		}
		snprintf(what, sizeof(what), "%s (%s:%ld)", s[i].function, s[i].file, s[i].line);
		CHECK(it_within(what, held_by(w.got, &s[i]), s[i].bytes, 0.15));
		json_decref(*sites);
		*sites = w.got;
	}
	return 0;
}

/* A site of `sites` whose stack holds s's frame; NULL if none. */
static json_t *site_of(json_t *sites, const struct py_site *s)
{
	size_t i;
	json_t *site;

	json_array_foreach(json_object_get(sites, "sites"), i, site)
		if (frame_index(json_object_get(site, "frames"), s) >= 0)
			return site;
	return NULL;
}

/*
 * The test: 64 MiB of 4 KiB bytes objects held from build_cache()
 * in cache_mod.py, 16 MiB of small tuples and ints from load_rows() in
 * rows_mod.py (pymalloc's, which malloc never sees). Each within 15 %, in
 * stacks that read as a traceback does (the comprehension inside
 * load_rows inside the script's module code), through /sites and through
 * go tool pprof.
 */
static void modules(int with_agent)
{
	struct it_daemon d;
	struct it_prog r = { .p = { .in_fd = -1, .out_fd = -1 } };
	struct py_site s[4], module = { "<module>", "main.py", 0, 0 };
	char file[PATH_MAX];
	json_t *sites = NULL, *site;
	int ns = 0;

	REQUIRE(it_daemon_start(&d, 60) == 0);
	if (py_run(&d, &r, "modules", with_agent, s, &ns, &sites) < 0 || ns != 2) {
		CHECK(0);
		goto out;
	}
	site = site_of(sites, &s[1]);
	REQUIRE(site != NULL);
	{
		json_t *frames = json_object_get(site, "frames"), *f;
		long rows = frame_index(frames, &s[1]), outer = -1;
		size_t i;

		/* innermost first: the comprehension (its qualified name),
		 * then load_rows, then main.py's main(), then its <module> */
		json_array_foreach(frames, i, f) {
			const char *fn = json_string_value(json_object_get(f, "function"));

			if ((long)i > rows && fn != NULL && strcmp(fn, module.function) == 0)
				outer = (long)i;
		}
		CHECK(rows > 0);
		CHECK(outer > rows);
		CHECK_STR(json_string_value(json_object_get(json_array_get(frames, (size_t)rows - 1),
		    "function")), "load_rows.<locals>.<listcomp>");
		CHECK_STR(json_string_value(json_object_get(json_object_get(site, "python"),
		    "function")), "load_rows.<locals>.<listcomp>");
	}
	CHECK(it_fetch_profile(&d, r.pid, file, sizeof(file)) == 0);
	CHECK(it_within("build_cache (pprof)", it_pprof_figure(file, "inuse_space", "build_cache", 1),
	    s[0].bytes, 0.15));
	CHECK(it_within("load_rows (pprof)", it_pprof_figure(file, "inuse_space", "load_rows", 1),
	    s[1].bytes, 0.15));
out:
	json_decref(sites);
	it_prog_end(&r);
	it_daemon_finish(&d, harness_failures);
}

static void py_profile_c_agent(void)
{
	modules(0);
}

/* The same with the Python agent started too: one process, both agents. */
static void py_profile_both_agents(void)
{
	modules(1);
}

/* load_rows in a thread, a generator's rows, a coroutine's rows. */
static void one_scenario(const char *scenario)
{
	struct it_daemon d;
	struct it_prog r = { .p = { .in_fd = -1, .out_fd = -1 } };
	struct py_site s[4];
	json_t *sites = NULL;
	int ns = 0;

	REQUIRE(it_daemon_start(&d, 60) == 0);
	CHECK(py_run(&d, &r, scenario, 0, s, &ns, &sites) == 0);
	CHECK_I64(ns, ==, 1);
out:
	json_decref(sites);
	it_prog_end(&r);
	it_daemon_finish(&d, harness_failures);
}

static void py_profile_thread(void)
{
	one_scenario("threads");
}

static void py_profile_generator(void)
{
	one_scenario("generator");
}

static void py_profile_async(void)
{
	one_scenario("async");
}

/* ---- hostile programs ---- */

/* Whether some site of `sites` has a Python frame of function fn (and, if
 * file is not NULL, of that file). */
static int has_function(json_t *sites, const char *fn, const char *file)
{
	size_t i, k;
	json_t *site, *f;

	json_array_foreach(json_object_get(sites, "sites"), i, site)
		json_array_foreach(json_object_get(site, "frames"), k, f) {
			const char *name = json_string_value(json_object_get(f, "function"));
			const char *where = json_string_value(json_object_get(f, "file"));

			if (name != NULL && strcmp(name, fn) == 0 &&
			    (file == NULL || (where != NULL && strcmp(where, file) == 0)))
				return 1;
		}
	return 0;
}

/* Runs hostile.py CASE under the agent at `rate` (with `extra` in the
 * environment, if not NULL): it must say "ok CASE" and exit 0. Returns its
 * pid, or -1 having said why. */
static long hostile_case(const struct it_daemon *d, const char *c, const char *rate,
    const char *extra)
{
	char storage[2 * PATH_MAX + 64], line[128], errpath[PATH_MAX];
	char *argv[] = { "/usr/bin/env", "python3", "tests/progs/py_prof/hostile.py",
	    (char *)(uintptr_t)c, NULL };
	char *env[8] = { NULL };
	struct it_proc p = { .in_fd = -1, .out_fd = -1 };
	long pid = -1, started = -1;
	int k;

	it_agent_env(env, storage, d->sock);
	for (k = 0; env[k] != NULL; k++)
		;
	env[k++] = (char *)(uintptr_t)rate;
	if (extra != NULL)
		env[k++] = (char *)(uintptr_t)extra;
	snprintf(errpath, sizeof(errpath), "%s/hostile-%s.stderr", d->dir, c);
	if (it_proc_start(&p, argv, env, errpath) == 0 && (started = p.pid) > 0 &&
	    it_proc_readline(&p, line, sizeof(line), 4 * IT_TIMEOUT_MS) > 0 &&
	    strncmp(line, "ok ", 3) == 0 && strcmp(line + 3, c) == 0 &&
	    it_proc_wait(&p, IT_TIMEOUT_MS) == 0 && WIFEXITED(p.status) &&
	    WEXITSTATUS(p.status) == 0)
		pid = started;          /* p.pid is 0 once reaped */
	if (pid < 0) {
		char err[2048];

		it_slurp(errpath, err, sizeof(err));
		fprintf(stderr, "  hostile.py %s%s%s failed (status %#x); its stderr:\n%s\n", c,
		    extra != NULL ? " with " : "", extra != NULL ? extra : "", p.status, err);
	}
	it_proc_kill(&p);
	return pid;
}

struct names_wait {
	const struct it_daemon *d;
	long pid;
	json_t *got;
};

/* Whether the exited names case's sites (the 400 that allocated most:
 * its lists are freed as they are made) could be read. */
static int names_read(void *arg)
{
	struct names_wait *w = arg;
	long status;

	w->got = it_get_sites(w->d, w->pid, "order=alloc&top=400", &status);
	return w->got != NULL;
}

/*
 * Programs that make reading Python frames and wrapping CPython's
 * allocator hard (tests/progs/py_prof/hostile.py), each sampled one per
 * 512 bytes: daemon threads allocating with and without the GIL while
 * the interpreter finalizes and frees their thread states; recursion to
 * the limit; names and files of Latin-1, two- and four-byte code points
 * and a qualified name past the field; tracemalloc started and stopped
 * over sampled blocks with sys.getallocatedblocks() balanced; a
 * sub-interpreter run from a thread; forks from a thread-busy parent;
 * generators resumed from several threads. Then the same under
 * PYTHONMALLOC=malloc, =debug and -X dev, which set CPython's allocators
 * up again over the agent's wrapper. Each ends as it would without the
 * agent; the names come out whole (UTF-8, cut at a whole character).
 */
static void py_profile_hostile(void)
{
	static const char *cases[] = { "finalize", "deep", "names", "tracing", "subinterp",
	    "forks", "generators" };
	static const char *envs[] = { "PYTHONMALLOC=malloc", "PYTHONMALLOC=debug", "PYTHONDEVMODE=1" };
	struct it_daemon d;
	long names = -1;

	REQUIRE(it_daemon_start(&d, 600) == 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK(hostile_case(&d, cases[i], "MEMPROBE_PROFILE_RATE=512", NULL) > 0);
	for (size_t e = 0; e < sizeof(envs) / sizeof(envs[0]); e++) {
		CHECK(hostile_case(&d, "deep", "MEMPROBE_PROFILE_RATE=512", envs[e]) > 0);
		CHECK(hostile_case(&d, "forks", "MEMPROBE_PROFILE_RATE=512", envs[e]) > 0);
	}
	/* The names once more, at a rate that leaves few stacks: its profile
	 * read whole must stay quick for a memprobed under a sanitizer. */
	names = hostile_case(&d, "names", "MEMPROBE_PROFILE_RATE=65536", NULL);
	CHECK(names > 0);
	if (names > 0) {
		struct names_wait w = { &d, names, NULL };
		char k255[PROF_PYNAME_MAX];
		json_t *j;

		REQUIRE(it_wait_until(names_read, &w, IT_TIMEOUT_MS));
		j = w.got;
		memset(k255, 'K', sizeof(k255) - 1);
		k255[sizeof(k255) - 1] = '\0';
		CHECK(has_function(j, "lädt_Zeilen", "/tmp/ファイル-𝔣.py"));
		CHECK(has_function(j, "行を読む", NULL));
		CHECK(has_function(j, k255, NULL));
		json_decref(j);
	}
out:
	it_daemon_finish(&d, harness_failures);
}

int itest_pyprof_run(void)
{
	if (it_selected("py_profile_c_agent"))
		RUN_TEST(py_profile_c_agent);
	if (it_selected("py_profile_both_agents"))
		RUN_TEST(py_profile_both_agents);
	if (it_selected("py_profile_thread"))
		RUN_TEST(py_profile_thread);
	if (it_selected("py_profile_generator"))
		RUN_TEST(py_profile_generator);
	if (it_selected("py_profile_async"))
		RUN_TEST(py_profile_async);
	if (it_selected("py_profile_hostile"))
		RUN_TEST(py_profile_hostile);
	return harness_failed_tests;
}
