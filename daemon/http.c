/* http.c: the HTTP server (libmicrohttpd): /metrics, /api/v1/..., /healthz, the live page. */
#include "http.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "addr.h"
#include "api.h"
#include "buf.h"
#include "clock.h"
#include "conneg.h"
#include "expo.h"
#include "heappprof.h"
#include "heapprof.h"
#include "log.h"
#include "page.h"
#include "route.h"
#include "procfs.h"
#include "profsym.h"
#include "sites.h"
#include "symbolize.h"
#include "webauth.h"

#define HTTP_JSON "application/json"
#define HTTP_HTML "text/html; charset=utf-8"
#define HTTP_ALLOW "GET, HEAD"
/* Scrapes are built in these threads; two cores, two threads. */
#define HTTP_THREADS 2
/* How long a stop waits for requests in flight. */
#define HTTP_DRAIN_SECONDS 5.0

struct http {
	struct MHD_Daemon *mhd;
	int fd;                         /* ours until MHD_start_daemon() takes it */
	struct http_sources src;
	char address[INET6_ADDRSTRLEN + 16];
	uint64_t last_scrape_ns;        /* atomic: duration of the previous scrape */
	size_t last_metrics_len;        /* atomic: size of the previous /metrics body */
	unsigned inflight;              /* atomic: requests begun, not completed */
	double started_mono, started_wall;
	pthread_mutex_t lock;           /* guards set and spare */
	struct http_settings set;
	/* A /metrics body buffer kept for the next scrape (owned; NULL when
	 * none): writing 24 MB into new memory costs a page fault every
	 * 4 KiB, about half the time of writing it (20 ms against 10 ms).
	 * One at most; it stays resident between scrapes. */
	char *spare;
	size_t spare_cap;
	struct webauth *auth;           /* not owned; NULL: open to all */
	struct sym_cache *sym;          /* owned: the daemon's one symbol cache */
};

/* A response body: text we built, handed to MHD, which releases it. */
struct http_body {
	char *data;
	size_t len;
	size_t cap;                     /* > 0: a buffer of cap bytes to keep as the spare */
	const char *type;
	unsigned status;
	int gzip;                       /* data is gzip-compressed */
	int vary;                       /* add Vary: Accept, Accept-Encoding */
	char disposition[64];           /* Content-Disposition, when not "" */
};

/* Keeps a body buffer of cap bytes as the spare, or frees it when the
 * spare held is larger. Takes ownership of data. */
static void http_spare_put(struct http *h, char *data, size_t cap)
{
	pthread_mutex_lock(&h->lock);
	if (h->spare == NULL || cap > h->spare_cap) {
		char *old = h->spare;

		h->spare = data;
		h->spare_cap = cap;
		data = old;
	}
	pthread_mutex_unlock(&h->lock);
	free(data);
}

/* Moves the spare into the empty buffer b, unless it is far larger than
 * the `want` bytes expected (the table shrank): then it is freed. */
static void http_spare_get(struct http *h, struct buf *b, size_t want)
{
	char *data;
	size_t cap;

	pthread_mutex_lock(&h->lock);
	data = h->spare;
	cap = h->spare_cap;
	h->spare = NULL;
	h->spare_cap = 0;
	pthread_mutex_unlock(&h->lock);
	if (data == NULL)
		return;
	if (cap / 4 > want + (1u << 20)) {
		free(data);
		return;
	}
	/* struct buf is plain data: the buffer becomes its storage. */
	b->data = data;
	b->cap = cap;
	b->len = 0;
}

/* MHD's release of a kept body (the _cls form of the free callback is
 * libmicrohttpd 0.9.73 and later): see http_send(). */
struct http_keep {
	struct http *h;
	char *data;
	size_t cap;
};

static void http_keep_release(void *cls)
{
	struct http_keep *k = cls;

	http_spare_put(k->h, k->data, k->cap);
	free(k);
}

static enum MHD_Result http_send(struct http *h, struct MHD_Connection *conn,
    struct http_body *b, int allow)
{
	struct MHD_Response *resp = NULL;
	enum MHD_Result ret;
	struct http_keep *k = b->cap > 0 ? malloc(sizeof(*k)) : NULL;

