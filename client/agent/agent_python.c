/* agent_python.c: a CPython process's Python frames in sampled stacks, and samples of its small-object allocator. */
#include "agent.h"
#include "agent_pylayout.h"
#include "profile.h"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/*
 * Python frames. A sampled allocation in a Python thread carries the
 * Python functions that led to it. They are read here, inside the
 * allocation, from the interpreter's own structures and read-only, as
 * py-spy and austin read them from outside: no Python code runs, the GIL
 * is not taken, no Python object is made (PyThreadState_GetFrame, say,
 * may make frame objects and so start a garbage collection in the middle
 * of a malloc). The thread's state is PyGILState_GetThisThreadState(),
 * the state bound to this OS thread (a pthread key: no lock, no
 * allocation), not the state holding the GIL: a thread that released the
 * GIL around a C call still finds the Python frames that made that call,
 * and only this thread changes them.
 *
 * What is read, for CPython 3.11 (agent_pylayout.h): the thread state's
 * current frame (tstate->cframe->current_frame), and for each frame its
 * code object, its last instruction and whether it was the first frame of
 * a C call of the interpreter's loop (is_entry); of a code object its
 * qualified name, file, first line and line table. Every pointer is
 * checked before it is followed: a frame's code object must have
 * PyCode_Type as its type, its strings PyUnicode_Type, its line table
 * PyBytes_Type, and the thread state must name this thread. Another
 * version, a debug build, or a missing symbol: no Python frames (said once
 * under MEMPROBE_DEBUG), native frames as before.
 *
 * The names are resolved once per code object into the profile area's
 * Python functions (agent_profile.c keeps that table and a private index
 * from code object to function); a sample costs the walk of its frames
 * and one line-table lookup per frame.
 *
 * Small objects. CPython serves requests of 512 bytes or less from its own
 * arenas (pymalloc), which it maps itself and never takes from malloc, so
 * a malloc profile would miss most of a Python program's objects. The
 * agent wraps the object and memory domains' allocator
 * (PyMem_SetAllocator, the documented way to hook it after start-up:
 * wrappers must call the allocator they wrap), at load, before the
 * interpreter has made a single object. The wrapper's malloc, calloc and
 * realloc count the request, rounded up to pymalloc's 16-byte classes,
 * down a countdown of their own (agent_tls.py_left, drawn as malloc's
 * is); free is pymalloc's own, unwrapped. The object the countdown
 * picks is served not from an arena but from malloc, through pymalloc
 * itself asked for more than its limit (so its count of blocks,
 * sys.getallocatedblocks(), stays right), and shaped as a sampled block
 * (agent_sample_carve): pymalloc's free sees an address outside its
 * arenas and hands it to free(), which knows a sampled block. Only while
 * the raw domain is still plain malloc (no tracemalloc or debug hooks on
 * it): otherwise a picked object is not sampled. PYTHONMALLOC (or -X dev)
 * sets the allocators up again at start-up, over the wrapper: with
 * PYTHONMALLOC=malloc every object is malloc's and sampled there; with
 * the debug allocators small objects have no samples.
 *
 * What the program can see: PyMem_GetAllocator() returns the wrapper, so
 * CPython's own test of whether pymalloc is the object allocator
 * (_PyMem_PymallocEnabled) says no, and sys._debugmallocstats() leaves
 * out pymalloc's arena statistics. MEMPROBE_PROFILE_PYTHON=frames keeps
 * the Python frames and leaves the allocator alone (small objects then
 * have no samples); MEMPROBE_PROFILE_PYTHON=0 reads nothing of Python.
 */

/* What the agent uses of the interpreter, found with dlsym at load. */
static struct {
	void *(*this_thread_state)(void);       /* PyGILState_GetThisThreadState */
	int (*finalizing)(void);                /* _Py_IsFinalizing */
	void (*get_allocator)(int, struct py_allocator *);
	void (*set_allocator)(int, struct py_allocator *);
	uintptr_t code_type, unicode_type, bytes_type;
	uintptr_t eval_lo, eval_len;            /* _PyEval_EvalFrameDefault */
} py;
static int frames_on;
/* The allocators the hooks wrap, and the raw domain as it was at load. */
static struct py_allocator orig_mem, orig_obj, orig_raw;

/* ---- reading the interpreter's memory ---- */

static uint64_t rd64(uintptr_t base, unsigned off)
{
	uint64_t v;

	memcpy(&v, (const void *)(base + off), sizeof(v));
	return v;
}

