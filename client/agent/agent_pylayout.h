/* agent_pylayout.h: where CPython 3.11 keeps what the agent reads of a thread's Python frames (64-bit release builds). */
#ifndef MEMPROBE_AGENT_PYLAYOUT_H
#define MEMPROBE_AGENT_PYLAYOUT_H

/*
 * Byte offsets into CPython 3.11's structures, as its headers lay them
 * out on a 64-bit release build (no Py_DEBUG, no Py_TRACE_REFS). The agent
 * reads them without including Python's headers, so that libmemprobe.so
 * needs no Python to build or load; tests/unit/test_pylayout.c checks each
 * one against the installed headers (Include/internal/pycore_frame.h and
 * friends) when they are there. At run time agent_python.c checks the
 * interpreter's version (Py_Version) and the sizes its types declare
 * before trusting any of this.
 */

#define PY311_VERSION           0x030b          /* Py_Version >> 16 */

/* PyObject, PyVarObject, PyTypeObject */
#define PY_OB_TYPE              8
#define PY_OB_SIZE              16
#define PY_TP_BASICSIZE         32

/* PyThreadState */
#define PY_TS_CFRAME            56
#define PY_TS_THREAD_ID         152

/* _PyCFrame */
#define PY_CF_CURRENT_FRAME     8

/* _PyInterpreterFrame */
#define PY_FR_CODE              32
#define PY_FR_PREVIOUS          48
#define PY_FR_PREV_INSTR        56
#define PY_FR_IS_ENTRY          68

/* PyCodeObject */
#define PY_CO_FIRSTLINENO       72
#define PY_CO_FILENAME          112
#define PY_CO_QUALNAME          128
#define PY_CO_LINETABLE         136
#define PY_CO_CODE_ADAPTIVE     184             /* also code's tp_basicsize */

/* PyBytesObject */
#define PY_BYTES_SVAL           32
#define PY_BYTES_BASICSIZE      33

/* PyASCIIObject, PyCompactUnicodeObject, PyUnicodeObject */
#define PY_STR_LENGTH           16
#define PY_STR_STATE            32
#define PY_STR_ASCII_DATA       48              /* sizeof(PyASCIIObject) */
#define PY_STR_COMPACT_DATA     72              /* sizeof(PyCompactUnicodeObject) */
#define PY_UNICODE_BASICSIZE    80
/* state's bits: interned:2, kind:3, compact:1, ascii:1, ready:1 */
#define PY_STR_KIND(state)      (((state) >> 2) & 7u)
#define PY_STR_COMPACT          (1u << 5)
#define PY_STR_ASCII            (1u << 6)
#define PY_STR_READY            (1u << 7)

/* The small-object allocator: requests of at most this many bytes are
 * pymalloc's, served in classes of PY_ALIGNMENT bytes. */
#define PY_SMALL_REQUEST        512
#define PY_ALIGNMENT            16

/* PyMemAllocatorDomain */
#define PY_DOMAIN_RAW           0
#define PY_DOMAIN_MEM           1
#define PY_DOMAIN_OBJ           2

/* PyMemAllocatorEx */
struct py_allocator {
	void *ctx;
	void *(*malloc)(void *ctx, size_t size);
	void *(*calloc)(void *ctx, size_t nelem, size_t elsize);
	void *(*realloc)(void *ctx, void *ptr, size_t new_size);
	void (*free)(void *ctx, void *ptr);
};

#endif
