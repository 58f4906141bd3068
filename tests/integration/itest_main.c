/* itest_main.c: runs the integration suites against a build: `integration BUILD [TEST...]`. */
#include "itest_util.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	int failed = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: integration BUILD [TEST...]\n"
		    "tests: e2e_heap no_daemon promtool bad_input http_errors daemon_sigterm\n");
		return 2;
	}
	/* Writes to a child or a socket that has gone must fail, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		printf("FAIL integration_setup\n");
		return 1;
	}
	if (it_setup(argv[1]) < 0) {
		printf("FAIL integration_setup\n");
		return 1;
	}
	it_select(argc - 2, argv + 2);

	failed += itest_heap_run();
	failed += itest_agent_run();
	failed += itest_http_run();
	failed += itest_badinput_run();
	failed += itest_accuracy_run();
	failed += itest_transparency_run();
	failed += itest_daemon_run();
	failed += itest_prom_run();
	failed += itest_python_run();
	failed += itest_ctl_run();
	failed += itest_ctl_profile_run();
	failed += itest_page_run();
	failed += itest_systemd_run();
	failed += itest_faults_run();
	failed += itest_webconf_run();
	failed += itest_hostile_run();
	failed += itest_guest_run();
	failed += itest_foreign_run();
	failed += itest_profile_run();
	failed += itest_heapprof_run();
	failed += itest_pyprof_run();

	curl_global_cleanup();
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
