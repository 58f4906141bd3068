/* conf.c: memprobed's settings: defaults, the INI file, command-line overrides. */
#include "conf.h"

#include <errno.h>
#include <grp.h>
#include <ini.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "addr.h"
#include "log.h"
#include "sockpath.h"

enum conf_type {
	CONF_T_SOCKET,          /* a Unix socket path */
	CONF_T_ADDR,            /* HOST:PORT */
	CONF_T_UINT,
	CONF_T_LEVEL,
	CONF_T_SERIES,
	CONF_T_PATH,            /* a file; empty: none */
	CONF_T_GROUP,           /* a group name or number; empty: the daemon's own */
};

/* One row per key: it drives the INI parser, the flags, --check-config and
 * --help, so a new setting is one line here plus its field. */
struct conf_key {
	const char *key;
	const char *flag;       /* long option without "--" */
	const char *arg;        /* metavariable for --help */
	enum conf_type type;
	size_t off;
	unsigned min, max;
	int live;               /* changes on SIGHUP */
	const char *help;
};

#define OFF(f) offsetof(struct conf, f)

static const struct conf_key conf_keys[] = {
	{ "agent_socket", "agent-socket", "PATH", CONF_T_SOCKET, OFF(agent_socket), 0, 0, 0,
	  "Unix socket the agents connect to" },
	{ "listen_address", "web.listen-address", "HOST:PORT", CONF_T_ADDR, OFF(listen_address), 0, 0, 0,
	  "HTTP address: A.B.C.D:PORT, [IPv6]:PORT or :PORT" },
	{ "exited_ttl", "exited-ttl", "SECONDS", CONF_T_UINT, OFF(exited_ttl), 0, 86400, 1,
	  "how long an exited process stays visible" },
	{ "log_level", "log-level", "LEVEL", CONF_T_LEVEL, OFF(log_level), 0, 0, 1,
	  "debug, info, warn or error" },
	{ "max_connections", "max-connections", "N", CONF_T_UINT, OFF(max_connections), 1, 1000000, 1,
	  "agent connections at once" },
	{ "max_processes", "max-processes", "N", CONF_T_UINT, OFF(max_processes), 1, 1000000, 1,
	  "processes tracked at once, exited ones included" },
	{ "max_gauges", "max-gauges", "N", CONF_T_UINT, OFF(max_gauges), 0, 4096, 1,
	  "program-set gauges per process" },
	{ "max_message_rate", "max-message-rate", "N", CONF_T_UINT, OFF(max_message_rate), 1, 1000000, 1,
	  "messages per second per agent connection" },
	{ "max_pending_per_uid", "max-pending-per-uid", "N", CONF_T_UINT, OFF(max_pending_per_uid),
	  1, 1000000, 1, "agent connections of one uid that have not said HELLO yet" },
	{ "hello_timeout", "hello-timeout", "SECONDS", CONF_T_UINT, OFF(hello_timeout), 1, 3600, 1,
	  "an agent connection that says no HELLO within this is closed" },
	{ "http_max_connections", "web.max-connections", "N", CONF_T_UINT, OFF(http_max_connections), 1, 65536, 0,
	  "HTTP connections at once" },
	{ "http_max_connections_per_ip", "web.max-connections-per-ip", "N", CONF_T_UINT,
	  OFF(http_max_connections_per_ip), 1, 65536, 0, "HTTP connections at once from one address" },
	{ "http_timeout", "web.timeout", "SECONDS", CONF_T_UINT, OFF(http_timeout), 1, 3600, 0,
	  "idle HTTP connections are closed after this" },
	{ "web_config_file", "web.config.file", "FILE", CONF_T_PATH, OFF(web_config_file), 0, 0, 0,
	  "TLS and basic auth for HTTP (Prometheus exporter-toolkit format)" },
	{ "series", "series", "process|command", CONF_T_SERIES, OFF(series), 0, 0, 1,
	  "per-process series (pid, comm) or sums per command (comm)" },
	{ "history_length", "history-length", "N", CONF_T_UINT, OFF(history_length), 0, 86400, 1,
	  "history points kept per process, about one a second; 0: none" },
	{ "proc_interval", "proc-interval", "SECONDS", CONF_T_UINT, OFF(proc_interval), 0, 3600, 1,
	  "seconds between two reads of /proc for each process; 0: never" },
	{ "profile_top_sites", "profile-top-sites", "N", CONF_T_UINT, OFF(profile_top_sites), 0, 100, 1,
	  "per process, the top N leaf functions by in-use heap as series; 0: none" },
	{ "agent_socket_group", "agent-socket-group", "GROUP", CONF_T_GROUP, OFF(agent_socket_group),
	  0, 0, 0, "group given the agent socket (mode 0660): agents must be in it" },
};

