/* demangle.c: C++ symbol names made readable with libstdc++'s demangler, and the allocation wrappers a call site looks past. */
#include "demangle.h"

#include <stdlib.h>
#include <string.h>

/* libstdc++'s demangler (cxxabi.h), declared here for C. It mallocs its
 * result when given no buffer. */
char *__cxa_demangle(const char *mangled, char *buf, size_t *len, int *status);

int demangle(const char *name, char *out, size_t size)
{
	char *d;
	int status = -1;

	if (name == NULL || size == 0 || strncmp(name, "_Z", 2) != 0 ||
	    strnlen(name, DEMANGLE_MAX_IN + 1) > DEMANGLE_MAX_IN)
		return 0;
	d = __cxa_demangle(name, NULL, NULL, &status);
	if (d == NULL || status != 0) {
		free(d);
		return 0;
	}
	strncpy(out, d, size - 1);
	out[size - 1] = '\0';
	free(d);
	return 1;
}

int demangle_is_alloc_wrapper(const char *name)
{
	static const char *const plain[] = { "strdup", "__strdup", "strndup", "__strndup" };

	if (name == NULL)
		return 0;
	/* operator new (_Znw...) and new[] (_Zna...), whatever their
	 * arguments (nothrow, alignment), mangled or demangled */
	if (strncmp(name, "_Znw", 4) == 0 || strncmp(name, "_Zna", 4) == 0 ||
	    strncmp(name, "operator new", 12) == 0)
		return 1;
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		if (strcmp(name, plain[i]) == 0)
			return 1;
	return 0;
}