	if (k != NULL) {
		k->h = h;
		k->data = b->data;
		k->cap = b->cap;
		resp = MHD_create_response_from_buffer_with_free_callback_cls(b->len, b->data,
		    &http_keep_release, k);
		if (resp == NULL)
			free(k);
	} else {
		resp = MHD_create_response_from_buffer_with_free_callback(b->len, b->data, &free);
	}
	if (resp == NULL) {
		free(b->data);
		return MHD_NO;
	}
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, b->type) != MHD_YES ||
	    (allow && MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, HTTP_ALLOW) != MHD_YES) ||
	    (b->gzip && MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING,
	    "gzip") != MHD_YES) ||
	    (b->vary && MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY,
	    "Accept, Accept-Encoding") != MHD_YES) ||
	    (b->disposition[0] != '\0' && MHD_add_response_header(resp,
	    MHD_HTTP_HEADER_CONTENT_DISPOSITION, b->disposition) != MHD_YES)) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	ret = MHD_queue_response(conn, b->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* Replaces b->data with its gzip form (fastest level: a scrape of
 * thousands of processes is tens of megabytes). Returns 0 or -ENOMEM;
 * b is unchanged on failure. */
static int http_gzip(struct http *h, struct http_body *b)
{
	z_stream z;
	uLong bound;
	unsigned char *out;
	int r;

	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	bound = deflateBound(&z, (uLong)b->len);
	out = malloc(bound);
	if (out == NULL) {
		deflateEnd(&z);
		return -ENOMEM;
	}
	z.next_in = (unsigned char *)b->data;
	z.avail_in = (uInt)b->len;
	z.next_out = out;
	z.avail_out = (uInt)bound;
	r = deflate(&z, Z_FINISH);
	deflateEnd(&z);
	if (r != Z_STREAM_END) {
		free(out);
		return -ENOMEM;
	}
	if (b->cap > 0)
		http_spare_put(h, b->data, b->cap);
	else
		free(b->data);
	b->data = (char *)out;
	b->len = z.total_out;
	b->cap = 0;
	b->gzip = 1;
	return 0;
}

static void http_settings_get(struct http *h, struct http_settings *out)
{
	pthread_mutex_lock(&h->lock);
	*out = h->set;
	pthread_mutex_unlock(&h->lock);
}

void http_set_settings(struct http *h, const struct http_settings *set)
{
	pthread_mutex_lock(&h->lock);
	h->set = *set;
	pthread_mutex_unlock(&h->lock);
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

/* The site series of every process with a profile: its top n leaf
 * functions. What *d points to lives in *keep until http_sites_free(). */
struct http_site_series {
	struct ptab_profile *pp;
	size_t npp;
	struct sites_leaf *leaves;
	struct expo_site *sites;
};

static void http_sites_free(struct http_site_series *k)
{
	ptab_profiles_free(k->pp, k->npp);
	free(k->leaves);
	free(k->sites);
}

static int http_site_series(struct http *h, unsigned n, struct expo_daemon *d,
    struct http_site_series *k)
{
	size_t ns = 0;

	memset(k, 0, sizeof(*k));
	if (ptab_profiles(h->src.pt, &k->pp, &k->npp) < 0)
		return -ENOMEM;
	k->leaves = calloc(k->npp * n + 1, sizeof(*k->leaves));
	k->sites = calloc(k->npp * n + 1, sizeof(*k->sites));
	if (k->leaves == NULL || k->sites == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < k->npp; i++) {
		const struct ptab_profile *pp = &k->pp[i];
		struct sites_leaf *lv = k->leaves + i * n;
		struct profsym_set set;
		int m;

		/* The leaf of each stack (and its innermost Python frame) is
		 * all a series needs; symbols are cached, so a scrape looks up
		 * what it symbolized before. */
		m = profsym_set_build(pp->syms, h->sym, pp->exited ? 0 : pp->pid, pp->hp, 1, &set);
		if (m == 0)
			m = sites_top_leaves(pp, &set, lv, n);
		profsym_set_free(&set);
		if (m < 0)
			return m;
		for (int j = 0; j < m; j++, ns++) {
			k->sites[ns].pid = (int)pp->pid;
			k->sites[ns].comm = pp->comm;
			k->sites[ns].site = lv[j].name;
			k->sites[ns].inuse_bytes = lv[j].inuse_bytes;
		}
	}
	d->sites = k->sites;
	d->nsites = ns;
	return 0;
}

static int http_metrics(struct http *h, struct MHD_Connection *conn, struct http_body *b)
{
	struct http_site_series keep;
	size_t pbytes, pkept;
	struct buf out = BUF_INIT;
	struct expo_daemon d;
	struct procfs_self self;
	struct ptab_snap *snap;
	struct http_settings set;
	enum conneg_format f;
	double t0 = clock_mono();
	uint64_t nproc;
	size_t nlast;
	int r;

	f = conneg_format(MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_ACCEPT));
	http_settings_get(h, &set);
	r = ptab_snapshot(h->src.pt, t0, &snap);
	if (r < 0)
		return r;
	memset(&d, 0, sizeof(d));
	ingest_stats(h->src.ing, &d.ingest);
	d.scrape_duration_seconds =
	    (double)__atomic_load_n(&h->last_scrape_ns, __ATOMIC_RELAXED) / 1e9;
	if (h->src.refresh != NULL)
		refresh_last(h->src.refresh, &d.procfs_seconds, &nproc);
	d.max_connections = set.max_connections;
	d.by_command = set.by_command;
	d.self = procfs_self(&self) == 0 ? &self : NULL;
	ptab_profile_memory(h->src.pt, &pbytes, &pkept);
	d.profile_bytes = pbytes;
	d.profiles_kept = pkept;
	memset(&keep, 0, sizeof(keep));
	/* Per-pid series only: summed per command they would mean little. */
	if (set.profile_top_sites > 0 && !set.by_command &&
	    http_site_series(h, set.profile_top_sites, &d, &keep) < 0) {
		http_sites_free(&keep);
		ptab_snap_free(snap);
		return -ENOMEM;
	}
	/* Room for the previous body and a little more, so the body is
	 * written once, not copied at every doubling. */
	nlast = __atomic_load_n(&h->last_metrics_len, __ATOMIC_RELAXED);
	http_spare_get(h, &out, nlast);
	if (nlast > 0)
		buf_reserve(&out, nlast + nlast / 16);
	r = expo_render(&out, f == CONNEG_TEXT_004 ? EXPO_TEXT_004 : EXPO_OPENMETRICS, snap, &d);
	ptab_snap_free(snap);
	http_sites_free(&keep);
	if (r < 0) {
		buf_free(&out);
		return r;
	}
	b->cap = out.cap;
	b->data = buf_steal(&out, &b->len);
	__atomic_store_n(&h->last_metrics_len, b->len, __ATOMIC_RELAXED);
	b->type = f == CONNEG_TEXT_004 ? EXPO_CONTENT_TYPE_TEXT :
	    f == CONNEG_OPENMETRICS_001 ? EXPO_CONTENT_TYPE_OM001 : EXPO_CONTENT_TYPE_OM;
	b->status = MHD_HTTP_OK;
	b->vary = 1;
	if (conneg_gzip(MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_ACCEPT_ENCODING)) && http_gzip(h, b) < 0) {
		free(b->data);
		b->data = NULL;
		return -ENOMEM;
	}
	__atomic_store_n(&h->last_scrape_ns, (uint64_t)((clock_mono() - t0) * 1e9),
	    __ATOMIC_RELAXED);
	return 0;
}