#define CONF_NKEYS (sizeof(conf_keys) / sizeof(conf_keys[0]))

static const struct conf_key *conf_find(const char *key)
{
	for (size_t i = 0; i < CONF_NKEYS; i++)
		if (strcmp(conf_keys[i].key, key) == 0)
			return &conf_keys[i];
	return NULL;
}

const char *conf_key_for_flag(const char *flag)
{
	for (size_t i = 0; i < CONF_NKEYS; i++)
		if (strcmp(conf_keys[i].flag, flag) == 0)
			return conf_keys[i].key;
	return NULL;
}

int conf_init(struct conf *c)
{
	char sock[SOCKPATH_MAX + 1];
	const char *env = getenv("MEMPROBE_SOCKET");

	memset(c, 0, sizeof(*c));
	/* The one failure is a MEMPROBE_SOCKET too long for a socket: kept as
	 * it is, so that binding it says so, unless a flag or the file wins. */
	c->agent_socket = strdup(sockpath_listen_env(sock, sizeof(sock)) == 0 ? sock : env);
	c->listen_address = strdup("127.0.0.1:19556");
	c->web_config_file = strdup("");
	c->agent_socket_group = strdup("");
	c->exited_ttl = 60;
	c->log_level = LOG_LEVEL_INFO;
	c->max_connections = 4096;
	c->max_processes = 10000;
	c->max_gauges = 64;
	c->max_message_rate = 1000;
	c->max_pending_per_uid = 64;
	c->hello_timeout = 5;
	c->http_max_connections = 64;
	c->http_max_connections_per_ip = 16;
	c->http_timeout = 30;
	c->series = CONF_SERIES_PROCESS;
	c->history_length = 300;
	c->proc_interval = 2;
	if (c->agent_socket == NULL || c->listen_address == NULL || c->web_config_file == NULL ||
	    c->agent_socket_group == NULL) {
		conf_free(c);
		return -ENOMEM;
	}
	return 0;
}

void conf_free(struct conf *c)
{
	free(c->agent_socket);
	free(c->listen_address);
	free(c->source);
	free(c->web_config_file);
	free(c->agent_socket_group);
	c->agent_socket = c->listen_address = c->source = c->web_config_file = NULL;
	c->agent_socket_group = NULL;
}

int conf_group_id(const char *name, gid_t *out)
{
	char buf[4096];
	struct group gr, *res = NULL;
	char *end;
	unsigned long n;

	if (name[0] >= '0' && name[0] <= '9') {
		errno = 0;
		n = strtoul(name, &end, 10);
		if (*end != '\0' || errno != 0 || n > 0x7fffffffUL)
			return -EINVAL;
		if (out != NULL)
			*out = (gid_t)n;
		return 0;
	}
	if (getgrnam_r(name, &gr, buf, sizeof(buf), &res) != 0 || res == NULL)
		return -ENOENT;
	if (out != NULL)
		*out = gr.gr_gid;
	return 0;
}

/* Digits only: no sign, no blanks, no base prefix. */
static int conf_parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
	unsigned long long v = 0;

	if (*s == '\0')
		return -EINVAL;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)(*s - '0');
		if (v > max)
			return -EINVAL;
	}
	if (v < min)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

static int conf_set_string(char **field, const char *value)
{
	char *dup = strdup(value);

	if (dup == NULL)
		return -ENOMEM;
	free(*field);
	*field = dup;
	return 0;
}

