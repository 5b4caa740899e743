# ringlb. `make` builds build/ringlb; `make test` runs every test;
# `make demo` starts a demo; `make bench` compares with HAProxy and NGINX.
CC      ?= gcc
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 -Wall -Wextra -Werror -Iinclude -Isrc -I$(B)/gen -D_GNU_SOURCE -pthread
LDLIBS   = -luring -linih -lcares -lssl -lcrypto -lm -pthread
# Plugins (balance = plugin:PATH) call back into ringlb (rlb_backend_param,
# the balancer helpers): the binary exports its symbols to them.
LDFLAGS += -rdynamic
SAN      = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

B = build
# src/ by layer: core (the io_uring loop, connections, timers), http (the
# proxy: sessions, upstreams, parser, rewrite), balance (what the balancer
# modules share), control (the control thread: health, admin); config.c,
# generation.c (a reload's unit) and main.c on top.
CORE_SRCS = $(sort $(wildcard src/*/*.c)) src/config.c src/generation.c $(wildcard balancers/*.c) $(B)/gen/dashboard_html.c
HEADERS = $(wildcard include/ringlb/*.h src/*/*.h)
PLUGINS = $(B)/plugins/first_available.so $(B)/plugins/bad_plugin.so
SRCS = $(CORE_SRCS) src/main.c
# The experiment tools (algorithm comparison): a load generator and a test
# server, each in src/tools/NAME/, sharing src/tools/common/ and ringlb's
# parser (the load generator also its histograms).
TOOL_COMMON = $(wildcard src/tools/common/*.c) src/http/http_parser.c src/core/addr.c src/core/units.c
LOAD_SRCS = $(sort $(wildcard src/tools/load/*.c)) $(TOOL_COMMON) src/metrics/histogram.c
TESTSERVER_SRCS = $(sort $(wildcard src/tools/testserver/*.c)) $(TOOL_COMMON)
TOOLS = $(B)/ringlb-load $(B)/ringlb-testserver
TOOL_HEADERS = $(wildcard src/tools/*/*.h)
OBJS = $(SRCS:%.c=$(B)/obj/%.o)
UNIT_TESTS = $(patsubst tests/unit/%.c,$(B)/tests/%,$(wildcard tests/unit/test_*.c))

.PHONY: FORCE install uninstall all test unit integration integration-asan demo bench bench-balancers bench-slow compare clean deps fuzz soak \
        fuzz-proxy fuzz-proxy-short

all: $(B)/ringlb $(B)/plugins/first_available.so $(TOOLS)

# Balancer plugins: shared objects loaded with "balance = plugin:PATH".
$(B)/plugins/%.so: balancers/examples/%.c include/ringlb/balancer.h include/ringlb/server.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -shared -fPIC -o $@ $<

$(B)/plugins/bad_plugin.so: tests/unit/bad_plugin.c include/ringlb/balancer.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -shared -fPIC -o $@ $<

# The dashboard page, served from the binary (nothing fetched from elsewhere):
# its bytes as a C array, made with od (coreutils).
$(B)/gen/dashboard_html.c: src/control/dashboard.html
	@mkdir -p $(dir $@)
	@{ echo '/* Generated from src/control/dashboard.html by the Makefile. */'; \
	  echo 'const unsigned char rlb_dashboard_html[] = {'; \
	  od -An -v -tx1 $< | sed 's/ *\([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	  echo '0 };'; echo 'const unsigned rlb_dashboard_html_len = sizeof(rlb_dashboard_html) - 1;'; } > $@

# The commit ringlb is built from (`ringlb --version`): rewritten only when it
# changes, so an unchanged tree rebuilds nothing.
$(B)/gen/git_describe.h: FORCE
	@mkdir -p $(dir $@)
	@v=$$(git describe --always --dirty 2>/dev/null || echo unknown); \
	  echo "#define RLB_GIT_DESCRIBE \"$$v\"" > $@.tmp; cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@
$(B)/obj/src/main.o $(B)/asan-obj/src/main.o: $(B)/gen/git_describe.h
FORCE:

$(B)/ringlb: $(OBJS)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/ringlb-load: $(LOAD_SRCS:%.c=$(B)/obj/%.o)
	$(CC) $(CFLAGS) -o $@ $^ -luring -lm

$(B)/ringlb-testserver: $(TESTSERVER_SRCS:%.c=$(B)/obj/%.o)
	$(CC) $(CFLAGS) -o $@ $^ -luring -lm

# The tools with ASan and UBSan, for the sanitized integration run.
$(B)/asan/ringlb-load: $(LOAD_SRCS) $(HEADERS) $(TOOL_HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -O1 $(SAN) -o $@ $(LOAD_SRCS) -luring -lm

$(B)/asan/ringlb-testserver: $(TESTSERVER_SRCS) $(HEADERS) $(TOOL_HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -O1 $(SAN) -o $@ $(TESTSERVER_SRCS) -luring -lm

# The tools' objects also depend on their own headers (ringlb's do not).
$(patsubst %.c,$(B)/obj/%.o,$(filter src/tools/%,$(LOAD_SRCS) $(TESTSERVER_SRCS))): $(TOOL_HEADERS)

$(B)/obj/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# The sources built once with ASan and UBSan, for the unit tests and the
# sanitized ringlb (compiling them again for each test took most of make test).
ASAN_CORE_OBJS = $(CORE_SRCS:%.c=$(B)/asan-obj/%.o)
$(B)/asan-obj/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -O1 $(SAN) -c -o $@ $<

# Unit tests link the core (not main.c), built with ASan and UBSan; a test of
# a tool includes the tool's .c files it tests.
$(B)/tests/%: tests/unit/%.c $(ASAN_CORE_OBJS) $(HEADERS) $(TOOL_HEADERS) $(wildcard tests/unit/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -O1 $(SAN) -Itests/unit -o $@ $< $(ASAN_CORE_OBJS) $(LDLIBS) -lcmocka

# Node's llhttp corpus sits beside the checkout (shared/); without it the
# conformance test reports itself skipped.
LLHTTP_DIR ?= ../shared/conformance/llhttp
$(B)/llhttp_cases.tsv: tests/conformance/llhttp_cases.py
	@mkdir -p $(B)
	@if [ -d $(LLHTTP_DIR) ]; then python3 $< $(LLHTTP_DIR) $@; else echo "no $(LLHTTP_DIR): conformance skipped"; : > $@; fi

unit: $(UNIT_TESTS) $(B)/llhttp_cases.tsv $(PLUGINS)
	@set -e; for t in $(UNIT_TESTS); do echo "== $$t"; \
	  RLB_LLHTTP_CASES=$(B)/llhttp_cases.tsv ASAN_OPTIONS=detect_leaks=1 $$t; done

# The experiment tools' own tests (test_load_tool, test_testserver,
# test_compare) run once, in the sanitized pass below, with the tools built
# with ASan too: running them against the release ringlb as well added a
# minute and nothing of ringlb's.
TOOL_TESTS = test_compare,test_load_tool,test_testserver
integration: $(B)/ringlb $(PLUGINS) $(TOOLS)
	RINGLB_SKIP_MODULES=$(TOOL_TESTS) python3 tests/integration/run.py

# The same integration suite against ringlb built with ASan and UBSan: memory
# errors in the event loop show up as a sanitizer report, which fails the test.
# LeakSanitizer is on: at exit every worker closes what is left and frees each
# connection by the same path as in service, so a leak anywhere fails the run.
$(B)/asan/ringlb: $(ASAN_CORE_OBJS) $(B)/asan-obj/src/main.o
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -O1 $(SAN) -o $@ $^ $(LDLIBS)

integration-asan: $(B)/asan/ringlb $(PLUGINS) $(B)/asan/ringlb-load $(B)/asan/ringlb-testserver
	RINGLB_BINARY=$(B)/asan/ringlb RINGLB_TOOLS_DIR=$(B)/asan ASAN_OPTIONS=detect_leaks=1 python3 tests/integration/run.py

# On a fresh machine the Debian packages come first, as for make demo
# (scripts/install-deps.sh says what it installs, or the command to run).
test: deps
	$(MAKE) unit integration integration-asan fuzz-proxy-short

deps:
	scripts/install-deps.sh

demo: deps
	$(MAKE) all
	scripts/demo.sh

bench: $(B)/ringlb
	scripts/install-deps.sh --bench
	scripts/bench-peers --matrix

# ns per pick per balancer, Maglev rebuild time (optimised build, no sanitizers).
$(B)/bench_balancers: tests/bench/bench_balancers.c $(CORE_SRCS) $(wildcard include/ringlb/*.h tests/unit/*.h)
	@mkdir -p $(B)
	$(CC) $(CFLAGS) -O2 -Itests/unit -o $@ $< $(CORE_SRCS) $(LDLIBS)

bench-balancers: $(B)/bench_balancers
	$(B)/bench_balancers

# One server 100x slower than two others: each algorithm's share to it, end to end.
bench-slow: $(B)/ringlb
	scripts/install-deps.sh --bench
	scripts/bench-slow-server

# make install [PREFIX=/usr/local] [DESTDIR=]: the balancer in sbin, the
# experiment tools in bin, the man page (made from the README by
# scripts/gen-man, so the two agree), the plugin headers, the systemd unit
# (pointing at PREFIX/sbin) and the demo config as an example.
PREFIX ?= /usr/local
$(B)/ringlb.8: README.md scripts/gen-man include/ringlb/version.h
	@mkdir -p $(dir $@)
	scripts/gen-man README.md $$(sed -n 's/.*RLB_VERSION "\(.*\)"/\1/p' include/ringlb/version.h) > $@

install: all $(B)/ringlb.8
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man8 \
	  $(DESTDIR)$(PREFIX)/include/ringlb $(DESTDIR)$(PREFIX)/lib/systemd/system $(DESTDIR)$(PREFIX)/share/doc/ringlb
	install -m 755 $(B)/ringlb $(DESTDIR)$(PREFIX)/sbin/ringlb
	install -m 755 $(TOOLS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(B)/ringlb.8 $(DESTDIR)$(PREFIX)/share/man/man8/ringlb.8
	install -m 644 include/ringlb/*.h $(DESTDIR)$(PREFIX)/include/ringlb/
	sed 's|@SBINDIR@|$(PREFIX)/sbin|g' configs/ringlb.service > $(DESTDIR)$(PREFIX)/lib/systemd/system/ringlb.service
	install -m 644 configs/demo.ini $(DESTDIR)$(PREFIX)/share/doc/ringlb/ringlb.ini.example
	@echo "installed under $(DESTDIR)$(PREFIX); config: /etc/ringlb/ringlb.ini (example in share/doc/ringlb)"

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/sbin/ringlb $(DESTDIR)$(PREFIX)/bin/ringlb-load $(DESTDIR)$(PREFIX)/bin/ringlb-testserver \
	  $(DESTDIR)$(PREFIX)/share/man/man8/ringlb.8 $(DESTDIR)$(PREFIX)/lib/systemd/system/ringlb.service
	rm -rf $(DESTDIR)$(PREFIX)/include/ringlb $(DESTDIR)$(PREFIX)/share/doc/ringlb

# Every algorithm a scenario names under identical load (configs/scenarios/):
# results/NAME/TIMESTAMP/report.md and report.html.
SCENARIO ?= configs/scenarios/one-slow-server.ini
compare: all
	scripts/compare-algorithms $(SCENARIO)

# Chaos soak against the ASan build: misbehaving clients and a dying server.
SOAK_SECONDS ?= 60
soak: $(B)/asan/ringlb $(PLUGINS)
	ASAN_OPTIONS=detect_leaks=1 scripts/soak --seconds $(SOAK_SECONDS) --binary $(B)/asan/ringlb

# libFuzzer on the parser (clang): FUZZ_SECONDS bounds the run.
FUZZ_SECONDS ?= 60
$(B)/fuzz_http_parser: tests/fuzz/fuzz_http_parser.c src/http/http_parser.c include/ringlb/http_parser.h
	@mkdir -p $(B)/fuzz-corpus
	clang -g -O1 -Iinclude -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -o $@ $< src/http/http_parser.c

fuzz: $(B)/fuzz_http_parser
	$(B)/fuzz_http_parser -max_total_time=$(FUZZ_SECONDS) -max_len=4096 $(B)/fuzz-corpus

# Differential fuzzer of the whole proxy (tests/fuzz/proxy) on the ASan build:
# generated request streams and server responses, several clients sharing
# pooled server connections, every byte checked (no desync, no cross-talk, no
# replay, no crash or leak); Node's llhttp corpus joins in when present.
# FUZZ_PROXY_SECONDS bounds it; FUZZ_PROXY_SEED=N repeats a run.
FUZZ_PROXY_SECONDS ?= 60
FUZZ_PROXY = ASAN_OPTIONS=detect_leaks=1 python3 tests/fuzz/proxy/fuzz_proxy.py --binary $(B)/asan/ringlb \
             --corpus $(B)/llhttp_cases.tsv $(if $(FUZZ_PROXY_SEED),--seed $(FUZZ_PROXY_SEED))

fuzz-proxy: $(B)/asan/ringlb $(B)/llhttp_cases.tsv $(PLUGINS)
	$(FUZZ_PROXY) --seconds $(FUZZ_PROXY_SECONDS)

# The bounded run inside make test: 20 s from a fixed seed (the same streams each
# run, so a CI failure replays), minimised for at most 30 s more on a failure.
fuzz-proxy-short: $(B)/asan/ringlb $(B)/llhttp_cases.tsv
	$(FUZZ_PROXY) --seconds 20 --minimize-seconds 30 $(if $(FUZZ_PROXY_SEED),,--seed 1)

clean:
	rm -rf $(B)
