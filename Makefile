# memprobe: plain Makefile. `make`, `make run`, `make test`; see README.md.

BUILD    ?= build
CC       ?= cc
OPT      ?= -O2 -g
WERROR   ?= -Werror
WARN      = -Wall -Wextra -Wstrict-prototypes -Wmissing-prototypes -Wshadow \
            -Wpointer-arith -Wcast-qual -Wsign-compare $(WERROR)
CPPFLAGS += -D_GNU_SOURCE -Icommon
# Each part sees common/ and its own headers only: the agent cannot include
# the CLI's headers or the daemon's, nor the CLI the daemon's. Tests see all.
INC_DAEMON = -Idaemon
INC_AGENT  = -Iclient/agent
INC_CTL    = -Iclient/ctl
INC_TESTS  = -Itests $(INC_DAEMON) $(INC_AGENT) $(INC_CTL)
BASE_CFLAGS = -std=c11 $(WARN) $(OPT) $(CFLAGS) -MMD -MP
ALL_CFLAGS = $(BASE_CFLAGS) $(SAN)
ALL_LDFLAGS = $(SAN) $(LDFLAGS)
# Sanitizers for the agent and for the test programs it is preloaded into
# (see `make asan`); by default the same as everything else.
AGENT_SAN ?= $(SAN)
PROG_SAN  ?= $(SAN)

VERSION  := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
CPPFLAGS += -DMEMPROBE_VERSION='"$(VERSION)"'

# yaml-0.1 (libyaml): the web config file (daemon/ytree.c). gnutls, which
# libmicrohttpd already runs on: TLS and client certificate checks
# (daemon/tls.c), SHA-256 and base64 for basic auth (daemon/basicauth.c).
# libxcrypt: bcrypt for basic auth (also in the tests).
# The daemon writes its JSON by hand (daemon/api.c); the CLI and the tests
# read JSON with jansson.
PKGS_DAEMON = libmicrohttpd inih zlib gnutls libxcrypt yaml-0.1
PKGS_CTL    = libcurl jansson
PKGS_TEST   = libcurl jansson libxcrypt
PKGS_UNIT   = $(PKGS_DAEMON) jansson
pkg_cflags  = $(shell pkg-config --cflags $(1) 2>/dev/null)
pkg_libs    = $(shell pkg-config --libs $(1) 2>/dev/null)

# libsystemd: readiness, the watchdog, socket activation and its descriptor
# store (daemon/sd.c, daemon/fdstore.c).
PKGS_DAEMON += libsystemd
# libprotobuf-c: pprof profiles (daemon/pprof.c), from daemon/profile.proto.
PKGS_DAEMON += libprotobuf-c
# libdw and libelf (elfutils): addresses to functions and file:line
# (daemon/symbolize.c).
PKGS_DAEMON += libdw libelf
# libstdc++'s __cxa_demangle makes C++ names readable (daemon/demangle.c).

