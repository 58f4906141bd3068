/* agent_shim.c: the interposed malloc family; each hook forwards to the real allocator and counts. */
#include "agent.h"

#include <dlfcn.h>
#include <malloc.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

static struct {
	void *(*malloc)(size_t);
	void (*free)(void *);
	void *(*calloc)(size_t, size_t);
	void *(*realloc)(void *, size_t);
	void *(*reallocarray)(void *, size_t, size_t);
	int (*posix_memalign)(void **, size_t, size_t);
	void *(*aligned_alloc)(size_t, size_t);
	void *(*memalign)(size_t, size_t);
	void *(*valloc)(size_t);
	void *(*pvalloc)(size_t);
	size_t (*usable)(void *);
	void (*exit_)(int) __attribute__((noreturn));
	void (*Exit_)(int) __attribute__((noreturn));
} real;

/*
 * Bootstrap pool. dlsym() allocates while we resolve the real allocator, so
 * those first requests are served from this static buffer. Its blocks carry
 * their size in a 16-byte header, are never reused, and are recognised by
 * address in free, realloc and malloc_usable_size.
 */
static _Alignas(64) unsigned char boot_pool[64 * 1024];
static _Atomic size_t boot_used;
static __thread int resolving __attribute__((tls_model("initial-exec")));

static int in_boot(const void *p)
{
	return (uintptr_t)p - (uintptr_t)boot_pool < sizeof(boot_pool);
}

static size_t boot_size(const void *p)
{
	return ((const size_t *)p)[-2];
}

static void *boot_alloc(size_t size, size_t align)
{
	size_t need, start, off;

	if (align < 16)
		align = 16;
	if (size > sizeof(boot_pool) || align > 4096)
		return NULL;
	need = (size + 16 + align + 15) & ~(size_t)15;
	start = atomic_fetch_add(&boot_used, need);
	if (start + need > sizeof(boot_pool))
		return NULL;
	off = (start + 16 + align - 1) & ~(align - 1);
	((size_t *)(boot_pool + off))[-2] = size;
	return boot_pool + off;
}

static void *sym(const char *name)
{
	return dlsym(RTLD_NEXT, name);
}

/*
 * Resolves the real functions. Returns 0, or -1 while this thread is
 * inside the resolution (the caller then serves from the boot pool).
 */
static int resolve(void)
{
	if (resolving)
		return -1;
	resolving = 1;
	real.free = sym("free");
	real.calloc = sym("calloc");
	real.realloc = sym("realloc");
	real.reallocarray = sym("reallocarray");
	real.posix_memalign = sym("posix_memalign");
	real.aligned_alloc = sym("aligned_alloc");
	real.memalign = sym("memalign");
	real.valloc = sym("valloc");
	real.pvalloc = sym("pvalloc");
	real.usable = sym("malloc_usable_size");
	real.exit_ = sym("_exit");
	real.Exit_ = sym("_Exit");
	/* malloc last: the hooks take a non-NULL real.malloc to mean "ready". */
	real.malloc = sym("malloc");
	resolving = 0;
	if (real.malloc == NULL || real.free == NULL || real.calloc == NULL ||
	    real.realloc == NULL || real.usable == NULL) {
		agent_warn("cannot find the real allocator (static binary?); aborting");
		abort();
	}
	return 0;
}

#define READY() (likely(real.malloc != NULL) || resolve() == 0)

/* ---- counting ---- */

static void count_alloc_slow(void *p, size_t req)
{
	struct agent_thread *t = agent_thread_slow();

	if (t != NULL) {
		if (p != NULL)
			agent_on_alloc(t, req, real.usable(p));
		else if (req != 0)
			agent_on_fail(t);
	} else if (agent_tls.mode == AGENT_DEAD) {
		if (p != NULL)
			agent_count_shared((int64_t)real.usable(p), req);
		else if (req != 0)
			agent_count_shared(0, req);
	}
}

static inline void count_alloc(void *p, size_t req)
{
	struct agent_thread *t = agent_tls.slot;

	if (unlikely(t == NULL || p == NULL)) {
		if (t != NULL) {
			if (req != 0)
				agent_on_fail(t);
			return;
		}
		count_alloc_slow(p, req);
		return;
	}
	agent_on_alloc(t, req, real.usable(p));
}

static void count_free_slow(size_t usable)
{
	struct agent_thread *t = agent_thread_slow();

	if (t != NULL)
		agent_on_free(t, usable);
	else if (agent_tls.mode == AGENT_DEAD)
		agent_count_shared(-(int64_t)usable, 0);
}

/* Counts the release of p, which is not NULL and not a boot block. */
static inline void count_free(void *p)
{
	struct agent_thread *t = agent_tls.slot;

	if (likely(t != NULL))
		agent_on_free(t, real.usable(p));
	else if (agent_tls.mode != AGENT_BUSY)
		count_free_slow(real.usable(p));
}

/* ---- the hooks ---- */

EXPORT void *malloc(size_t size)
{
	void *p;

	if (!READY())
		return boot_alloc(size, 16);
	p = real.malloc(size);
	count_alloc(p, size);
	return p;
}

EXPORT void free(void *p)
{
	if (p == NULL || unlikely(in_boot(p)))
		return;
	if (!READY())
		return;
	count_free(p);
	real.free(p);
}