/* /api/v1/processes/{pid}/history, pid already parsed by the router. */
static int http_history(struct http *h, pid_t pid, struct http_body *b)
{
	struct ptab_hist *hist;
	int r;

	r = ptab_history(h->src.pt, pid, &hist);
	if (r == -ENOENT) {
		char msg[64];

		snprintf(msg, sizeof(msg), "no tracked process with pid %d", (int)pid);
		http_error(b, MHD_HTTP_NOT_FOUND, msg);
		return 0;
	}
	if (r < 0)
		return r;
	r = api_history(hist, clock_mono(), clock_real(), &b->data, &b->len);
	free(hist);
	if (r < 0)
		return r;
	b->type = HTTP_JSON;
	b->status = MHD_HTTP_OK;
	return 0;
}

static int http_status(struct http *h, struct http_body *b)
{
	struct api_status st;
	struct ingest_stats is;
	struct http_settings set;
	struct ptab_snap *snap;
	double now = clock_mono();
	uint64_t nproc;
	int r;

	http_settings_get(h, &set);
	r = ptab_snapshot(h->src.pt, now, &snap);
	if (r < 0)
		return r;
	ingest_stats(h->src.ing, &is);
	memset(&st, 0, sizeof(st));
	st.version = MEMPROBE_VERSION;
	st.uptime_seconds = now - h->started_mono;
	st.started_at = h->started_wall;
	st.processes_tracked = snap->n;
	st.processes_live = snap->live;
	st.processes_refused = snap->processes_refused;
	st.gauges_dropped = snap->gauges_dropped;
	ptab_snap_free(snap);
	st.agents_connected = is.agents_connected;
	st.connections_open = is.connections_open;
	st.connections_refused = is.connections_refused;
	for (unsigned t = 0; t < INGEST_NTYPES; t++)
		st.messages_received += is.received[t];
	for (unsigned i = 0; i < INGEST_R__COUNT; i++)
		st.messages_rejected += is.rejected[i];
	st.table_bytes = ptab_memory(h->src.pt);
	{
		size_t pbytes, pkept;

		ptab_profile_memory(h->src.pt, &pbytes, &pkept);
		st.profile_bytes = pbytes;
		st.profiles_kept = pkept;
	}
	if (h->src.refresh != NULL)
		refresh_last(h->src.refresh, &st.procfs_seconds, &nproc);
	st.series = set.by_command ? "command" : "process";
	st.exited_ttl = set.exited_ttl;
	st.history_length = set.history_length;
	st.proc_interval = set.proc_interval;
	st.max_connections = set.max_connections;
	st.max_processes = set.max_processes;
	st.max_gauges = set.max_gauges;
	st.max_message_rate = set.max_message_rate;
	st.http_max_connections = set.http_max_connections;
	st.http_max_connections_per_ip = set.http_max_connections_per_ip;
	st.http_timeout = set.http_timeout;
	r = api_status(&st, &b->data, &b->len);
	if (r < 0)
		return r;
	b->type = HTTP_JSON;
	b->status = MHD_HTTP_OK;
	return 0;
}

