/* itest_heapprof.c: the agent's heap profile end to end: real programs with known call sites, read back through memprobed's /sites and /profile and by `go tool pprof`. */
#include "harness.h"
#include "itest_util.h"

#include <jansson.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

/* The programs here say what their sites hold (it_prof.h). */
static char progs_dir[PATH_MAX + 16];

/* Whether frame list `frames` of a site names `fn` (a substring of a
 * function's name, mangled or not). */
static int frames_name(json_t *frames, const char *fn)
{
	size_t i;
	json_t *f;

	json_array_foreach(frames, i, f) {
		const char *name = json_string_value(json_object_get(f, "function"));

		if (name != NULL && strstr(name, fn) != NULL)
			return 1;
	}
	return 0;
}

/* The sum of a figure ("inuse_bytes", "alloc_bytes") over the sites whose
 * frames name fn. */
static double sum_where(json_t *sites, const char *fn, const char *fig)
{
	double sum = 0;
	size_t i;
	json_t *s;

	json_array_foreach(json_object_get(sites, "sites"), i, s)
		if (frames_name(json_object_get(s, "frames"), fn))
			sum += json_number_value(json_object_get(s, fig));
	return sum;
}

struct sites_wait {
	const struct it_daemon *d;
	long pid;
	const char *fn;
	double min;
	json_t *got;
};

/* Whether /sites of pid has at least `min` in-use bytes under fn (the
 * agent's samples reach memprobed as they are taken; the poll bounds
 * how long the registration takes). */
static int sites_have(void *arg)
{
	struct sites_wait *w = arg;
	long status;
	json_t *j = it_get_sites(w->d, w->pid, "top=65536", &status);

	if (j == NULL)
		return 0;
	if (sum_where(j, w->fn, "inuse_bytes") < w->min) {
		json_decref(j);
		return 0;
	}
	json_decref(w->got);
	w->got = j;
	return 1;
}

/* Waits for pid's /sites to show fn holding at least min bytes; returns
 * the sites (caller json_decref()s) or NULL having said so. */
static json_t *wait_sites(const struct it_daemon *d, long pid, const char *fn, double min)
{
	struct sites_wait w = { d, pid, fn, min, NULL };

	if (!it_wait_until(sites_have, &w, IT_TIMEOUT_MS)) {
		fprintf(stderr, "  pid %ld: /sites never showed %s holding %.0f bytes\n", pid, fn, min);
		json_decref(w.got);
		return NULL;
	}
	return w.got;
}

static int setup(struct it_daemon *d)
{
	snprintf(progs_dir, sizeof(progs_dir), "%s/tests/progs", itest.build);
	return it_daemon_start(d, 60);
}

static void prog_path(char *out, size_t size, const char *name)
{
	snprintf(out, size, "%s/%s", progs_dir, name);
}

/* ---- accuracy ---- */

/*
 * prof_sites at rate 16384: 33, 16.5 and 8.25 MiB held through three call
 * chains (about 2,100, 1,050 and 530 samples: errors of 2.2, 3.1 and 4.3 %),
 * 66 MiB churned through a fourth and 16.5 MiB allocated and freed through
 * a fifth. The in-use estimates are within 15 % a site and 10 % in all,
 * the churned site's allocated bytes within 10 %, the freed site under 1 %
 * of the total; go tool pprof reads the served profile and agrees.
 */
