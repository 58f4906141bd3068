/* addr.h: strict parsing of HOST:PORT listen addresses. */
#ifndef MEMPROBE_ADDR_H
#define MEMPROBE_ADDR_H

#include <stddef.h>
#include <sys/socket.h>

/*
 * Parses "A.B.C.D:PORT", "[IPv6]:PORT" or ":PORT" (every interface: IPv6
 * any, dual-stack) into *ss and *len. Hosts are numeric only; PORT is a
 * decimal 0..65535 without sign or padding (0 lets the kernel choose).
 * Returns 0 or -EINVAL; on error writes the reason into why (size bytes).
 */
int addr_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len,
    char *why, size_t size);

/* Formats *sa as "A.B.C.D:PORT" or "[IPv6]:PORT" into buf. */
void addr_format(const struct sockaddr *sa, char *buf, size_t size);

#endif
