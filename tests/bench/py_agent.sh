#!/bin/sh
# py_agent.sh: `make bench` part: the Python agent's cost (tests/bench/py_agent_bench.py). Figures only.
set -u
PYTHON=${PYTHON:-python3}
"$PYTHON" "$(dirname "$0")/py_agent_bench.py" "$@" || echo "py_agent: could not run"
exit 0
