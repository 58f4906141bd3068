/* http.c: the HTTP server (libmicrohttpd): /metrics, /api/v1/..., /healthz. */
#include "http.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "api.h"
#include "buf.h"
#include "clock.h"
#include "expo.h"
#include "log.h"
#include "procfs.h"

#define HTTP_JSON "application/json"
#define HTTP_ALLOW "GET, HEAD"

struct http {
	struct MHD_Daemon *mhd;
	int fd;                         /* ours until MHD_start_daemon() takes it */
	struct http_sources src;
	char address[INET6_ADDRSTRLEN + 16];
	uint64_t last_scrape_ns;        /* atomic: duration of the previous scrape */
};

/* A response body: text we built, handed to MHD with free() as its release. */
struct http_body {
	char *data;
	size_t len;
	const char *type;
	unsigned status;
};

static enum MHD_Result http_send(struct MHD_Connection *conn, struct http_body *b, int allow)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer_with_free_callback(b->len, b->data, &free);
	if (resp == NULL) {
		free(b->data);
		return MHD_NO;
	}
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, b->type) != MHD_YES ||
	    (allow && MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, HTTP_ALLOW) != MHD_YES)) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	ret = MHD_queue_response(conn, b->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* Sets *b to a JSON error; on ENOMEM to a fixed one. */
static void http_error(struct http_body *b, unsigned status, const char *msg)
{
	b->type = HTTP_JSON;
	b->status = status;
	if (api_error(msg, &b->data, &b->len) < 0) {
		b->data = strdup("{\"error\":\"out of memory\"}");
		b->len = b->data != NULL ? strlen(b->data) : 0;
		b->status = MHD_HTTP_SERVICE_UNAVAILABLE;
	}
}

static int http_metrics(struct http *h, struct http_body *b)
{
	struct buf out = BUF_INIT;
	struct expo_daemon d;
	struct procfs_self self;
	struct ptab_snap *snap;
	double t0 = clock_mono();
	int r;

	r = ptab_snapshot(h->src.pt, t0, &snap);
	if (r < 0)
		return r;
	memset(&d, 0, sizeof(d));
	ingest_stats(h->src.ing, &d.ingest);
	d.scrape_duration_seconds =
	    (double)__atomic_load_n(&h->last_scrape_ns, __ATOMIC_RELAXED) / 1e9;
	d.self = procfs_self(&self) == 0 ? &self : NULL;
	r = expo_render(&out, EXPO_TEXT_004, snap, &d);
	ptab_snap_free(snap);
	if (r < 0) {
		buf_free(&out);
		return r;
	}
	b->data = buf_steal(&out, &b->len);
	b->type = EXPO_CONTENT_TYPE_TEXT;
	b->status = MHD_HTTP_OK;
	__atomic_store_n(&h->last_scrape_ns, (uint64_t)((clock_mono() - t0) * 1e9),
	    __ATOMIC_RELAXED);
	return 0;
}

/* Parses the {pid} of /api/v1/processes/{pid}: decimal, 1..INT_MAX. */
static int http_parse_pid(const char *s, pid_t *out)
{
	long v = 0;

	if (*s == '\0' || *s == '0')
		return -EINVAL;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (*s - '0');
		if (v > 0x7fffffffL)
			return -EINVAL;
	}
	*out = (pid_t)v;
	return 0;
}

static int http_api(struct http *h, const char *rest, struct http_body *b)
{
	struct ptab_snap *snap;
	pid_t pid = 0;
	int r;

	if (rest != NULL && http_parse_pid(rest, &pid) < 0) {
		http_error(b, MHD_HTTP_BAD_REQUEST, "bad pid: expected a positive decimal integer");
		return 0;
	}
	r = ptab_snapshot(h->src.pt, clock_mono(), &snap);
	if (r < 0)
		return r;
	r = rest == NULL ? api_processes(snap, &b->data, &b->len) :
	    api_process(snap, pid, &b->data, &b->len);
	ptab_snap_free(snap);
	if (r == -ENOENT) {
		char msg[64];

		snprintf(msg, sizeof(msg), "no tracked process with pid %d", (int)pid);
		http_error(b, MHD_HTTP_NOT_FOUND, msg);
		return 0;
	}
	if (r < 0)
		return r;
	b->type = HTTP_JSON;
	b->status = MHD_HTTP_OK;
	return 0;
}

enum http_route {
	HTTP_R_NONE,
	HTTP_R_METRICS,
	HTTP_R_PROCESSES,
	HTTP_R_PROCESS,
	HTTP_R_HEALTHZ,
};

#define API_PROCESSES "/api/v1/processes"

static enum http_route http_route(const char *url, const char **rest)
{
	size_t n = strlen(API_PROCESSES);

	*rest = NULL;
	if (strcmp(url, "/metrics") == 0)
		return HTTP_R_METRICS;
	if (strcmp(url, "/healthz") == 0)
		return HTTP_R_HEALTHZ;
	if (strcmp(url, API_PROCESSES) == 0)
		return HTTP_R_PROCESSES;
	if (strncmp(url, API_PROCESSES "/", n + 1) == 0 && strchr(url + n + 1, '/') == NULL) {
		*rest = url + n + 1;
		return HTTP_R_PROCESS;
	}
	return HTTP_R_NONE;
}

