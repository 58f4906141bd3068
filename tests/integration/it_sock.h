/* it_sock.h: sockets for the integration tests, and a hand-built agent speaking common/proto.c. */
#ifndef MEMPROBE_IT_SOCK_H
#define MEMPROBE_IT_SOCK_H

#include <stddef.h>
#include <stdint.h>

/* Sets *sun to the AF_UNIX address of path. Returns 0, or -ENAMETOOLONG
 * when path does not fit sun_path. */
struct sockaddr_un;
int it_unix_addr(struct sockaddr_un *sun, const char *path);

/* A SOCK_SEQPACKET connection to the socket at path (an agent socket):
 * the descriptor, or -errno. */
int it_seqpacket_connect(const char *path);

/* A SOCK_SEQPACKET socket bound to path, listening with backlog unless
 * backlog is negative: the descriptor, or -errno. */
int it_seqpacket_bind(const char *path, int backlog);

/* Whether the peer closed the connection fd within timeout_ms (what it
 * sent before closing is consumed, a byte at a time). */
int it_peer_closed(int fd, int timeout_ms);

/* Returns a TCP port on 127.0.0.1 that was free a moment ago, or -errno. */
int it_free_port(void);

/* ---- a hand-built agent ---- */

/* Sends the n bytes of buf as one datagram. Returns 0 or -1. */
int it_send_msg(int fd, const unsigned char *buf, size_t n);

/* Sends the n bytes of buf as one datagram with one SOL_SOCKET control
 * message of type (SCM_RIGHTS, SCM_CREDENTIALS) carrying the size bytes at
 * data (at most a struct ucred's). Returns 0 or -errno. */
int it_send_cmsg(int fd, const void *buf, size_t n, int type, const void *data, size_t size);

/* Sends a HELLO of agent kind `agent` (enum proto_agent) claiming comm and
 * exe (NULL: "/nonexistent/COMM"), with this process's start time. */
int it_send_hello(int fd, unsigned agent, const char *comm, const char *exe);

/* Sends a heap and stack SAMPLE with `live` live heap bytes. */
int it_send_heap(int fd, uint64_t live);

/* Sends REGISTER of agent kind `agent` with memfd (and no pidfd: the
 * daemon watches the sender itself) on a new connection to the agent
 * socket sock, and closes it. Returns 0 or -1. */
int it_send_register(const char *sock, int memfd, unsigned agent);

#endif
