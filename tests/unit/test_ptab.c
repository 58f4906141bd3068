/* test_ptab.c: unit tests of the process table (daemon/ptab.c), driven by a fake clock. */
#include <errno.h>
#include <unistd.h>

#include "harness.h"
#include "procfs.h"
#include "ptab.h"

static struct ptab *new_table(unsigned max_processes, unsigned max_gauges, double ttl)
{
	struct ptab_limits lim = { max_processes, max_gauges, ttl, 0 };

	return ptab_new(&lim);
}

static struct proto_hello hello(unsigned agent, const char *comm)
{
	struct proto_hello h;

	memset(&h, 0, sizeof(h));
	h.agent = (uint16_t)agent;
	h.start_time = 555;
	h.stack_limit = 8 << 20;
	snprintf(h.comm, sizeof(h.comm), "%s", comm);
	snprintf(h.exe, sizeof(h.exe), "/usr/bin/%s", comm);
	return h;
}

static struct ptab_snap *snap_at(struct ptab *pt, double now)
{
	struct ptab_snap *s = NULL;

	CHECK(ptab_snapshot(pt, now, &s) == 0);
	return s;
}

static void test_merge_two_connections(void)
{
	struct ptab *pt = new_table(10, 8, 60);
	struct ptab_key key = { 100, 7000 };
	struct proto_hello hc = hello(PROTO_AGENT_C, "worker");
	struct proto_hello hp = hello(PROTO_AGENT_PYTHON, "python3");
	struct proto_sample sc, sp;
	struct ptab_proc *pc = NULL, *pp = NULL;
	struct ptab_snap *s;

	CHECK(ptab_conn_open(pt, &key, 1000, &hc, 1.0, &pc) == 0);
	CHECK(ptab_conn_open(pt, &key, 1000, &hp, 2.0, &pp) == 0);
	CHECK(pc == pp);

	memset(&sc, 0, sizeof(sc));
	sc.flags = PROTO_S_HEAP | PROTO_S_STACK;
	sc.threads = 4;
	sc.heap_live_bytes = 4096;
	sc.stack_peak_bytes = 12000;
	ptab_sample(pt, pc, PROTO_AGENT_C, &sc, 3.0);
	memset(&sp, 0, sizeof(sp));
	sp.flags = PROTO_S_PYTHON;
	sp.threads = 1;                 /* the C agent's count wins */
	sp.py_recursion_limit = 1000;
	ptab_sample(pt, pp, PROTO_AGENT_PYTHON, &sp, 3.5);

	s = snap_at(pt, 4.0);
	CHECK_U64(s->n, ==, 1);
	CHECK_U64(s->procs[0].pid, ==, 100);
	CHECK_U64(s->procs[0].start_time, ==, 7000);
	CHECK_U64(s->procs[0].uid, ==, 1000);
	CHECK_U64(s->procs[0].connections, ==, 2);
	CHECK_U64(s->procs[0].agents, ==,
	    PTAB_AGENT_BIT(PROTO_AGENT_C) | PTAB_AGENT_BIT(PROTO_AGENT_PYTHON));
	CHECK_STR(s->procs[0].comm, "worker");  /* the C agent's names win */
	CHECK_STR(s->procs[0].exe, "/usr/bin/worker");
	CHECK_U64(s->procs[0].have, ==, PROTO_S_HEAP | PROTO_S_STACK | PROTO_S_PYTHON);
	CHECK_U64(s->procs[0].s.heap_live_bytes, ==, 4096);
	CHECK_U64(s->procs[0].s.stack_peak_bytes, ==, 12000);
	CHECK_U64(s->procs[0].s.py_recursion_limit, ==, 1000);
	CHECK_U64(s->procs[0].s.threads, ==, 4);
	CHECK_U64(s->procs[0].samples, ==, 2);
	CHECK(!s->procs[0].exited);
	CHECK_U64(s->live, ==, 1);
	ptab_snap_free(s);
	ptab_free(pt);
}

