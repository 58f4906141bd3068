/* test_demangle.c: C++ names made readable, names left alone, and the allocation wrappers a call site looks past. */
#include "demangle.h"
#include "harness.h"

static void readable_names(void)
{
	char out[256];

	CHECK(demangle("_ZN6holder6blocksEm", out, sizeof(out)) == 1);
	CHECK_STR(out, "holder::blocks(unsigned long)");
	CHECK(demangle("_ZN6keeperD1Ev", out, sizeof(out)) == 1);
	CHECK_STR(out, "keeper::~keeper()");
	/* cut to the buffer, still NUL-terminated */
	CHECK(demangle("_ZN6holder6blocksEm", out, 7) == 1);
	CHECK_STR(out, "holder");
}

static void names_left_alone(void)
{
	char out[64] = "untouched", longname[DEMANGLE_MAX_IN + 16];

	CHECK(demangle("main", out, sizeof(out)) == 0);
	CHECK(demangle(NULL, out, sizeof(out)) == 0);
	CHECK(demangle("_Z", out, sizeof(out)) == 0);
	CHECK(demangle("_Zxyz!!", out, sizeof(out)) == 0);
	memset(longname, 'N', sizeof(longname) - 1);
	memcpy(longname, "_ZN", 3);
	longname[sizeof(longname) - 1] = '\0';
	CHECK(demangle(longname, out, sizeof(out)) == 0);
	CHECK_STR(out, "untouched");
}

static void allocation_wrappers(void)
{
	CHECK(demangle_is_alloc_wrapper("_Znwm"));
	CHECK(demangle_is_alloc_wrapper("_Znam"));
	CHECK(demangle_is_alloc_wrapper("_ZnwmRKSt9nothrow_t"));
	CHECK(demangle_is_alloc_wrapper("_ZnwmSt11align_val_t"));
	CHECK(demangle_is_alloc_wrapper("operator new(unsigned long)"));
	CHECK(demangle_is_alloc_wrapper("strdup"));
	CHECK(demangle_is_alloc_wrapper("__strndup"));
	CHECK(!demangle_is_alloc_wrapper("_ZN6holder6blocksEm"));
	CHECK(!demangle_is_alloc_wrapper("malloc_wrapper_of_mine"));
	CHECK(!demangle_is_alloc_wrapper(NULL));
}

int main(void)
{
	RUN_TEST(readable_names);
	RUN_TEST(names_left_alone);
	RUN_TEST(allocation_wrappers);
	return HARNESS_EXIT();
}