/* /api/v1/processes (pid 0) or /api/v1/processes/{pid}. */
static int http_api(struct http *h, pid_t pid, struct http_body *b)
{
	struct ptab_snap *snap;
	int r;

	r = ptab_snapshot(h->src.pt, clock_mono(), &snap);
	if (r < 0)
		return r;
	r = pid == 0 ? api_processes(snap, &b->data, &b->len) :
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


/* ---- heap profiles ---- */

/*
 * The profile of pid with its addresses symbolized, into *pp and *set
 * (the caller releases both when 1 is returned). A process unknown or
 * without a profile is a 404 in b, and 0 is returned; -errno on failure.
 */
static int http_profile_get(struct http *h, pid_t pid, struct http_body *b, int leaves_only,
    struct ptab_profile *pp, struct profsym_set *set)
{
	char msg[160];
	int r;

	r = ptab_profile(h->src.pt, pid, pp);
	if (r == -ENOENT || r == -ENODATA || r == -EINVAL) {
		if (r == -ENOENT)
			snprintf(msg, sizeof(msg), "no tracked process with pid %d", (int)pid);
		else if (r == -ENODATA)
			snprintf(msg, sizeof(msg), "process %d has no heap profile: profiling is off "
			    "for it (MEMPROBE_PROFILE_RATE=0, or an agent without profiling)", (int)pid);
		else
			snprintf(msg, sizeof(msg), "process %d: its agent's profile area is malformed",
			    (int)pid);
		http_error(b, MHD_HTTP_NOT_FOUND, msg);
		return 0;
	}
	if (r < 0)
		return r;
	/* A process that is gone has no map_files: its files are read by path. */
	r = profsym_set_build(pp->syms, h->sym, pp->exited ? 0 : pp->pid, pp->hp, leaves_only, set);
	if (r < 0) {
		profsym_set_free(set);
		ptab_profile_release(pp);
		return r;
	}
	return 1;
}

/* /api/v1/processes/{pid}/profile and /api/v1/profile?pid=N: gzipped pprof. */
static int http_profile(struct http *h, pid_t pid, struct http_body *b)
{
	struct ptab_profile pp;
	struct profsym_set set;
	unsigned char *data;
	int r;

	if ((r = http_profile_get(h, pid, b, 0, &pp, &set)) <= 0)
		return r;
	r = heappprof_build(&pp, &set, (int64_t)(clock_real() * 1e9), &data, &b->len);
	profsym_set_free(&set);
	ptab_profile_release(&pp);
	if (r < 0)
		return r;
	b->data = (char *)data;
	b->type = "application/octet-stream";
	b->status = MHD_HTTP_OK;
	snprintf(b->disposition, sizeof(b->disposition), "attachment; filename=\"heap-%d.pb.gz\"",
	    (int)pid);
	return 0;
}

/* The pid of /api/v1/profile?pid=N, or a 400 in b (0 returned). */
static int http_query_pid(struct MHD_Connection *conn, struct http_body *b, pid_t *pid)
{
	const char *s = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "pid");

	if (s == NULL || route_parse_pid(s, strlen(s), pid) < 0) {
		http_error(b, MHD_HTTP_BAD_REQUEST, "bad pid: expected ?pid= a positive decimal integer");
		return 0;
	}
	return 1;
}

