/* test_conf.c: unit tests of the settings (daemon/conf.c) and listen-address parsing (daemon/addr.c). */
#include <errno.h>
#include <netinet/in.h>
#include <unistd.h>

#include "addr.h"
#include "conf.h"
#include "harness.h"
#include "log.h"

static char tmpdir[] = "/tmp/memprobe-test-conf-XXXXXX";

/* Loads text as a file named `name`; returns conf_load()'s result and the
 * message in err (CONF_ERR_MAX bytes). */
static int load_text(const char *name, const char *text, char *err)
{
	struct conf c;
	int r;

	CHECK(conf_init(&c) == 0);
	r = conf_load(&c, harness_write_file(tmpdir, name, text), err, CONF_ERR_MAX);
	conf_free(&c);
	return r;
}

/* err starts with "<tmpdir>/<name>:<rest>". */
static void check_prefix(const char *err, const char *name, const char *rest)
{
	char want[CONF_ERR_MAX];

	snprintf(want, sizeof(want), "%s/%s:%s", tmpdir, name, rest);
	if (strncmp(err, want, strlen(want)) != 0) {
		fprintf(stderr, "%s:%d: error \"%s\" does not start with \"%s\"\n",
		    __FILE__, __LINE__, err, want);
		harness_failures++;
	}
}

static void test_defaults(void)
{
	struct conf c;

	CHECK(conf_init(&c) == 0);
	CHECK_STR(c.listen_address, "127.0.0.1:19556");
	CHECK_U64(c.exited_ttl, ==, 60);
	CHECK_U64(c.log_level, ==, LOG_LEVEL_INFO);
	CHECK_U64(c.max_connections, ==, 4096);
	CHECK_U64(c.max_processes, ==, 10000);
	CHECK_U64(c.max_gauges, ==, 64);
	CHECK(c.agent_socket != NULL && strstr(c.agent_socket, "/agent.sock") != NULL);
	CHECK(c.source == NULL);
	conf_free(&c);
}

/* conf_init() takes memprobed's default socket from the shared rule
 * (sockpath_listen, tested in test_sockpath.c) on the real environment. */
static void test_default_socket(void)
{
	static const char *const names[] = { "MEMPROBE_SOCKET", "XDG_RUNTIME_DIR", "RUNTIME_DIRECTORY" };
	char *saved[3], lng[200];
	struct conf c;

	harness_env_clear(names, saved, 3);
	/* systemd's RuntimeDirectory= wins over the user's own socket. */
	setenv("RUNTIME_DIRECTORY", "/run/memprobe-unit", 1);
	CHECK(conf_init(&c) == 0);
	CHECK_STR(c.agent_socket, "/run/memprobe-unit/agent.sock");
	conf_free(&c);
	/* MEMPROBE_SOCKET wins over both: daemon and agents agree on it. */
	setenv("MEMPROBE_SOCKET", "/tmp/mine.sock", 1);
	CHECK(conf_init(&c) == 0);
	CHECK_STR(c.agent_socket, "/tmp/mine.sock");
	conf_free(&c);
	/* One too long for a socket is kept, for binding it to say so. */
	memset(lng, 'a', sizeof(lng));
	lng[0] = '/';
	lng[sizeof(lng) - 1] = '\0';
	setenv("MEMPROBE_SOCKET", lng, 1);
	CHECK(conf_init(&c) == 0);
	CHECK_STR(c.agent_socket, lng);
	conf_free(&c);
	harness_env_restore(names, saved, 3);
}

static void test_good_file(void)
{
	struct conf c;
	char err[CONF_ERR_MAX];
	const char *path = harness_write_file(tmpdir, "good.conf",
	    "; comment\n"
	    "# another\n"
	    "[memprobed]\n"
	    "agent_socket = /tmp/x/agent.sock\n"
	    "listen_address = [::1]:9999\n"
	    "exited_ttl = 5   ; inline comment\n"
	    "log_level = debug\n"
	    "max_connections = 10\n"
	    "max_processes = 20\n"
	    "max_gauges = 0\n");

	CHECK(conf_init(&c) == 0);
	CHECK(conf_load(&c, path, err, sizeof(err)) == 0);
	CHECK_STR(c.agent_socket, "/tmp/x/agent.sock");
	CHECK_STR(c.listen_address, "[::1]:9999");
	CHECK_U64(c.exited_ttl, ==, 5);
	CHECK_U64(c.log_level, ==, LOG_LEVEL_DEBUG);
	CHECK_U64(c.max_connections, ==, 10);
	CHECK_U64(c.max_processes, ==, 20);
	CHECK_U64(c.max_gauges, ==, 0);
	CHECK_STR(c.source, path);
	/* A flag applied afterwards wins. */
	CHECK(conf_set(&c, conf_key_for_flag("exited-ttl"), "7", err, sizeof(err)) == 0);
	CHECK_U64(c.exited_ttl, ==, 7);
	conf_free(&c);
}

