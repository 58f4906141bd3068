/* conf.h: memprobed's settings: defaults, the INI file, command-line overrides. */
#ifndef MEMPROBE_CONF_H
#define MEMPROBE_CONF_H

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

/*
 * The effective settings. Every field is a key of the [memprobed] section
 * of the INI file and has a command-line flag that wins over the file:
 *
 *   key                          flag                           default
 *   agent_socket                 --agent-socket PATH            see sockpath.h (sockpath_listen)
 *   agent_socket_group           --agent-socket-group GROUP     ""    (the daemon's own group)
 *   listen_address               --web.listen-address HOST:PORT 127.0.0.1:19556
 *   exited_ttl                   --exited-ttl SECONDS           60
 *   log_level                    --log-level LEVEL              info
 *   max_connections              --max-connections N            4096  (agent connections)
 *   max_processes                --max-processes N              10000
 *   max_gauges                   --max-gauges N                 64    (per process)
 *   max_message_rate             --max-message-rate N           1000  (per connection and second)
 *   max_pending_per_uid          --max-pending-per-uid N        64    (connections before HELLO, per uid)
 *   hello_timeout                --hello-timeout SECONDS        5     (a connection's first HELLO)
 *   http_max_connections         --web.max-connections N        64
 *   http_max_connections_per_ip  --web.max-connections-per-ip N 16
 *   http_timeout                 --web.timeout SECONDS          30    (idle HTTP connection)
 *   web_config_file              --web.config.file FILE         ""    (TLS, basic auth; see webconf.h)
 *   series                       --series process|command       process
 *   history_length               --history-length N             300   (points per process, 0: none)
 *   proc_interval                --proc-interval SECONDS        2     (/proc refresh, 0: none)
 *   profile_top_sites            --profile-top-sites N          0     (site series per process, 0: off)
 *
 * Keys marked live in conf.c change on SIGHUP; the others need a restart.
 * Strings are owned by the struct (conf_free()).
 */
struct conf {
	char *agent_socket;
	char *listen_address;
	unsigned exited_ttl;
	int log_level;                  /* enum log_level */
	unsigned max_connections;
	unsigned max_processes;
	unsigned max_gauges;
	unsigned max_message_rate;
	unsigned max_pending_per_uid;
	unsigned hello_timeout;
	unsigned http_max_connections;
	unsigned http_max_connections_per_ip;
	unsigned http_timeout;
	char *web_config_file;          /* "": none */
	char *agent_socket_group;       /* "": the daemon's own group */
	int series;                     /* enum conf_series */
	unsigned history_length;
	unsigned proc_interval;
	unsigned profile_top_sites;
	char *source;                   /* the file read, or NULL */
};

/* How per-process series are labelled in /metrics. */
enum conf_series {
	CONF_SERIES_PROCESS,            /* pid and comm: one series per process */
	CONF_SERIES_COMMAND,            /* comm only: processes summed per command */
};

#define CONF_DEFAULT_FILE "/etc/memprobe/memprobed.conf"
#define CONF_SECTION "memprobed"
#define CONF_ERR_MAX 512

/* Fills *c with the defaults. Returns 0 or -ENOMEM. */
int conf_init(struct conf *c);

/* Frees the strings of *c; *c may then be conf_init()ed again. */
void conf_free(struct conf *c);

/*
 * Sets `key` (an INI key name) from its text form. Returns 0, -ENOENT for an
 * unknown key, -EINVAL for a bad value or -ENOMEM; on error writes what was
 * wrong and expected into err (errsize bytes; CONF_ERR_MAX is enough), for the caller to prefix
 * with where the value came from (file:line: key, or the flag).
 */
int conf_set(struct conf *c, const char *key, const char *value, char *err, size_t errsize);

/*
 * Reads the INI file `path` into *c (keys only in [memprobed]; comments start
 * with ';' or '#'). Returns 0 or a negative errno; on error err holds one line
 * naming path:line and the key ("FILE: cannot open: ..." when unreadable).
 * Keys already set keep their values when the file does not name them.
 */
int conf_load(struct conf *c, const char *path, char *err, size_t errsize);

/* The key a command-line flag (without the leading "--") sets, or NULL. */
const char *conf_key_for_flag(const char *flag);

/* The gid of a group given by name or number. Returns 0 (and *out when
 * out is not NULL), -ENOENT for an unknown name, -EINVAL for a bad number. */
int conf_group_id(const char *name, gid_t *out);

/* Writes the settings as an INI file that conf_load() reads back. */
void conf_print(const struct conf *c, FILE *f);

/* Lines for --help: each flag with its key and default. */
void conf_print_flags(FILE *f);

/* The number of keys, and the key name, flag and liveness of key i: a live
 * key takes effect on SIGHUP, the others at the next start. */
size_t conf_nkeys(void);
const char *conf_key_name(size_t i);
const char *conf_key_flag(size_t i);
int conf_key_live(size_t i);

/* The value of key i in *c as conf_print() writes it, into buf. */
void conf_value(const struct conf *c, size_t i, char *buf, size_t size);

/* Copies *src into *dst (strings duplicated). Returns 0 or -ENOMEM. */
int conf_copy(struct conf *dst, const struct conf *src);

#endif