/* ?top=N&order=inuse|alloc of /sites, or a 400 in b (0 returned). */
static int http_sites_args(struct MHD_Connection *conn, struct http_body *b, unsigned *top,
    enum sites_order *order)
{
	const char *t = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "top");
	const char *o = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "order");
	pid_t n;

	*top = SITES_TOP_DEFAULT;
	*order = SITES_INUSE;
	/* route_parse_pid() reads a positive decimal without sign or
	 * leading zero, which is what a count is too. */
	if (t != NULL && (route_parse_pid(t, strlen(t), &n) < 0 || n > SITES_TOP_MAX)) {
		http_error(b, MHD_HTTP_BAD_REQUEST, "bad top: expected an integer from 1 to 65536");
		return 0;
	}
	if (t != NULL)
		*top = (unsigned)n;
	if (o != NULL && strcmp(o, "inuse") != 0 && strcmp(o, "alloc") != 0) {
		http_error(b, MHD_HTTP_BAD_REQUEST, "bad order: expected inuse or alloc");
		return 0;
	}
	if (o != NULL && strcmp(o, "alloc") == 0)
		*order = SITES_ALLOC;
	return 1;
}

/* /api/v1/processes/{pid}/sites: the top call sites as JSON. */
static int http_sites(struct http *h, struct MHD_Connection *conn, pid_t pid,
    struct http_body *b)
{
	struct ptab_profile pp;
	struct profsym_set set;
	enum sites_order order;
	unsigned top;
	int r;

	if (!http_sites_args(conn, b, &top, &order))
		return 0;
	if ((r = http_profile_get(h, pid, b, 0, &pp, &set)) <= 0)
		return r;
	r = sites_json(&pp, &set, top, order, &b->data, &b->len);
	profsym_set_free(&set);
	ptab_profile_release(&pp);
	if (r < 0)
		return r;
	b->type = HTTP_JSON;
	b->status = MHD_HTTP_OK;
	return 0;
}

static enum MHD_Result http_access(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **req_cls)
{
	static int headers_seen;
	struct http *h = cls;
	struct http_body b = { NULL, 0, 0, "text/plain; charset=utf-8", MHD_HTTP_OK, 0, 0, "" };
	enum route route;
	pid_t pid;
	int pid_ok, r = 0;

	(void)version;
	(void)upload_data;
	/* The first call brings the headers only; answer on the next. */
	if (*req_cls == NULL) {
		*req_cls = &headers_seen;
		__atomic_fetch_add(&h->inflight, 1, __ATOMIC_RELAXED);
		return MHD_YES;
	}
	if (*upload_data_size != 0) {
		*upload_data_size = 0;  /* no route takes a body: discard it */
		return MHD_YES;
	}