static void test_unknown_key(void)
{
	char err[CONF_ERR_MAX];

	CHECK(load_text("unknown.conf", "[memprobed]\nexited_ttl = 5\nbogus = 1\n", err) == -EINVAL);
	check_prefix(err, "unknown.conf", "3: bogus: unknown key");
}

static void test_bad_value(void)
{
	char err[CONF_ERR_MAX];

	CHECK(load_text("bad.conf", "[memprobed]\n\nexited_ttl = abc\n", err) == -EINVAL);
	check_prefix(err, "bad.conf", "3: exited_ttl: invalid value \"abc\"");
	CHECK(load_text("neg.conf", "[memprobed]\nmax_processes = -1\n", err) == -EINVAL);
	check_prefix(err, "neg.conf", "2: max_processes: invalid value \"-1\"");
	CHECK(load_text("zero.conf", "[memprobed]\nmax_processes = 0\n", err) == -EINVAL);
	check_prefix(err, "zero.conf", "2: max_processes: invalid value \"0\"");
	CHECK(load_text("big.conf", "[memprobed]\nexited_ttl = 99999999999999999999\n", err) == -EINVAL);
	check_prefix(err, "big.conf", "2: exited_ttl: invalid value");
	CHECK(load_text("level.conf", "[memprobed]\nlog_level = loud\n", err) == -EINVAL);
	check_prefix(err, "level.conf", "2: log_level: invalid value \"loud\"");
	CHECK(load_text("addr.conf", "[memprobed]\nlisten_address = localhost:80\n", err) == -EINVAL);
	check_prefix(err, "addr.conf", "2: listen_address: invalid value \"localhost:80\"");
	CHECK(load_text("sock.conf", "[memprobed]\nagent_socket = /tmp/"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
	    err) == -EINVAL);
	check_prefix(err, "sock.conf", "2: agent_socket: invalid value");
}

static void test_sections_and_syntax(void)
{
	char err[CONF_ERR_MAX];

	CHECK(load_text("nosect.conf", "exited_ttl = 5\n", err) == -EINVAL);
	check_prefix(err, "nosect.conf", "1: exited_ttl: key outside the [memprobed] section");
	CHECK(load_text("othersect.conf", "[memprobed]\nexited_ttl = 5\n[other]\nx = 1\n", err) == -EINVAL);
	check_prefix(err, "othersect.conf", "4: x: unknown section [other]");
	CHECK(load_text("syntax.conf", "[memprobed]\nexited_ttl = 5\nthis is not ini\n", err) == -EINVAL);
	check_prefix(err, "syntax.conf", "3: syntax error");
	/* The first error wins. */
	CHECK(load_text("two.conf", "[memprobed]\nfoo = 1\nexited_ttl = x\n", err) == -EINVAL);
	check_prefix(err, "two.conf", "2: foo:");
}

static void test_long_line(void)
{
	char err[CONF_ERR_MAX];
	char text[1024];

	snprintf(text, sizeof(text), "[memprobed]\nlisten_address = 127.0.0.1:1 ; %0500d\n", 0);
	CHECK(load_text("long.conf", text, err) == -EINVAL);
	check_prefix(err, "long.conf", "2: line too long");
}

static void test_unreadable(void)
{
	struct conf c;
	char err[CONF_ERR_MAX], want[256];

	CHECK(conf_init(&c) == 0);
	snprintf(want, sizeof(want), "%s/missing.conf", tmpdir);
	CHECK(conf_load(&c, want, err, sizeof(err)) == -ENOENT);
	CHECK(strncmp(err, want, strlen(want)) == 0);
	CHECK(strstr(err, "cannot open") != NULL);
	conf_free(&c);
}

static void test_print_round_trip(void)
{
	struct conf a, b;
	char err[CONF_ERR_MAX], path[256];
	FILE *f;

	CHECK(conf_init(&a) == 0);
	CHECK(conf_set(&a, "agent_socket", "/tmp/rt/agent.sock", err, sizeof(err)) == 0);
	CHECK(conf_set(&a, "listen_address", ":8080", err, sizeof(err)) == 0);
	CHECK(conf_set(&a, "exited_ttl", "0", err, sizeof(err)) == 0);
	CHECK(conf_set(&a, "log_level", "warn", err, sizeof(err)) == 0);
	CHECK(conf_set(&a, "max_gauges", "3", err, sizeof(err)) == 0);
	CHECK(conf_set(&a, "no_such_key", "3", err, sizeof(err)) == -ENOENT);
	snprintf(path, sizeof(path), "%s/printed.conf", tmpdir);
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (f == NULL)
		return;
	conf_print(&a, f);
	fclose(f);
	CHECK(conf_init(&b) == 0);
	CHECK(conf_load(&b, path, err, sizeof(err)) == 0);
	CHECK_STR(b.agent_socket, "/tmp/rt/agent.sock");
	CHECK_STR(b.listen_address, ":8080");
	CHECK_U64(b.exited_ttl, ==, 0);
	CHECK_U64(b.log_level, ==, LOG_LEVEL_WARN);
	CHECK_U64(b.max_gauges, ==, 3);
	CHECK_U64(b.max_processes, ==, a.max_processes);
	conf_free(&a);
	conf_free(&b);
}