COMMON_SRC = $(wildcard common/*.c)
DAEMON_SRC = $(wildcard daemon/*.c) $(COMMON_SRC)
AGENT_SRC  = $(wildcard client/agent/*.c) $(COMMON_SRC)
CTL_SRC    = $(wildcard client/ctl/*.c) common/procstat.c common/sockpath.c common/utf8.c

DAEMON_OBJ = $(DAEMON_SRC:%.c=$(BUILD)/obj/%.o)
AGENT_OBJ  = $(AGENT_SRC:%.c=$(BUILD)/pic/%.o)
CTL_OBJ    = $(CTL_SRC:%.c=$(BUILD)/obj/%.o)

UNIT_SRC   = $(wildcard tests/unit/test_*.c)
UNIT_BIN   = $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
PROG_SRC   = $(wildcard tests/progs/*.c)
PROG_CXX_SRC = $(wildcard tests/progs/*.cc)
PROG_BIN   = $(PROG_SRC:tests/progs/%.c=$(BUILD)/tests/progs/%) \
             $(PROG_CXX_SRC:tests/progs/%.cc=$(BUILD)/tests/progs/%)
ITEST_SRC  = $(wildcard tests/integration/*.c)
ITEST_OBJ  = $(ITEST_SRC:%.c=$(BUILD)/obj/%.o) $(COMMON_SRC:%.c=$(BUILD)/obj/%.o)
ITEST_BIN  = $(BUILD)/tests/integration

PROGRAMS = $(BUILD)/memprobed $(BUILD)/libmemprobe.so $(BUILD)/memprobectl

.PHONY: all test check run deps clean asan tsan fuzz bench bench-daemon load
all: $(PROGRAMS)

$(BUILD)/obj/common/%.o: common/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/obj/daemon/%.o: daemon/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(INC_DAEMON) $(ALL_CFLAGS) $(call pkg_cflags,$(PKGS_DAEMON)) -c -o $@ $<

$(BUILD)/obj/client/ctl/%.o: client/ctl/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(INC_CTL) $(ALL_CFLAGS) $(call pkg_cflags,$(PKGS_CTL)) -c -o $@ $<

$(BUILD)/obj/tests/%.o: tests/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(INC_TESTS) $(ALL_CFLAGS) $(call pkg_cflags,$(PKGS_TEST)) -c -o $@ $<

# The agent lives in other programs: position-independent, internals hidden.
$(BUILD)/pic/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(INC_AGENT) $(BASE_CFLAGS) $(AGENT_SAN) -fPIC -fvisibility=hidden \
		-ftls-model=initial-exec -c -o $@ $<

# The live page (web/) is compiled into memprobed: tools/embed.sh writes
# its files as C arrays into a generated source, never committed.
WEB_SRC  = web/index.html web/app.js web/app.css
PAGE_GEN = $(BUILD)/gen/page_assets.c
PAGE_OBJ = $(BUILD)/obj/gen/page_assets.o

$(PAGE_GEN): $(WEB_SRC) tools/embed.sh
	@mkdir -p $(@D)
	sh tools/embed.sh $@ $(WEB_SRC)

$(PAGE_OBJ): $(PAGE_GEN)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(INC_DAEMON) $(ALL_CFLAGS) -c -o $@ $<

# pprof's profile.proto (daemon/profile.proto) as C: protoc-c writes
# profile.pb-c.c and .h into $(BUILD)/gen at build time, never committed.
# Only daemon/pprof.c and its unit test include the header; they wait for
# it and see $(BUILD)/gen.
PROTO_SRC = daemon/profile.proto
PROTO_GEN = $(BUILD)/gen/profile.pb-c.c
PROTO_HDR = $(BUILD)/gen/profile.pb-c.h
PROTO_OBJ = $(BUILD)/obj/gen/profile.pb-c.o

$(BUILD)/gen/%.pb-c.c $(BUILD)/gen/%.pb-c.h: daemon/%.proto
	@mkdir -p $(@D)
	protoc-c --proto_path=daemon --c_out=$(@D) $<

$(PROTO_OBJ): $(PROTO_GEN)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(call pkg_cflags,libprotobuf-c) -c -o $@ $<

$(BUILD)/obj/daemon/pprof.o $(BUILD)/tests/test_pprof: $(PROTO_HDR)
$(BUILD)/obj/daemon/pprof.o $(BUILD)/tests/test_pprof: private INC_DAEMON += -I$(BUILD)/gen

$(BUILD)/memprobed: $(DAEMON_OBJ) $(PAGE_OBJ) $(PROTO_OBJ)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(call pkg_libs,$(PKGS_DAEMON)) -lpthread -lm -lstdc++

$(BUILD)/libmemprobe.so: $(AGENT_OBJ)
	$(CC) $(AGENT_SAN) $(LDFLAGS) -shared -Wl,-soname,libmemprobe.so -Wl,-z,nodelete \
		-o $@ $^ -ldl -lpthread -lm

$(BUILD)/memprobectl: $(CTL_OBJ)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(call pkg_libs,$(PKGS_CTL))

# The daemon's modules as an archive, for its unit tests: each links the
# objects it needs, built once.
DAEMON_LIB = $(BUILD)/libmemprobed.a
$(DAEMON_LIB): $(filter-out $(BUILD)/obj/daemon/main.o,$(DAEMON_OBJ)) $(PAGE_OBJ) $(PROTO_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/tests/test_%: tests/unit/test_%.c $(DAEMON_LIB)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(INC_TESTS) $(ALL_CFLAGS) $(call pkg_cflags,$(PKGS_UNIT)) -o $@ $< \
		$(DAEMON_LIB) $(ALL_LDFLAGS) $(call pkg_libs,$(PKGS_UNIT)) -lpthread -lm -lstdc++

# Unit tests of common/ alone link common/ alone.
COMMON_TESTS = $(BUILD)/tests/test_procstat $(BUILD)/tests/test_utf8 $(BUILD)/tests/test_profile
$(COMMON_TESTS): $(BUILD)/tests/test_%: tests/unit/test_%.c $(COMMON_SRC)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(INC_TESTS) $(ALL_CFLAGS) -o $@ $(filter %.c,$^) $(ALL_LDFLAGS) -lm

# The agent's offsets into CPython 3.11's structures, against Debian's
# python3.11-dev headers (-isystem: their warnings are theirs) and its
# libpython, whose types declare their sizes.
$(BUILD)/tests/test_pylayout: tests/unit/test_pylayout.c client/agent/agent_pylayout.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(INC_TESTS) -isystem /usr/include/python3.11 $(ALL_CFLAGS) -o $@ $< \
		$(ALL_LDFLAGS) -lpython3.11

# The agent's counting core without its shim: called directly, never
# preloaded, so nothing is hooked.
AGENT_CORE_SRC = $(addprefix client/agent/,agent_core.c agent_mmap.c agent_outside.c \
                 agent_profile.c agent_python.c agent_region.c agent_util.c)
$(BUILD)/tests/test_agent_core: tests/unit/test_agent_core.c $(AGENT_CORE_SRC) $(COMMON_SRC)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(INC_TESTS) $(ALL_CFLAGS) -o $@ $(filter %.c,$^) $(ALL_LDFLAGS) -lpthread -lm

# Client unit tests link the one ctl module they test, not the daemon.
$(BUILD)/tests/test_ctl_%: tests/unit/test_ctl_%.c client/ctl/ctl_%.c common/utf8.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(INC_TESTS) $(ALL_CFLAGS) $(call pkg_cflags,$(PKGS_CTL)) -o $@ $(filter %.c,$^) \
		$(ALL_LDFLAGS) $(call pkg_libs,$(PKGS_CTL))
# The views print through the formatting helpers.
$(BUILD)/tests/test_ctl_view: client/ctl/ctl_fmt.c
$(BUILD)/tests/test_ctl_sites: client/ctl/ctl_fmt.c client/ctl/ctl_view.c

# Test programs are plain programs: the agent is preloaded, never linked.
# prof_sites is built as Debian builds its programs: -O2, no frame pointers.
PROG_OPT = -O1
PROG_OPT_prof_sites = -O2 -fomit-frame-pointer
$(BUILD)/tests/progs/%: tests/progs/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(INC_TESTS) $(BASE_CFLAGS) $(PROG_SAN) $(or $(PROG_OPT_$*),$(PROG_OPT)) \
		-fno-builtin -o $@ $< \
		$(PROG_SAN) $(LDFLAGS) -lpthread -ldl

# C++ test programs (operator new, exceptions), built as Debian builds C++.
CXX ?= g++
$(BUILD)/tests/progs/%: tests/progs/%.cc
	@mkdir -p $(@D)
	$(CXX) $(CPPFLAGS) $(INC_TESTS) -std=c++17 \
		$(filter-out -Wstrict-prototypes -Wmissing-prototypes,$(WARN)) $(OPT) $(CXXFLAGS) \
		$(PROG_SAN) -MMD -MP -o $@ $< $(PROG_SAN) $(LDFLAGS)

# An allocator for the tests to preload after the agent (tests/progs/lib/).
PROG_LIBS  = $(BUILD)/tests/progs/libbump.so
$(BUILD)/tests/progs/lib%.so: tests/progs/lib/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(BASE_CFLAGS) -O1 -fPIC -fvisibility=hidden -shared -o $@ $< $(LDFLAGS)

$(ITEST_BIN): $(ITEST_OBJ)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(call pkg_libs,$(PKGS_TEST)) -lm

# The region layout and REGISTER as C sees them; tests/python/test_region.py
# holds the Python agent's copy against it.
LAYOUT_BIN = $(BUILD)/tests/region_layout
$(LAYOUT_BIN): tests/python/region_layout.c common/proto.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(INC_TESTS) $(ALL_CFLAGS) -o $@ $(filter %.c,$^) $(ALL_LDFLAGS)

TEST_BINS = $(UNIT_BIN) $(PROG_BIN) $(PROG_LIBS) $(ITEST_BIN) $(LAYOUT_BIN)

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
BENCH_SRC    = $(wildcard tests/bench/*.c)
BENCH_BIN    = $(BENCH_SRC:tests/bench/%.c=$(BUILD)/bench/%)
BENCH_CFLAGS = -O2 -g -fno-builtin
$(BUILD)/bench/%: tests/bench/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -std=c11 $(WARN) $(BENCH_CFLAGS) -MMD -MP -o $@ $< $(LDFLAGS) -lpthread

bench: $(BUILD)/libmemprobe.so $(BUILD)/memprobed $(BENCH_BIN) $(BUILD)/tests/progs/prof_sites \
		$(BUILD)/tests/progs/prof_cases
	@CC="$(CC)" BENCH_CFLAGS="$(BENCH_CFLAGS)" sh tests/bench/run.sh $(BUILD)
	@sh tests/bench/py_agent.sh
	@sh tests/bench/py_depth.sh $(BUILD)
	@python3 tests/bench/py_watch.py $(BUILD) || echo "py_watch: could not run"
	@sh tests/bench/daemon_away.sh $(BUILD)
	@sh tests/bench/fork_loop.sh $(BUILD)
	@sh tests/bench/profile.sh $(BUILD)
	@sh tests/bench/pgbench.sh $(BUILD)
	@sh tests/bench/pyprof.sh $(BUILD)

# The daemon under load (tests/load/): see BENCHMARKS.md, "Daemon" and
# "Load". `make bench-daemon` is the scrape-speed set at 1,000 and 10,000
# processes; `make load` the load test: 1,000 agents at 10 Hz while 50 wrk
# connections read /metrics for LOAD_SECONDS.
LOAD_SECONDS ?= 60
$(BUILD)/load/daemon_load: tests/load/daemon_load.c $(COMMON_SRC)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -std=c11 $(WARN) -O2 -g -MMD -MP -o $@ $(filter %.c,$^) $(LDFLAGS) \
		$(call pkg_libs,libcurl) -lm

bench-daemon: $(BUILD)/memprobed $(BUILD)/load/daemon_load
	@sh tests/bench/deps.sh prometheus-process-exporter || true
	@sh tests/load/run.sh $(BUILD)

load: $(BUILD)/memprobed $(BUILD)/load/daemon_load
	@sh tests/bench/deps.sh wrk || true
	$(BUILD)/load/daemon_load $(BUILD) 1000 100 $(LOAD_SECONDS) --wrk 50

# The suite with the daemon's threads (ingest, /proc refresh, HTTP pool)
# under ThreadSanitizer; the agent and the programs it watches stay plain.
tsan:
	$(MAKE) BUILD=build-tsan SAN="-fsanitize=thread -fno-omit-frame-pointer" AGENT_SAN= PROG_SAN= test

# libFuzzer targets (clang): `make fuzz FUZZ_SECONDS=N` runs each for N s
# on a copy of its committed seeds; see tests/fuzz/run.sh.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 30
FUZZ_FLAGS    = -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
FUZZ_TARGETS  = proto conneg conf addr webconf basicauth route region profile
FUZZ_SRC_proto  = common/proto.c
FUZZ_SRC_region = common/region.c
FUZZ_SRC_profile = common/profile.c daemon/heapprof.c
FUZZ_SRC_conneg = daemon/conneg.c
FUZZ_SRC_conf   = daemon/conf.c daemon/addr.c daemon/log.c common/sockpath.c
FUZZ_SRC_addr   = daemon/addr.c
FUZZ_SRC_webconf = daemon/webconf.c daemon/ytree.c common/utf8.c daemon/webauth.c daemon/tls.c daemon/basicauth.c daemon/addr.c \
	daemon/log.c
FUZZ_LIBS_webconf = $(call pkg_libs,libmicrohttpd gnutls libxcrypt yaml-0.1) -lpthread
FUZZ_SRC_basicauth = daemon/basicauth.c daemon/webconf.c daemon/ytree.c common/utf8.c
FUZZ_LIBS_basicauth = $(call pkg_libs,gnutls libxcrypt yaml-0.1) -lpthread
FUZZ_SRC_route  = daemon/route.c daemon/page.c $(PAGE_GEN)
FUZZ_LIBS_route = $(call pkg_libs,libmicrohttpd)

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(COMMON_SRC) $(wildcard daemon/*.c daemon/*.h) $(PAGE_GEN)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) $(INC_TESTS) -std=c11 $(WARN) $(FUZZ_FLAGS) -o $@ $< $(FUZZ_SRC_$*) \
		$(call pkg_libs,inih) $(FUZZ_LIBS_$*) -lm

fuzz: $(FUZZ_TARGETS:%=$(BUILD)/fuzz/fuzz_%)
	@sh tests/fuzz/run.sh $(BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# Installation: `make install PREFIX=/usr DESTDIR=/tmp/stage`; see README.md,
# "Running under systemd". Files that name installed paths (the service
# unit, the agent drop-in, memprobe.pc) are written for PREFIX. memprobed
# reads /etc/memprobe/memprobed.conf whatever the prefix; an existing one
# is never overwritten (nor removed by uninstall).
PREFIX         ?= /usr/local
BINDIR         ?= $(PREFIX)/bin
SBINDIR        ?= $(PREFIX)/sbin
LIBDIR         ?= $(PREFIX)/lib
INCLUDEDIR     ?= $(PREFIX)/include
PKGCONFIGDIR   ?= $(LIBDIR)/pkgconfig
MANDIR         ?= $(PREFIX)/share/man
DOCDIR         ?= $(PREFIX)/share/doc/memprobe
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR    ?= $(PREFIX)/lib/sysusers.d
CONFDIR         = /etc/memprobe
INSTALL        ?= install
MAN_PAGES       = $(wildcard man/*.[1-8])
INSTALL_SED     = sed -e 's|/usr/local/sbin/memprobed|$(SBINDIR)/memprobed|g' \
		      -e 's|/usr/local/lib/libmemprobe.so|$(LIBDIR)/libmemprobe.so|g' \
		      -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
		      -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(VERSION)|g'

.PHONY: install uninstall
install: $(PROGRAMS)
	@mkdir -p $(BUILD)/install
	$(INSTALL_SED) systemd/memprobed.service >$(BUILD)/install/memprobed.service
	$(INSTALL_SED) systemd/memprobe-agent.conf >$(BUILD)/install/memprobe-agent.conf
	$(INSTALL_SED) client/agent/memprobe.pc.in >$(BUILD)/install/memprobe.pc
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(LIBDIR) \
		$(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(DOCDIR) \
		$(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(CONFDIR)
	$(INSTALL) -m 0755 $(BUILD)/memprobed $(DESTDIR)$(SBINDIR)/memprobed
	$(INSTALL) -m 0755 $(BUILD)/memprobectl $(DESTDIR)$(BINDIR)/memprobectl
	$(INSTALL) -m 0755 $(BUILD)/libmemprobe.so $(DESTDIR)$(LIBDIR)/libmemprobe.so
	$(INSTALL) -m 0644 client/agent/memprobe.h $(DESTDIR)$(INCLUDEDIR)/memprobe.h
	$(INSTALL) -m 0644 $(BUILD)/install/memprobe.pc $(DESTDIR)$(PKGCONFIGDIR)/memprobe.pc
	$(INSTALL) -m 0644 $(BUILD)/install/memprobed.service systemd/memprobed.socket \
		systemd/memprobed-http.socket $(DESTDIR)$(SYSTEMDUNITDIR)/
	$(INSTALL) -m 0644 systemd/memprobe.sysusers $(DESTDIR)$(SYSUSERSDIR)/memprobe.conf
	$(INSTALL) -m 0644 $(BUILD)/install/memprobe-agent.conf $(DESTDIR)$(DOCDIR)/memprobe-agent.conf
	@if [ -e $(DESTDIR)$(CONFDIR)/memprobed.conf ]; then \
		echo "install: keeping the existing $(DESTDIR)$(CONFDIR)/memprobed.conf"; \
	else \
		echo "$(INSTALL) -m 0644 config/memprobed.conf $(DESTDIR)$(CONFDIR)/memprobed.conf"; \
		$(INSTALL) -m 0644 config/memprobed.conf $(DESTDIR)$(CONFDIR)/memprobed.conf; \
	fi
	@for m in $(MAN_PAGES); do \
		d=$(DESTDIR)$(MANDIR)/man$${m##*.}; \
		echo "$(INSTALL) -m 0644 $$m $$d/"; \
		$(INSTALL) -d $$d && $(INSTALL) -m 0644 $$m $$d/ || exit 1; \
	done
	@# On the live system (no DESTDIR), as root: the user and group, the
	@# linker cache, and systemd's view of the units.
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" -eq 0 ]; then \
		if command -v systemd-sysusers >/dev/null 2>&1; then \
			systemd-sysusers $(SYSUSERSDIR)/memprobe.conf; fi; \
		if command -v ldconfig >/dev/null 2>&1; then ldconfig; fi; \
		if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi; \
	fi

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/memprobed $(DESTDIR)$(BINDIR)/memprobectl \
		$(DESTDIR)$(LIBDIR)/libmemprobe.so $(DESTDIR)$(INCLUDEDIR)/memprobe.h \
		$(DESTDIR)$(PKGCONFIGDIR)/memprobe.pc \
		$(DESTDIR)$(SYSTEMDUNITDIR)/memprobed.service \
		$(DESTDIR)$(SYSTEMDUNITDIR)/memprobed.socket \
		$(DESTDIR)$(SYSTEMDUNITDIR)/memprobed-http.socket \
		$(DESTDIR)$(SYSUSERSDIR)/memprobe.conf $(DESTDIR)$(DOCDIR)/memprobe-agent.conf
	@for m in $(MAN_PAGES); do \
		echo "rm -f $(DESTDIR)$(MANDIR)/man$${m##*.}/$${m#man/}"; \
		rm -f $(DESTDIR)$(MANDIR)/man$${m##*.}/$${m#man/}; \
	done
	-rmdir $(DESTDIR)$(DOCDIR) 2>/dev/null
	@echo "uninstall: $(DESTDIR)$(CONFDIR)/memprobed.conf and the user memprobe are left in place"

clean:
	rm -rf $(BUILD) build-asan build-tsan

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
