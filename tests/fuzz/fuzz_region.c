/* fuzz_region.c: libFuzzer target for the shared-region reader: any bytes an agent can write are read safely. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "region.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The input is the region: its first byte chooses whether the header is
 * made to pass region_check() (so the reader's sums, clamps and gauge
 * checks are reached) or left as it came (so the checks themselves are
 * tried). The region is exactly as long as the bytes given or, for a
 * passing header, as its slots need; ASan sees any read past its end.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct region_stack stacks[8];
	struct proto_sample s;
	struct region_hdr h, *w;
	uint64_t peak = 0, len;
	unsigned char *buf;
	char name[REGION_GAUGE_NAME_MAX + 1];
	double v;
	int force;

	if (size < 1)
		return 0;
	force = data[0] & 1;
	data++;
	size--;
	len = size;
	if (force) {
		uint32_t nslots = 0;

		if (size >= offsetof(struct region_hdr, nslots) + 4)
			memcpy(&nslots, data + offsetof(struct region_hdr, nslots), 4);
		nslots %= 64;
		len = region_size_for(nslots);
		if (len < size)
			len = size;
	}
	if (len > REGION_MAX_SIZE)
		return 0;
	buf = calloc(1, len ? len : 1);
	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	if (force && len >= sizeof(*w)) {
		w = (struct region_hdr *)(void *)buf;
		w->magic = REGION_MAGIC;
		w->layout = REGION_LAYOUT;
		w->agent = (w->agent & 1) ? PROTO_AGENT_PYTHON : PROTO_AGENT_C;
		w->size = len;
		w->slot_off = REGION_SLOT_OFF;
		w->slot_size = sizeof(struct region_slot);
		w->nslots = (uint32_t)((len - REGION_SLOT_OFF) / sizeof(struct region_slot));
	}
	if (region_check(buf, len, &h) == 0) {
		region_read(buf, &h, &s, &peak, stacks, 8);
		/* The live figures never exceed what their counters allow. */
		if (s.heap_live_blocks > s.heap_allocations || s.heap_live_bytes > s.heap_allocated_bytes ||
		    s.heap_peak_bytes < s.heap_live_bytes)
			abort();
		for (unsigned i = 0; i < REGION_GAUGES + 2; i++)
			if (region_gauge(buf, &h, i, name, sizeof(name), &v) && strlen(name) == 0)
				abort();
	}
	free(buf);
	return 0;
}
