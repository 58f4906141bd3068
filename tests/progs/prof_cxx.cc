// prof_cxx.cc: C++ allocations for the heap profile: operator new from a known function, and exceptions whose unwinding allocates.
#include <cstdio>
#include <cstring>
#include <malloc.h>
#include <new>
#include <stdexcept>
#include <string>
#include <unistd.h>
#include <vector>

#include "progs/progs.h"

// Usage: prof_cxx
//
// holder::blocks() holds 8 MiB in new[]'d blocks of 512 bytes; then 2,000
// exceptions are thrown through three frames whose destructors allocate
// while the stack unwinds (keeper::~keeper holds 2 KiB each, 8 MiB in
// all, two a round). Prints "site NAME inuse BYTES OBJECTS" (usable bytes) for both,
// "caught N", then "ready PID", and exits 0 at a line on stdin or its end.

namespace {

struct tally {
	size_t bytes = 0, objects = 0;
};

tally t_blocks, t_keeper;
std::vector<char *> *kept;

void say_site(const char *name, const tally &t)
{
	char line[160];

	std::snprintf(line, sizeof(line), "site %s inuse %zu %zu\n", name, t.bytes, t.objects);
	prog_say(line);
}

} // namespace

namespace holder {

__attribute__((noinline)) void blocks(size_t bytes)
{
	for (size_t done = 0; done < bytes; done += 512) {
		char *p = new char[512];

		std::memset(p, 1, 512);
		t_blocks.bytes += malloc_usable_size(p);
		t_blocks.objects++;
		kept->push_back(p);
	}
}

} // namespace holder

// Its destructor runs while an exception unwinds the stack, and allocates.
struct keeper {
	__attribute__((noinline)) ~keeper()
	{
		char *p = new char[2048];

		std::memset(p, 2, 2048);
		t_keeper.bytes += malloc_usable_size(p);
		t_keeper.objects++;
		kept->push_back(p);
	}
};

__attribute__((noinline)) static void thrower(int i)
{
	keeper k;

	throw std::runtime_error("round " + std::to_string(i));
}

__attribute__((noinline)) static void middle(int i)
{
	keeper k;

	thrower(i);
}

int main()
{
	int caught = 0;
	char line[64];

	kept = new std::vector<char *>;
	kept->reserve(32768);
	holder::blocks(8u << 20);
	for (int i = 0; i < 2000; i++) {
		try {
			middle(i);
		} catch (const std::runtime_error &) {
			caught++;
		}
	}
	say_site("holder::blocks", t_blocks);
	say_site("keeper::~keeper", t_keeper);
	std::snprintf(line, sizeof(line), "caught %d\nready %ld\n", caught, (long)getpid());
	prog_say(line);
	prog_read_line(line, sizeof(line));
	return 0;
}
