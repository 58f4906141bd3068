/* test_stackres.c: the pagemap scan on synthetic words, the figures' fallbacks, and a real scan of this process. */
#include <errno.h>
#include <unistd.h>

#include "harness.h"
#include "procfs.h"
#include "stackres.h"

#define PG PROCFS_PAGE
#define P PROCFS_PM_PRESENT
#define S PROCFS_PM_SWAPPED

/* A synthetic address space: pagemap words of pages [base, base + n). */
struct fake {
	uint64_t base;
	size_t n;
	uint64_t *w;
	unsigned reads;                 /* calls */
	uint64_t words_read;
	int fail_at;                    /* fail the read with this index (-1 never) */
};

static int fake_read(void *ctx, uint64_t vpn, uint64_t *words, size_t n)
{
	struct fake *f = ctx;

	if (f->fail_at >= 0 && (int)f->reads == f->fail_at)
		return -EIO;
	f->reads++;
	f->words_read += n;
	CHECK(n <= STACKRES_CHUNK);
	for (size_t i = 0; i < n; i++) {
		uint64_t v = vpn + i;

		/* Outside the fake: unmapped, as pagemap says. */
		words[i] = v >= f->base && v < f->base + f->n ? f->w[v - f->base] : 0;
	}
	return 0;
}

/* A stack of `pages` pages whose top `touched` pages are present. The
 * range's top is page-aligned at (base + pages) * PG. */
static void fake_init(struct fake *f, uint64_t base, size_t pages, size_t touched)
{
	memset(f, 0, sizeof(*f));
	f->base = base;
	f->n = pages;
	f->w = calloc(pages, sizeof(*f->w));
	f->fail_at = -1;
	for (size_t i = pages - touched; i < pages; i++)
		f->w[i] = P | (i & 0xffff);     /* a PFN-ish low part is ignored */
}

/* fake_init(), and r set up for the whole fake as a thread's stack. */
static void fake_range(struct fake *f, struct stackres_range *r, uint64_t base, size_t pages,
    size_t touched)
{
	fake_init(f, base, pages, touched);
	CHECK(stackres_range_init(r, 42, 0, (base + pages) * PG, pages * PG) == 0);
}

/* 4 MiB touched of an 8 MiB thread stack: the depth to the page. */
static void scan_finds_deepest_page(void)
{
	struct stackres_range r;
	struct fake f;
	int full;
	uint64_t base = 0x7f0000000ull / PG + 3;        /* not 2 MiB-aligned */

	fake_range(&f, &r, base, 2048, 1024);
	CHECK_U64(stackres_depth(&r), ==, 0);
	CHECK(stackres_scan(&r, fake_read, &f, &full) == 0);
	CHECK_U64(r.deep_vpn, ==, base + 1024);
	CHECK_U64(stackres_depth(&r), ==, 1024 * PG);
	/* Read down to the touched part and a little past it, no further. */
	CHECK_U64(f.words_read, <=, 1024 + STACKRES_MAXGAP + 2 * STACKRES_CHUNK);
	free(f.w);
}

/* The next pass reads only below the deepest page found: nothing new
 * costs one short read; growth is found from there. */
static void scan_resumes_below(void)
{
	struct stackres_range r;
	struct fake f;
	int full;
	uint64_t base = 1000000;

	fake_range(&f, &r, base, 2048, 10);
	CHECK(stackres_scan(&r, fake_read, &f, &full) == 0);
	CHECK_U64(stackres_depth(&r), ==, 10 * PG);
	f.words_read = 0;
	f.reads = 0;
	CHECK(stackres_scan(&r, fake_read, &f, &full) == 0);
	CHECK_U64(stackres_depth(&r), ==, 10 * PG);
	CHECK_U64(f.reads, ==, 1);
	CHECK_U64(f.words_read, <=, STACKRES_CHUNK);
	/* The thread recursed 3 MiB deeper meanwhile. */
	for (size_t i = 2048 - 778; i < 2048; i++)
		f.w[i] = P;
	f.words_read = 0;
	CHECK(stackres_scan(&r, fake_read, &f, &full) == 0);
	CHECK_U64(stackres_depth(&r), ==, 778 * PG);
	CHECK_U64(f.words_read, <=, 768 + STACKRES_MAXGAP + 2 * STACKRES_CHUNK);
	free(f.w);
}

/* Swapped-out pages were touched too; short holes (a frame that skips
 * part of a local array) are crossed; a long one ends the scan, so the
 * guard gap and whatever lies below it are never counted. */