static void test_exit_and_expiry(void)
{
	struct ptab *pt = new_table(10, 8, 60);
	struct ptab_key key = { 200, 1 };
	struct proto_hello h = hello(PROTO_AGENT_C, "job");
	struct ptab_proc *a = NULL, *b = NULL;
	struct ptab_snap *s;

	CHECK(ptab_conn_open(pt, &key, 0, &h, 10.0, &a) == 0);
	CHECK(ptab_conn_open(pt, &key, 0, &h, 10.0, &b) == 0);
	ptab_conn_closed(pt, a, PROTO_AGENT_C, 20.0);
	s = snap_at(pt, 20.0);
	CHECK_U64(s->n, ==, 1);
	CHECK(!s->procs[0].exited);             /* one connection is left */
	ptab_snap_free(s);

	ptab_conn_closed(pt, b, PROTO_AGENT_C, 30.0);
	s = snap_at(pt, 45.0);
	CHECK_U64(s->n, ==, 1);
	CHECK(s->procs[0].exited);
	CHECK(s->procs[0].exited_seconds > 14.9 && s->procs[0].exited_seconds < 15.1);
	CHECK_U64(s->live, ==, 0);
	ptab_snap_free(s);

	CHECK_U64(ptab_expire(pt, 89.9), ==, 0);   /* 59.9 s after exit */
	CHECK_U64(ptab_expire(pt, 90.0), ==, 1);   /* exited_ttl reached */
	s = snap_at(pt, 90.0);
	CHECK_U64(s->n, ==, 0);
	ptab_snap_free(s);
	ptab_free(pt);
}

static void test_revive_after_exit(void)
{
	struct ptab *pt = new_table(10, 8, 60);
	struct ptab_key key = { 300, 9 };
	struct proto_hello h = hello(PROTO_AGENT_C, "before");
	struct proto_hello h2 = hello(PROTO_AGENT_C, "after");
	struct ptab_proc *a = NULL, *b = NULL;
	struct ptab_snap *s;

	CHECK(ptab_conn_open(pt, &key, 0, &h, 1.0, &a) == 0);
	ptab_conn_closed(pt, a, PROTO_AGENT_C, 2.0);
	/* The agent reconnects (or the process exec'd): same entry, live. */
	CHECK(ptab_conn_open(pt, &key, 0, &h2, 3.0, &b) == 0);
	CHECK(a == b);
	CHECK_U64(ptab_expire(pt, 100.0), ==, 0);
	s = snap_at(pt, 100.0);
	CHECK_U64(s->n, ==, 1);
	CHECK(!s->procs[0].exited);
	CHECK_STR(s->procs[0].comm, "after");
	ptab_snap_free(s);
	ptab_free(pt);
}

static void test_pid_reuse(void)
{
	struct ptab *pt = new_table(10, 8, 60);
	struct ptab_key old = { 400, 1000 }, reused = { 400, 2000 };
	struct proto_hello h1 = hello(PROTO_AGENT_C, "old");
	struct proto_hello h2 = hello(PROTO_AGENT_C, "new");
	struct ptab_proc *a = NULL, *b = NULL, *c = NULL;
	struct ptab_snap *s;

	/* Exited owner of the pid: replaced at once. */
	CHECK(ptab_conn_open(pt, &old, 0, &h1, 1.0, &a) == 0);
	ptab_conn_closed(pt, a, PROTO_AGENT_C, 2.0);
	CHECK(ptab_conn_open(pt, &reused, 0, &h2, 3.0, &b) == 0);
	s = snap_at(pt, 3.0);
	CHECK_U64(s->n, ==, 1);
	CHECK_STR(s->procs[0].comm, "new");
	CHECK_U64(s->procs[0].start_time, ==, 2000);
	ptab_snap_free(s);

	/* A live one whose close is not yet seen: hidden, freed at close. */
	CHECK(ptab_conn_open(pt, &old, 0, &h1, 4.0, &c) == 0);
	s = snap_at(pt, 4.0);
	CHECK_U64(s->n, ==, 1);
	CHECK_STR(s->procs[0].comm, "old");
	ptab_snap_free(s);
	ptab_conn_closed(pt, b, PROTO_AGENT_C, 5.0);
	s = snap_at(pt, 5.0);
	CHECK_U64(s->n, ==, 1);
	CHECK_STR(s->procs[0].comm, "old");
	CHECK(!s->procs[0].exited);
	ptab_snap_free(s);
	ptab_free(pt);
}