static void heap_profile_accuracy(void)
{
	static const char *held[] = { "hold_a", "hold_b", "hold_c" };
	struct it_daemon d;
	struct it_prog r;
	char bin[PATH_MAX + 48], file[PATH_MAX];
	char *argv[] = { bin, NULL };
	double total_est = 0, total_exact = 0, all;
	json_t *j;

	if (setup(&d) < 0) {
		CHECK(0);
		return;
	}
	prog_path(bin, sizeof(bin), "prof_sites");
	if (it_prog_start(&r, &d, argv, "16384", NULL) < 0 || r.nsites != 5) {
		CHECK(0);
		goto out;
	}
	j = wait_sites(&d, r.pid, "hold_c", it_site_fig(&r, "hold_c", 0) * 0.5);
	CHECK(j != NULL);
	if (j != NULL) {
		for (int i = 0; i < 3; i++) {
			double est = sum_where(j, held[i], "inuse_bytes");

			CHECK(it_within(held[i], est, it_site_fig(&r, held[i], 0), 0.15));
			total_est += est;
			total_exact += it_site_fig(&r, held[i], 0);
		}
		CHECK(it_within("three sites", total_est, total_exact, 0.10));
		CHECK(it_within("churn_d allocated", sum_where(j, "churn_d", "alloc_bytes"),
		    it_site_fig(&r, "churn_d", 1), 0.10));
		all = json_number_value(json_object_get(json_object_get(j, "total"), "inuse_bytes"));
		CHECK(it_within("all in use", all, total_exact, 0.10));
		CHECK_U64(sum_where(j, "gone_e", "inuse_bytes"), <, all / 100);
		CHECK(sum_where(j, "gone_e", "alloc_bytes") > 0);
		json_decref(j);
	}
	/* The same figures as pprof, through go tool pprof. */
	CHECK(it_fetch_profile(&d, r.pid, file, sizeof(file)) == 0);
	for (int i = 0; i < 3; i++)
		CHECK(it_within(held[i], it_pprof_figure(file, "inuse_space", held[i], 0),
		    it_site_fig(&r, held[i], 0), 0.15));
	CHECK(it_within("churn_d (pprof)", it_pprof_figure(file, "alloc_space", "churn_d", 0),
	    it_site_fig(&r, "churn_d", 1), 0.10));
out:
	it_prog_end(&r);
	it_daemon_finish(&d, harness_failures);
}

/* ---- threads, fork, signals, C++ ---- */

/* Runs PROG ARGS at RATE, waits for /sites of the pid (or its child) to
 * show fn, and checks fn's in-use estimate within tol of what the program
 * said for site `name`. */
static void one_site(const char *prog, char *const args[], const char *rate, const char *fn,
    const char *name, double tol, int of_child)
{
	struct it_daemon d;
	struct it_prog r;
	char bin[PATH_MAX + 48];
	char *argv[8] = { bin };
	long pid;
	json_t *j;

	for (int i = 0; args[i] != NULL && i < 6; i++)
		argv[i + 1] = args[i];
	if (setup(&d) < 0) {
		CHECK(0);
		return;
	}
	prog_path(bin, sizeof(bin), prog);
	if (it_prog_start(&r, &d, argv, rate, NULL) < 0 || it_site_fig(&r, name, 0) <= 0) {
		CHECK(0);
		goto out;
	}
	pid = of_child ? r.child : r.pid;
	CHECK(pid > 0);
	j = wait_sites(&d, pid, fn, it_site_fig(&r, name, 0) * 0.5);
	CHECK(j != NULL);
	if (j != NULL) {
		CHECK(it_within(name, sum_where(j, fn, "inuse_bytes"), it_site_fig(&r, name, 0), tol));
		if (of_child) {
			/* what the child inherited is its parent's, not its own */
			CHECK_U64(sum_where(j, "parent_hold", "inuse_bytes"), ==, 0);
			CHECK_U64(sum_where(j, "parent_hold", "alloc_bytes"), ==, 0);
		}
		json_decref(j);
	}
out:
	it_prog_end(&r);
	it_daemon_finish(&d, harness_failures);
}

/* 16 threads hold 2 MiB each through thread_hold: one site of 32 MiB. */
static void heap_profile_threads(void)
{
	char *args[] = { "threads", "16", NULL };

	one_site("prof_cases", args, "16384", "thread_hold", "thread_hold", 0.15, 0);
}