static void test_flags_map_to_keys(void)
{
	CHECK_STR(conf_key_for_flag("agent-socket"), "agent_socket");
	CHECK_STR(conf_key_for_flag("web.listen-address"), "listen_address");
	CHECK_STR(conf_key_for_flag("exited-ttl"), "exited_ttl");
	CHECK_STR(conf_key_for_flag("log-level"), "log_level");
	CHECK(conf_key_for_flag("config") == NULL);
}

static void test_addr_parse(void)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char why[128], out[64];

	CHECK(addr_parse("127.0.0.1:19556", &ss, &len, why, sizeof(why)) == 0);
	CHECK_U64(ss.ss_family, ==, AF_INET);
	addr_format((struct sockaddr *)&ss, out, sizeof(out));
	CHECK_STR(out, "127.0.0.1:19556");
	CHECK(addr_parse("[::1]:80", &ss, &len, why, sizeof(why)) == 0);
	CHECK_U64(ss.ss_family, ==, AF_INET6);
	addr_format((struct sockaddr *)&ss, out, sizeof(out));
	CHECK_STR(out, "[::1]:80");
	CHECK(addr_parse(":9", &ss, &len, why, sizeof(why)) == 0);
	CHECK_U64(ss.ss_family, ==, AF_INET6);
	CHECK(addr_parse("0.0.0.0:0", &ss, &len, why, sizeof(why)) == 0);

	CHECK(addr_parse("127.0.0.1", &ss, &len, why, sizeof(why)) < 0);
	CHECK(addr_parse("127.0.0.1:", &ss, &len, why, sizeof(why)) < 0);
	CHECK(addr_parse("127.0.0.1:65536", &ss, &len, why, sizeof(why)) < 0);
	CHECK(addr_parse("127.0.0.1:080", &ss, &len, why, sizeof(why)) < 0);
	CHECK(addr_parse("127.0.0.1:+80", &ss, &len, why, sizeof(why)) < 0);
	CHECK(addr_parse("127.1:80", &ss, &len, why, sizeof(why)) < 0);
	CHECK(addr_parse("localhost:80", &ss, &len, why, sizeof(why)) < 0);
	CHECK(addr_parse("::1:80", &ss, &len, why, sizeof(why)) < 0);
	CHECK(addr_parse("[::1]80", &ss, &len, why, sizeof(why)) < 0);
	CHECK(addr_parse("[zz]:80", &ss, &len, why, sizeof(why)) < 0);
}

static void test_log_levels(void)
{
	CHECK(log_level_parse("debug") == LOG_LEVEL_DEBUG);
	CHECK(log_level_parse("info") == LOG_LEVEL_INFO);
	CHECK(log_level_parse("warn") == LOG_LEVEL_WARN);
	CHECK(log_level_parse("error") == LOG_LEVEL_ERROR);
	CHECK(log_level_parse("verbose") == -EINVAL);
	CHECK_STR(log_level_name(LOG_LEVEL_WARN), "warn");
}