static void test_max_processes(void)
{
	struct ptab *pt = new_table(2, 8, 60);
	struct proto_hello h = hello(PROTO_AGENT_C, "p");
	struct ptab_key k1 = { 1, 1 }, k2 = { 2, 1 }, k3 = { 3, 1 };
	struct ptab_proc *p1 = NULL, *p2 = NULL, *p3 = NULL;
	struct ptab_snap *s;

	CHECK(ptab_conn_open(pt, &k1, 0, &h, 1.0, &p1) == 0);
	CHECK(ptab_conn_open(pt, &k2, 0, &h, 1.0, &p2) == 0);
	CHECK(ptab_conn_open(pt, &k3, 0, &h, 1.0, &p3) == -ENOSPC);
	CHECK(ptab_conn_open(pt, &k3, 0, &h, 1.5, &p3) == -ENOSPC);
	s = snap_at(pt, 2.0);
	CHECK_U64(s->n, ==, 2);
	CHECK_U64(s->processes_refused, ==, 2);
	ptab_snap_free(s);

	/* An exited entry gives its place to a new live process. */
	ptab_conn_closed(pt, p1, PROTO_AGENT_C, 3.0);
	CHECK(ptab_conn_open(pt, &k3, 0, &h, 4.0, &p3) == 0);
	s = snap_at(pt, 4.0);
	CHECK_U64(s->n, ==, 2);
	CHECK_U64(s->procs[0].pid, ==, 2);
	CHECK_U64(s->procs[1].pid, ==, 3);
	CHECK_U64(s->processes_refused, ==, 2);
	ptab_snap_free(s);
	ptab_free(pt);
}

static void test_gauges_bounded(void)
{
	struct ptab *pt = new_table(10, 2, 60);
	struct ptab_key key = { 500, 1 };
	struct proto_hello h = hello(PROTO_AGENT_C, "g");
	struct ptab_proc *p = NULL;
	struct ptab_snap *s;

	CHECK(ptab_conn_open(pt, &key, 0, &h, 1.0, &p) == 0);
	CHECK(ptab_gauge(pt, p, "zeta", 1.0) == 0);
	CHECK(ptab_gauge(pt, p, "alpha", 2.0) == 0);
	CHECK(ptab_gauge(pt, p, "mid", 3.0) == -ENOSPC);
	CHECK(ptab_gauge(pt, p, "zeta", 4.5) == 0);     /* an update is no new name */
	s = snap_at(pt, 1.0);
	CHECK_U64(s->procs[0].ngauges, ==, 2);
	CHECK_STR(s->procs[0].gauges[0].name, "alpha");
	CHECK(s->procs[0].gauges[0].value == 2.0);
	CHECK_STR(s->procs[0].gauges[1].name, "zeta");
	CHECK(s->procs[0].gauges[1].value == 4.5);
	CHECK_U64(s->procs[0].gauges_dropped, ==, 1);
	CHECK_U64(s->gauges_dropped, ==, 1);
	ptab_snap_free(s);
	ptab_free(pt);
}

