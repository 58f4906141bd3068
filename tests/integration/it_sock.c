/* it_sock.c: unix and TCP sockets for the tests, and a hand-built agent. */
#include "it_sock.h"
#include "it_base.h"
#include "proto.h"
#include "region.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int it_unix_addr(struct sockaddr_un *sun, const char *path)
{
	size_t n = strlen(path);

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (n >= sizeof(sun->sun_path))
		return -ENAMETOOLONG;
	memcpy(sun->sun_path, path, n + 1);
	return 0;
}

/* A new SOCK_SEQPACKET socket and the address of path: the descriptor,
 * or -errno. */
static int seqpacket_socket(const char *path, struct sockaddr_un *sun)
{
	int fd;

	if (it_unix_addr(sun, path) < 0)
		return -ENAMETOOLONG;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	return fd < 0 ? -errno : fd;
}

int it_seqpacket_connect(const char *path)
{
	struct sockaddr_un sun;
	int fd = seqpacket_socket(path, &sun);

	if (fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int err = errno;

		close(fd);
		return -err;
	}
	return fd;
}

int it_seqpacket_bind(const char *path, int backlog)
{
	struct sockaddr_un sun;
	int fd = seqpacket_socket(path, &sun);

	if (fd >= 0 && (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    (backlog >= 0 && listen(fd, backlog) < 0))) {
		int err = errno;

		close(fd);
		return -err;
	}
	return fd;
}

int it_peer_closed(int fd, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN | POLLRDHUP };
	char c;

	if (poll(&pfd, 1, timeout_ms) <= 0)
		return 0;
	return recv(fd, &c, 1, MSG_DONTWAIT) <= 0;
}

int it_free_port(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd, port;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) < 0) {
		int err = errno;

		close(fd);
		return -err;
	}
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

/* ---- a hand-built agent ---- */

int it_send_msg(int fd, const unsigned char *buf, size_t n)
{
	return n > 0 && send(fd, buf, n, MSG_NOSIGNAL) == (ssize_t)n ? 0 : -1;
}

int it_send_cmsg(int fd, const void *buf, size_t n, int type, const void *data, size_t size)
{
	union {
		struct cmsghdr align;
		char b[CMSG_SPACE(sizeof(struct ucred))];     /* the larger of the two */
	} ctl;
	struct iovec iov = { .iov_base = (void *)(uintptr_t)buf, .iov_len = n };
	struct msghdr mh;
	struct cmsghdr *cm;

	if (CMSG_SPACE(size) > sizeof(ctl.b))
		return -EMSGSIZE;
	memset(&mh, 0, sizeof(mh));
	memset(&ctl, 0, sizeof(ctl));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl.b;
	mh.msg_controllen = CMSG_SPACE(size);
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = type;
	cm->cmsg_len = CMSG_LEN(size);
	memcpy(CMSG_DATA(cm), data, size);
	return sendmsg(fd, &mh, MSG_NOSIGNAL) == (ssize_t)n ? 0 : -errno;
}

int it_send_hello(int fd, unsigned agent, const char *comm, const char *exe)
{
	static unsigned char buf[PROTO_MAX_MSG];
	struct proto_hello h = { .agent = (uint16_t)agent, .stack_limit = 8 << 20 };

	h.start_time = it_self_start_time();
	snprintf(h.comm, sizeof(h.comm), "%s", comm);
	if (exe != NULL)
		snprintf(h.exe, sizeof(h.exe), "%s", exe);
	else
		snprintf(h.exe, sizeof(h.exe), "/nonexistent/%s", comm);
	return it_send_msg(fd, buf, proto_encode_hello(buf, &h));
}

int it_send_heap(int fd, uint64_t live)
{
	static unsigned char buf[PROTO_MAX_MSG];
	struct proto_sample s = { .flags = PROTO_S_HEAP | PROTO_S_STACK, .seq = 1, .threads = 1 };

	s.heap_live_bytes = live;
	s.heap_live_blocks = 3;
	s.heap_peak_bytes = live;
	s.heap_allocations = 3;
	s.heap_allocated_bytes = live;
	s.stack_peak_bytes = 4096;
	s.stack_main_peak_bytes = 4096;
	s.stack_limit_bytes = 8 << 20;
	return it_send_msg(fd, buf, proto_encode_sample(buf, &s));
}

int it_send_register(const char *sock, int memfd, unsigned agent)
{
	static unsigned char buf[PROTO_MAX_MSG];
	struct proto_register reg = { .agent = (uint16_t)agent, .layout = REGION_LAYOUT };
	int fd = it_seqpacket_connect(sock), r;

	if (fd < 0)
		return -1;
	r = it_send_cmsg(fd, buf, proto_encode_register(buf, &reg), SCM_RIGHTS, &memfd,
	    sizeof(memfd)) == 0 ? 0 : -1;
	close(fd);
	return r;
}