static uint32_t rd32(uintptr_t base, unsigned off)
{
	uint32_t v;

	memcpy(&v, (const void *)(base + off), sizeof(v));
	return v;
}

/* Whether p can be an object's address: in user space, past page 0,
 * 8-aligned. */
static int ptr_ok(uintptr_t p)
{
	return p >= 4096 && p < (1ull << 47) && (p & 7) == 0;
}

/* Whether p is an object of the given type. */
static int is_a(uintptr_t p, uintptr_t type)
{
	return ptr_ok(p) && rd64(p, PY_OB_TYPE) == type;
}

/* Writes code point c as UTF-8 at out[*n], if it fits before cap - 1. */
static void put_utf8(char *out, size_t cap, size_t *n, uint32_t c)
{
	unsigned char b[4];
	size_t k;

	if (c >= 0x110000 || (c >= 0xd800 && c < 0xe000))
		c = 0xfffd;
	if (c < 0x80) {
		b[0] = (unsigned char)c;
		k = 1;
	} else if (c < 0x800) {
		b[0] = (unsigned char)(0xc0 | c >> 6);
		b[1] = (unsigned char)(0x80 | (c & 0x3f));
		k = 2;
	} else if (c < 0x10000) {
		b[0] = (unsigned char)(0xe0 | c >> 12);
		b[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
		b[2] = (unsigned char)(0x80 | (c & 0x3f));
		k = 3;
	} else {
		b[0] = (unsigned char)(0xf0 | c >> 18);
		b[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3f));
		b[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
		b[3] = (unsigned char)(0x80 | (c & 0x3f));
		k = 4;
	}
	if (*n + k >= cap)
		return;
	memcpy(out + *n, b, k);
	*n += k;
}

/* Copies str object s as UTF-8 into out (cap bytes, NUL-terminated, cut
 * at a whole character); "?" when s is not a compact, ready str. */
static void read_str(uintptr_t s, char *out, size_t cap)
{
	uint32_t state, kind;
	uint64_t len;
	uintptr_t data;
	size_t n = 0;

	out[0] = '\0';
	if (!is_a(s, py.unicode_type) ||
	    ((state = rd32(s, PY_STR_STATE)) & (PY_STR_COMPACT | PY_STR_READY)) !=
	    (PY_STR_COMPACT | PY_STR_READY) ||
	    ((kind = PY_STR_KIND(state)) != 1 && kind != 2 && kind != 4)) {
		memcpy(out, "?", 2);
		return;
	}
	len = rd64(s, PY_STR_LENGTH);
	data = s + ((state & PY_STR_ASCII) ? PY_STR_ASCII_DATA : PY_STR_COMPACT_DATA);
	for (uint64_t i = 0; i < len && n + 1 < cap; i++) {
		uint32_t c;

		if (kind == 1)
			c = ((const uint8_t *)data)[i];
		else if (kind == 2)
			c = ((const uint16_t *)data)[i];
		else
			c = ((const uint32_t *)data)[i];
		if (c < 0x80 && n + 1 < cap)
			out[n++] = (char)c;
		else
			put_utf8(out, cap, &n, c);
	}
	out[n] = '\0';
}

/* ---- line numbers ---- */

/* A varint of CPython's location table: 6 bits a byte, low first, bit 6
 * set on all bytes but the last. */
static uint32_t lt_varint(const uint8_t **p, const uint8_t *end)
{
	uint32_t v = 0;
	unsigned shift = 0;
	uint8_t b;

	do {
		if (*p >= end || shift > 30)
			return v;
		b = *(*p)++;
		v |= (uint32_t)(b & 63) << shift;
		shift += 6;
	} while (b & 64);
	return v;
}

/*
 * The line of instruction `index` (in code units) of code object co, read
 * from its location table (co_linetable; Objects/locations.md in CPython's
 * source): entries of a first byte 1CCCCLLL, LLL + 1 code units long, code
 * CCCC saying how the line moves (15: no line; 14 and 13: a signed varint
 * delta; 10, 11, 12: 0, 1, 2; below 10: the same line). 0 when it has no
 * line.
 */
static uint32_t code_line(uintptr_t co, int64_t index)
{
	uintptr_t lt = (uintptr_t)rd64(co, PY_CO_LINETABLE);
	int64_t line = (int32_t)rd32(co, PY_CO_FIRSTLINENO), pos = 0, size;
	const uint8_t *p, *end;

	if (index < 0 || !is_a(lt, py.bytes_type))
		return line > 0 ? (uint32_t)line : 0;
	size = (int64_t)rd64(lt, PY_OB_SIZE);
	if (size < 0 || size > (1 << 24))
		return 0;
	p = (const uint8_t *)(lt + PY_BYTES_SVAL);
	end = p + size;
	while (p < end) {
		uint8_t first = *p++;
		unsigned code = (first >> 3) & 15;
		int64_t len = (first & 7) + 1, here = line;

		if (!(first & 0x80))
			return 0;               /* not at an entry: a table we misread */
		if (code == 14 || code == 13) {
			uint32_t u = lt_varint(&p, end);

			line += (u & 1) ? -(int64_t)(u >> 1) : (int64_t)(u >> 1);
		} else if (code >= 10 && code <= 12) {
			line += code - 10;
		}
		here = code == 15 ? 0 : line;
		if (index < pos + len)
			return here > 0 && here < (1ll << 31) ? (uint32_t)here : 0;
		pos += len;
		while (p < end && !(*p & 0x80))
			p++;
	}
	return 0;
}

/* ---- frames ---- */

/* The thread's current Python frame, or 0. */
static uintptr_t current_frame(void)
{
	uintptr_t ts, cf;

	if (!frames_on || py.finalizing())
		return 0;
	ts = (uintptr_t)py.this_thread_state();
	if (!ptr_ok(ts) || rd64(ts, PY_TS_THREAD_ID) != (uint64_t)pthread_self())
		return 0;
	cf = (uintptr_t)rd64(ts, PY_TS_CFRAME);
	return ptr_ok(cf) ? (uintptr_t)rd64(cf, PY_CF_CURRENT_FRAME) : 0;
}

unsigned agent_py_frames(struct agent_pyframe *out, unsigned max)
{
	unsigned n = 0;

	for (uintptr_t fr = current_frame(); fr != 0 && n < max;
	    fr = (uintptr_t)rd64(fr, PY_FR_PREVIOUS)) {
		uintptr_t co, instr;

		if (!ptr_ok(fr))
			break;
		co = (uintptr_t)rd64(fr, PY_FR_CODE);
		if (!is_a(co, py.code_type))
			break;
		instr = (uintptr_t)rd64(fr, PY_FR_PREV_INSTR);
		out[n].code = co;
		out[n].line = code_line(co, ((int64_t)instr - (int64_t)(co + PY_CO_CODE_ADAPTIVE)) / 2);
		out[n].entry = *(const uint8_t *)(fr + PY_FR_IS_ENTRY) != 0;
		n++;
	}
	return n;
}

unsigned agent_py_entries(void)
{
	unsigned n = 0, k = 0;

	/* Bounded: past 4,096 frames (a recursion limit raised that far) the
	 * count is of those; the unwinder then stops at that many loop
	 * frames, and a stack keeps only its 64 innermost frames anyway. */
	for (uintptr_t fr = current_frame(); fr != 0 && k < 4096;
	    fr = (uintptr_t)rd64(fr, PY_FR_PREVIOUS), k++) {
		if (!ptr_ok(fr) || !is_a((uintptr_t)rd64(fr, PY_FR_CODE), py.code_type))
			return 0;
		n += *(const uint8_t *)(fr + PY_FR_IS_ENTRY) != 0;
	}
	return n;
}

int agent_py_eval_frame(uint64_t ip)
{
	return ip - 1 - py.eval_lo < py.eval_len;
}

uint64_t agent_py_ident(uintptr_t code)
{
	uint64_t h = rd64(code, PY_CO_QUALNAME) * 0x9e3779b97f4a7c15ull;

	h ^= rd64(code, PY_CO_FILENAME) + (h << 6) + (h >> 2);
	return h ^ rd32(code, PY_CO_FIRSTLINENO);
}

void agent_py_describe(uintptr_t code, struct prof_pyfunc *rec)
{
	rec->first_line = (int32_t)rd32(code, PY_CO_FIRSTLINENO);
	read_str((uintptr_t)rd64(code, PY_CO_QUALNAME), rec->name, sizeof(rec->name));
	read_str((uintptr_t)rd64(code, PY_CO_FILENAME), rec->file, sizeof(rec->file));
}

/* ---- the small-object allocator ---- */

/* A small request's size as pymalloc serves it: its 16-byte class. */
static inline size_t py_class(size_t n)
{
	return (n + PY_ALIGNMENT - 1) & ~(size_t)(PY_ALIGNMENT - 1);
}

/*
 * A picked object: n bytes (a whole 16-byte class, usable), from
 * allocator o. Asks o for more than its small-object limit, so that the
 * block comes from the raw domain (malloc, forwarded uncounted as we are
 * busy) and o counts it as a raw block it will give back to free(); then
 * makes it a sampled block of n bytes with this stack.
 */
static __attribute__((noinline)) void *py_sampled(const struct py_allocator *o, size_t n,
    int zero)
{
	struct py_allocator raw;
	struct agent_stack s;
	unsigned char mode, armed;
	size_t usable = py_class(n);
	void *r;

	armed = agent_tls.py_armed;
	agent_tls.py_armed = 1;
	agent_tls.py_left = agent_prof_next();
	py.get_allocator(PY_DOMAIN_RAW, &raw);
	/* A thread's first countdown was never drawn: nothing picked yet. */
	if (!armed || !agent_sample_ok() || raw.malloc != orig_raw.malloc || raw.free != orig_raw.free)
		return zero ? o->calloc(o->ctx, 1, n) : o->malloc(o->ctx, n);
	mode = agent_enter();
	/* here, in the frame the hook's tail call left: one frame of ours */
	agent_stack_capture(&s);
	r = o->malloc(o->ctx, usable + 32 > PY_SMALL_REQUEST + 1 ? usable + 32 : PY_SMALL_REQUEST + 1);
	agent_leave(mode);
	if (r == NULL)
		return NULL;
	r = agent_sample_carve(r, usable, &s);
	if (zero)
		memset(r, 0, n);
	return r;
}

/* Whether a request of n bytes is small and the thread's countdown,
 * spent by its pymalloc class, ran out on it. */
static inline int py_picked(size_t n)
{
	int64_t left;

	if (n - 1 >= PY_SMALL_REQUEST)
		return 0;
	left = agent_tls.py_left - (int64_t)py_class(n);
	agent_tls.py_left = left;
	return __builtin_expect(left < 0, 0);
}

static void *hook_obj_malloc(void *ctx, size_t n)
{
	if (py_picked(n))
		return py_sampled(&orig_obj, n, 0);
	return orig_obj.malloc(ctx, n);
}

static void *hook_obj_calloc(void *ctx, size_t nelem, size_t elsize)
{
	size_t n;

	if (!__builtin_mul_overflow(nelem, elsize, &n) && py_picked(n))
		return py_sampled(&orig_obj, n, 1);
	return orig_obj.calloc(ctx, nelem, elsize);
}

/* A picked realloc: pymalloc's own, then its result moved into a sampled
 * block of the new size. */
static __attribute__((noinline)) void *py_sampled_realloc(const struct py_allocator *o, void *p,
    size_t n)
{
	void *q = o->realloc(o->ctx, p, n), *r;

	if (q == NULL)
		return NULL;
	r = py_sampled(o, n, 0);
	if (r == NULL)
		return q;               /* still the program's block, unsampled */
	memcpy(r, q, n);
	o->free(o->ctx, q);
	return r;
}

static void *hook_obj_realloc(void *ctx, void *p, size_t n)
{
	if (py_picked(n))
		return py_sampled_realloc(&orig_obj, p, n);
	return orig_obj.realloc(ctx, p, n);
}

static void *hook_mem_realloc(void *ctx, void *p, size_t n)
{
	if (py_picked(n))
		return py_sampled_realloc(&orig_mem, p, n);
	return orig_mem.realloc(ctx, p, n);
}

static void *hook_mem_malloc(void *ctx, size_t n)
{
	if (py_picked(n))
		return py_sampled(&orig_mem, n, 0);
	return orig_mem.malloc(ctx, n);
}

static void *hook_mem_calloc(void *ctx, size_t nelem, size_t elsize)
{
	size_t n;

	if (!__builtin_mul_overflow(nelem, elsize, &n) && py_picked(n))
		return py_sampled(&orig_mem, n, 1);
	return orig_mem.calloc(ctx, nelem, elsize);
}

/* Wraps the memory and object domains: our malloc, calloc and realloc,
 * their own free and context. */
static void hook_allocators(void)
{
	struct py_allocator mem, obj;

	py.get_allocator(PY_DOMAIN_RAW, &orig_raw);
	py.get_allocator(PY_DOMAIN_MEM, &orig_mem);
	py.get_allocator(PY_DOMAIN_OBJ, &orig_obj);
	if (orig_mem.malloc == NULL || orig_obj.malloc == NULL || orig_raw.malloc == NULL) {
		agent_debug("Python objects not sampled: the interpreter has no allocator yet");
		return;
	}
	mem = orig_mem;
	mem.malloc = hook_mem_malloc;
	mem.calloc = hook_mem_calloc;
	mem.realloc = hook_mem_realloc;
	obj = orig_obj;
	obj.malloc = hook_obj_malloc;
	obj.calloc = hook_obj_calloc;
	obj.realloc = hook_obj_realloc;
	py.set_allocator(PY_DOMAIN_MEM, &mem);
	py.set_allocator(PY_DOMAIN_OBJ, &obj);
}

/* ---- set-up ---- */

/* The address of a symbol of the process, or 0. A failed dlsym leaves an
 * error message for the thread's next dlerror(), allocated: the program
 * would find ours there, and free it. Two calls to dlerror() take it
 * back (the first hands the message out, the second frees it), as we
 * are busy, so neither is counted. */
static uintptr_t sym(const char *name)
{
	void *p = dlsym(RTLD_DEFAULT, name);

	if (p == NULL) {
		dlerror();
		dlerror();
	}
	return (uintptr_t)p;
}

/* Finds what the agent reads and calls; a reason when something is
 * missing or not as expected. */
static const char *find_interpreter(void)
{
	uintptr_t version = sym("Py_Version"), eval;
	ElfW(Sym) *es = NULL;
	Dl_info info;

	if (version == 0)
		return "";                      /* not a Python process */
	if ((*(const unsigned long *)version >> 16) != PY311_VERSION)
		return "Python frames off: this Python's frame layout is unknown to the agent (3.11 only)";
	if (sym("_Py_RefTotal") != 0)
		return "Python frames off: a debug build of Python, whose objects are laid out apart";
	py.this_thread_state = (void *(*)(void))sym("PyGILState_GetThisThreadState");
	py.finalizing = (int (*)(void))sym("_Py_IsFinalizing");
	py.get_allocator = (void (*)(int, struct py_allocator *))sym("PyMem_GetAllocator");
	py.set_allocator = (void (*)(int, struct py_allocator *))sym("PyMem_SetAllocator");
	py.code_type = sym("PyCode_Type");
	py.unicode_type = sym("PyUnicode_Type");
	py.bytes_type = sym("PyBytes_Type");
	eval = sym("_PyEval_EvalFrameDefault");
	if (py.this_thread_state == NULL || py.finalizing == NULL || py.get_allocator == NULL ||
	    py.set_allocator == NULL || py.code_type == 0 || py.unicode_type == 0 ||
	    py.bytes_type == 0 || eval == 0)
		return "Python frames off: the interpreter lacks a symbol the agent reads";
	if (rd64(py.code_type, PY_TP_BASICSIZE) != PY_CO_CODE_ADAPTIVE ||
	    rd64(py.unicode_type, PY_TP_BASICSIZE) != PY_UNICODE_BASICSIZE ||
	    rd64(py.bytes_type, PY_TP_BASICSIZE) != PY_BYTES_BASICSIZE)
		return "Python frames off: the interpreter's objects are not laid out as the agent reads them";
	if (dladdr1((void *)eval, &info, (void **)&es, RTLD_DL_SYMENT) == 0 || es == NULL ||
	    es->st_size == 0)
		return "Python frames off: the size of the interpreter's loop is unknown";
	py.eval_lo = eval;
	py.eval_len = es->st_size;
	return NULL;
}

uint32_t agent_py_setup(int sample_objects)
{
	const char *v = getenv("MEMPROBE_PROFILE_PYTHON"), *why;

	if (v != NULL && strcmp(v, "0") == 0)
		return 0;
	if (v != NULL && strcmp(v, "frames") == 0)
		sample_objects = 0;
	else if (v != NULL && v[0] != '\0' && strcmp(v, "1") != 0)
		agent_debug_path("ignoring ", "MEMPROBE_PROFILE_PYTHON", EINVAL,
		    ": not 0, 1 or frames; using 1");
	why = find_interpreter();
	if (why != NULL) {
		if (why[0] != '\0')
			agent_debug(why);
		return 0;
	}
	frames_on = 1;
	if (sample_objects && agent_sampled_blocks_work())
		hook_allocators();
	else if (sample_objects)
		agent_debug("Python objects not sampled: only with glibc's malloc below the agent");
	return PROF_PYFUNCS_DEFAULT;
}
