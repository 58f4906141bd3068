/* symbolize.c: addresses of a process to function names and file:line, with elfutils, cached per build-id. */
#include <dwarf.h>
#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "symbolize.h"

/* A file's loadable segments: file offsets to ELF addresses. */
struct sym_seg {
	uint64_t offset, filesz, vaddr;
};

/* A function of a file's symbol table, at module addresses. */
struct sym_func {
	uint64_t addr, size;
	const char *name;               /* libdw's string table: lives with the Dwfl */
	int rank;                       /* binding: global before weak before local */
};

/* The key of a cached file: 'b' and its build-id, or 's' and its stat. */
#define SYM_KEY_MAX (1 + SYM_BUILD_ID_MAX)

/* One cached file, read by libdwfl as a module at its own addresses. */
struct sym_file {
	unsigned char key[SYM_KEY_MAX];
	size_t klen;
	Dwfl *dwfl;
	Dwfl_Module *mod;
	Dwarf_Addr bias;                /* module address = ELF address + bias */
	struct sym_seg *segs;
	size_t nsegs;
	struct sym_func *funcs;         /* sorted by addr, then rank */
	size_t nfuncs;
	uint64_t last_use;
};

struct sym_cache {
	pthread_mutex_t lock;
	struct sym_file *files;         /* [max] */
	size_t n, max;
	uint64_t tick;                  /* bumped per lookup: the LRU clock */
	uint64_t evictions;             /* a change makes struct sym_file pointers stale */
};

/* One mapping during a sym_resolve() call: opened once however many of
 * the call's addresses fall in it. */
struct map_state {
	bool opened;
	int fd;
	enum sym_status status;         /* SYM_OK while the file is usable */
	unsigned char id[SYM_BUILD_ID_MAX];
	size_t idlen;
	unsigned char key[SYM_KEY_MAX];
	size_t klen;
	struct sym_file *file;          /* valid while evictions == seen */
	uint64_t seen;
};

static const Dwfl_Callbacks dwfl_callbacks = {
	.find_elf = dwfl_build_id_find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo,
	.section_address = dwfl_offline_section_address,
};

static pthread_once_t elf_once = PTHREAD_ONCE_INIT;

static void elf_init(void)
{
	elf_version(EV_CURRENT);
}

struct sym_cache *sym_cache_new(size_t max_files)
{
	struct sym_cache *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->max = max_files ? max_files : SYM_CACHE_FILES_DEFAULT;
	c->files = calloc(c->max, sizeof(*c->files));
	if (c->files == NULL) {
		free(c);
		return NULL;
	}
	pthread_mutex_init(&c->lock, NULL);
	pthread_once(&elf_once, elf_init);
	return c;
}

static void file_close(struct sym_file *f)
{
	dwfl_end(f->dwfl);
	free(f->segs);
	free(f->funcs);
	memset(f, 0, sizeof(*f));
}

void sym_cache_free(struct sym_cache *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->n; i++)
		file_close(&c->files[i]);
	pthread_mutex_destroy(&c->lock);
	free(c->files);
	free(c);
}

size_t sym_cache_files(struct sym_cache *c)
{
	size_t n;

	pthread_mutex_lock(&c->lock);
	n = c->n;
	pthread_mutex_unlock(&c->lock);
	return n;
}

int sym_read_build_id(int fd, unsigned char *id, size_t size)
{
	const void *p = NULL;
	ssize_t len;
	Elf *elf;

	pthread_once(&elf_once, elf_init);
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (elf == NULL || elf_kind(elf) != ELF_K_ELF) {
		elf_end(elf);
		return -EINVAL;
	}
	len = dwelf_elf_gnu_build_id(elf, &p);
	if (len < 0 || (size_t)len > size)
		len = 0;
	if (len > 0)
		memcpy(id, p, (size_t)len);
	elf_end(elf);
	return (int)len;
}

/* Opens the file of mapping m: through map_files, else its path. Returns
 * a descriptor or -1. */
static int open_mapping(pid_t pid, const struct maps_entry *m)
{
	char path[96];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/map_files/%" PRIx64 "-%" PRIx64,
	    (int)pid, m->start, m->end);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	/* A deleted mapping's path names another file, or none. */
	if (fd < 0 && !m->deleted)
		fd = open(m->path, O_RDONLY | O_CLOEXEC);
	return fd;
}

/* Opens mapping m for a call and checks its build-id against the expected
 * one (elen 0: unknown); fills s. */
