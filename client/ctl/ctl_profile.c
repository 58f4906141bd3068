/* ctl_profile.c: `memprobectl profile PID -o FILE`, a process's heap profile in pprof's format, saved whole or not at all (also for `run --profile`). */
#include "ctl_cmd.h"
#include "ctl_http.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ERR_LEN 768

const char ctl_help_profile[] =
    "usage: memprobectl profile PID -o FILE [--url URL]\n"
    "\n"
    "Writes the heap profile of process PID to FILE in pprof's format (gzipped\n"
    "profile.proto), as memprobed serves it at /api/v1/processes/PID/profile:\n"
    "the call stacks of the allocations its agent sampled, with their estimated\n"
    "bytes and objects in use and allocated in all (the sample types of Go's\n"
    "heap profiles), the mappings with their build-ids, and the functions and\n"
    "lines memprobed could symbolize. Read it with `go tool pprof -top FILE`,\n"
    "or hand it to Pyroscope or Parca.\n"
    "\n"
    "FILE is written whole or not at all: into a temporary file in its\n"
    "directory, then renamed over FILE. \"-o -\" writes to standard output,\n"
    "unless that is a terminal.\n"
    "\n"
    "Options:\n"
    "  -o, --output FILE  where to write the profile (\"-\": standard output)\n"
    "  --url URL          memprobed's HTTP address\n"
    "\n"
    "Exits 1 when memprobed has no profile for PID (no such process, or one\n"
    "whose agent does not sample: MEMPROBE_PROFILE_RATE=0, or an older agent).\n";

/* Writes LEN bytes of DATA to FD. Returns 0 or -errno. */
static int
write_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * The temporary file for PATH into TMP: ".NAME.XXXXXX" in PATH's
 * directory, so that the rename stays on one file system. Returns 0 or
 * -ENAMETOOLONG.
 */
static int
temp_name(const char *path, char *tmp, size_t size)
{
	char d[PATH_MAX], b[PATH_MAX];
	int n;

	if (strlen(path) >= sizeof(d))
		return -ENAMETOOLONG;
	snprintf(d, sizeof(d), "%s", path);
	snprintf(b, sizeof(b), "%s", path);
	n = snprintf(tmp, size, "%s/.%s.XXXXXX", dirname(d), basename(b));
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/*
 * Writes DATA (LEN bytes) to PATH whole or not at all: a temporary file
 * beside it, written, synced and renamed over PATH, with the mode a new
 * file would get (0666 less the umask). Returns 0, or -errno with the
 * operation that failed in ERR.
 */
static int
save_atomic(const char *path, const char *data, size_t len, char *err, size_t errlen)
{
	char tmp[PATH_MAX];
	const char *op;
	mode_t mask;
	int fd, rc;

	rc = temp_name(path, tmp, sizeof(tmp));
	if (rc < 0) {
		snprintf(err, errlen, "%s", strerror(-rc));
		return rc;
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot create a file in its directory: %s", strerror(-rc));
		return rc;
	}
	mask = umask(0);
	umask(mask);
	op = "chmod";
	if (fchmod(fd, 0666 & ~mask) < 0)
		goto fail;
	op = "write";
	if ((rc = write_all(fd, data, len)) < 0) {
		errno = -rc;
		goto fail;
	}
	op = "fsync";
	if (fsync(fd) < 0)
		goto fail;
	op = "close";
	rc = close(fd);
	fd = -1;
	if (rc < 0)
		goto fail;
	op = "rename";
	if (rename(tmp, path) < 0)
		goto fail;
	return 0;
fail:
	rc = -errno;
	snprintf(err, errlen, "%s: %s", op, strerror(-rc));
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return rc;
}

/* Writes the profile to standard output, checked by main when it flushes. */
static int
write_stdout(const char *data, size_t len, char *err, size_t errlen)
{
	if (fwrite(data, 1, len, stdout) != len) {
		snprintf(err, errlen, "cannot write to stdout: %s", strerror(errno));
		return CTL_EXIT_INTERNAL;
	}
	return CTL_EXIT_OK;
}

/* Whether REPLY's body starts as gzip data does (RFC 1952). */
static bool
is_gzip(const struct ctl_http_reply *reply)
{
	return reply->len >= 2 && (unsigned char)reply->body[0] == 0x1f &&
	    (unsigned char)reply->body[1] == 0x8b;
}

int
ctl_profile_save(const struct ctl_opts *o, long pid, const char *path, size_t *len,
    char *err, size_t errlen)
{
	struct ctl_http_reply reply = { 0 };
	char api[64], why[256], e[ERR_LEN];
	const char *msg;
	int rc;

	if (strcmp(path, "-") == 0 && isatty(STDOUT_FILENO)) {
		snprintf(err, errlen, "not writing a binary profile to a terminal: give -o FILE, "
		    "or pipe it");
		return CTL_EXIT_USAGE;
	}
	snprintf(api, sizeof(api), "/api/v1/processes/%ld/profile", pid);
	rc = ctl_api_request(o, api, "application/octet-stream", &reply, err, errlen);
	if (rc == CTL_EXIT_NOTFOUND) {
		msg = ctl_api_reply_error(&reply, why, sizeof(why));
		snprintf(err, errlen, "no profile for %ld: %s", pid,
		    msg != NULL ? msg : "memprobed has none (HTTP 404)");
	} else if (rc == CTL_EXIT_OK && !is_gzip(&reply)) {
		snprintf(err, errlen, "bad response from memprobed at %s: %s: not a gzipped "
		    "profile", o->url, api);
		rc = CTL_EXIT_UNREACHABLE;
	} else if (rc == CTL_EXIT_OK && strcmp(path, "-") == 0) {
		rc = write_stdout(reply.body, reply.len, err, errlen);
	} else if (rc == CTL_EXIT_OK && save_atomic(path, reply.body, reply.len, e, sizeof(e)) < 0) {
		snprintf(err, errlen, "%s: %s", path, e);
		rc = CTL_EXIT_INTERNAL;
	}
	if (rc == CTL_EXIT_OK)
		*len = reply.len;
	ctl_http_reply_free(&reply);
	return rc;
}

enum { OPT_OUTPUT = 'o' };

int
ctl_cmd_profile(int argc, char **argv, struct ctl_opts *o)
{
	static const struct option own[] = {
		{ "output", required_argument, NULL, OPT_OUTPUT },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl_getopt g = { .cmd = "profile", .own = own };
	const char *pidarg = NULL, *out = NULL, *v;
	char err[PATH_MAX + ERR_LEN];
	size_t len;
	long pid;
	int r, rc;

	while ((r = ctl_getopt(&g, o, argc, argv, &v, &rc)) != CTL_OPT_END) {
		if (r == CTL_OPT_EXIT)
			return rc;
		if (r == OPT_OUTPUT)
			out = v;
		else if ((rc = ctl_pid_arg("profile", v, &pidarg)) != CTL_EXIT_OK)
			return rc;
	}
	rc = ctl_pid_rest("profile", argc, argv, &pidarg, &pid);
	if (rc != CTL_EXIT_OK)
		return rc;
	if (out == NULL || *out == '\0') {
		ctl_errx("profile: where to? usage: memprobectl profile PID -o FILE (\"-o -\": "
		    "standard output)");
		return CTL_EXIT_USAGE;
	}
	if (o->json) {
		ctl_errx("profile: --json does not apply: the profile is in pprof's format");
		return CTL_EXIT_USAGE;
	}

	rc = ctl_profile_save(o, pid, out, &len, err, sizeof(err));
	if (rc != CTL_EXIT_OK)
		ctl_errx("profile: %s", err);
	return rc;
}