static void scan_gap_rule(void)
{
	struct stackres_range r;
	struct fake f;
	int full;
	uint64_t base = 5000000;

	fake_init(&f, base, 1024, 100);
	for (size_t i = 1024 - 100; i < 1024 - 90; i++)
		f.w[i] = S;                     /* swapped */
	/* A hole of STACKRES_MAXGAP pages, then 50 touched ones. */
	for (size_t i = 1024 - 100 - STACKRES_MAXGAP - 50; i < 1024 - 100 - STACKRES_MAXGAP; i++)
		f.w[i] = P;
	/* A hole of STACKRES_MAXGAP + 1 pages, then a foreign mapping. */
	for (size_t i = 0; i < 1024 - 100 - STACKRES_MAXGAP - 50 - STACKRES_MAXGAP - 1; i++)
		f.w[i] = P;
	CHECK(stackres_range_init(&r, 1, 0, (base + 1024) * PG, 1024 * PG) == 0);
	CHECK(stackres_scan(&r, fake_read, &f, &full) == 0);
	CHECK_U64(stackres_depth(&r), ==, (100 + STACKRES_MAXGAP + 50) * PG);
	CHECK(!full);
	free(f.w);
}

/* Never below the range's bottom, even when everything is present; an
 * unlimited main stack (size 0) is bounded by the gap rule alone. */
static void scan_range_bounds(void)
{
	struct stackres_range r;
	struct fake f;
	int full;
	uint64_t base = 6000000;

	fake_init(&f, base, 4096, 4096);
	CHECK(stackres_range_init(&r, 1, 0, (base + 4096) * PG, 1000 * PG) == 0);
	CHECK(stackres_scan(&r, fake_read, &f, &full) == 0);
	CHECK_U64(stackres_depth(&r), ==, 1000 * PG);
	free(f.w);

	fake_init(&f, base, 4096, 3000);
	CHECK(stackres_range_init(&r, 1, 1, (base + 4096) * PG, 0) == 0);
	CHECK_U64(r.lo_vpn, ==, 0);
	CHECK(stackres_scan(&r, fake_read, &f, &full) == 0);
	CHECK_U64(stackres_depth(&r), ==, 3000 * PG);
	free(f.w);

	/* No top; a thread without a size; a size past the top. */
	CHECK(stackres_range_init(&r, 1, 0, 0, 8 << 20) == -EINVAL);
	CHECK(stackres_range_init(&r, 1, 0, 1ull << 40, 0) == -EINVAL);
	CHECK(stackres_range_init(&r, 1, 1, 4096, 8192) == -EINVAL);
}

/* A whole 2 MiB-aligned block found touched is flagged (once, when its
 * bottom page is found), for the huge-page check. */
static void scan_flags_full_block(void)
{
	struct stackres_range r;
	struct fake f;
	int full;
	uint64_t base = 512 * 10000;            /* 2 MiB-aligned */

	/* Top 300 pages: no whole aligned block. */
	fake_range(&f, &r, base, 2048, 300);
	CHECK(stackres_scan(&r, fake_read, &f, &full) == 0);
	CHECK(!full);
	/* Down to 1100 pages: the block [base + 1536, base + 2048) is whole. */
	for (size_t i = 2048 - 1100; i < 2048; i++)
		f.w[i] = P;
	CHECK(stackres_scan(&r, fake_read, &f, &full) == 0);
	CHECK(full);
	CHECK_U64(stackres_depth(&r), ==, 1100 * PG);
	/* Nothing new: not flagged again. */
	CHECK(stackres_scan(&r, fake_read, &f, &full) == 0);
	CHECK(!full);
	/* A block with a hole in it is not whole. */
	for (size_t i = 0; i < 2048 - 1100; i++)
		f.w[i] = P;
	f.w[600] = 0;
	CHECK(stackres_scan(&r, fake_read, &f, &full) == 0);
	CHECK_U64(stackres_depth(&r), ==, 2048 * PG);
	/* [base + 512, base + 1024) holds the hole; [base, base + 512) is whole. */
	CHECK(full);
	free(f.w);
}

/* A failed read keeps what was found before it. */
static void scan_read_error(void)
{
	struct stackres_range r;
	struct fake f;
	int full;
	uint64_t base = 7000000;

	fake_init(&f, base, 2048, 1000);
	f.fail_at = 3;
	CHECK(stackres_range_init(&r, 1, 0, (base + 2048) * PG, 2048 * PG) == 0);
	CHECK(stackres_scan(&r, fake_read, &f, &full) == -EIO);
	CHECK_U64(stackres_depth(&r), ==, 3 * STACKRES_CHUNK * PG);
	f.fail_at = -1;
	CHECK(stackres_scan(&r, fake_read, &f, &full) == 0);
	CHECK_U64(stackres_depth(&r), ==, 1000 * PG);
	free(f.w);
}

/* What is stored: pagemap when read; VmStk for the main thread when not
 * (nor the main range); the peak never below the main thread's. */
