/* bump.c: a bump allocator with malloc, free, calloc, realloc and memalign only (no malloc_usable_size), for preloading after the agent in tests. */
#include <errno.h>
#include <stdatomic.h>
#include <malloc.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/*
 * Built as build/tests/progs/libbump.so and preloaded after the agent
 * (LD_PRELOAD="libmemprobe.so:libbump.so"), it stands for the arena and
 * bump allocators that define the core entry points and nothing else:
 * dlsym(RTLD_NEXT, "malloc_usable_size") finds glibc's past it. Blocks are
 * carved from 64 MiB chunks (a request larger than that gets its own
 * mapping), 16-byte aligned, each after a 16-byte header: its size (for
 * realloc), then a magic word where glibc keeps its chunk size, as many
 * allocators keep a tag there; glibc's malloc_usable_size reading it faults,
 * as it does on the blocks of arena allocators in real use. free never gives memory back. A spin flag guards the chunk;
 * the mappings are made with it released.
 */

#define CHUNK (64ul << 20)
#define HDR 16
#define MAGIC 0xb0b0b0b0b0b0b0b0ull

static atomic_flag busy = ATOMIC_FLAG_INIT;
static uintptr_t cur, end;

static void *map(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* A block of size bytes aligned to align (a power of two, at least 16). */
static void *carve(size_t size, size_t align)
{
	uintptr_t p;
	size_t need;

	if (size > SIZE_MAX - HDR - 2 * align) {
		errno = ENOMEM;
		return NULL;
	}
	need = (size + HDR + align + 15) & ~(size_t)15;
	if (need > CHUNK / 4) {
		uintptr_t m = (uintptr_t)map(need);

		if (m == 0) {
			errno = ENOMEM;
			return NULL;
		}
		p = (m + HDR + align - 1) & ~(uintptr_t)(align - 1);
		((size_t *)p)[-2] = size;
		((size_t *)p)[-1] = MAGIC;
		return (void *)p;
	}
	for (;;) {
		while (atomic_flag_test_and_set_explicit(&busy, memory_order_acquire))
			;
		p = (cur + HDR + align - 1) & ~(uintptr_t)(align - 1);
		if (cur != 0 && p + size <= end) {
			cur = p + size;
			atomic_flag_clear_explicit(&busy, memory_order_release);
			((size_t *)p)[-2] = size;
			((size_t *)p)[-1] = MAGIC;
			return (void *)p;
		}
		atomic_flag_clear_explicit(&busy, memory_order_release);
		{
			uintptr_t m = (uintptr_t)map(CHUNK);

			if (m == 0) {
				errno = ENOMEM;
				return NULL;
			}
			while (atomic_flag_test_and_set_explicit(&busy, memory_order_acquire))
				;
			cur = m;            /* the rest of the old chunk is left */
			end = m + CHUNK;
			atomic_flag_clear_explicit(&busy, memory_order_release);
		}
	}
}

__attribute__((visibility("default"))) void *malloc(size_t size)
{
	return carve(size, 16);
}

__attribute__((visibility("default"))) void free(void *p)
{
	(void)p;
}

__attribute__((visibility("default"))) void *calloc(size_t n, size_t size)
{
	size_t total;
	void *p;

	if (__builtin_mul_overflow(n, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	p = carve(total, 16);
	if (p != NULL)
		memset(p, 0, total);
	return p;
}

__attribute__((visibility("default"))) void *realloc(void *old, size_t size)
{
	size_t have;
	void *p;

	if (old == NULL)
		return carve(size, 16);
	if (size == 0)
		return NULL;            /* frees, as glibc's does */
	have = ((size_t *)old)[-2];
	if (size <= have)
		return old;
	p = carve(size, 16);
	if (p != NULL)
		memcpy(p, old, have);
	return p;
}

__attribute__((visibility("default"))) void *memalign(size_t align, size_t size)
{
	if (align == 0 || (align & (align - 1)) != 0 || align > (1ul << 30)) {
		errno = EINVAL;
		return NULL;
	}
	return carve(size, align < 16 ? 16 : align);
}
