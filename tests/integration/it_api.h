/* it_api.h: the daemon's JSON API as the tests read it: /api/v1/processes entries and waits on them. */
#ifndef MEMPROBE_IT_API_H
#define MEMPROBE_IT_API_H

#include <jansson.h>

#include "it_http.h"

/*
 * GETs base_url/api/v1/processes and returns the entry whose "pid" is pid:
 * a new reference the caller json_decref()s, or NULL if there is none.
 */
json_t *it_api_process(const char *base_url, long pid);

/* Integer member `key` of object `obj` (a dotted path like "heap.live_bytes"
 * descends into objects). Returns 1 and stores it, or 0 when missing or not
 * a number. */
int it_json_num(json_t *obj, const char *path, double *out);

/* Whether member `key` of object obj is the string want. */
int it_json_str_is(json_t *obj, const char *key, const char *want);

/*
 * Polls the /api/v1/processes entry of pid until the number at `path` (as
 * it_json_num()) is at least lo. Returns 1 if it was; 0 after IT_TIMEOUT_MS,
 * having printed the last value (or its absence) on stderr.
 */
int it_wait_api_num(const char *base_url, long pid, const char *path, double lo);

/* The body of r is a JSON object {"error": "..."} and r's Content-Type
 * is application/json. */
int it_is_json_error(const struct it_http *r);

/* Waits until /api/v1/processes of base_url lists pid. Returns 1, or 0
 * having said so on stderr (what names the program). */
int it_wait_seen_pid(const char *base_url, long pid, const char *what);

/* Waits until /api/v1/processes lists at least min entries whose comm is
 * comm. Returns 1, or 0 having said how many there were. */
int it_wait_seen_comm(const char *base_url, const char *comm, int min);

/* As it_wait_seen_comm() for short-lived programs: exited entries named
 * "?" count too. memprobed names a process from /proc, so one that ended
 * before memprobed could read it has its name lost (its figures are
 * still taken). */
int it_wait_seen_short(const char *base_url, const char *comm, int min);

#endif
