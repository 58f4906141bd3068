# memprobe: plain Makefile. `make`, `make run`, `make test`; see README.md.

BUILD    ?= build
CC       ?= cc
OPT      ?= -O2 -g
WERROR   ?= -Werror
WARN      = -Wall -Wextra -Wstrict-prototypes -Wmissing-prototypes -Wshadow \
            -Wpointer-arith -Wcast-qual -Wsign-compare $(WERROR)
CPPFLAGS += -D_GNU_SOURCE -Icommon -Iclient -Idaemon -Itests
BASE_CFLAGS = -std=c11 $(WARN) $(OPT) $(CFLAGS) -MMD -MP
ALL_CFLAGS = $(BASE_CFLAGS) $(SAN)
ALL_LDFLAGS = $(SAN) $(LDFLAGS)
# Sanitizers for the agent and for the test programs it is preloaded into
# (see `make asan`); by default the same as everything else.
AGENT_SAN ?= $(SAN)
PROG_SAN  ?= $(SAN)

VERSION  := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
CPPFLAGS += -DMEMPROBE_VERSION='"$(VERSION)"'

PKGS_DAEMON = libmicrohttpd jansson inih zlib
PKGS_CTL    = libcurl jansson
PKGS_TEST   = libcurl jansson
pkg_cflags  = $(shell pkg-config --cflags $(1) 2>/dev/null)
pkg_libs    = $(shell pkg-config --libs $(1) 2>/dev/null)

