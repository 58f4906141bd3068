/* test_pylayout.c: the agent's offsets into CPython 3.11's structures (agent_pylayout.h) against the installed headers. */
#define Py_BUILD_CORE 1
#include <Python.h>
#include <internal/pycore_frame.h>

#include <stddef.h>

#include "agent_pylayout.h"
#include "harness.h"

/* Built with Debian's python3.11-dev headers: the same layout as the
 * interpreter the tests run (agent_python.c checks Py_Version and the
 * types' sizes at run time before it reads anything). */
static void offsets(void)
{
	CHECK_U64(PY_VERSION_HEX >> 16, ==, PY311_VERSION);
	CHECK_U64(offsetof(PyObject, ob_type), ==, PY_OB_TYPE);
	CHECK_U64(offsetof(PyVarObject, ob_size), ==, PY_OB_SIZE);
	CHECK_U64(offsetof(PyTypeObject, tp_basicsize), ==, PY_TP_BASICSIZE);
	CHECK_U64(offsetof(PyThreadState, cframe), ==, PY_TS_CFRAME);
	CHECK_U64(offsetof(PyThreadState, thread_id), ==, PY_TS_THREAD_ID);
	CHECK_U64(offsetof(_PyCFrame, current_frame), ==, PY_CF_CURRENT_FRAME);
	CHECK_U64(offsetof(_PyInterpreterFrame, f_code), ==, PY_FR_CODE);
	CHECK_U64(offsetof(_PyInterpreterFrame, previous), ==, PY_FR_PREVIOUS);
	CHECK_U64(offsetof(_PyInterpreterFrame, prev_instr), ==, PY_FR_PREV_INSTR);
	CHECK_U64(offsetof(_PyInterpreterFrame, is_entry), ==, PY_FR_IS_ENTRY);
	CHECK_U64(sizeof(((_PyInterpreterFrame *)0)->is_entry), ==, 1);
	CHECK_U64(offsetof(PyCodeObject, co_firstlineno), ==, PY_CO_FIRSTLINENO);
	CHECK_U64(offsetof(PyCodeObject, co_filename), ==, PY_CO_FILENAME);
	CHECK_U64(offsetof(PyCodeObject, co_qualname), ==, PY_CO_QUALNAME);
	CHECK_U64(offsetof(PyCodeObject, co_linetable), ==, PY_CO_LINETABLE);
	CHECK_U64(offsetof(PyCodeObject, co_code_adaptive), ==, PY_CO_CODE_ADAPTIVE);
	CHECK_U64(sizeof(_Py_CODEUNIT), ==, 2);
	CHECK_U64(offsetof(PyBytesObject, ob_sval), ==, PY_BYTES_SVAL);
	CHECK_U64(PyBytes_Type.tp_basicsize, ==, PY_BYTES_BASICSIZE);
	CHECK_U64(PyCode_Type.tp_basicsize, ==, PY_CO_CODE_ADAPTIVE);
	CHECK_U64(PyUnicode_Type.tp_basicsize, ==, PY_UNICODE_BASICSIZE);
	CHECK_U64(offsetof(PyASCIIObject, length), ==, PY_STR_LENGTH);
	CHECK_U64(offsetof(PyASCIIObject, state), ==, PY_STR_STATE);
	CHECK_U64(sizeof(PyASCIIObject), ==, PY_STR_ASCII_DATA);
	CHECK_U64(sizeof(PyCompactUnicodeObject), ==, PY_STR_COMPACT_DATA);
	CHECK_U64(sizeof(PyUnicodeObject), ==, PY_UNICODE_BASICSIZE);
	CHECK_U64(PYMEM_DOMAIN_RAW, ==, PY_DOMAIN_RAW);
	CHECK_U64(PYMEM_DOMAIN_MEM, ==, PY_DOMAIN_MEM);
	CHECK_U64(PYMEM_DOMAIN_OBJ, ==, PY_DOMAIN_OBJ);
	CHECK_U64(sizeof(PyMemAllocatorEx), ==, sizeof(struct py_allocator));
	CHECK_U64(offsetof(PyMemAllocatorEx, free), ==, offsetof(struct py_allocator, free));
}

/* The bits of a str's state word, as the compiler lays out the
 * bit-fields. */
static void str_state(void)
{
	PyASCIIObject a;
	uint32_t w;

	memset(&a, 0, sizeof(a));
	a.state.kind = PyUnicode_2BYTE_KIND;
	a.state.compact = 1;
	a.state.ready = 1;
	memcpy(&w, &a.state, sizeof(w));
	CHECK_U64(PY_STR_KIND(w), ==, PyUnicode_2BYTE_KIND);
	CHECK_U64(w & PY_STR_COMPACT, ==, PY_STR_COMPACT);
	CHECK_U64(w & PY_STR_READY, ==, PY_STR_READY);
	CHECK_U64(w & PY_STR_ASCII, ==, 0);
	a.state.ascii = 1;
	memcpy(&w, &a.state, sizeof(w));
	CHECK_U64(w & PY_STR_ASCII, ==, PY_STR_ASCII);
}

int main(void)
{
	RUN_TEST(offsets);
	RUN_TEST(str_state);
	return HARNESS_EXIT();
}
