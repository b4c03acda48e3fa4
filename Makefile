# qosd: one entry point.
#   make            build qosd, qosctl, qos-hook (optimised, no sanitizers) into build/
#   make deps       install the Debian packages the build and the tests need (idempotent)
#   make check      deps + sanitizer build + every test layer; last line "N passed, N failed, N skipped"
#   make check-vm   only the VM layer (cgroup v2, XFS project quotas under qemu)
#   make check-node only the node layer (Debian + systemd + Docker/podman/runc under qemu; image cached)
#   make demo       qosd on conf.d/ with three demo workloads; prints what each got
#   make bench      figures beside the floor measured in the same run
#   make bench-qos  batch beside latency: server p99 and batch CPU, alone / hogs / static / qosd
#   make install    PREFIX=/usr/local DESTDIR=  (make uninstall: the same variables)
#                   qos-hook is linked static when libc.a and libjansson.a exist (faster
#                   container starts; security updates of glibc/jansson need a rebuild);
#                   HOOK_STATIC=0 links it dynamic
#   make format     reformat the sources with .clang-format

PREFIX ?= /usr/local
DESTDIR ?=
SBINDIR ?= $(PREFIX)/sbin
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
UNITDIR ?= $(PREFIX)/lib/systemd/system
LIBEXECDIR ?= $(PREFIX)/libexec/qosd
# OCI hooks go where the runtimes read them whatever PREFIX is: podman 4.3 reads only
# /usr/share/containers/oci/hooks.d unless configured (measured in the node layer: a file in
# /etc/containers/oci/hooks.d is ignored), CRI-O reads that and /etc/containers/oci/hooks.d.
HOOKSDIR ?= /usr/share/containers/oci/hooks.d

SAN ?= 0
ifeq ($(SAN),1)
B ?= build/san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT := -O1
else
B ?= build/rel
SANFLAGS :=
OPT := -O2
endif

CC ?= cc
PKGS := libsystemd inih jansson libnl-3.0 libnl-route-3.0 libudev
MHD_PKG := libmicrohttpd
# pkg-config runs once per make, not once per compile. Goals that only install the packages
# (deps) or hand over to a sub-make after deps may start without them; any other goal stops here
# with the names of the missing ones.
NOPKG_GOALS := deps clean format uninstall check check-unit check-func check-vm check-style demo \
	bench bench-qos fuzz soak fuzz-list
PKG_MISSING := $(shell for p in $(PKGS) $(MHD_PKG); do pkg-config --exists $$p 2>/dev/null || echo $$p; done)
ifneq ($(PKG_MISSING),)
ifneq ($(filter-out $(NOPKG_GOALS),$(or $(MAKECMDGOALS),all)),)
$(error pkg-config finds no $(PKG_MISSING): run "make deps" (or install their -dev packages and pkg-config))
endif
endif
PKG_CFLAGS := $(if $(PKG_MISSING),,$(shell pkg-config --cflags $(PKGS) $(MHD_PKG)))
PKG_LIBS := $(if $(PKG_MISSING),,$(shell pkg-config --libs $(PKGS)))
# only qosd serves metrics: qosctl and qos-hook do not load libmicrohttpd (and gnutls)
MHD_LIBS := $(if $(PKG_MISSING),,$(shell pkg-config --libs $(MHD_PKG)))
WARN := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wmissing-prototypes \
	-Wstrict-prototypes -Wformat=2 -Wno-format-nonliteral -Wduplicated-cond -Wduplicated-branches
# Hardening (issue 12): fortified libc calls (needs -O), a canary in every function with a local
# array, position-independent executables (ASLR for the binary too), and a relocation table made
# read-only before main (full RELRO).
HARDEN_CFLAGS := -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
HARDEN_LDFLAGS := -pie -Wl,-z,relro,-z,now
CFLAGS ?= $(OPT) -g
ALL_CFLAGS = -std=gnu11 -D_GNU_SOURCE $(WARN) $(HARDEN_CFLAGS) $(CFLAGS) $(SANFLAGS) -I. \
	$(PKG_CFLAGS) -MMD -MP