COMMON_SRC = common/proto.c
DAEMON_SRC = $(wildcard daemon/*.c) $(COMMON_SRC)
AGENT_SRC  = $(wildcard client/agent_*.c) $(COMMON_SRC)
CTL_SRC    = $(wildcard client/ctl_*.c)

DAEMON_OBJ = $(DAEMON_SRC:%.c=$(BUILD)/obj/%.o)
AGENT_OBJ  = $(AGENT_SRC:%.c=$(BUILD)/pic/%.o)
CTL_OBJ    = $(CTL_SRC:%.c=$(BUILD)/obj/%.o)

UNIT_SRC   = $(wildcard tests/unit/test_*.c)
UNIT_BIN   = $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
PROG_SRC   = $(wildcard tests/progs/*.c)
PROG_BIN   = $(PROG_SRC:tests/progs/%.c=$(BUILD)/tests/progs/%)
ITEST_SRC  = $(wildcard tests/integration/*.c)
ITEST_OBJ  = $(ITEST_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/common/proto.o
ITEST_BIN  = $(BUILD)/tests/integration

PROGRAMS = $(BUILD)/memprobed $(BUILD)/libmemprobe.so $(BUILD)/memprobectl

.PHONY: all test check run deps clean asan tsan fuzz bench bench-daemon
all: $(PROGRAMS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(call pkg_cflags,$(PKGS_DAEMON) $(PKGS_CTL)) -c -o $@ $<

# The agent lives in other programs: position-independent, internals hidden.
$(BUILD)/pic/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(BASE_CFLAGS) $(AGENT_SAN) -fPIC -fvisibility=hidden \
		-ftls-model=initial-exec -c -o $@ $<

$(BUILD)/memprobed: $(DAEMON_OBJ)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(call pkg_libs,$(PKGS_DAEMON)) -lpthread

$(BUILD)/libmemprobe.so: $(AGENT_OBJ)
	$(CC) $(AGENT_SAN) $(LDFLAGS) -shared -Wl,-soname,libmemprobe.so -Wl,-z,nodelete \
		-o $@ $^ -ldl -lpthread

$(BUILD)/memprobectl: $(CTL_OBJ)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(call pkg_libs,$(PKGS_CTL))

$(BUILD)/tests/test_%: tests/unit/test_%.c $(COMMON_SRC) $(filter-out daemon/main.c,$(wildcard daemon/*.c))
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(call pkg_cflags,$(PKGS_DAEMON)) -o $@ $(filter %.c,$^) \
		$(ALL_LDFLAGS) $(call pkg_libs,$(PKGS_DAEMON)) -lpthread

# Client unit tests link the one ctl module they test, not the daemon.
$(BUILD)/tests/test_ctl_%: tests/unit/test_ctl_%.c client/ctl_%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(call pkg_cflags,$(PKGS_CTL)) -o $@ $(filter %.c,$^) \
		$(ALL_LDFLAGS) $(call pkg_libs,$(PKGS_CTL))

# Test programs are plain programs: the agent is preloaded, never linked.
$(BUILD)/tests/progs/%: tests/progs/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(BASE_CFLAGS) $(PROG_SAN) -O1 -fno-builtin -o $@ $< \
		$(PROG_SAN) $(LDFLAGS) -lpthread -ldl

$(ITEST_BIN): $(ITEST_OBJ)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(call pkg_libs,$(PKGS_TEST))

TEST_BINS = $(UNIT_BIN) $(PROG_BIN) $(ITEST_BIN)

# Installs what is missing when run as root; otherwise names it.
deps:
	@sh tests/deps.sh

test: deps $(PROGRAMS) $(TEST_BINS)
	@sh tests/run.sh $(BUILD)

check: test

run: deps $(PROGRAMS) $(BUILD)/tests/progs/demo
	@sh tests/run-demo.sh $(BUILD)

# The whole suite under ASan+UBSan. The daemon, the CLI and the tests get
# both; the agent gets UBSan only, since ASan must own malloc itself and
# would have to be preloaded before it; the programs the agent is preloaded
# into are plain, as in real use.
ASAN_FLAGS = -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
asan:
	$(MAKE) BUILD=build-asan SAN="$(ASAN_FLAGS)" \
		AGENT_SAN="-fsanitize=undefined -fno-sanitize-recover=undefined" PROG_SAN= test

# Benchmarks: measurements printed as tables (see BENCHMARKS.md), never a
# failure on the figures. The programs are plain, with malloc calls kept.
BENCH_SRC    = $(filter-out tests/bench/daemon_%,$(wildcard tests/bench/*.c))
BENCH_BIN    = $(BENCH_SRC:tests/bench/%.c=$(BUILD)/bench/%)
BENCH_CFLAGS = -O2 -g -fno-builtin
$(BUILD)/bench/%: tests/bench/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -std=c11 $(WARN) $(BENCH_CFLAGS) -MMD -MP -o $@ $< $(LDFLAGS) -lpthread

bench: $(BUILD)/libmemprobe.so $(BENCH_BIN)
	@CC="$(CC)" BENCH_CFLAGS="$(BENCH_CFLAGS)" sh tests/bench/run.sh $(BUILD)

# The daemon under load (tests/bench/daemon_*): see BENCHMARKS.md, "Daemon".
$(BUILD)/bench/daemon_load: tests/bench/daemon_load.c $(COMMON_SRC)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -std=c11 $(WARN) -O2 -g -MMD -MP -o $@ $(filter %.c,$^) $(LDFLAGS) \
		$(call pkg_libs,libcurl)

bench-daemon: $(BUILD)/memprobed $(BUILD)/bench/daemon_load
	@sh tests/bench/daemon_run.sh $(BUILD)

# The suite with the daemon's threads (ingest, /proc refresh, HTTP pool)
# under ThreadSanitizer; the agent and the programs it watches stay plain.
tsan:
	$(MAKE) BUILD=build-tsan SAN="-fsanitize=thread -fno-omit-frame-pointer" AGENT_SAN= PROG_SAN= test

# libFuzzer targets (clang): `make fuzz FUZZ_SECONDS=N` runs each for N s
# on a copy of its committed seeds; see tests/fuzz/run.sh.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 30
FUZZ_FLAGS    = -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
FUZZ_TARGETS  = proto conneg conf addr
FUZZ_SRC_proto  = common/proto.c
FUZZ_SRC_conneg = daemon/conneg.c
FUZZ_SRC_conf   = daemon/conf.c daemon/addr.c daemon/log.c
FUZZ_SRC_addr   = daemon/addr.c

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(COMMON_SRC) $(wildcard daemon/*.c daemon/*.h)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) -std=c11 $(WARN) $(FUZZ_FLAGS) -o $@ $< $(FUZZ_SRC_$*) \
		$(call pkg_libs,inih)

fuzz: $(FUZZ_TARGETS:%=$(BUILD)/fuzz/fuzz_%)
	@sh tests/fuzz/run.sh $(BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

clean:
	rm -rf $(BUILD) build-asan build-tsan

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