/* The parent holds 8 MiB, then forks; the child's profile has its own
 * 4 MiB (rate 8192: about 530 samples) and nothing of its parent's. */
static void heap_profile_fork_child(void)
{
	char *args[] = { "fork", NULL };

	one_site("prof_cases", args, "8192", "child_hold", "child_hold", 0.15, 1);
	one_site("prof_cases", args, "8192", "parent_hold", "parent_hold", 0.15, 0);
}

/* A SIGUSR1 handler allocates 8 MiB; its samples' stacks run through the
 * signal frame and are read like any other. */
static void heap_profile_signal_handler(void)
{
	char *args[] = { "signal", NULL };

	one_site("prof_cases", args, "16384", "handler_hold", "handler_hold", 0.15, 0);
}

/* C++: operator new from holder::blocks, and destructors that allocate
 * while 2,000 exceptions unwind through them. */
static void heap_profile_cxx(void)
{
	char *none[] = { NULL };

	one_site("prof_cxx", none, "16384", "holder", "holder::blocks", 0.15, 0);
	one_site("prof_cxx", none, "16384", "keeper", "keeper::~keeper", 0.15, 0);
}

/* ---- bounds and edges ---- */

/* Whether /sites?top=1 of pid counts at least `min` samples (the program
 * took them all before it said ready; the poll bounds registration). */
struct samples_wait {
	const struct it_daemon *d;
	long pid;
	double min;
	json_t *got;
};

static int samples_in(void *arg)
{
	struct samples_wait *w = arg;
	long status;
	json_t *j = it_get_sites(w->d, w->pid, "top=1", &status);

	if (j == NULL || json_number_value(json_object_get(j, "samples")) < w->min) {
		json_decref(j);
		return 0;
	}
	json_decref(w->got);
	w->got = j;
	return 1;
}

/*
 * 8,192 distinct stacks of one 4 KiB block each, at rate 64 (every block is
 * sampled and stands for itself): at most 4,095 get a stack of their own,
 * the rest fold into [other], counted, which is then the largest site;
 * nothing is lost. Read with top=1: the list of 4,096 sites with their
 * frames is megabytes of JSON.
 */
static void heap_profile_stack_limit(void)
{
	struct it_daemon d;
	struct it_prog r;
	char bin[PATH_MAX + 48];
	char *argv[] = { bin, "stacks", "13", NULL };
	struct samples_wait w = { &d, 0, 8192, NULL };
	json_t *first;

	if (setup(&d) < 0) {
		CHECK(0);
		return;
	}
	prog_path(bin, sizeof(bin), "prof_cases");
	if (it_prog_start(&r, &d, argv, "64", NULL) < 0) {
		CHECK(0);
		goto out;
	}
	w.pid = r.pid;
	if (!it_wait_until(samples_in, &w, IT_TIMEOUT_MS)) {
		fprintf(stderr, "  pid %ld: /sites never counted 8192 samples\n", r.pid);
		CHECK(0);
		goto out;
	}
	CHECK(it_within("all stacks in use",
	    json_number_value(json_object_get(json_object_get(w.got, "total"), "inuse_bytes")),
	    it_site_fig(&r, "leaf_alloc", 0), 0.01));
	CHECK_U64(json_number_value(json_object_get(w.got, "folded")), >=, 8192 - 4095);
	first = json_array_get(json_object_get(w.got, "sites"), 0);
	CHECK(first != NULL && it_json_str_is(first, "function", "[other]"));
	CHECK_U64(json_number_value(json_object_get(first, "inuse_bytes")), >=, 4097.0 * 4096);
	json_decref(w.got);
out:
	it_prog_end(&r);
	it_daemon_finish(&d, harness_failures);
}

/* MEMPROBE_PROFILE_RATE=0: no profile (404 with a JSON error from both
 * endpoints); the heap figures are there as ever. */