int conf_set(struct conf *c, const char *key, const char *value, char *err, size_t errsize)
{
	const struct conf_key *k = conf_find(key);
	char *base = (char *)c;
	struct sockaddr_storage ss;
	socklen_t sl;
	char why[256];
	int r;

	if (k == NULL) {
		snprintf(err, errsize, "unknown key");
		return -ENOENT;
	}
	switch (k->type) {
	case CONF_T_SOCKET:
		if (value[0] == '\0' ||
		    strlen(value) >= sizeof(((struct sockaddr_un *)NULL)->sun_path)) {
			snprintf(err, errsize,
			    "invalid value \"%s\": expected a socket path of 1 to %zu bytes",
			    value, sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1);
			return -EINVAL;
		}
		return conf_set_string((char **)(void *)(base + k->off), value) < 0 ? -ENOMEM : 0;
	case CONF_T_ADDR:
		if (addr_parse(value, &ss, &sl, why, sizeof(why)) < 0) {
			snprintf(err, errsize, "invalid value \"%s\": %s", value, why);
			return -EINVAL;
		}
		return conf_set_string((char **)(void *)(base + k->off), value) < 0 ? -ENOMEM : 0;
	case CONF_T_UINT:
		if (conf_parse_uint(value, k->min, k->max, (unsigned *)(void *)(base + k->off)) < 0) {
			snprintf(err, errsize,
			    "invalid value \"%s\": expected an integer from %u to %u",
			    value, k->min, k->max);
			return -EINVAL;
		}
		return 0;
	case CONF_T_LEVEL:
		r = log_level_parse(value);
		if (r < 0) {
			snprintf(err, errsize,
			    "invalid value \"%s\": expected debug, info, warn or error", value);
			return -EINVAL;
		}
		*(int *)(void *)(base + k->off) = r;
		return 0;
	case CONF_T_SERIES:
		if (strcmp(value, "process") == 0) {
			r = CONF_SERIES_PROCESS;
		} else if (strcmp(value, "command") == 0) {
			r = CONF_SERIES_COMMAND;
		} else {
			snprintf(err, errsize,
			    "invalid value \"%s\": expected process or command", value);
			return -EINVAL;
		}
		*(int *)(void *)(base + k->off) = r;
		return 0;
	case CONF_T_GROUP:
		if (value[0] != '\0' && conf_group_id(value, NULL) < 0) {
			snprintf(err, errsize,
			    "invalid value \"%.200s\": no such group (a name or a number)", value);
			return -EINVAL;
		}
		return conf_set_string((char **)(void *)(base + k->off), value) < 0 ? -ENOMEM : 0;
	case CONF_T_PATH:
		if (strlen(value) >= 4096) {
			snprintf(err, errsize, "invalid value: expected a path of at most 4095 bytes");
			return -EINVAL;
		}
		return conf_set_string((char **)(void *)(base + k->off), value) < 0 ? -ENOMEM : 0;
	}
	return -EINVAL;
}

/* State of one conf_load(): the reader counts lines so the handler knows
 * which line it is on, and the first error wins. */
struct conf_parse {
	struct conf *c;
	FILE *f;
	const char *path;
	int line;
	int err_line;           /* 0: no error recorded */
	int err;
	char *msg;
	size_t msgsize;
};

static void conf_parse_error(struct conf_parse *p, int err, const char *msg)
{
	if (p->err_line != 0)
		return;
	p->err_line = p->line;
	p->err = err;
	/* A long path or value is cut; the message still names the line. */
	snprintf(p->msg, p->msgsize, "%s:%d: %s", p->path, p->line, msg);
}

/* fgets for inih that counts lines and turns an over-long line into an error
 * instead of inih's silent truncation. */
static char *conf_reader(char *str, int num, void *stream)
{
	struct conf_parse *p = stream;
	size_t n;
	int ch;

	if (fgets(str, num, p->f) == NULL)
		return NULL;
	p->line++;
	n = strlen(str);
	if (n > 0 && str[n - 1] != '\n' && !feof(p->f)) {
		char msg[128];

		while ((ch = fgetc(p->f)) != EOF && ch != '\n')
			;
		snprintf(msg, sizeof(msg), "line too long (more than %d bytes)", num - 3);
		conf_parse_error(p, -EINVAL, msg);
		strcpy(str, "\n");
	}
	return str;
}

static int conf_handler(void *user, const char *section, const char *name, const char *value)
{
	struct conf_parse *p = user;
	char err[CONF_ERR_MAX];
	char msg[CONF_ERR_MAX + 64];
	int r;

	if (section[0] == '\0') {
		snprintf(msg, sizeof(msg), "%s: key outside the [%s] section", name, CONF_SECTION);
		conf_parse_error(p, -EINVAL, msg);
		return 0;
	}
	if (strcmp(section, CONF_SECTION) != 0) {
		snprintf(msg, sizeof(msg), "%s: unknown section [%s] (expected [%s])",
		    name, section, CONF_SECTION);
		conf_parse_error(p, -EINVAL, msg);
		return 0;
	}
	r = conf_set(p->c, name, value, err, sizeof(err));
	if (r < 0) {
		if (r == -ENOENT)
			snprintf(msg, sizeof(msg), "%s: unknown key in [%s]", name, CONF_SECTION);
		else
			snprintf(msg, sizeof(msg), "%s: %s", name, err);
		conf_parse_error(p, r == -ENOMEM ? -ENOMEM : -EINVAL, msg);
		return 0;
	}
	return 1;
}

