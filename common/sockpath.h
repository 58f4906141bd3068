/* sockpath.h: the one rule for the default agent socket, shared by memprobed, the agents and memprobectl. */
#ifndef MEMPROBE_SOCKPATH_H
#define MEMPROBE_SOCKPATH_H

#include <stddef.h>
#include <sys/types.h>

/*
 * The rule. Its inputs are $MEMPROBE_SOCKET (env), $XDG_RUNTIME_DIR (xdg),
 * each NULL when unset, and the effective uid. "Set" means set and not
 * empty; an XDG_RUNTIME_DIR that is not absolute is ignored, as the XDG
 * base directory spec says.
 *
 * The user's own socket, where a memprobed started by that user listens
 * and the first place that user's programs look:
 *   1. env;
 *   2. SOCKPATH_SYSTEM when euid is 0;
 *   3. xdg/memprobe/agent.sock when xdg is absolute and that fits a socket
 *      address (at most SOCKPATH_MAX bytes);
 *   4. /tmp/memprobe-EUID/agent.sock.
 *
 * A client (the C agent, the Python agent, memprobectl run) connects to:
 *   1. env;
 *   2. the own socket (steps 2-4 above) when a socket file is there;
 *   3. SOCKPATH_SYSTEM, the system-wide daemon (memprobed.socket).
 * So an ordinary user's program reaches the daemon that user started, and
 * otherwise the system one; as root both are SOCKPATH_SYSTEM.
 *
 * memprobed listens, when neither --agent-socket nor agent_socket says, on:
 *   1. env;
 *   2. $RUNTIME_DIRECTORY/agent.sock (the first directory when systemd's
 *      RuntimeDirectory= lists several) when that is absolute and fits:
 *      RuntimeDirectory=memprobe makes it SOCKPATH_SYSTEM in a system
 *      unit and xdg/memprobe/agent.sock in a user unit, both of which
 *      clients try;
 *   3. the own socket.
 *
 * An env longer than SOCKPATH_MAX is an error (-ENAMETOOLONG), never
 * skipped: the user asked for that path. Nothing else makes the rule fail.
 *
 * Every function writes a NUL-terminated path into buf (size bytes) and
 * returns 0, -ENAMETOOLONG when env does not fit a socket address or the
 * path does not fit buf, or -EINVAL when buf is NULL or size 0; on an
 * error buf holds "" (when size > 0). They allocate nothing and call no
 * stdio: the agent calls them from inside malloc and at exit.
 */

/* The system-wide daemon's socket. */
#define SOCKPATH_SYSTEM "/run/memprobe/agent.sock"

/* The longest socket path, in bytes without the NUL (sun_path less one). */
#define SOCKPATH_MAX 107

/* The user's own socket, as above. Pure. */
int sockpath_own(char *buf, size_t size, const char *env, const char *xdg, uid_t euid);

/*
 * The socket a client connects to, as above; is_socket(path) says whether
 * a socket file is at path (sockpath_is_socket for the real one). Pure
 * apart from what is_socket does.
 */
int sockpath_connect(char *buf, size_t size, const char *env, const char *xdg, uid_t euid,
    int (*is_socket)(const char *path));

/* memprobed's default socket, as above; rundir is $RUNTIME_DIRECTORY or
 * NULL. Pure. */
int sockpath_listen(char *buf, size_t size, const char *env, const char *rundir,
    const char *xdg, uid_t euid);

/* 1 if a socket file is at path (stat(2), following links), else 0. */
int sockpath_is_socket(const char *path);

/* sockpath_connect() and sockpath_listen() on this process's environment
 * and effective uid. */
int sockpath_connect_env(char *buf, size_t size);
int sockpath_listen_env(char *buf, size_t size);

#endif
