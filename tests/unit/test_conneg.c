/* test_conneg.c: unit tests of content negotiation (daemon/conneg.c): Accept and Accept-Encoding. */
#include "conneg.h"
#include "harness.h"

#define TEXT CONNEG_TEXT_004
#define OM   CONNEG_OPENMETRICS_100
#define OM01 CONNEG_OPENMETRICS_001

static void test_prometheus_headers(void)
{
	/* Prometheus 2.42's scrape Accept header. */
	CHECK(conneg_format("application/openmetrics-text;version=1.0.0,"
	    "application/openmetrics-text;version=0.0.1;q=0.75,"
	    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1") == OM);
	/* Prometheus with OpenMetrics turned off. */
	CHECK(conneg_format("text/plain;version=0.0.4;q=1,*/*;q=0.1") == TEXT);
	/* Prometheus 3's default, which prefers 0.0.1 of OpenMetrics. */
	CHECK(conneg_format("application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,"
	    "application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;q=0.3,"
	    "text/plain;version=0.0.4;q=0.2,*/*;q=0.1") == OM);
}

static void test_defaults_and_wildcards(void)
{
	CHECK(conneg_format(NULL) == TEXT);
	CHECK(conneg_format("") == TEXT);
	CHECK(conneg_format("*/*") == TEXT);
	CHECK(conneg_format("text/*") == TEXT);
	CHECK(conneg_format("text/html") == TEXT);              /* nothing matches: text */
	CHECK(conneg_format("application/json") == TEXT);
	CHECK(conneg_format("application/openmetrics-text") == OM);
	CHECK(conneg_format("application/openmetrics-text; version=0.0.1") == OM01);
	CHECK(conneg_format("application/openmetrics-text;version=2.0.0") == TEXT);
	CHECK(conneg_format("text/plain;version=9.9.9") == TEXT);
	CHECK(conneg_format("APPLICATION/OpenMetrics-Text;Version=1.0.0") == OM);
	CHECK(conneg_format("application/openmetrics-text;version=\"1.0.0\"") == OM);
}

static void test_q_values(void)
{
	CHECK(conneg_format("text/plain;q=0.9,application/openmetrics-text;q=0.8") == TEXT);
	CHECK(conneg_format("text/plain;q=0.8,application/openmetrics-text;q=0.9") == OM);
	CHECK(conneg_format("text/plain;q=0.999,application/openmetrics-text") == OM);
	/* q=0 is a refusal. */
	CHECK(conneg_format("application/openmetrics-text;q=0,text/plain;q=0.1") == TEXT);
	CHECK(conneg_format("application/openmetrics-text;q=0.0") == TEXT);
	/* Equal q: the exact type beats the wildcard, then the first wins. */
	CHECK(conneg_format("*/*,application/openmetrics-text") == OM);
	CHECK(conneg_format("application/openmetrics-text,text/plain") == OM);
	CHECK(conneg_format("text/plain,application/openmetrics-text") == TEXT);
	/* Malformed q: that range is skipped, not the header. */
	CHECK(conneg_format("application/openmetrics-text;q=2,text/plain;q=0.1") == TEXT);
	CHECK(conneg_format("application/openmetrics-text;q=0.5x,text/plain;q=0.1") == TEXT);
	CHECK(conneg_format("application/openmetrics-text;q=0.1234") == TEXT);
	CHECK(conneg_format("application/openmetrics-text;q=1.000") == OM);
	CHECK(conneg_format("application/openmetrics-text;q=1.001") == TEXT);
}

static void test_malformed(void)
{
	CHECK(conneg_format(",,,") == TEXT);
	CHECK(conneg_format("garbage") == TEXT);
	CHECK(conneg_format("/,;=\"") == TEXT);
	CHECK(conneg_format("application/openmetrics-text;version=\"1.0.0") == TEXT);
	CHECK(conneg_format("a/b;x=\"q=1,\" , application/openmetrics-text") == OM);
	CHECK(conneg_format("application/openmetrics-text ; q=0.5 , text/plain ; q=0.4") == OM);
	CHECK(conneg_format("application/openmetrics-text;;q=0.5,text/plain;q=0.4") == OM);
	CHECK(conneg_format("@@@,application/openmetrics-text") == OM);
}

static void test_gzip(void)
{
	CHECK(!conneg_gzip(NULL));
	CHECK(!conneg_gzip(""));
	CHECK(conneg_gzip("gzip"));
	CHECK(conneg_gzip("gzip, deflate, br"));
	CHECK(conneg_gzip("deflate, GZIP;q=0.5"));
	CHECK(conneg_gzip("x-gzip"));
	CHECK(conneg_gzip("*"));
	CHECK(!conneg_gzip("gzip;q=0"));
	CHECK(!conneg_gzip("gzip;q=0, *"));
	CHECK(!conneg_gzip("identity"));
	CHECK(!conneg_gzip("deflate"));
	CHECK(!conneg_gzip("gzip;q=0.5, identity"));
	CHECK(conneg_gzip("gzip;q=0.5, identity;q=0.5"));
	CHECK(!conneg_gzip("gzip;q=bad"));
}

int main(void)
{
	RUN_TEST(test_prometheus_headers);
	RUN_TEST(test_defaults_and_wildcards);
	RUN_TEST(test_q_values);
	RUN_TEST(test_malformed);
	RUN_TEST(test_gzip);
	return HARNESS_EXIT();
}
