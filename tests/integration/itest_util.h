/* itest_util.h: every helper of the integration tests, one header a concern; test files include this one. */
#ifndef MEMPROBE_ITEST_UTIL_H
#define MEMPROBE_ITEST_UTIL_H

#include "it_base.h"            /* paths under test, selection, polling bounds */
#include "it_file.h"            /* temp dirs, files, waiting on a log */
#include "it_sock.h"            /* sockets, a hand-built agent */
#include "it_proc.h"            /* child processes */
#include "it_daemon.h"          /* memprobed under test */
#include "it_http.h"            /* HTTP with libcurl */
#include "it_prom.h"            /* the Prometheus text format, waits on /metrics */
#include "it_api.h"             /* the JSON API, waits on it */
#include "it_workload.h"        /* programs with the agent preloaded */
#include "it_prof.h"            /* profiled programs, their sites and profiles */

/* ---- the suites, one a file; each runs its selected tests and returns
 * how many failed ---- */
int itest_heap_run(void);        /* itest_heap.c */
int itest_agent_run(void);       /* itest_agent.c */
int itest_http_run(void);        /* itest_http.c */
int itest_badinput_run(void);    /* itest_badinput.c */
int itest_accuracy_run(void);    /* itest_accuracy.c */
int itest_transparency_run(void); /* itest_transparency.c */
int itest_daemon_run(void);      /* itest_daemon.c */
int itest_prom_run(void);        /* itest_prom.c */
int itest_python_run(void);      /* itest_python.c */
int itest_ctl_run(void);         /* itest_ctl.c */
int itest_ctl_profile_run(void); /* itest_ctl_profile.c */
int itest_heapprof_run(void);    /* itest_heapprof.c */
int itest_page_run(void);        /* itest_page.c */
int itest_systemd_run(void);     /* itest_systemd.c */
int itest_faults_run(void);      /* itest_faults.c */
int itest_webconf_run(void);     /* itest_webconf.c */
int itest_hostile_run(void);     /* itest_hostile.c */
int itest_guest_run(void);       /* itest_guest.c */
int itest_foreign_run(void);     /* itest_foreign.c */
int itest_profile_run(void);     /* itest_profile.c */
int itest_pyprof_run(void);      /* itest_pyprof.c */

#endif
