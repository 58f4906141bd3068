/* fuzz_proto.c: libFuzzer target for the wire protocol decoder; valid messages must round-trip. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned char buf[PROTO_MAX_MSG];
	struct proto_msg m, again;
	size_t n = 0;

	if (proto_decode(data, size, &m) != PROTO_OK)
		return 0;
	/* What decodes must encode to the same bytes and decode the same. */
	switch (m.type) {
	case PROTO_HELLO:
		n = proto_encode_hello(buf, &m.u.hello);
		break;
	case PROTO_SAMPLE:
		n = proto_encode_sample(buf, &m.u.sample);
		break;
	case PROTO_GAUGE:
		n = proto_encode_gauge(buf, &m.u.gauge);
		break;
	case PROTO_BYE:
		n = proto_encode_bye(buf);
		break;
	case PROTO_REGISTER:
		n = proto_encode_register(buf, &m.u.reg);
		break;
	default:
		abort();
	}
	if (n != size || memcmp(buf, data, size) != 0)
		abort();
	if (proto_decode(buf, n, &again) != PROTO_OK || again.type != m.type)
		abort();
	return 0;
}