static void heap_profile_rate_zero(void)
{
	struct it_daemon d;
	struct it_prog r;
	char bin[PATH_MAX + 48], path[128];
	char *argv[] = { bin, NULL };
	struct it_http h = { 0 };
	long status;
	json_t *j;

	if (setup(&d) < 0) {
		CHECK(0);
		return;
	}
	prog_path(bin, sizeof(bin), "prof_sites");
	if (it_prog_start(&r, &d, argv, "0", NULL) < 0) {
		CHECK(0);
		goto out;
	}
	CHECK(it_wait_api_num(d.url, r.pid, "heap.live_bytes", 60e6));
	j = it_get_sites(&d, r.pid, "top=5", &status);
	CHECK(j == NULL);
	CHECK_U64(status, ==, 404);
	json_decref(j);
	snprintf(path, sizeof(path), "/api/v1/processes/%ld/profile", r.pid);
	CHECK(it_get(d.url, path, &h) == 0);
	CHECK_U64(h.status, ==, 404);
	CHECK(it_is_json_error(&h));
	it_http_free(&h);
out:
	it_prog_end(&r);
	it_daemon_finish(&d, harness_failures);
}

/*
 * The program's file is deleted while it runs: its profile is still
 * served, with the functions named when memprobed can open the mapping
 * through /proc/PID/map_files (root), else raw addresses with the mapping.
 */
static void heap_profile_deleted_binary(void)
{
	struct it_daemon d;
	struct it_prog r;
	char bin[PATH_MAX + 32], copy[PATH_MAX], file[PATH_MAX], cmd[2 * PATH_MAX + 64], out[64];
	char *argv[] = { copy, NULL };
	json_t *j;

	if (setup(&d) < 0) {
		CHECK(0);
		return;
	}
	prog_path(bin, sizeof(bin), "prof_sites");
	snprintf(copy, sizeof(copy), "%s/prof_sites_copy", d.dir);
	snprintf(cmd, sizeof(cmd), "cp %s %s", bin, copy);
	CHECK(it_shell(cmd, out, sizeof(out)) == 0);
	if (it_prog_start(&r, &d, argv, "16384", NULL) < 0) {
		CHECK(0);
		goto out;
	}
	CHECK(unlink(copy) == 0);
	if (geteuid() == 0) {
		j = wait_sites(&d, r.pid, "hold_a", it_site_fig(&r, "hold_a", 0) * 0.5);
		CHECK(j != NULL);
		if (j != NULL)
			CHECK(it_within("hold_a", sum_where(j, "hold_a", "inuse_bytes"),
			    it_site_fig(&r, "hold_a", 0), 0.15));
		json_decref(j);
	}
	CHECK(it_fetch_profile(&d, r.pid, file, sizeof(file)) == 0);
	snprintf(cmd, sizeof(cmd), "go tool pprof -top %s >/dev/null 2>&1", file);
	CHECK(it_shell(cmd, out, sizeof(out)) == 0);
out:
	it_prog_end(&r);
	it_daemon_finish(&d, harness_failures);
}

int itest_heapprof_run(void)
{
	if (it_selected("heap_profile_accuracy"))
		RUN_TEST(heap_profile_accuracy);
	if (it_selected("heap_profile_threads"))
		RUN_TEST(heap_profile_threads);
	if (it_selected("heap_profile_fork_child"))
		RUN_TEST(heap_profile_fork_child);
	if (it_selected("heap_profile_signal_handler"))
		RUN_TEST(heap_profile_signal_handler);
	if (it_selected("heap_profile_cxx"))
		RUN_TEST(heap_profile_cxx);
	if (it_selected("heap_profile_stack_limit"))
		RUN_TEST(heap_profile_stack_limit);
	if (it_selected("heap_profile_rate_zero"))
		RUN_TEST(heap_profile_rate_zero);
	if (it_selected("heap_profile_deleted_binary"))
		RUN_TEST(heap_profile_deleted_binary);
	return harness_failed_tests;
}