	/* Every path is protected, /healthz too, as in exporter-toolkit;
	 * unknown paths too, so that they tell nothing; auth_excluded_paths
	 * skip basic auth only. */
	if (h->auth != NULL) {
		char why[256], esc[256];
		enum webauth_verdict v = webauth_check(h->auth, conn, url, why, sizeof(why));

		if (v != WEBAUTH_OK) {
			/* A client's first request without credentials is routine. */
			if (v == WEBAUTH_NO_CREDENTIALS)
				log_debug("http %s %s: %s", method, log_escape(url, esc, sizeof(esc)), why);
			else
				log_ratelimited("auth", "http %s %s: %s", method,
				    log_escape(url, esc, sizeof(esc)), why);
			return webauth_respond(conn, v);
		}
	}
	route = route_match(url, &pid, &pid_ok);
	if (route == ROUTE_NONE) {
		http_error(&b, MHD_HTTP_NOT_FOUND, "not found");
	} else if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
		http_error(&b, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed: use GET or HEAD");
		return b.data != NULL ? http_send(h, conn, &b, 1) : MHD_NO;
	} else if ((route == ROUTE_PROCESS || route == ROUTE_HISTORY || route == ROUTE_PROFILE ||
	    route == ROUTE_SITES) && !pid_ok) {
		http_error(&b, MHD_HTTP_BAD_REQUEST, "bad pid: expected a positive decimal integer");
	} else {
		switch (route) {
		case ROUTE_METRICS:
			r = http_metrics(h, conn, &b);
			break;
		case ROUTE_HISTORY:
			r = http_history(h, pid, &b);
			break;
		case ROUTE_PROFILE:
			r = http_profile(h, pid, &b);
			break;
		case ROUTE_PROFILE_QUERY:
			r = http_query_pid(conn, &b, &pid) ? http_profile(h, pid, &b) : 0;
			break;
		case ROUTE_SITES:
			r = http_sites(h, conn, pid, &b);
			break;
		case ROUTE_STATUS:
			r = http_status(h, &b);
			break;
		case ROUTE_PAGE:
			return page_respond(conn, url) ? MHD_YES : MHD_NO;
		case ROUTE_PROCESSES:
			r = http_api(h, 0, &b);
			break;
		case ROUTE_PROCESS:
			r = http_api(h, pid, &b);
			break;
		case ROUTE_HEALTHZ:
			b.data = strdup("ok\n");
			b.len = 3;
			r = b.data != NULL ? 0 : -ENOMEM;
			break;
		case ROUTE_NONE:
			break;
		}
		if (r < 0) {
			log_ratelimited("http", "http %s %s: %s", method, url, strerror(-r));
			http_error(&b, MHD_HTTP_SERVICE_UNAVAILABLE, strerror(-r));
		}
	}
	if (b.data == NULL)
		return MHD_NO;          /* out of memory: MHD closes the connection */
	return http_send(h, conn, &b, 0);
}

static void http_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct http *h = cls;

	(void)conn;
	(void)toe;
	if (*req_cls != NULL) {
		__atomic_fetch_sub(&h->inflight, 1, __ATOMIC_RELAXED);
		*req_cls = NULL;
	}
}

/* MHD_OPTION_UNESCAPE_CALLBACK: see route_unescape(). */
static size_t http_unescape(void *cls, struct MHD_Connection *conn, char *s)
{
	(void)cls;
	(void)conn;
	return route_unescape(s);
}

/* The text of an HTML page (libmicrohttpd's error pages), into out: tags
 * and the <title> dropped, blanks collapsed, a final period dropped. */
static void http_html_text(const char *html, char *out, size_t size)
{
	size_t n = 0;
	int in_title = 0;

	for (const char *p = html; *p != '\0' && n + 1 < size; p++) {
		if (*p == '<') {
			const char *end = strchr(p, '>');

			if (end == NULL)
				break;
			if (strncasecmp(p, "<title>", 7) == 0)
				in_title = 1;
			else if (strncasecmp(p, "</title>", 8) == 0)
				in_title = 0;
			p = end;
			continue;
		}
		if (in_title || ((*p == ' ' || *p == '\n') && (n == 0 || out[n - 1] == ' ')))
			continue;
		out[n++] = *p == '\n' ? ' ' : *p;
	}
	while (n > 0 && (out[n - 1] == ' ' || out[n - 1] == '.'))
		n--;
	out[n] = '\0';
}

/*
 * libmicrohttpd's messages, one line each. The one it logs for every
 * malformed request carries the whole HTML error page it sends back; it is
 * said as plain text instead.
 */
