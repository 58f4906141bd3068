#!/usr/bin/python3
# itest_prom_compare.py: parses a text 0.0.4 and an OpenMetrics exposition with
# prometheus_client's parsers and checks they carry the same samples.
#
# Usage: itest_prom_compare.py TEXT_FILE OPENMETRICS_FILE
# Prints one line per difference and exits 1 if any; 0 with "same N samples".
# Values that change between two scrapes (the daemon's own process figures,
# scrape and refresh durations, message counters) are compared by name only.
import math
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_parse
from prometheus_client.parser import text_string_to_metric_families as text_parse

VOLATILE = ("process_", "memprobe_daemon_scrape_duration", "memprobe_daemon_procfs_refresh",
            "memprobe_daemon_messages_received", "memprobe_process_")


def samples(families):
    out = {}
    for fam in families:
        for s in fam.samples:
            key = (s.name, tuple(sorted(s.labels.items())))
            if key in out:
                raise ValueError("duplicate sample %r" % (key,))
            out[key] = float(s.value)
    return out


def main():
    text = open(sys.argv[1], encoding="utf-8").read()
    om = open(sys.argv[2], encoding="utf-8").read()
    if not om.endswith("# EOF\n"):
        print("OpenMetrics body does not end with '# EOF\\n'")
        return 1
    a = samples(text_parse(text))
    b = samples(om_parse(om))
    bad = 0
    for key in sorted(set(a) | set(b)):
        if key not in a or key not in b:
            print("only in %s: %r" % ("text" if key in a else "openmetrics", key))
            bad += 1
        elif not key[0].startswith(VOLATILE) and a[key] != b[key] and not (
                math.isnan(a[key]) and math.isnan(b[key])):
            print("differs: %r text %r openmetrics %r" % (key, a[key], b[key]))
            bad += 1
    if bad:
        return 1
    print("same %d samples" % len(a))
    return 0


if __name__ == "__main__":
    sys.exit(main())