static void test_names_made_utf8(void)
{
	struct ptab *pt = new_table(10, 2, 60);
	struct ptab_key key = { 600, 1 };
	struct proto_hello h = hello(PROTO_AGENT_C, "ok\xff\xc3\xa9\xed\xa0\x80");
	struct ptab_proc *p = NULL;
	struct ptab_snap *s;

	CHECK(ptab_conn_open(pt, &key, 0, &h, 1.0, &p) == 0);
	s = snap_at(pt, 1.0);
	/* 0xff and the encoded surrogate become U+FFFD; é stays. */
	CHECK_STR(s->procs[0].comm,
	    "ok\xef\xbf\xbd\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	ptab_snap_free(s);
	ptab_free(pt);
}

static void test_many_processes_sorted(void)
{
	struct ptab *pt = new_table(5000, 2, 0);
	struct proto_hello h = hello(PROTO_AGENT_C, "m");
	struct ptab_proc *p = NULL;
	struct ptab_snap *s;
	int ok = 1;

	/* Past the initial bucket count, in an order that is not sorted. */
	for (int i = 0; i < 3000; i++) {
		struct ptab_key key = { (pid_t)((i * 7919) % 3000 + 1), 1 };

		if (ptab_conn_open(pt, &key, 0, &h, 1.0, &p) != 0)
			ok = 0;
		ptab_conn_closed(pt, p, PROTO_AGENT_C, 1.0);
	}
	CHECK(ok);
	s = snap_at(pt, 1.0);
	CHECK_U64(s->n, ==, 3000);
	for (size_t i = 1; i < s->n; i++)
		if (s->procs[i - 1].pid >= s->procs[i].pid)
			ok = 0;
	CHECK(ok);
	ptab_snap_free(s);
	CHECK_U64(ptab_expire(pt, 1.0), ==, 3000);     /* exited_ttl 0 */
	ptab_free(pt);
}

static void test_proc_stat_parse(void)
{
	struct procstat st;
	const char *line = "1234 (a) b (c)) S 1 1234 1234 0 -1 4194560 100 0 0 0 "
	    "7 3 0 0 20 0 1 0 98765 1048576 256 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 17 2 0 0\n";

	CHECK(procstat_parse(line, &st) == 0);
	CHECK_U64(st.utime, ==, 7);
	CHECK_U64(st.stime, ==, 3);
	CHECK_U64(st.starttime, ==, 98765);
	CHECK_U64(st.vsize, ==, 1048576);
	CHECK_U64(st.rss, ==, 256);
	CHECK(procstat_parse("1234 (x) S 1 2", &st) < 0);
	CHECK(procstat_parse("garbage", &st) < 0);
}

static void test_history_ring(void)
{
	struct ptab_limits lim = { 10, 8, 60, 5 };
	struct ptab *pt = ptab_new(&lim);
	struct ptab_key key = { 700, 1 };
	struct proto_hello h = hello(PROTO_AGENT_C, "hist");
	struct proto_sample s;
	struct ptab_proc *p = NULL;
	struct ptab_hist *hi = NULL;

	CHECK(ptab_conn_open(pt, &key, 0, &h, 0.0, &p) == 0);
	CHECK(ptab_history(pt, 700, &hi) == 0);
	CHECK_U64(hi->n, ==, 0);
	free(hi);
	memset(&s, 0, sizeof(s));
	s.flags = PROTO_S_HEAP;
	/* Ten samples a second for 9.5 s: one point a second, the newest
	 * holding the latest figures; only the last 5 kept. */
	for (int i = 0; i < 95; i++) {
		s.heap_live_bytes = (uint64_t)i;
		ptab_sample(pt, p, PROTO_AGENT_C, &s, 1.0 + i * 0.1);
	}
	CHECK(ptab_history(pt, 700, &hi) == 0);
	CHECK_U64(hi->n, ==, 5);
	CHECK_STR(hi->comm, "hist");
	for (size_t i = 1; i < hi->n; i++)
		CHECK(hi->points[i].t > hi->points[i - 1].t);
	CHECK_U64(hi->points[4].heap_live_bytes, ==, 94);
	CHECK(hi->points[4].t > 10.3 && hi->points[4].t < 10.5);
	/* The point before holds the last sample of its second. */
	CHECK_U64(hi->points[3].heap_live_bytes, ==, 89);
	free(hi);
	/* A shorter history_length keeps the newest points. */
	lim.history_length = 2;
	ptab_set_limits(pt, &lim);
	ptab_sample(pt, p, PROTO_AGENT_C, &s, 20.0);
	CHECK(ptab_history(pt, 700, &hi) == 0);
	CHECK_U64(hi->n, ==, 2);
	CHECK(hi->points[1].t == 20.0);
	CHECK_U64(hi->points[0].heap_live_bytes, ==, 94);
	free(hi);
	CHECK(ptab_history(pt, 701, &hi) == -ENOENT);
	ptab_free(pt);
}

static void test_procfs_figures(void)
{
	struct ptab *pt = new_table(10, 8, 60);
	struct ptab_key k1 = { 800, 5 }, k2 = { 801, 5 }, old = { 800, 4 };
	struct proto_hello h = hello(PROTO_AGENT_C, "pf");
	struct ptab_proc *p1 = NULL, *p2 = NULL;
	struct ptab_key *keys = NULL;
	struct procfs_status st[3];
	int ok[3] = { 1, 1, 0 };
	struct ptab_snap *s;
	size_t n = 0;

	CHECK(ptab_conn_open(pt, &k1, 0, &h, 1.0, &p1) == 0);
	CHECK(ptab_conn_open(pt, &k2, 0, &h, 1.0, &p2) == 0);
	ptab_conn_closed(pt, p2, PROTO_AGENT_C, 2.0);
	CHECK(ptab_live_keys(pt, &keys, &n) == 0);
	CHECK_U64(n, ==, 1);                    /* the exited one is not read */
	CHECK_U64(keys[0].pid, ==, 800);
	free(keys);
	memset(st, 0, sizeof(st));
	st[0].resident = 4096;
	st[0].resident_peak = 8192;
	st[0].threads = 3;
	st[1].resident = 1;                     /* another start time: skipped */
	{
		struct ptab_key ks[3] = { k1, old, k2 };

		ptab_set_procfs(pt, ks, st, ok, 3);
	}
	s = snap_at(pt, 3.0);
	CHECK_U64(s->n, ==, 2);
	CHECK(s->procs[0].have_procfs);
	CHECK_U64(s->procs[0].pfs.resident, ==, 4096);
	CHECK_U64(s->procs[0].pfs.resident_peak, ==, 8192);
	CHECK_U64(s->procs[0].pfs.threads, ==, 3);
	CHECK(!s->procs[1].have_procfs);
	ptab_snap_free(s);
	ptab_free(pt);
}

static void test_retired_counters(void)
{
	struct ptab *pt = new_table(10, 8, 10);
	struct proto_hello h = hello(PROTO_AGENT_C, "job");
	struct proto_sample s;
	struct ptab_proc *p = NULL;
	struct ptab_snap *sn;

	memset(&s, 0, sizeof(s));
	s.flags = PROTO_S_HEAP;
	s.heap_allocations = 100;
	s.heap_live_bytes = 5;
	for (int i = 0; i < 3; i++) {
		struct ptab_key key = { 900 + i, 1 };

		CHECK(ptab_conn_open(pt, &key, 0, &h, 1.0, &p) == 0);
		ptab_sample(pt, p, PROTO_AGENT_C, &s, 1.0);
		ptab_conn_closed(pt, p, PROTO_AGENT_C, 2.0);
	}
	CHECK_U64(ptab_expire(pt, 12.0), ==, 3);
	sn = snap_at(pt, 12.0);
	CHECK_U64(sn->n, ==, 0);
	CHECK_U64(sn->nretired, ==, 1);
	CHECK_STR(sn->retired[0].comm, "job");
	CHECK_U64(sn->retired[0].s.heap_allocations, ==, 300);
	CHECK_U64(sn->retired[0].s.heap_live_bytes, ==, 0);     /* gauges are not kept */
	ptab_snap_free(sn);
	ptab_free(pt);
}

static void test_proc_status_parse(void)
{
	struct procfs_status st;
	const char *text = "Name:\tcat\nUmask:\t0022\nVmPeak:\t    3060 kB\n"
	    "VmHWM:\t    1744 kB\nVmRSS:\t    1700 kB\nRssAnon:\t  108 kB\n"
	    "VmData:\t     360 kB\nVmStk:\t     132 kB\nThreads:\t2\n";

	CHECK(procfs_parse_status(text, &st) == 0);
	CHECK_U64(st.resident, ==, 1700 * 1024);
	CHECK_U64(st.resident_peak, ==, 1744 * 1024);
	CHECK_U64(st.data, ==, 360 * 1024);
	CHECK_U64(st.stack_mapped, ==, 132 * 1024);
	CHECK_U64(st.threads, ==, 2);
	/* A kernel thread has no Vm lines. */
	CHECK(procfs_parse_status("Name:\tkthreadd\nThreads:\t1\n", &st) < 0);
	/* Our own, for real. */
	CHECK(procfs_status(getpid(), &st) == 0);
	CHECK(st.resident > 0 && st.threads >= 1);
}

int main(void)
{
	RUN_TEST(test_merge_two_connections);
	RUN_TEST(test_exit_and_expiry);
	RUN_TEST(test_revive_after_exit);
	RUN_TEST(test_pid_reuse);
	RUN_TEST(test_max_processes);
	RUN_TEST(test_gauges_bounded);
	RUN_TEST(test_names_made_utf8);
	RUN_TEST(test_many_processes_sorted);
	RUN_TEST(test_proc_stat_parse);
	RUN_TEST(test_history_ring);
	RUN_TEST(test_procfs_figures);
	RUN_TEST(test_retired_counters);
	RUN_TEST(test_proc_status_parse);
	return HARNESS_EXIT();
}