static void http_log(void *cls, const char *fmt, va_list ap)
{
	static const char refused[] = "Error processing request (HTTP response code is %u ('%s'))";
	char msg[512];
	size_t n;

	(void)cls;
	if (strncmp(fmt, refused, sizeof(refused) - 1) == 0) {
		unsigned code = va_arg(ap, unsigned);
		const char *page = va_arg(ap, const char *);

		http_html_text(page != NULL ? page : "", msg, sizeof(msg));
		log_ratelimited("http", "http: refused a request with status %u (%s); "
		    "connection closed", code, msg);
		return;
	}
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

/* Takes a listening socket passed by socket activation (sd.c checked its
 * type); libmicrohttpd wants it non-blocking. */
static int http_adopt(struct http *h, int fd, char *err, size_t errsize)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fl, r;

	h->fd = fd;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		r = -errno;
		snprintf(err, errsize, "http socket (descriptor %d, socket activation): fcntl: %s",
		    fd, strerror(-r));
		return r;
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		addr_format((struct sockaddr *)&ss, h->address, sizeof(h->address));
	else
		snprintf(h->address, sizeof(h->address), "(descriptor %d)", fd);
	return 0;
}

int http_start(struct http **out, const struct http_conf *conf, const struct http_sources *src,
    const struct http_settings *set, char *err, size_t errsize)
{
	struct http *h = calloc(1, sizeof(*h));
	struct MHD_OptionItem tls[8];
	int r;

	if (h == NULL) {
		if (conf->fd >= 0)
			close(conf->fd);
		snprintf(err, errsize, "http: out of memory");
		return -ENOMEM;
	}
	h->fd = -1;
	h->src = *src;
	h->sym = sym_cache_new(0);
	if (h->sym == NULL) {
		if (conf->fd >= 0)
			close(conf->fd);
		free(h);
		snprintf(err, errsize, "http: out of memory");
		return -ENOMEM;
	}
	h->auth = conf->auth;
	h->set = *set;
	h->started_mono = clock_mono();
	h->started_wall = clock_real();
	pthread_mutex_init(&h->lock, NULL);
	r = conf->fd >= 0 ? http_adopt(h, conf->fd, err, errsize) :
	    http_bind(h, conf->listen_address, err, errsize);
	if (r < 0)
		goto fail;
	webauth_mhd_options(conf->auth, tls, sizeof(tls) / sizeof(tls[0]));
	h->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
	    MHD_USE_ITC | MHD_USE_ERROR_LOG | webauth_mhd_flags(conf->auth),
	    0, NULL, NULL, &http_access, h,
	    MHD_OPTION_EXTERNAL_LOGGER, &http_log, NULL,        /* first, to catch all */
	    MHD_OPTION_LISTEN_SOCKET, h->fd,
	    MHD_OPTION_UNESCAPE_CALLBACK, &http_unescape, NULL,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)HTTP_THREADS,
	    MHD_OPTION_NOTIFY_COMPLETED, &http_completed, h,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)conf->max_connections,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)conf->max_connections_per_ip,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)conf->timeout,
	    MHD_OPTION_ARRAY, tls,                              /* TLS: none without */
	    MHD_OPTION_END);
	if (h->mhd == NULL) {
		snprintf(err, errsize, "%s %s: cannot start the HTTP server",
		    conf->fd >= 0 ? "http socket" : "--web.listen-address",
		    conf->fd >= 0 ? h->address : conf->listen_address);
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
	pthread_mutex_destroy(&h->lock);
	sym_cache_free(h->sym);
	free(h);
	return r;
}

const char *http_address(const struct http *h)
{
	return h->address;
}

void http_stop(struct http *h)
{
	double deadline = clock_mono() + HTTP_DRAIN_SECONDS;
	MHD_socket lfd;

	if (h == NULL)
		return;
	/* New connections are refused; responses being built or sent are
	 * finished before the threads stop. Idle keep-alive connections do
	 * not count as in flight. */
	lfd = MHD_quiesce_daemon(h->mhd);
	while (__atomic_load_n(&h->inflight, __ATOMIC_RELAXED) > 0 && clock_mono() < deadline) {
		struct timespec ts = { 0, 10 * 1000000L };

		nanosleep(&ts, NULL);
	}
	MHD_stop_daemon(h->mhd);
	/* After quiescing, the listening socket is ours to close. */
	if (lfd != MHD_INVALID_SOCKET)
		close(lfd);
	free(h->spare);
	sym_cache_free(h->sym);
	pthread_mutex_destroy(&h->lock);
	free(h);
}
