/* agent_alloc.c: proves which allocator owns each malloc-family entry point below the agent, and builds the ones it lacks from its own. */
#include "agent.h"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <gnu/libc-version.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * dlsym(RTLD_NEXT, name) finds the next definition of name in lookup
 * order, which need not be the allocator's: an allocator preloaded after
 * the agent that lacks malloc_usable_size (arena and bump allocators) or
 * pvalloc (jemalloc) leaves glibc's to be found, and glibc's functions
 * handed the other allocator's blocks crash. So the owner is the object
 * that defines malloc, and an entry point is used only if it lies in that
 * same object's loaded segments (found once with dl_iterate_phdr; dladdr
 * would say the same at some 90,000 instructions a call). Those the owner
 * lacks are built from its own, with glibc's rules (the program would have
 * reached glibc's otherwise):
 *
 *   calloc          malloc + memset; n * size overflowing fails with ENOMEM
 *   memalign        glibc's rules: malloc for alignments up to
 *                   max_align_t; an alignment above SIZE_MAX/2 + 1 fails
 *                   with EINVAL; others are rounded up to a power of two
 *                   and given to the owner's memalign, posix_memalign or
 *                   aligned_alloc (the size rounded up to the alignment);
 *                   with none of them, ENOMEM; a failure is ENOMEM
 *   posix_memalign  EINVAL unless the alignment is a power of two and a
 *                   multiple of sizeof(void *); then as memalign; ENOMEM
 *   aligned_alloc   as memalign (glibc 2.38 and later: EINVAL unless the
 *                   alignment is a power of two)
 *   valloc          as memalign(page, size)
 *   pvalloc         as memalign(page, size rounded up to a page; 0 gives
 *                   one page); ENOMEM if the rounding overflows
 *
 * The built ones follow glibc's rules even when the owner's memalign has
 * others (it may refuse an alignment glibc rounds up).
 *
 * realloc, reallocarray and malloc_usable_size are left NULL when the
 * owner has none: the shim copies with the sizes it knows, checks the
 * overflow itself and keeps sizes in a side table (agent_sizes.c). free is
 * taken whoever defines it, as the program would have.
 */

static struct agent_alloc *own;     /* set once by agent_alloc_resolve */
static int aligned_alloc_checks;    /* glibc >= 2.38 rules */
static char missing[160];           /* for the debug line */

/* The loaded segments of the object that holds `addr`. */
#define MAX_SEGS 16
struct object {
	uintptr_t addr;
	const char *name;
	int nseg;
	uintptr_t lo[MAX_SEGS], hi[MAX_SEGS];
};

static int find_object(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct object *o = arg;
	int found = 0;

	(void)size;
	o->nseg = 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;

		if (ph->p_type != PT_LOAD || o->nseg == MAX_SEGS)
			continue;
		o->lo[o->nseg] = lo;
		o->hi[o->nseg++] = hi;
		found |= o->addr >= lo && o->addr < hi;
	}
	if (found)
		o->name = info->dlpi_name;
	return found;
}

static int in_object(const struct object *o, const void *p)
{
	for (int i = 0; i < o->nseg; i++)
		if ((uintptr_t)p >= o->lo[i] && (uintptr_t)p < o->hi[i])
			return 1;
	return 0;
}

/* The owner's `name`, or NULL (then named in the debug line if note). */
static void *owned(const char *name, const struct object *owner, int note)
{
	void *p = dlsym(RTLD_NEXT, name);

	if (p != NULL && in_object(owner, p))
		return p;
	if (note && strlen(missing) + strlen(name) + 2 < sizeof(missing)) {
		strcat(missing, " ");
		strcat(missing, name);
	}
	return NULL;
}

static int pow2(size_t n)
{
	return n != 0 && (n & (n - 1)) == 0;
}