static void figures_fall_back(void)
{
	struct stackres_result res;
	struct ptab_sdepth d;

	memset(&res, 0, sizeof(res));
	res.measured = res.main_measured = 1;
	res.peak = 4 << 20;
	res.main_peak = 40960;
	stackres_figures(&res, 1, 139264, &d);
	CHECK(d.set && d.source == PTAB_STACK_PAGEMAP);
	CHECK_U64(d.peak, ==, 4 << 20);
	CHECK_U64(d.main_peak, ==, 40960);

	/* pagemap denied: VmStk, for the main thread only. */
	memset(&res, 0, sizeof(res));
	res.denied = 1;
	stackres_figures(&res, 1, 4259840, &d);
	CHECK(d.set && d.source == PTAB_STACK_VMSTK);
	CHECK_U64(d.main_peak, ==, 4259840);
	CHECK_U64(d.peak, ==, 4259840);

	/* ... and nothing when status could not be read either. */
	stackres_figures(&res, 0, 4259840, &d);
	CHECK(!d.set);

	/* Read, but the main range had huge pages: VmStk for it. */
	memset(&res, 0, sizeof(res));
	res.measured = 1;
	res.peak = 1 << 20;
	stackres_figures(&res, 1, 2 << 20, &d);
	CHECK(d.set && d.source == PTAB_STACK_PAGEMAP);
	CHECK_U64(d.main_peak, ==, 2 << 20);
	CHECK_U64(d.peak, ==, 2 << 20);
}

/* The end of this process's [stack] mapping. */
static uint64_t self_stack_top(void)
{
	char *maps, *line, *end;
	uint64_t top = 0;

	if (procfs_read_all("/proc/self/maps", &maps, NULL) < 0)
		return 0;
	line = strstr(maps, "[stack]");
	if (line != NULL) {
		while (line > maps && line[-1] != '\n')
			line--;
		strtoull(line, &end, 16);
		if (*end == '-')
			top = strtoull(end + 1, NULL, 16);
	}
	free(maps);
	return top;
}

static __attribute__((noinline)) int touch_deep(int n)
{
	volatile char buf[4096];

	buf[0] = (char)n;
	buf[4095] = (char)n;
	return (n > 0 ? touch_deep(n - 1) : 0) + buf[0] + buf[4095] - 2 * (char)n;
}

/* The real thing on this process: its main thread's stack, then kept
 * state: a range seen again is scanned on, a new tid starts afresh, and a
 * process not measured in a pass is dropped. */
static void measure_self(void)
{
	struct stackres *sr = stackres_new();
	struct ptab_key key = { getpid(), 1 };
	struct ptab_srange rg = { 0, 99, (uint32_t)getpid(), 1, self_stack_top(), 8u << 20 };
	struct stackres_result res;
	int huge;
	int r;

	CHECK(sr != NULL && rg.top != 0);
	if (sr == NULL || rg.top == 0)
		return;
	CHECK(touch_deep(256) == 0);            /* about 1 MiB */
	r = stackres_measure(sr, &key, &rg, 1, PROCFS_THP_NEVER, &res, &huge);
	CHECK(r == 0);
	CHECK(res.measured && res.main_measured && !huge);
	CHECK_U64(res.main_peak, >=, 1 << 20);
	CHECK_U64(res.main_peak, <, 8u << 20);
	CHECK_U64(res.peak, ==, res.main_peak);
	CHECK_U64(stackres_count(sr), ==, 1);
	CHECK_U64(stackres_sweep(sr), ==, 0);
	/* "always": nothing read, state kept. */
	CHECK(stackres_measure(sr, &key, &rg, 1, PROCFS_THP_ALWAYS, &res, &huge) == -EOPNOTSUPP);
	CHECK(!res.measured);
	CHECK_U64(stackres_sweep(sr), ==, 0);
	/* Not measured in a pass: dropped at the sweep after it. */
	CHECK_U64(stackres_sweep(sr), ==, 1);
	CHECK_U64(stackres_count(sr), ==, 0);
	/* A process that is gone. */
	key.pid = 0x3fffffff;
	r = stackres_measure(sr, &key, &rg, 1, PROCFS_THP_NEVER, &res, &huge);
	CHECK(r == -ENOENT || r == -ESRCH);
	CHECK(!res.measured && !res.denied);
	stackres_free(sr);
}

int main(void)
{
	RUN_TEST(scan_finds_deepest_page);
	RUN_TEST(scan_resumes_below);
	RUN_TEST(scan_gap_rule);
	RUN_TEST(scan_range_bounds);
	RUN_TEST(scan_flags_full_block);
	RUN_TEST(scan_read_error);
	RUN_TEST(figures_fall_back);
	RUN_TEST(measure_self);
	return HARNESS_EXIT();
}
