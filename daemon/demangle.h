/* demangle.h: C++ symbol names made readable, and the allocation wrappers a call site looks past. */
#ifndef MEMPROBE_DEMANGLE_H
#define MEMPROBE_DEMANGLE_H

#include <stddef.h>

/* Names longer than this are left as they are: the demangler recurses on
 * a name's structure, and a symbol table is the profiled program's to
 * write. */
#define DEMANGLE_MAX_IN 1024

/*
 * Writes the demangled form of a C++ (Itanium ABI) symbol name into out
 * (size bytes, NUL-terminated, cut if need be), with libstdc++'s
 * __cxa_demangle. Returns 1 when name was mangled and is demangled, else
 * 0 (out untouched): not mangled, too long, or refused.
 */
int demangle(const char *name, char *out, size_t size);

/*
 * Whether the function named `name` (mangled or not) only passes an
 * allocation on to malloc: C++'s operator new and new[] in all their
 * forms, strdup and strndup. A call site is named by its first frame
 * that is not one of these.
 */
int demangle_is_alloc_wrapper(const char *name);

#endif
