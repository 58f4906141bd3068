/* addr.c: strict parsing of HOST:PORT listen addresses. */
#include "addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static int addr_port(const char *p, unsigned *port)
{
	unsigned v = 0;

	if (*p == '\0' || (p[0] == '0' && p[1] != '\0'))
		return -EINVAL;
	for (; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)(*p - '0');
		if (v > 65535)
			return -EINVAL;
	}
	*port = v;
	return 0;
}

int addr_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len,
    char *why, size_t size)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon, *hs;
	size_t hl;
	unsigned port;

	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		const char *end = strchr(s, ']');

		if (end == NULL || end[1] != ':') {
			snprintf(why, size, "expected [IPv6]:PORT");
			return -EINVAL;
		}
		hs = s + 1;
		hl = (size_t)(end - hs);
		colon = end + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL) {
			snprintf(why, size, "expected HOST:PORT");
			return -EINVAL;
		}
		hs = s;
		hl = (size_t)(colon - s);
		if (memchr(hs, ':', hl) != NULL) {
			snprintf(why, size, "an IPv6 address needs brackets: [ADDR]:PORT");
			return -EINVAL;
		}
	}
	if (addr_port(colon + 1, &port) < 0) {
		snprintf(why, size, "bad port \"%s\": expected 0..65535", colon + 1);
		return -EINVAL;
	}
	if (hl >= sizeof(host)) {
		snprintf(why, size, "bad host: expected a numeric IPv4 or [IPv6] address");
		return -EINVAL;
	}
	memcpy(host, hs, hl);
	host[hl] = '\0';

	if (s[0] == '[' || hl == 0) {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		if (hl == 0 && s[0] != '[') {
			a6->sin6_addr = in6addr_any;
		} else if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1) {
			snprintf(why, size, "bad IPv6 address \"%s\"", host);
			return -EINVAL;
		}
		*len = sizeof(*a6);
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)ss;

		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		/* inet_pton takes only the dotted quad, never "1" or "0x7f.1". */
		if (inet_pton(AF_INET, host, &a4->sin_addr) != 1) {
			snprintf(why, size,
			    "bad host \"%s\": expected a numeric IPv4 or [IPv6] address", host);
			return -EINVAL;
		}
		*len = sizeof(*a4);
	}
	return 0;
}

void addr_format(const struct sockaddr *sa, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)(const void *)sa;

		inet_ntop(AF_INET6, &a6->sin6_addr, host, sizeof(host));
		snprintf(buf, size, "[%s]:%u", host, ntohs(a6->sin6_port));
	} else if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *a4 = (const struct sockaddr_in *)(const void *)sa;

		inet_ntop(AF_INET, &a4->sin_addr, host, sizeof(host));
		snprintf(buf, size, "%s:%u", host, ntohs(a4->sin_port));
	} else {
		snprintf(buf, size, "(family %d)", sa->sa_family);
	}
}