int conf_load(struct conf *c, const char *path, char *err, size_t errsize)
{
	struct conf_parse p = { .c = c, .path = path, .msg = err, .msgsize = errsize };
	int r;

	/* A continuation line would silently replace a value; a key per line. */
	ini_allow_multiline = false;
	p.f = fopen(path, "re");
	if (p.f == NULL) {
		r = -errno;
		snprintf(err, errsize, "%s: cannot open: %s", path, strerror(-r));
		return r;
	}
	r = ini_parse_stream(conf_reader, &p, conf_handler, &p);
	if (ferror(p.f)) {
		snprintf(err, errsize, "%s: read error", path);
		r = -EIO;
		goto fail;
	}
	if (r == -2) {
		r = -ENOMEM;
		snprintf(err, errsize, "%s: out of memory", path);
		goto fail;
	}
	/* inih reports the first failing line, ours or a syntax error. */
	if (r > 0 && (p.err_line == 0 || r < p.err_line)) {
		snprintf(err, errsize, "%s:%d: syntax error: expected [section], key = value or a comment",
		    path, r);
		r = -EINVAL;
		goto fail;
	}
	if (p.err_line != 0) {
		r = p.err;
		goto fail;
	}
	free(c->source);
	c->source = strdup(path);
	fclose(p.f);
	return c->source == NULL ? -ENOMEM : 0;
fail:
	fclose(p.f);
	return r;
}

static const char *conf_series_name(int series)
{
	return series == CONF_SERIES_COMMAND ? "command" : "process";
}

void conf_value(const struct conf *c, size_t i, char *buf, size_t size)
{
	const struct conf_key *k = &conf_keys[i];
	const void *field = (const char *)c + k->off;

	switch (k->type) {
	case CONF_T_SOCKET:
	case CONF_T_ADDR:
	case CONF_T_PATH:
	case CONF_T_GROUP:
		snprintf(buf, size, "%s", *(char *const *)field);
		break;
	case CONF_T_UINT:
		snprintf(buf, size, "%u", *(const unsigned *)field);
		break;
	case CONF_T_LEVEL:
		snprintf(buf, size, "%s", log_level_name((enum log_level)*(const int *)field));
		break;
	case CONF_T_SERIES:
		snprintf(buf, size, "%s", conf_series_name(*(const int *)field));
		break;
	}
}

void conf_print(const struct conf *c, FILE *f)
{
	char v[4096];

	fprintf(f, "; memprobed effective configuration (file: %s)\n[%s]\n",
	    c->source != NULL ? c->source : "none, defaults", CONF_SECTION);
	for (size_t i = 0; i < CONF_NKEYS; i++) {
		conf_value(c, i, v, sizeof(v));
		fprintf(f, "%s = %s\n", conf_keys[i].key, v);
	}
}

void conf_print_flags(FILE *f)
{
	struct conf d;
	char v[4096];

	if (conf_init(&d) < 0)
		return;
	for (size_t i = 0; i < CONF_NKEYS; i++) {
		const struct conf_key *k = &conf_keys[i];
		char opt[80];

		snprintf(opt, sizeof(opt), "--%s %s", k->flag, k->arg);
		conf_value(&d, i, v, sizeof(v));
		fprintf(f, "  %-36s %s\n  %-36s (key %s, default %s%s)\n", opt, k->help, "",
		    k->key, v[0] != '\0' ? v : "none", k->live ? "; SIGHUP reloads it" : "");
	}
	conf_free(&d);
}

size_t conf_nkeys(void)
{
	return CONF_NKEYS;
}

const char *conf_key_name(size_t i)
{
	return i < CONF_NKEYS ? conf_keys[i].key : NULL;
}

const char *conf_key_flag(size_t i)
{
	return i < CONF_NKEYS ? conf_keys[i].flag : NULL;
}

int conf_key_live(size_t i)
{
	return i < CONF_NKEYS && conf_keys[i].live;
}

int conf_copy(struct conf *dst, const struct conf *src)
{
	*dst = *src;
	dst->agent_socket = strdup(src->agent_socket);
	dst->listen_address = strdup(src->listen_address);
	dst->source = src->source != NULL ? strdup(src->source) : NULL;
	dst->web_config_file = strdup(src->web_config_file);
	dst->agent_socket_group = strdup(src->agent_socket_group);
	if (dst->agent_socket == NULL || dst->listen_address == NULL || dst->web_config_file == NULL ||
	    dst->agent_socket_group == NULL ||
	    (src->source != NULL && dst->source == NULL)) {
		conf_free(dst);
		return -ENOMEM;
	}
	return 0;
}
