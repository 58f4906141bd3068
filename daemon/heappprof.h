/* heappprof.h: a process's heap profile as pprof (gzipped profile.proto), in the form of Go's heap profiles. */
#ifndef MEMPROBE_HEAPPPROF_H
#define MEMPROBE_HEAPPPROF_H

#include <stddef.h>
#include <stdint.h>

#include "ptab.h"
#include "profsym.h"

/*
 * The profile of GET /api/v1/processes/{pid}/profile, built with pprof.h:
 *  - sample types alloc_objects/count, alloc_space/bytes,
 *    inuse_objects/count, inuse_space/bytes (Go's, so `go tool pprof`
 *    shows inuse_space by default); period_type space/bytes, period the
 *    sampling rate; time the moment it was built;
 *  - one mapping per code mapping of the profile, the main binary (the
 *    one whose path is the process's exe) first, with its GNU build-id in
 *    hex;
 *  - one location per return address (mapping and address; its lines,
 *    innermost inlined function first, when symbolized; none when not,
 *    so pprof tools can symbolize it themselves), functions by name
 *    (mangled as in the symbol table) and file;
 *  - one location per Python function and line, with no mapping and no
 *    address, and one line: its function's name is the qualified name
 *    (co_qualname), filename the file, start_line the first line, and
 *    system_name empty (pprof's demangler reads a name that has one equal
 *    to it as C++ and cuts "<module>" to "");
 *  - one sample per stack, leaf first, objects rounded to whole objects.
 *    [other] is a sample of one location in a function named "[other]".
 *    A stack past pprof.h's limits is added into [other].
 * set is pp's addresses symbolized (profsym_set_build()). Returns 0 and
 * the gzipped body in *out (the caller free()s it), or a negative errno.
 */
int heappprof_build(const struct ptab_profile *pp, const struct profsym_set *set,
    int64_t time_nanos, unsigned char **out, size_t *len);

#endif