EXPORT void *calloc(size_t n, size_t size)
{
	size_t total;
	void *p;

	if (__builtin_mul_overflow(n, size, &total)) {
		errno = ENOMEM;
		if (real.malloc != NULL)
			count_alloc(NULL, SIZE_MAX);
		return NULL;
	}
	if (!READY())
		return boot_alloc(total, 16);   /* the pool is zeroed and never reused */
	p = real.calloc(n, size);
	count_alloc(p, total);
	return p;
}

/* realloc of a boot block: move it to the real heap. */
static void *boot_realloc(void *old, size_t size)
{
	size_t have = boot_size(old);
	void *p = malloc(size);

	if (p != NULL)
		memcpy(p, old, have < size ? have : size);
	return p;
}

EXPORT void *realloc(void *old, size_t size)
{
	size_t old_usable;
	void *p;

	if (old == NULL)
		return malloc(size);
	if (unlikely(in_boot(old)))
		return boot_realloc(old, size);
	if (!READY())
		return NULL;
	old_usable = real.usable(old);
	p = real.realloc(old, size);
	if (p == NULL && size != 0) {
		count_alloc(NULL, size);    /* the old block is untouched */
		return NULL;
	}
	/* Counted as a free of the old block and, unless size is 0 (which
	 * frees), an allocation of the new one. */
	if (likely(agent_tls.slot != NULL))
		agent_on_free(agent_tls.slot, old_usable);
	else if (agent_tls.mode != AGENT_BUSY)
		count_free_slow(old_usable);
	if (p != NULL)
		count_alloc(p, size);
	return p;
}

EXPORT void *reallocarray(void *old, size_t n, size_t size)
{
	size_t total;

	if (__builtin_mul_overflow(n, size, &total)) {
		errno = ENOMEM;
		if (real.malloc != NULL)
			count_alloc(NULL, SIZE_MAX);
		return NULL;
	}
	return realloc(old, total);
}

EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
	int err;

	if (!READY()) {
		void *p = boot_alloc(size, align);
		if (p == NULL)
			return ENOMEM;
		*out = p;
		return 0;
	}
	err = real.posix_memalign(out, align, size);
	if (err == 0)
		count_alloc(*out, size);
	else if (err == ENOMEM)
		count_alloc(NULL, size);
	return err;
}

/* aligned_alloc and memalign fail with EINVAL for a bad alignment: a usage
 * error, not an allocation failure. The caller zeroed errno before the call;
 * on success it is put back as it was. */
static void *count_aligned(void *p, size_t size, int saved_errno)
{
	if (p != NULL) {
		errno = saved_errno;
		count_alloc(p, size);
	} else if (errno == ENOMEM) {
		count_alloc(NULL, size);
	}
	return p;
}

EXPORT void *aligned_alloc(size_t align, size_t size)
{
	int saved = errno;

	if (!READY())
		return boot_alloc(size, align);
	errno = 0;
	return count_aligned(real.aligned_alloc(align, size), size, saved);
}

EXPORT void *memalign(size_t align, size_t size)
{
	int saved = errno;

	if (!READY())
		return boot_alloc(size, align);
	errno = 0;
	return count_aligned(real.memalign(align, size), size, saved);
}

EXPORT void *valloc(size_t size)
{
	void *p;

	if (!READY())
		return boot_alloc(size, 4096);
	p = real.valloc(size);
	count_alloc(p, size);
	return p;
}

EXPORT void *pvalloc(size_t size)
{
	void *p;

	if (!READY())
		return boot_alloc(size, 4096);
	p = real.pvalloc(size);
	count_alloc(p, size);
	return p;
}

EXPORT size_t malloc_usable_size(void *p)
{
	if (p == NULL)
		return 0;
	if (in_boot(p))
		return boot_size(p);
	if (!READY())
		return 0;
	return real.usable(p);
}

/* _exit skips destructors, so it sends the final sample itself. */
EXPORT void _exit(int status)
{
	agent_report_final();
	if (real.exit_ != NULL)
		real.exit_(status);
	syscall(SYS_exit_group, status);
	__builtin_unreachable();
}

EXPORT void _Exit(int status)
{
	agent_report_final();
	if (real.Exit_ != NULL)
		real.Exit_(status);
	syscall(SYS_exit_group, status);
	__builtin_unreachable();
}

/* ---- load and unload ---- */

__attribute__((constructor))
static void agent_init(void)
{
	const char *v;
	unsigned char mode;
	int err;

	if (real.malloc == NULL)
		resolve();
	mode = agent_enter();
	v = getenv("MEMPROBE_DEBUG");
	agent_debug_on = v != NULL && strcmp(v, "1") == 0;
	v = getenv("MEMPROBE_DISABLE");
	if (v != NULL && strcmp(v, "1") == 0) {
		agent_disabled = 1;
		agent_debug("disabled by MEMPROBE_DISABLE=1");
		agent_leave(mode);
		return;
	}
	err = agent_core_init();
	if (err == 0)
		err = agent_report_start();
	if (err != 0) {
		agent_warn("cannot start; counting nothing, the program runs on");
		agent_disabled = 1;
	}
	agent_leave(mode);
}

__attribute__((destructor))
static void agent_fini(void)
{
	agent_report_final();
}