static void *syn_calloc(size_t n, size_t size)
{
	size_t total;
	void *p;

	if (__builtin_mul_overflow(n, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	p = own->malloc(total);
	if (p != NULL)
		memset(p, 0, total);
	return p;
}

/* A block aligned to align (a power of two) from the owner's own. */
static void *aligned_base(size_t align, size_t size)
{
	void *p;
	int err;

	if (own->own_memalign != NULL)
		return own->own_memalign(align, size);
	if (own->own_posix_memalign != NULL) {
		err = own->own_posix_memalign(&p, align, size);
		if (err != 0) {
			errno = err;
			return NULL;
		}
		return p;
	}
	if (own->own_aligned_alloc != NULL) {
		size_t up;

		if (__builtin_add_overflow(size, align - 1, &up)) {
			errno = ENOMEM;
			return NULL;
		}
		return own->own_aligned_alloc(align, up & ~(align - 1));
	}
	errno = ENOMEM;
	return NULL;
}

/* glibc's aligned functions fail with ENOMEM once the alignment is
 * accepted; some owners leave errno alone (jemalloc's memalign). */
static void *nomem_if_null(void *p)
{
	if (p == NULL)
		errno = ENOMEM;
	return p;
}

/* memalign with glibc's rules, on the owner's aligned entry points. */
static void *glibc_memalign(size_t align, size_t size)
{
	size_t a = 1;

	if (align <= _Alignof(max_align_t))
		return own->malloc(size);
	if (align > SIZE_MAX / 2 + 1) {
		errno = EINVAL;
		return NULL;
	}
	while (a < align)
		a <<= 1;
	return nomem_if_null(aligned_base(a, size));
}

static int syn_posix_memalign(void **out, size_t align, size_t size)
{
	void *p;

	if (align % sizeof(void *) != 0 || !pow2(align))
		return EINVAL;
	p = glibc_memalign(align, size);
	if (p == NULL)
		return ENOMEM;
	*out = p;
	return 0;
}

static void *syn_aligned_alloc(size_t align, size_t size)
{
	if (aligned_alloc_checks && !pow2(align)) {
		errno = EINVAL;
		return NULL;
	}
	return glibc_memalign(align, size);
}

static void *syn_valloc(size_t size)
{
	return glibc_memalign(own->page, size);
}

static void *syn_pvalloc(size_t size)
{
	size_t up;

	if (__builtin_add_overflow(size, own->page - 1, &up)) {
		errno = ENOMEM;
		return NULL;
	}
	up &= ~(own->page - 1);
	return glibc_memalign(own->page, up != 0 ? up : own->page);
}

size_t agent_alloc_pvalloc_size(const struct agent_alloc *a, size_t size)
{
	size_t up;

	if (__builtin_add_overflow(size, a->page - 1, &up))
		return size;
	up &= ~(a->page - 1);
	return up != 0 ? up : a->page;
}

/* Whether the running glibc is 2.38 or later. */
static int glibc_at_least_2_38(void)
{
	const char *v = gnu_get_libc_version();
	char *end;
	long major = strtol(v, &end, 10), minor = 0;

	if (*end == '.')
		minor = strtol(end + 1, NULL, 10);
	return major > 2 || (major == 2 && minor >= 38);
}

int agent_alloc_resolve(struct agent_alloc *a)
{
	static struct object owner;

	own = a;
	missing[0] = '\0';
	a->page = (size_t)sysconf(_SC_PAGESIZE);
	a->malloc = dlsym(RTLD_NEXT, "malloc");
	if (a->malloc == NULL)
		return -1;
	owner.addr = (uintptr_t)a->malloc;
	if (dl_iterate_phdr(find_object, &owner) == 0)
		return -1;
	a->owner = owner.name != NULL && owner.name[0] != '\0' ? owner.name : "the program";
	a->free = owned("free", &owner, 1);
	if (a->free == NULL)
		a->free = dlsym(RTLD_NEXT, "free");
	a->calloc = owned("calloc", &owner, 1);
	a->realloc = owned("realloc", &owner, 1);
	a->reallocarray = owned("reallocarray", &owner, 0);
	a->own_memalign = owned("memalign", &owner, 1);
	a->own_posix_memalign = owned("posix_memalign", &owner, 1);
	a->own_aligned_alloc = owned("aligned_alloc", &owner, 1);
	a->valloc = owned("valloc", &owner, 1);
	a->pvalloc = owned("pvalloc", &owner, 1);
	a->usable = owned("malloc_usable_size", &owner, 1);
	aligned_alloc_checks = glibc_at_least_2_38();

	if (a->calloc == NULL)
		a->calloc = syn_calloc;
	a->memalign = a->own_memalign != NULL ? a->own_memalign : glibc_memalign;
	a->posix_memalign = a->own_posix_memalign != NULL ? a->own_posix_memalign :
	    syn_posix_memalign;
	a->aligned_alloc = a->own_aligned_alloc != NULL ? a->own_aligned_alloc :
	    syn_aligned_alloc;
	if (a->valloc == NULL)
		a->valloc = syn_valloc;
	if (a->pvalloc == NULL)
		a->pvalloc = syn_pvalloc;
	return a->free != NULL ? 0 : -1;
}

/* Appends s to buf (NUL-terminated, size bytes), cut to fit. */
static void append(char *buf, size_t size, const char *s)
{
	size_t n = strlen(buf);

	while (*s != '\0' && n + 1 < size)
		buf[n++] = *s++;
	buf[n] = '\0';
}

void agent_alloc_describe(const struct agent_alloc *a, const char *size_source)
{
	static char line[512];

	line[0] = '\0';
	append(line, sizeof(line), "allocator ");
	append(line, sizeof(line), a->owner);
	append(line, sizeof(line), "; size_source ");
	append(line, sizeof(line), size_source);
	agent_debug(line);
	if (missing[0] != '\0') {
		line[0] = '\0';
		append(line, sizeof(line), "the allocator has no");
		append(line, sizeof(line), missing);
		append(line, sizeof(line), " of its own: built from its own functions, never another's");
		agent_debug(line);
	}
}
