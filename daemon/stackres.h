/* stackres.h: each thread's peak stack depth from its resident pages (/proc/PID/pagemap). */
#ifndef MEMPROBE_STACKRES_H
#define MEMPROBE_STACKRES_H

#include <stddef.h>
#include <stdint.h>

#include "procfs.h"
#include "ptab.h"

/*
 * A thread's stack pages, once touched, stay resident (or go to swap): the
 * deepest resident page of the thread's stack range is its peak depth, to
 * a page, whether or not the thread ever called malloc, and without the
 * process doing anything. The /proc refresh thread measures it for each
 * live thread the agent knows (ptab_stack_ranges()) and stores the result
 * with ptab_set_stack_depths().
 *
 * Assumption: a stack is touched contiguously from its top down. Debian
 * builds with -fstack-clash-protection, which probes every page of a large
 * frame, and a frame without it skips at most the part of a local array it
 * never touches. The scan therefore walks down from the deepest page found
 * so far and stops after STACKRES_MAXGAP absent pages in a row: holes that
 * short are crossed; the guard gap below a main stack (256 pages) and
 * whatever is mapped below it are not.
 *
 * Cost: state is kept per (process, thread), so each pass reads only the
 * pagemap words below the deepest page already found, in reads of at most
 * STACKRES_CHUNK words: one short pread per thread in the steady state,
 * never a whole 8 MiB range (which would be 16 KiB of pagemap per thread).
 *
 * Granularity: with transparent huge pages a first touch can make a whole
 * 2 MiB block resident. When THP is "always" system-wide the scan is not
 * made at all; when it is "madvise", a fully resident 2 MiB-aligned block
 * found by the scan is checked against the mapping's AnonHugePages in
 * /proc/PID/smaps, and a range that has huge pages is given up.
 */

#define STACKRES_MAXGAP 16u     /* absent pages crossed between touched ones */
#define STACKRES_CHUNK  64u     /* words per pread: 512 bytes */
#define STACKRES_BLOCK  512u    /* pages of a 2 MiB huge page */

/* One stack range and what is known of it. */
struct stackres_range {
	uint64_t instance;              /* the program image (region.h) */
	uint32_t tid;
	int is_main;
	uint64_t top, size;             /* as the agent found them (region.h) */
	uint64_t lo_vpn, top_vpn;       /* pages [lo_vpn, top_vpn) */
	uint64_t deep_vpn;              /* lowest touched page found; top_vpn: none */
	int huge;                       /* has huge pages: not measured */
};

/* Whether a pagemap word says the page was touched (present or swapped). */
static inline int stackres_touched(uint64_t word)
{
	return (word & (PROCFS_PM_PRESENT | PROCFS_PM_SWAPPED)) != 0;
}

/*
 * Sets r up for a fresh scan of the range [top - size, top) of thread tid
 * (size 0: unknown; for the main thread, unlimited, then the scan is
 * bounded by the gap rule alone). Returns 0, or -EINVAL when the range
 * cannot be scanned (no top; a thread with no size).
 */
int stackres_range_init(struct stackres_range *r, uint32_t tid, int is_main, uint64_t top,
    uint64_t size);

/* Reads the pagemap words of pages [vpn, vpn + n) into words; 0 or a
 * negative errno. */
typedef int (*stackres_read_fn)(void *ctx, uint64_t vpn, uint64_t *words, size_t n);

/*
 * Scans r down from its deepest known page, reading words through rd, and
 * moves r->deep_vpn to the deepest touched page reachable under the gap
 * rule. *full is set when a whole 2 MiB-aligned block inside the range was
 * found touched in this scan (the caller checks it for huge pages), else
 * cleared. Pure apart from rd. Returns 0, or rd's negative errno (r keeps
 * what was found before the failed read).
 */
int stackres_scan(struct stackres_range *r, stackres_read_fn rd, void *ctx, int *full);

/* Bytes from the range's top down to the start of its deepest touched
 * page; 0 when none was found or the range has huge pages. */
uint64_t stackres_depth(const struct stackres_range *r);

/* ---- the per-process state of the refresh thread ---- */

struct stackres;

/* Returns a new, empty state table, or NULL when out of memory. Used by
 * one thread. */
struct stackres *stackres_new(void);
void stackres_free(struct stackres *sr);

/* What one process's pass found. */
struct stackres_result {
	int measured;                   /* pagemap was read: the figures below hold */
	int denied;                     /* pagemap not ours to read */
	int main_measured;              /* and main_peak is the main thread's */
	uint64_t peak;                  /* deepest live thread now, bytes */
	uint64_t main_peak;             /* the main thread now, bytes */
};

/*
 * Measures process key's live threads: ranges[0..n) are its stack ranges
 * now (ptab_srange, all of this key). Ranges kept from the previous pass
 * with the same image, tid, top and size are scanned on from where they were;
 * others start afresh (a slot reused by a new thread), and kept ones not
 * among them are dropped. `thp` is the system's THP mode. Returns 0 and
 * *out, or a negative errno from opening or reading the pagemap (-EACCES,
 * -EPERM: not ours to read, out->denied set; -ENOENT, -ESRCH: gone;
 * -EOPNOTSUPP: thp is "always", nothing read). *huge_found is set when a
 * range was found to have huge pages in this pass (it is given up).
 * Logs nothing: the caller decides.
 */
int stackres_measure(struct stackres *sr, const struct ptab_key *key,
    const struct ptab_srange *ranges, size_t n, enum procfs_thp thp,
    struct stackres_result *out, int *huge_found);

/*
 * The figures to store for one process (ptab_set_stack_depths()): res as
 * stackres_measure() left it (zeroed when it was not called), and the
 * process's VmStk when its /proc/PID/status was read (status_ok). Where
 * pagemap gave no figure for the main thread (not ours to read, THP
 * "always", huge pages on its range, no main thread known), its figure is
 * VmStk: the size of its stack mapping, which the kernel grows to the
 * deepest page the thread touched. VmStk includes the argument and
 * environment strings and the auxiliary vector at the top (as the agent's
 * top does), and at least the 128 KiB the kernel maps at exec: high for a
 * shallow stack, right to a page for a deep one. Other threads then keep
 * the agent's stack pointers alone. Pure.
 */
void stackres_figures(const struct stackres_result *res, int status_ok, uint64_t vmstk,
    struct ptab_sdepth *d);

/* Forgets every process not measured since the last call (exited ones).
 * Returns how many were dropped. */
size_t stackres_sweep(struct stackres *sr);

/* Processes held (for tests). */
size_t stackres_count(const struct stackres *sr);

#endif
