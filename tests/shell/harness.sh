# harness.sh: PASS/FAIL lines for the shell tests, sourced by tests/shell/test_*.sh.
#
# begin; ...; fail MESSAGE (as often as needed); ...; end NAME prints
# "PASS NAME" or "FAIL NAME", as the test binaries do; $failures counts the
# FAILs, for the script's exit status.

failures=0
failed=0

# fail MESSAGE: the running test fails, and says why on stderr.
fail() {
	echo "  $*" >&2
	failed=1
}

begin() {
	failed=0
}

end() {
	if [ "$failed" -eq 0 ]; then
		echo "PASS $1"
	else
		echo "FAIL $1"
		failures=$((failures + 1))
	fi
}