ALL_LDFLAGS = $(HARDEN_LDFLAGS) $(LDFLAGS) $(SANFLAGS)

PROGS := qosd qosctl qos-hook qos-hook-apply
QOSCTL_SRCS := $(wildcard qosd/qosctl-*.c)
PROG_SRCS := qosd/main.c qosd/qosctl.c qosd/qos-hook.c qosd/qos-hook-apply.c $(QOSCTL_SRCS)
# qos-hook's fast path (issue 16): these objects and jansson, nothing else; qos-hook-apply, its
# fallback, has the rest
HOOK_FAST_OBJS := $(patsubst %,$(B)/obj/qosd/%.o,hook-args jsonw ocistate proto units util)
LIB_SRCS := $(filter-out $(PROG_SRCS),$(wildcard qosd/*.c blkio/*.c tc/*.c quota/*.c))
LIB_OBJS := $(LIB_SRCS:%.c=$(B)/obj/%.o)
UNIT_SRCS := $(wildcard tests/unit/test-*.c tests/fake/test-*.c)
UNIT_BINS := $(UNIT_SRCS:tests/%.c=$(B)/tests/%)
HELPER_SRCS := $(wildcard tests/helpers/*.c)
HELPER_BINS := $(HELPER_SRCS:tests/helpers/%.c=$(B)/helpers/%)
# make bench's own programs, built as bench/run.sh builds them, for t-bench-progs (the func layer
# on the host, the VM layer on v2: the VM has no compiler); only the targets that run those layers
BENCH_PROGS := floor qapply
BENCH_HELPER_BINS := $(BENCH_PROGS:%=$(B)/helpers/qb-%)

.PHONY: all deps check check-unit check-func check-vm check-node check-style demo bench bench-qos \
	install uninstall format clean fuzz soak tests
.DELETE_ON_ERROR:

all: $(PROGS:%=$(B)/%)
	@for p in $(PROGS); do ln -sf $(B:build/%=%)/$$p build/$$p; done

deps:
	@tests/deps.sh

$(B)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

# qosd_build_info{version=...}
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo unknown)
$(B)/obj/qosd/metrics.o: ALL_CFLAGS += -DQOSD_VERSION='"$(VERSION)"'

$(B)/libqos.a: $(LIB_OBJS)
	@mkdir -p $(@D)
	@rm -f $@
	ar rcs $@ $^

$(B)/qosd: $(B)/obj/qosd/main.o $(B)/libqos.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) $(MHD_LIBS)
$(B)/qosctl: $(B)/obj/qosd/qosctl.o $(QOSCTL_SRCS:%.c=$(B)/obj/%.o) $(B)/libqos.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)
# qos-hook runs on every container start: it is linked static by default, a static PIE (ASLR
# kept) with glibc's libc.a (libc6-dev) and jansson's libjansson.a (libjansson-dev), when both
# archives are there; dynamic otherwise, with HOOK_STATIC=0, and always with SAN=1. Static, it
# loads nothing at start: 2.4x fewer instructions and 2.1x fewer page faults per registration
# than dynamic (bench/README.md, issue 16). The price: a glibc or jansson security update
# reaches qos-hook only when it is rebuilt (runc, crun's static builds and Go programs ship
# the same way). qosd, qosctl and qos-hook-apply stay dynamic.
HOOK_ARCHIVES_FOUND := $(shell for a in libc.a libjansson.a; do \
	[ -f "$$($(CC) -print-file-name=$$a 2>/dev/null)" ] || exit 0; done; echo 1)
HOOK_STATIC ?= $(if $(HOOK_ARCHIVES_FOUND),1,0)
ifeq ($(HOOK_STATIC)$(SAN),10)
ifeq ($(HOOK_ARCHIVES_FOUND),)
$(error HOOK_STATIC=1: libc.a or libjansson.a not found (install libc6-dev and libjansson-dev))
endif
HOOK_LINK := -static-pie -Wl,-z,relro,-z,now $(LDFLAGS) -l:libjansson.a
else
HOOK_LINK := $(ALL_LDFLAGS) $(shell pkg-config --libs jansson 2>/dev/null)
endif
# relinked when the way changes (make, then make HOOK_STATIC=0, in the same build directory)
$(B)/qos-hook: $(B)/obj/qosd/qos-hook.o $(HOOK_FAST_OBJS) $(B)/hooklink.stamp
	$(CC) -o $@ $(filter-out %.stamp,$^) $(HOOK_LINK)
$(B)/hooklink.stamp: FORCE
	@mkdir -p $(@D)
	@echo '$(HOOK_LINK)' | cmp -s - $@ || echo '$(HOOK_LINK)' >$@
$(B)/qos-hook-apply: $(B)/obj/qosd/qos-hook-apply.o $(B)/libqos.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)
# where qos-hook looks for qos-hook-apply (after its own directory): the object is rebuilt when
# LIBEXECDIR changes (make install PREFIX=...)
$(B)/obj/qosd/qos-hook.o: ALL_CFLAGS += -DQOSD_LIBEXECDIR='"$(LIBEXECDIR)"'
$(B)/obj/qosd/qos-hook.o: $(B)/libexecdir.stamp
$(B)/libexecdir.stamp: FORCE
	@mkdir -p $(@D)
	@echo '$(LIBEXECDIR)' | cmp -s - $@ || echo '$(LIBEXECDIR)' >$@
FORCE:

$(B)/tests/%: $(B)/obj/tests/%.o $(B)/obj/tests/unit/testlib.o $(B)/libqos.a
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) $(MHD_LIBS) -lcmocka
# the runtime making a hierarchy while cg_apply yields (test_v1_made_while_yielding)
$(B)/tests/fake/test-cgroup: ALL_LDFLAGS += -Wl,--wrap=sched_yield
$(B)/helpers/%: tests/helpers/%.c
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -D_GNU_SOURCE -O1 -Wall -Wextra -Werror -o $@ $< -lpthread
$(B)/helpers/qb-%: bench/%.c bench/bench.h
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -o $@ $< -lpthread

tests: $(PROGS:%=$(B)/%) $(UNIT_BINS) $(HELPER_BINS) $(BENCH_HELPER_BINS)

# make check: the README's test command. Everything a fresh Debian machine needs is installed by
# deps; the sanitizer build is what every layer runs.
check: deps
	@$(MAKE) --no-print-directory all $(HELPER_BINS) $(BENCH_HELPER_BINS)
	@$(MAKE) --no-print-directory SAN=1 tests
	@B=build/san tests/run-all.sh

check-unit: deps
	@$(MAKE) --no-print-directory SAN=1 tests
	@B=build/san LAYERS="style unit" tests/run-all.sh
check-func: deps
	@$(MAKE) --no-print-directory SAN=1 tests
	@B=build/san LAYERS="func" tests/run-all.sh
check-vm: deps
	@$(MAKE) --no-print-directory all $(HELPER_BINS) $(BENCH_HELPER_BINS)
	@$(MAKE) --no-print-directory SAN=1 tests
	@B=build/san LAYERS="vm" tests/run-all.sh
check-node: deps
	@$(MAKE) --no-print-directory all $(HELPER_BINS)
	@B=build/san LAYERS="node" tests/run-all.sh
check-style:
	@B=build/san LAYERS="style" tests/run-all.sh

demo: deps
	@$(MAKE) --no-print-directory all $(HELPER_BINS)
	@B=$(B) tests/demo.sh

bench: deps
	@$(MAKE) --no-print-directory all $(HELPER_BINS)
	@B=$(B) bench/run.sh

# batch beside latency (issue 17): DUR=30 s per scenario; run it on a quiet machine. VM=1: the
# same in the cgroup v2 VM of tests/layer-vm.sh (TCG: DUR=20 RATE=50 WORK_US=2000 by default)
bench-qos: deps
	@$(MAKE) --no-print-directory all
ifeq ($(VM),1)
	@mkdir -p $(B)/helpers
	$(CC) -std=gnu11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -o $(B)/helpers/latbench \
		bench/latbench.c -lpthread
	@QT_VM_B=$(B) QT_VM_BENCH=qos tests/layer-vm.sh
else
	@B=$(B) bench/qos.sh
endif

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(SYSCONFDIR)/qosd/conf.d \
		$(DESTDIR)$(SYSCONFDIR)/qosd/examples $(DESTDIR)$(UNITDIR)
	install -m 0755 $(B)/qosd $(DESTDIR)$(SBINDIR)/qosd
	install -m 0755 $(B)/qos-hook $(DESTDIR)$(SBINDIR)/qos-hook
	install -d $(DESTDIR)$(LIBEXECDIR)
	install -m 0755 $(B)/qos-hook-apply $(DESTDIR)$(LIBEXECDIR)/qos-hook-apply
	install -m 0755 $(B)/qosctl $(DESTDIR)$(BINDIR)/qosctl
	install -m 0644 docs/*.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 docs/*.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 conf.d/*.conf $(DESTDIR)$(SYSCONFDIR)/qosd/examples/
	sed 's|@SBINDIR@|$(SBINDIR)|g' contrib/qosd.service.in > $(DESTDIR)$(UNITDIR)/qosd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/qosd.service
	install -d $(DESTDIR)$(HOOKSDIR)
	for f in contrib/hooks.d/*.json; do \
		sed 's|/usr/local/sbin/qos-hook|$(SBINDIR)/qos-hook|g' $$f > $(DESTDIR)$(HOOKSDIR)/$${f##*/}; \
		chmod 0644 $(DESTDIR)$(HOOKSDIR)/$${f##*/}; \
	done
	@echo "installed: qosd, qos-hook in $(SBINDIR), qosctl in $(BINDIR), unit $(UNITDIR)/qosd.service"
	@echo "installed: OCI hooks for podman/CRI-O in $(HOOKSDIR) (calling $(SBINDIR)/qos-hook)"

# The reverse of install, over the same variables; /etc/qosd/conf.d holds the operator's policy
# and stays.
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/qosd $(DESTDIR)$(SBINDIR)/qos-hook $(DESTDIR)$(BINDIR)/qosctl
	rm -f $(DESTDIR)$(LIBEXECDIR)/qos-hook-apply
	-rmdir $(DESTDIR)$(LIBEXECDIR) 2>/dev/null
	rm -f $(patsubst docs/%,$(DESTDIR)$(MANDIR)/man8/%,$(wildcard docs/*.8)) \
		$(patsubst docs/%,$(DESTDIR)$(MANDIR)/man5/%,$(wildcard docs/*.5))
	rm -f $(patsubst conf.d/%,$(DESTDIR)$(SYSCONFDIR)/qosd/examples/%,$(wildcard conf.d/*.conf))
	rm -f $(DESTDIR)$(UNITDIR)/qosd.service
	rm -f $(patsubst contrib/hooks.d/%,$(DESTDIR)$(HOOKSDIR)/%,$(wildcard contrib/hooks.d/*.json))
	-rmdir $(DESTDIR)$(SYSCONFDIR)/qosd/examples 2>/dev/null

clean:
	rm -rf build

# Every object's header dependencies (the programs', the library's, the tests' and the fuzz
# targets'), and the test objects are kept so that a header change rebuilds them.
-include $(wildcard $(B)/obj/*/*.d $(B)/obj/*/*/*.d)
.SECONDARY: $(UNIT_SRCS:%.c=$(B)/obj/%.o) $(B)/obj/tests/unit/testlib.o

# fuzzing
# make fuzz: every libFuzzer target in tests/fuzz/ for FUZZ_SECONDS each (clang, ASan+UBSan,
# a coverage-instrumented copy of the library in build/fuzz/), work corpora merged from the
# seeds, crashes left in build/fuzz/artifacts/<target>/. make check replays the seeds and every
# past crash through $(B)/fuzz-replay/<target> (gcc, tests/layer-fuzz.sh).
FUZZ_SECONDS ?= 200
FUZZ_CC ?= clang
FUZZ_B := build/fuzz
FUZZ_ALL := fuzz-policy fuzz-proto fuzz-state fuzz-ocistate fuzz-pressure fuzz-tasklist
# a target is built once its source and the library code it tests exist
fuzz_ok = $(and $(wildcard tests/fuzz/$(1).c),$(if $(filter fuzz-ocistate,$(1)),$(and \
	$(wildcard qosd/ocistate.c),$(wildcard qosd/ocistate.h)),ok))
FUZZ_TARGETS := $(foreach t,$(FUZZ_ALL),$(if $(call fuzz_ok,$(t)),$(t)))
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
# no -Werror here: gcc's -Werror build (make check) is the gate, and a warning only clang 14 gives
# must not stop the fuzzers
FUZZ_CFLAGS = -std=gnu11 -D_GNU_SOURCE \
	$(filter-out -Werror -Wduplicated-cond -Wduplicated-branches,$(WARN)) -O1 -g $(FUZZ_SAN) \
	-fsanitize=fuzzer-no-link -I. $(PKG_CFLAGS) -MMD -MP
FUZZ_LIB_OBJS := $(LIB_SRCS:%.c=$(FUZZ_B)/obj/%.o)

.PHONY: fuzz-build fuzz-replay fuzz-list

$(FUZZ_B)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@
$(FUZZ_B)/libqos.a: $(FUZZ_LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^
$(FUZZ_B)/bin/%: $(FUZZ_B)/obj/tests/fuzz/%.o $(FUZZ_B)/libqos.a
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(PKG_LIBS) $(MHD_LIBS)
$(B)/fuzz-replay/%: $(B)/obj/tests/fuzz/%.o $(B)/obj/tests/fuzz/replay-main.o $(B)/libqos.a
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) $(MHD_LIBS)

fuzz-list:
	@echo $(FUZZ_TARGETS)
fuzz-replay: $(FUZZ_TARGETS:%=$(B)/fuzz-replay/%)
fuzz-build: $(FUZZ_TARGETS:%=$(FUZZ_B)/bin/%)
fuzz: deps
	@$(MAKE) --no-print-directory fuzz-build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_B=$(FUZZ_B) tests/fuzz/run-fuzz.sh $(FUZZ_TARGETS)

-include $(wildcard $(FUZZ_B)/obj/*/*.d $(FUZZ_B)/obj/*/*/*.d)

# soak
# make soak: the crash and churn tests at full size (QT_SOAK=1: 50 kills of qosd while it applies a
# policy to 200 containers; 2,000 containers made and removed through the hook and the watcher),
# with the fault-injection and valgrind tests, on the sanitizer build as make check runs them.
# Needs root. Output in build/soak.log; last line "N passed, N failed, N skipped".
SOAK_TESTS ?= t-crash t-churn t-faults t-valgrind
SOAK_TIMEOUT ?= 1800
soak: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory SAN=1 tests
	@if [ "$$(id -u)" -ne 0 ]; then echo "SKIP: soak: the func tests need root"; exit 0; fi; \
	for t in $(SOAK_TESTS); do \
		echo "-- $$t (QT_SOAK=1)"; start=$$(date +%s); \
		QT_SOAK=1 QOSD_BIN_DIR=$(CURDIR)/build/san timeout -k 5 $(SOAK_TIMEOUT) bash tests/func/$$t.sh \
			|| echo "FAIL: $$t: exited $$?"; \
		echo "   ($$t: $$(($$(date +%s) - start)) s)"; \
	done 2>&1 | tee build/soak.log; \
	p=$$(grep -c '^PASS: ' build/soak.log); f=$$(grep -c '^FAIL: ' build/soak.log); \
	s=$$(grep -c '^SKIP: ' build/soak.log); echo "$$p passed, $$f failed, $$s skipped"; \
	test "$$f" -eq 0