/* config/memprobed.conf parses, names every key, and holds the defaults. */
static void test_shipped_conf(void)
{
	const char *src = getenv("MEMPROBE_SRCDIR");
	char path[512], err[CONF_ERR_MAX], line[1024], want[4096];
	struct conf c, d;
	FILE *f;
	char *text = NULL;
	size_t len = 0;

	snprintf(path, sizeof(path), "%s/config/memprobed.conf", src != NULL ? src : ".");
	CHECK(conf_init(&c) == 0);
	CHECK(conf_init(&d) == 0);
	if (conf_load(&c, path, err, sizeof(err)) != 0) {
		fprintf(stderr, "  %s\n", err);
		CHECK(0);
	}
	f = fopen(path, "r");
	CHECK(f != NULL);
	if (f != NULL) {
		FILE *m = open_memstream(&text, &len);

		while (fgets(line, sizeof(line), f) != NULL)
			fputs(line, m);
		fclose(m);
		fclose(f);
	}
	for (size_t i = 0; i < conf_nkeys() && text != NULL; i++) {
		const char *key = conf_key_name(i);
		char a[4096], b[4096];

		/* Each key appears as "key = default", commented out or not. */
		conf_value(&d, i, b, sizeof(b));
		snprintf(want, sizeof(want), "%s = ", key);
		if (strstr(text, want) == NULL) {
			fprintf(stderr, "  key %s is not in %s\n", key, path);
			CHECK(0);
		}
		snprintf(want, sizeof(want), "--%s", conf_key_flag(i));
		if (strstr(text, want) == NULL) {
			fprintf(stderr, "  flag %s is not in %s\n", want, path);
			CHECK(0);
		}
		/* The values set in the file are the defaults. */
		conf_value(&c, i, a, sizeof(a));
		if (strcmp(key, "agent_socket") != 0 && strcmp(a, b) != 0) {
			fprintf(stderr, "  %s: file says %s, default is %s\n", key, a, b);
			CHECK(0);
		}
	}
	free(text);
	conf_free(&c);
	conf_free(&d);
}

static void test_new_keys(void)
{
	struct conf c;
	char err[CONF_ERR_MAX];

	CHECK(conf_init(&c) == 0);
	CHECK_U64(c.series, ==, CONF_SERIES_PROCESS);
	CHECK_U64(c.history_length, ==, 300);
	CHECK_U64(c.proc_interval, ==, 2);
	CHECK(conf_set(&c, "series", "command", err, sizeof(err)) == 0);
	CHECK_U64(c.series, ==, CONF_SERIES_COMMAND);
	CHECK(conf_set(&c, "series", "pid", err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "expected process or command") != NULL);
	CHECK(conf_set(&c, "history_length", "0", err, sizeof(err)) == 0);
	CHECK(conf_set(&c, "proc_interval", "x", err, sizeof(err)) == -EINVAL);
	CHECK_STR(conf_key_for_flag("series"), "series");
	CHECK_STR(conf_key_for_flag("history-length"), "history_length");
	CHECK_STR(conf_key_for_flag("proc-interval"), "proc_interval");
	/* Every key has its own flag. */
	for (size_t i = 0; i < conf_nkeys(); i++)
		CHECK_STR(conf_key_for_flag(conf_key_flag(i)), conf_key_name(i));
	CHECK(conf_key_live(2));                /* exited_ttl */
	CHECK(!conf_key_live(0));               /* agent_socket */
	conf_free(&c);
}

static void test_pending_keys(void)
{
	struct conf c;
	char err[CONF_ERR_MAX];

	CHECK(conf_init(&c) == 0);
	CHECK_U64(c.max_pending_per_uid, ==, 64);
	CHECK_U64(c.hello_timeout, ==, 5);
	CHECK(conf_set(&c, "max_pending_per_uid", "1", err, sizeof(err)) == 0);
	CHECK_U64(c.max_pending_per_uid, ==, 1);
	CHECK(conf_set(&c, "max_pending_per_uid", "0", err, sizeof(err)) == -EINVAL);
	CHECK(conf_set(&c, "hello_timeout", "0", err, sizeof(err)) == -EINVAL);
	CHECK(conf_set(&c, "hello_timeout", "3601", err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "from 1 to 3600") != NULL);
	CHECK(conf_set(&c, "hello_timeout", "1", err, sizeof(err)) == 0);
	CHECK_U64(c.hello_timeout, ==, 1);
	CHECK_STR(conf_key_for_flag("max-pending-per-uid"), "max_pending_per_uid");
	CHECK_STR(conf_key_for_flag("hello-timeout"), "hello_timeout");
	for (size_t i = 0; i < conf_nkeys(); i++)
		if (strcmp(conf_key_name(i), "max_pending_per_uid") == 0 ||
		    strcmp(conf_key_name(i), "hello_timeout") == 0)
			CHECK(conf_key_live(i));
	conf_free(&c);
}

int main(void)
{
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return EXIT_FAILURE;
	}
	RUN_TEST(test_defaults);
	RUN_TEST(test_default_socket);
	RUN_TEST(test_good_file);
	RUN_TEST(test_unknown_key);
	RUN_TEST(test_bad_value);
	RUN_TEST(test_sections_and_syntax);
	RUN_TEST(test_long_line);
	RUN_TEST(test_unreadable);
	RUN_TEST(test_print_round_trip);
	RUN_TEST(test_flags_map_to_keys);
	RUN_TEST(test_addr_parse);
	RUN_TEST(test_log_levels);
	RUN_TEST(test_shipped_conf);
	RUN_TEST(test_new_keys);
	RUN_TEST(test_pending_keys);
	harness_rmtree(tmpdir);
	return HARNESS_EXIT();
}