static enum MHD_Result http_access(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **req_cls)
{
	static int headers_seen;
	struct http *h = cls;
	struct http_body b = { NULL, 0, "text/plain; charset=utf-8", MHD_HTTP_OK };
	enum http_route route;
	const char *rest;
	int r = 0;

	(void)version;
	(void)upload_data;
	/* The first call brings the headers only; answer on the next. */
	if (*req_cls == NULL) {
		*req_cls = &headers_seen;
		return MHD_YES;
	}
	if (*upload_data_size != 0) {
		*upload_data_size = 0;  /* no route takes a body: discard it */
		return MHD_YES;
	}

	route = http_route(url, &rest);
	if (route == HTTP_R_NONE) {
		http_error(&b, MHD_HTTP_NOT_FOUND, "not found");
	} else if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
		http_error(&b, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed: use GET or HEAD");
		return b.data != NULL ? http_send(conn, &b, 1) : MHD_NO;
	} else {
		switch (route) {
		case HTTP_R_METRICS:
			r = http_metrics(h, &b);
			break;
		case HTTP_R_PROCESSES:
			r = http_api(h, NULL, &b);
			break;
		case HTTP_R_PROCESS:
			r = http_api(h, rest, &b);
			break;
		case HTTP_R_HEALTHZ:
			b.data = strdup("ok\n");
			b.len = 3;
			r = b.data != NULL ? 0 : -ENOMEM;
			break;
		case HTTP_R_NONE:
			break;
		}
		if (r < 0) {
			log_ratelimited("http", "http %s %s: %s", method, url, strerror(-r));
			http_error(&b, MHD_HTTP_SERVICE_UNAVAILABLE, strerror(-r));
		}
	}
	if (b.data == NULL)
		return MHD_NO;          /* out of memory: MHD closes the connection */
	return http_send(conn, &b, 0);
}

static void http_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	/* Clients trigger most of these (resets, timeouts): rate-limited. */
	log_ratelimited("http", "http: %s", msg);
}

static int http_bind(struct http *h, const char *where, char *err, size_t errsize)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char why[256];
	int one = 1, zero = 0, r;

	if (addr_parse(where, &ss, &sl, why, sizeof(why)) < 0) {
		snprintf(err, errsize, "--web.listen-address %s: %s", where, why);
		return -EINVAL;
	}
	h->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (h->fd < 0) {
		r = -errno;
		snprintf(err, errsize, "--web.listen-address %s: socket: %s", where, strerror(-r));
		return r;
	}
	/* Restarts must not wait out TIME_WAIT; a live listener still gets
	 * EADDRINUSE. */
	setsockopt(h->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(h->fd, IPPROTO_IPV6, IPV6_V6ONLY,
		    memcmp(&((struct sockaddr_in6 *)&ss)->sin6_addr, &in6addr_any,
		    sizeof(in6addr_any)) == 0 ? &zero : &one, sizeof(int));
	if (bind(h->fd, (struct sockaddr *)&ss, sl) < 0 || listen(h->fd, 64) < 0) {
		r = -errno;
		snprintf(err, errsize, "--web.listen-address %s: bind: %s", where, strerror(-r));
		return r;
	}
	sl = sizeof(ss);
	if (getsockname(h->fd, (struct sockaddr *)&ss, &sl) == 0)
		addr_format((struct sockaddr *)&ss, h->address, sizeof(h->address));
	else
		snprintf(h->address, sizeof(h->address), "%s", where);
	return 0;
}

int http_start(struct http **out, const struct http_conf *conf, const struct http_sources *src,
    char *err, size_t errsize)
{
	struct http *h = calloc(1, sizeof(*h));
	int r;

	if (h == NULL) {
		snprintf(err, errsize, "http: out of memory");
		return -ENOMEM;
	}
	h->fd = -1;
	h->src = *src;
	r = http_bind(h, conf->listen_address, err, errsize);
	if (r < 0)
		goto fail;
	h->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
	    MHD_USE_ITC | MHD_USE_ERROR_LOG,
	    0, NULL, NULL, &http_access, h,
	    MHD_OPTION_EXTERNAL_LOGGER, &http_log, NULL,        /* first, to catch all */
	    MHD_OPTION_LISTEN_SOCKET, h->fd,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)conf->max_connections,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)conf->max_connections_per_ip,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)conf->timeout,
	    MHD_OPTION_END);
	if (h->mhd == NULL) {
		snprintf(err, errsize, "--web.listen-address %s: cannot start the HTTP server",
		    conf->listen_address);
		/* Whether MHD closed the socket on failure varies; no other
		 * thread runs yet, so asking is safe. */
		if (fcntl(h->fd, F_GETFD) < 0)
			h->fd = -1;
		r = -EIO;
		goto fail;
	}
	*out = h;
	return 0;
fail:
	if (h->fd >= 0)
		close(h->fd);
	free(h);
	return r;
}

const char *http_address(const struct http *h)
{
	return h->address;
}

void http_stop(struct http *h)
{
	if (h == NULL)
		return;
	/* MHD closes the listening socket it was given, too. */
	MHD_stop_daemon(h->mhd);
	free(h);
}