static void state_open(struct map_state *s, pid_t pid, const struct maps_entry *m,
    const unsigned char *expect, size_t elen)
{
	struct stat st;
	int len;

	s->opened = true;
	s->fd = open_mapping(pid, m);
	if (s->fd < 0) {
		s->status = SYM_NO_FILE;
		return;
	}
	len = sym_read_build_id(s->fd, s->id, sizeof(s->id));
	if (len < 0) {
		s->status = SYM_NOT_ELF;
		return;
	}
	s->idlen = (size_t)len;
	if (elen > 0 && (elen != s->idlen || memcmp(expect, s->id, elen) != 0)) {
		s->status = SYM_BUILD_ID_MISMATCH;
		return;
	}
	if (s->idlen > 0) {
		s->key[0] = 'b';
		memcpy(s->key + 1, s->id, s->idlen);
		s->klen = 1 + s->idlen;
	} else if (fstat(s->fd, &st) == 0) {
		uint64_t k[4] = { st.st_dev, st.st_ino, (uint64_t)st.st_size,
		    (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec };

		s->key[0] = 's';
		memcpy(s->key + 1, k, sizeof(k));
		s->klen = 1 + sizeof(k);
	} else {
		s->status = SYM_NO_FILE;
		return;
	}
	s->status = SYM_OK;
}

/* Copies the PT_LOAD segments of f's ELF. Returns 0 or -1. */
static int file_segments(struct sym_file *f)
{
	Elf *elf = dwfl_module_getelf(f->mod, &f->bias);
	size_t nph;

	if (elf == NULL || elf_getphdrnum(elf, &nph) != 0 || nph == 0)
		return -1;
	f->segs = calloc(nph, sizeof(*f->segs));
	if (f->segs == NULL)
		return -1;
	for (size_t i = 0; i < nph; i++) {
		GElf_Phdr ph;

		if (gelf_getphdr(elf, (int)i, &ph) == NULL || ph.p_type != PT_LOAD)
			continue;
		f->segs[f->nsegs++] = (struct sym_seg){ ph.p_offset, ph.p_filesz, ph.p_vaddr };
	}
	return f->nsegs > 0 ? 0 : -1;
}

static int func_cmp(const void *a, const void *b)
{
	const struct sym_func *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return x->rank - y->rank;
}

static int binding_rank(unsigned char info)
{
	switch (GELF_ST_BIND(info)) {
	case STB_GLOBAL: return 0;
	case STB_WEAK: return 1;
	default: return 2;
	}
}

/*
 * Indexes the functions of f's symbol table (.symtab, else .dynsym),
 * sorted by address: libdwfl's own lookup scans the whole table each
 * time. Returns 0 or -1.
 */
static int file_functions(struct sym_file *f)
{
	int n = dwfl_module_getsymtab(f->mod);

	if (n <= 0)
		return 0;
	f->funcs = calloc((size_t)n, sizeof(*f->funcs));
	if (f->funcs == NULL)
		return -1;
	for (int i = 1; i < n; i++) {
		GElf_Sym sym;
		GElf_Addr addr;
		const char *name = dwfl_module_getsym_info(f->mod, i, &sym, &addr, NULL, NULL, NULL);

		if (name == NULL || *name == '\0' || GELF_ST_TYPE(sym.st_info) != STT_FUNC ||
		    sym.st_shndx == SHN_UNDEF)
			continue;
		f->funcs[f->nfuncs++] = (struct sym_func){ addr, sym.st_size, name,
		    binding_rank(sym.st_info) };
	}
	qsort(f->funcs, f->nfuncs, sizeof(*f->funcs), func_cmp);
	return 0;
}

/* The function of f's symbol table that holds module address a, or NULL. */
static const char *function_at(const struct sym_file *f, uint64_t a)
{
	size_t lo = 0, hi = f->nfuncs;
	const struct sym_func *s;

	/* The last function starting at or below a; the first of its address. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (f->funcs[mid].addr <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	s = &f->funcs[lo - 1];
	while (s > f->funcs && (s - 1)->addr == s->addr)
		s--;
	return s->size == 0 || a - s->addr < s->size ? s->name : NULL;
}

/* Reads the file open on fd (named path) into f with libdwfl. The module
 * owns a duplicate of fd. Returns 0 or -1. */
static int file_load(struct sym_file *f, int fd, const char *path)
{
	int dfd;

	f->dwfl = dwfl_begin(&dwfl_callbacks);
	if (f->dwfl == NULL)
		return -1;
	dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dfd < 0)
		goto fail;
	dwfl_report_begin(f->dwfl);
	/* At base 0 with p_vaddr added: module addresses are ELF addresses. */
	f->mod = dwfl_report_elf(f->dwfl, path, path, dfd, 0, true);
	if (f->mod == NULL) {
		close(dfd);
		goto fail;
	}
	if (dwfl_report_end(f->dwfl, NULL, NULL) != 0 || file_segments(f) != 0 ||
	    file_functions(f) != 0)
		goto fail;
	return 0;
fail:
	file_close(f);
	return -1;
}

/* The cached file for s (loading it on a miss, closing the least
 * recently used when full), or NULL when libdwfl refuses it. Called with
 * the lock held. */
static struct sym_file *cache_get(struct sym_cache *c, struct map_state *s, const char *path)
{
	struct sym_file *f = NULL;

	c->tick++;
	if (s->file != NULL && s->seen == c->evictions) {
		s->file->last_use = c->tick;
		return s->file;
	}
	for (size_t i = 0; i < c->n && f == NULL; i++)
		if (c->files[i].klen == s->klen && memcmp(c->files[i].key, s->key, s->klen) == 0)
			f = &c->files[i];
	if (f == NULL) {
		if (c->n == c->max) {
			size_t old = 0;

			for (size_t i = 1; i < c->n; i++)
				if (c->files[i].last_use < c->files[old].last_use)
					old = i;
			file_close(&c->files[old]);
			c->files[old] = c->files[--c->n];
			memset(&c->files[c->n], 0, sizeof(c->files[c->n]));
			c->evictions++;
		}
		f = &c->files[c->n];
		if (file_load(f, s->fd, path) != 0)
			return NULL;
		memcpy(f->key, s->key, s->klen);
		f->klen = s->klen;
		c->n++;
	}
	f->last_use = c->tick;
	s->file = f;
	s->seen = c->evictions;
	return f;
}

/* The ELF address of process address addr in mapping m of file f, through
 * the loadable segment holding its file offset. Returns 0 or -1. */
static int elf_address(const struct sym_file *f, const struct maps_entry *m, uint64_t addr,
    uint64_t *out)
{
	uint64_t off = addr - m->start + m->offset;

	for (size_t i = 0; i < f->nsegs; i++) {
		const struct sym_seg *g = &f->segs[i];

		if (off >= g->offset && off - g->offset < g->filesz) {
			*out = g->vaddr + (off - g->offset);
			return 0;
		}
	}
	*out = off;
	return -1;
}

/* Appends a frame with copies of function and file. Returns 0 or -ENOMEM. */
static int add_frame(struct sym_result *r, const char *function, const char *file,
    unsigned line)
{
	struct sym_frame *fr = &r->frames[r->nframes];

	fr->function = function != NULL ? strdup(function) : NULL;
	fr->file = file != NULL ? strdup(file) : NULL;
	fr->line = line;
	r->nframes++;
	if ((function != NULL && fr->function == NULL) || (file != NULL && fr->file == NULL))
		return -ENOMEM;
	return 0;
}

/* The call site of an inlined subroutine: where its caller's frame is. */
static void call_site(Dwarf_Die *inl, Dwarf_Die *cu, const char **file, unsigned *line)
{
	Dwarf_Attribute a;
	Dwarf_Word idx = 0, ln = 0;
	Dwarf_Files *files;
	size_t nfiles;

	*file = NULL;
	*line = 0;
	if (dwarf_formudata(dwarf_attr(inl, DW_AT_call_file, &a), &idx) == 0 &&
	    dwarf_getsrcfiles(cu, &files, &nfiles) == 0 && idx < nfiles)
		*file = dwarf_filesrc(files, idx, NULL, NULL);
	if (dwarf_formudata(dwarf_attr(inl, DW_AT_call_line, &a), &ln) == 0)
		*line = (unsigned)ln;
}

/*
 * The compile unit holding module address a, and its bias. libdw 0.188
 * finds it through .debug_aranges, which clang does not write: then the
 * units are searched one by one.
 */
static Dwarf_Die *unit_at(struct sym_file *f, Dwarf_Addr a, Dwarf_Addr *bias)
{
	Dwarf_Die *cu = dwfl_module_addrdie(f->mod, a, bias);

	if (cu != NULL)
		return cu;
	while ((cu = dwfl_module_nextcu(f->mod, cu, bias)) != NULL)
		if (dwarf_haspc(cu, a - *bias) > 0)
			return cu;
	return NULL;
}

/*
 * The frames at module address a of f into r: each inlined function,
 * innermost first, then the function of the symbol table. The innermost
 * frame's file:line is the line table's; each outer one is where the
 * inner was inlined. Returns 0 or -ENOMEM.
 */
static int frames_at(struct sym_file *f, Dwarf_Addr a, struct sym_result *r)
{
	const char *name = function_at(f, a);
	const char *file = NULL, *outer = NULL;
	Dwarf_Addr cubias = 0;
	Dwarf_Die *cu = unit_at(f, a, &cubias);
	Dwarf_Line *l = cu != NULL ? dwarf_getsrc_die(cu, a - cubias) : NULL;
	Dwarf_Die *scopes = NULL;
	int line = 0, ns = cu != NULL ? dwarf_getscopes(cu, a - cubias, &scopes) : 0;
	unsigned uline;
	int rc = 0;

	if (l != NULL) {
		file = dwarf_linesrc(l, NULL, NULL);
		dwarf_lineno(l, &line);
	}
	uline = line > 0 ? (unsigned)line : 0;
	for (int i = 0; i < ns && rc == 0; i++) {
		int tag = dwarf_tag(&scopes[i]);

		if (tag == DW_TAG_subprogram) {
			outer = dwarf_diename(&scopes[i]);
			break;
		}
		if (tag != DW_TAG_inlined_subroutine || r->nframes == SYM_MAX_FRAMES - 1)
			continue;
		rc = add_frame(r, dwarf_diename(&scopes[i]), file, uline);
		call_site(&scopes[i], cu, &file, &uline);
	}
	free(scopes);
	if (rc == 0 && (name != NULL || outer != NULL || file != NULL))
		rc = add_frame(r, name != NULL ? name : outer, file, uline);
	r->status = r->nframes > 0 && r->frames[r->nframes - 1].function != NULL ?
	    SYM_OK : SYM_NO_SYMBOL;
	return rc;
}

/* Symbolizes one address into r. Called with the lock held. */
static int resolve_one(struct sym_cache *c, pid_t pid, const struct maps *maps,
    struct map_state *states, const unsigned char *const *ids, const size_t *idlens,
    uint64_t addr, struct sym_result *r)
{
	const struct maps_entry *m = maps_find(maps, addr);
	struct map_state *s;
	struct sym_file *f;
	size_t i;

	r->status = SYM_NO_MAPPING;
	r->elf_addr = addr;
	if (m == NULL)
		return 0;
	r->map = m;
	r->elf_addr = addr - m->start + m->offset;
	i = (size_t)(m - maps->v);
	s = &states[i];
	if (!s->opened)
		state_open(s, pid, m, ids != NULL ? ids[i] : NULL, ids != NULL ? idlens[i] : 0);
	memcpy(r->build_id, s->id, s->idlen);
	r->build_id_len = s->idlen;
	if ((r->status = s->status) != SYM_OK)
		return 0;
	if ((f = cache_get(c, s, m->path)) == NULL) {
		r->status = s->status = SYM_NOT_ELF;
		return 0;
	}
	if (elf_address(f, m, addr, &r->elf_addr) != 0) {
		r->status = SYM_NO_SYMBOL;
		return 0;
	}
	return frames_at(f, r->elf_addr + f->bias, r);
}

int sym_resolve(struct sym_cache *c, pid_t pid, const struct maps *maps,
    const unsigned char *const *build_ids, const size_t *build_id_lens,
    const uint64_t *addrs, size_t n, struct sym_result *out)
{
	struct map_state *states = calloc(maps->n ? maps->n : 1, sizeof(*states));
	int rc = 0;

	memset(out, 0, n * sizeof(*out));
	if (states == NULL)
		return -ENOMEM;
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = resolve_one(c, pid, maps, states, build_ids, build_id_lens, addrs[i], &out[i]);
	pthread_mutex_unlock(&c->lock);
	for (size_t i = 0; i < maps->n; i++)
		if (states[i].opened && states[i].fd >= 0)
			close(states[i].fd);
	free(states);
	return rc;
}

void sym_result_clear(struct sym_result *r)
{
	for (size_t i = 0; i < r->nframes; i++) {
		free(r->frames[i].function);
		free(r->frames[i].file);
	}
	memset(r, 0, sizeof(*r));
}

const char *sym_status_name(enum sym_status s)
{
	switch (s) {
	case SYM_OK: return "ok";
	case SYM_NO_MAPPING: return "no mapping";
	case SYM_NO_FILE: return "file unreadable";
	case SYM_NOT_ELF: return "not an ELF file";
	case SYM_BUILD_ID_MISMATCH: return "build-id mismatch";
	case SYM_NO_SYMBOL: return "no symbol";
	}
	return "unknown";
}
