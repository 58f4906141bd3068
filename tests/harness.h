/* harness.h: a tiny unit-test harness; each test prints PASS/FAIL lines that tests/run.sh counts. */
#ifndef MEMPROBE_HARNESS_H
#define MEMPROBE_HARNESS_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Failed checks in the running test; reset by RUN_TEST. */
static int harness_failures;
static int harness_failed_tests;

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
		harness_failures++; \
	} \
} while (0)

#define CHECK_U64(a, op, b) do { \
	uint64_t ha_ = (uint64_t)(a), hb_ = (uint64_t)(b); \
	if (!(ha_ op hb_)) { \
		fprintf(stderr, "%s:%d: check failed: %s %s %s (%" PRIu64 " vs %" PRIu64 ")\n", \
		    __FILE__, __LINE__, #a, #op, #b, ha_, hb_); \
		harness_failures++; \
	} \
} while (0)

#define CHECK_I64(a, op, b) do { \
	int64_t ha_ = (int64_t)(a), hb_ = (int64_t)(b); \
	if (!(ha_ op hb_)) { \
		fprintf(stderr, "%s:%d: check failed: %s %s %s (%" PRId64 " vs %" PRId64 ")\n", \
		    __FILE__, __LINE__, #a, #op, #b, ha_, hb_); \
		harness_failures++; \
	} \
} while (0)

#define CHECK_STR(a, b) do { \
	const char *ha_ = (a), *hb_ = (b); \
	if (ha_ == NULL || hb_ == NULL || strcmp(ha_, hb_) != 0) { \
		fprintf(stderr, "%s:%d: check failed: %s == %s (\"%s\" vs \"%s\")\n", \
		    __FILE__, __LINE__, #a, #b, ha_ ? ha_ : "(null)", hb_ ? hb_ : "(null)"); \
		harness_failures++; \
	} \
} while (0)

/* Runs fn as one test and prints "PASS name" or "FAIL name". */
#define RUN_TEST(fn) do { \
	harness_failures = 0; \
	fn(); \
	printf("%s %s\n", harness_failures ? "FAIL" : "PASS", #fn); \
	fflush(stdout); \
	if (harness_failures) \
		harness_failed_tests++; \
} while (0)

/* Checks that must hold for the rest of a test to make sense: a failed one
 * counts like CHECK and jumps to the test's `out:` label. */
#define REQUIRE(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: required: %s\n", __FILE__, __LINE__, #cond); \
		harness_failures++; \
		goto out; \
	} \
} while (0)

#define HARNESS_EXIT() (harness_failed_tests ? EXIT_FAILURE : EXIT_SUCCESS)

/* Saves the n environment variables names[] into saved[] (copies, NULL
 * for unset) and unsets them, for a test that sets its own. */
static inline void harness_env_clear(const char *const names[], char *saved[], int n)
{
	for (int i = 0; i < n; i++) {
		const char *v = getenv(names[i]);

		saved[i] = v != NULL ? strdup(v) : NULL;
		unsetenv(names[i]);
	}
}

/* Puts back what harness_env_clear() saved, and frees it. */
static inline void harness_env_restore(const char *const names[], char *saved[], int n)
{
	for (int i = 0; i < n; i++) {
		if (saved[i] != NULL)
			setenv(names[i], saved[i], 1);
		else
			unsetenv(names[i]);
		free(saved[i]);
	}
}

/* Writes text to the file dir/name; returns its path (static storage,
 * overwritten by the next call), after a failed CHECK when it could not. */
static inline const char *harness_write_file(const char *dir, const char *name, const char *text)
{
	static char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (f != NULL) {
		fputs(text, f);
		fclose(f);
	}
	return path;
}

/* Removes dir and everything under it (a test program's temp dir). */
static inline void harness_rmtree(const char *dir)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

#endif
