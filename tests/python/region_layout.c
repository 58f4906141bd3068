/* region_layout.c: prints the region layout and the REGISTER message as C sees them, for test_region.py to hold the Python agent's copy against. */
#include <stddef.h>
#include <stdio.h>

#include "proto.h"
#include "region.h"

/* "field NAME OFFSET SIZE" of the header, "gauge ..." of a gauge entry. */
#define FIELD(f) printf("field %s %zu %zu\n", #f, offsetof(struct region_hdr, f), \
    sizeof(((struct region_hdr *)0)->f))
#define GFIELD(f) printf("gauge %s %zu %zu\n", #f, offsetof(struct region_gauge, f), \
    sizeof(((struct region_gauge *)0)->f))
#define CONST(name, v) printf("const %s %llu\n", name, (unsigned long long)(v))

int main(void)
{
	unsigned char buf[PROTO_MAX_MSG];
	struct proto_register reg = { .agent = PROTO_AGENT_PYTHON, .layout = REGION_LAYOUT };
	size_t n;

	FIELD(magic);
	FIELD(layout);
	FIELD(agent);
	FIELD(size);
	FIELD(instance);
	FIELD(generation);
	FIELD(slot_off);
	FIELD(slot_size);
	FIELD(nslots);
	FIELD(slots_used);
	FIELD(start_time);
	FIELD(stack_limit);
	FIELD(heap_peak);
	FIELD(mmap_live);
	FIELD(size_source);
	FIELD(exit_kind);
	FIELD(exit_status);
	FIELD(threads);
	FIELD(py_set);
	FIELD(py_allocated_blocks);
	FIELD(py_recursion_limit);
	FIELD(py_stack_depth_peak);
	FIELD(py_gc_collections);
	FIELD(py_gc_collected);
	FIELD(py_gc_uncollectable);
	FIELD(py_gc_count);
	FIELD(ngauges);
	GFIELD(state);
	GFIELD(value);
	GFIELD(name);
	CONST("MAGIC", REGION_MAGIC);
	CONST("LAYOUT", REGION_LAYOUT);
	CONST("HDR_SIZE", REGION_HDR_SIZE);
	CONST("GAUGES", REGION_GAUGES);
	CONST("GAUGE_NAME_MAX", REGION_GAUGE_NAME_MAX);
	CONST("GAUGE_SIZE", sizeof(struct region_gauge));
	CONST("GAUGE_OFF", REGION_GAUGE_OFF);
	CONST("SLOT_OFF", REGION_SLOT_OFF);
	CONST("SLOT_SIZE", sizeof(struct region_slot));
	CONST("SIZE", region_size_for(0));
	CONST("EXIT_EXIT", REGION_EXIT_EXIT);
	CONST("AGENT_PYTHON", PROTO_AGENT_PYTHON);
	n = proto_encode_register(buf, &reg);
	printf("register ");
	for (size_t i = 0; i < n; i++)
		printf("%02x", buf[i]);
	printf("\n");
	return 0;
}
