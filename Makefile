# stp - Secure Transport Proxy toolkit.  `make run`, `make test`.
# Local overrides (CC, CFLAGS, prefix, ...) go in config.mak.
-include config.mak

prefix     ?= /usr/local
bindir     ?= $(prefix)/bin
mandir     ?= $(prefix)/share/man
datadir    ?= $(prefix)/share
unitdir    ?= $(prefix)/lib/systemd/system
libdir     ?= $(prefix)/lib
DESTDIR    ?=
CC         ?= cc
CFLAGS     ?= -O2 -g
PKG_CONFIG ?= pkg-config
FUZZ_SECONDS ?= 20

# FLAVOR selects the object directory: plain, or san (ASan + UBSan).
FLAVOR ?= plain
ifeq ($(FLAVOR),san)
SAN_FLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
endif

PKGS      = openssl libcurl jansson libcares krb5-gssapi
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)

ALL_CFLAGS  = -std=gnu11 -Wall -Wextra -Wshadow -Wformat=2 -Wmissing-prototypes -Werror \
              -D_GNU_SOURCE -Ilibcommon \
              $(PKG_CFLAGS) $(SAN_FLAGS) $(CFLAGS) -MMD -MP
ALL_LDFLAGS = $(SAN_FLAGS) $(LDFLAGS)
# http-parser (libhttp-parser-dev) has no pkg-config file
LIBS        = $(PKG_LIBS) -lhttp_parser -lpthread

O = build/$(FLAVOR)

PROGRAMS += stp-serve
PROGRAMS += stp-connect
PROGRAMS += stp-udp
PROGRAMS += stp-mcast
PROGRAMS += stp-bind
PROGRAMS += stp-resolve
PROGRAMS += stp-probe

# libcommon/proto: the pure codec: bytes in, structs out, no I/O
COMMON_OBJS += libcommon/proto/err.o
COMMON_OBJS += libcommon/proto/cmd.o
COMMON_OBJS += libcommon/proto/socks5.o
COMMON_OBJS += libcommon/proto/socks4.o
COMMON_OBJS += libcommon/proto/stpopts.o
COMMON_OBJS += libcommon/proto/mux.o
COMMON_OBJS += libcommon/proto/reply.o
COMMON_OBJS += libcommon/proto/url.o
COMMON_OBJS += libcommon/proto/addr.o
COMMON_OBJS += libcommon/proto/httpconn.o
COMMON_OBJS += libcommon/proto/handshake.o
COMMON_OBJS += libcommon/proto/hint.o
COMMON_OBJS += libcommon/proto/noproxy.o
COMMON_OBJS += libcommon/proto/dns.o
COMMON_OBJS += libcommon/proto/dnspick.o
COMMON_OBJS += libcommon/proto/dgram.o
COMMON_OBJS += libcommon/proto/proxyproto.o
COMMON_OBJS += libcommon/proto/gssmsg.o
COMMON_OBJS += libcommon/proto/cidr.o
COMMON_OBJS += libcommon/proto/scope.o
COMMON_OBJS += libcommon/proto/httpreq.o
COMMON_OBJS += libcommon/proto/httpmsg.o
COMMON_OBJS += libcommon/proto/placeholder.o

# libcommon/core: the loop and what runs on it: sockets, relay, TLS, resolver, messages
COMMON_OBJS += libcommon/core/unixsock.o
COMMON_OBJS += libcommon/core/fdrecv.o
COMMON_OBJS += libcommon/core/opts.o
COMMON_OBJS += libcommon/core/msg.o
COMMON_OBJS += libcommon/core/json.o
COMMON_OBJS += libcommon/core/logesc.o
COMMON_OBJS += libcommon/core/event.o
COMMON_OBJS += libcommon/core/evloop.o
COMMON_OBJS += libcommon/core/relay.o
COMMON_OBJS += libcommon/core/resolver.o
COMMON_OBJS += libcommon/core/sock.o
COMMON_OBJS += libcommon/core/tls.o
COMMON_OBJS += libcommon/core/activate.o
COMMON_OBJS += libcommon/core/gssprot.o

# libcommon/client: the client side: hops, chains, the client programs' engines
COMMON_OBJS += libcommon/client/client.o
COMMON_OBJS += libcommon/client/hslog.o
COMMON_OBJS += libcommon/client/detect.o
COMMON_OBJS += libcommon/client/diagnose.o
COMMON_OBJS += libcommon/client/target.o
COMMON_OBJS += libcommon/client/stream.o
COMMON_OBJS += libcommon/client/bindc.o
COMMON_OBJS += libcommon/client/clientcfg.o
COMMON_OBJS += libcommon/client/cfgfetch.o
COMMON_OBJS += libcommon/client/clientopts.o
COMMON_OBJS += libcommon/client/dnsclient.o
COMMON_OBJS += libcommon/client/dnsstub.o
COMMON_OBJS += libcommon/client/udpclient.o
COMMON_OBJS += libcommon/client/udpio.o
COMMON_OBJS += libcommon/client/wrapagent.o
COMMON_OBJS += libcommon/client/wraphandoff.o
COMMON_OBJS += libcommon/client/wrapudp.o
COMMON_OBJS += libcommon/client/wrapdirect.o
COMMON_OBJS += libcommon/client/wrapexec.o
COMMON_OBJS += libcommon/client/gsserr.o
COMMON_OBJS += libcommon/client/gssauth.o
COMMON_OBJS += libcommon/client/gssstream.o
COMMON_OBJS += libcommon/client/gssrelay.o
COMMON_OBJS += libcommon/client/gssudp.o
COMMON_OBJS += libcommon/client/gsswire.o

# libcommon/mux: MUX: the engine of both ends, its client links
COMMON_OBJS += libcommon/mux/muxconn.o
COMMON_OBJS += libcommon/mux/muxlink.o
COMMON_OBJS += libcommon/mux/muxmaster.o

# libcommon/server: stp-serve
COMMON_OBJS += libcommon/server/server.o
COMMON_OBJS += libcommon/server/session.o
COMMON_OBJS += libcommon/server/sessgss.o
COMMON_OBJS += libcommon/server/sessprot.o
COMMON_OBJS += libcommon/server/protrelay.o
COMMON_OBJS += libcommon/server/upstream.o
COMMON_OBJS += libcommon/server/upmux.o
COMMON_OBJS += libcommon/server/upcarry.o
COMMON_OBJS += libcommon/server/upudp.o
COMMON_OBJS += libcommon/server/upresolve.o
COMMON_OBJS += libcommon/server/httpidle.o
COMMON_OBJS += libcommon/server/frameq.o
COMMON_OBJS += libcommon/server/logsess.o
COMMON_OBJS += libcommon/server/config.o
COMMON_OBJS += libcommon/server/stats.o
COMMON_OBJS += libcommon/server/workers.o
COMMON_OBJS += libcommon/server/handoff.o
COMMON_OBJS += libcommon/server/nat.o
COMMON_OBJS += libcommon/server/egress.o
COMMON_OBJS += libcommon/server/httpsrv.o
COMMON_OBJS += libcommon/server/httpfwd.o
COMMON_OBJS += libcommon/server/httploop.o
COMMON_OBJS += libcommon/server/statsreq.o
COMMON_OBJS += libcommon/server/statsring.o
COMMON_OBJS += libcommon/server/statshttp.o
COMMON_OBJS += libcommon/server/statsapi.o
COMMON_OBJS += libcommon/server/transparent.o
COMMON_OBJS += libcommon/server/transparent_udp.o
COMMON_OBJS += libcommon/server/statsboard.o
COMMON_OBJS += libcommon/server/uphealth.o
# the status page, made into C by tools/embed (the rule below)
COMMON_OBJS += build/gen/statspage.o

# libcommon/server/cmd: stp-serve: one file per command
COMMON_OBJS += libcommon/server/cmd/cmd_connect.o
COMMON_OBJS += libcommon/server/cmd/cmd_features.o
COMMON_OBJS += libcommon/server/cmd/cmd_config.o
COMMON_OBJS += libcommon/server/cmd/cmd_resolve.o
COMMON_OBJS += libcommon/server/cmd/cmd_dns.o
COMMON_OBJS += libcommon/server/cmd/cmd_mux.o
COMMON_OBJS += libcommon/server/cmd/cmd_bind.o
COMMON_OBJS += libcommon/server/cmd/cmd_bindmulti.o
COMMON_OBJS += libcommon/server/cmd/cmd_udp.o
COMMON_OBJS += libcommon/server/cmd/cmd_mcast.o
COMMON_OBJS += libcommon/server/cmd/dgsess.o
COMMON_OBJS += libcommon/server/cmd/dgtx.o

# libcommon/server/policy: stp-serve: who may do what
COMMON_OBJS += libcommon/server/policy/passwd.o
COMMON_OBJS += libcommon/server/policy/users.o
COMMON_OBJS += libcommon/server/policy/authq.o
COMMON_OBJS += libcommon/server/policy/rules.o
COMMON_OBJS += libcommon/server/policy/ratelimit.o
COMMON_OBJS += libcommon/server/policy/authurl.o
COMMON_OBJS += libcommon/server/policy/gssauth.o
COMMON_OBJS += libcommon/server/policy/policy.o
COMMON_OBJS += libcommon/server/policy/mcastpol.o

# libcommon/probe: stp-probe's engine
COMMON_OBJS += libcommon/probe/probe.o
COMMON_OBJS += libcommon/probe/probe_io.o
COMMON_OBJS += libcommon/probe/probe_report.o
COMMON_OBJS += libcommon/probe/probe_http.o
COMMON_OBJS += libcommon/probe/probe_hproxy.o

# libcommon/cli: for main() only: the option loop, fatal messages
COMMON_OBJS += libcommon/cli/die.o
COMMON_OBJS += libcommon/cli/cli.o
COMMON_OBJS += libcommon/cli/dgramcli.o

# libcommon/wrap: stp-connect --wrap's preload library, bin/libstp-wrap.so:
# built a second time as position-independent code (build/pic), never with
# the sanitizers (it is loaded into programs built without them), from
# wrap/ and the few proto/ files it needs
WRAP_OBJS += libcommon/wrap/agentio.o
WRAP_OBJS += libcommon/wrap/preload.o
WRAP_OBJS += libcommon/wrap/names.o
WRAP_OBJS += libcommon/wrap/udp.o
WRAP_OBJS += libcommon/proto/placeholder.o
WRAP_OBJS += libcommon/proto/noproxy.o

UNIT_TESTS += test-socks
UNIT_TESTS += test-url
UNIT_TESTS += test-target
UNIT_TESTS += test-hint
UNIT_TESTS += test-urlscrub
UNIT_TESTS += test-addr
UNIT_TESTS += test-passwd
UNIT_TESTS += test-handshake
UNIT_TESTS += test-httpconn
UNIT_TESTS += test-dnspick
UNIT_TESTS += test-relay
UNIT_TESTS += test-dgram
UNIT_TESTS += test-clientcfg
UNIT_TESTS += test-rules
UNIT_TESTS += test-mcastpol
UNIT_TESTS += test-dns
UNIT_TESTS += test-ratelimit
UNIT_TESTS += test-config
UNIT_TESTS += test-frameq
UNIT_TESTS += test-muxconn
UNIT_TESTS += test-tls
UNIT_TESTS += test-authq
UNIT_TESTS += test-dnswalk
UNIT_TESTS += test-opts
UNIT_TESTS += test-logesc
UNIT_TESTS += test-proxyproto
UNIT_TESTS += test-scope
UNIT_TESTS += test-statsring
UNIT_TESTS += test-dgtx
UNIT_TESTS += test-gssmsg
UNIT_TESTS += test-fdrecv

FUZZERS += fuzz-socks5
FUZZERS += fuzz-socks4
FUZZERS += fuzz-url
FUZZERS += fuzz-udp-mux
FUZZERS += fuzz-dns
FUZZERS += fuzz-clientcfg
FUZZERS += fuzz-dgram
FUZZERS += fuzz-users
FUZZERS += fuzz-rules
FUZZERS += fuzz-config
FUZZERS += fuzz-stats-http
FUZZERS += fuzz-logline
FUZZERS += fuzz-proxyproto
FUZZERS += fuzz-httpconn
FUZZERS += fuzz-http-request
FUZZERS += fuzz-gssmsg
FUZZERS += fuzz-gssdgram
FUZZERS += fuzz-gssrd
FUZZERS += fuzz-http-message

PROGRAM_BINS = $(addprefix bin/,$(PROGRAMS))
WRAP_SO      = bin/libstp-wrap.so
PIC_O        = build/pic
PIC_OBJS     = $(addprefix $(PIC_O)/,$(WRAP_OBJS))
PIC_CFLAGS   = -std=gnu11 -Wall -Wextra -Wshadow -Wformat=2 -Wmissing-prototypes -Werror \
               -D_GNU_SOURCE -Ilibcommon -fPIC -fvisibility=hidden $(CFLAGS) -MMD -MP
LIB          = $(O)/libcommon.a
LIB_OBJS     = $(addprefix $(O)/,$(COMMON_OBJS))
UNIT_BINS    = $(addprefix $(O)/tests/unit/,$(UNIT_TESTS))

# program and unit-test objects are kept (not deleted as intermediates)
.SECONDARY: $(addprefix $(O)/bin/,$(PROGRAMS:=.o)) $(UNIT_BINS:=.o)
.PHONY: all run test check sanitize fuzz bench install clean deps test-deps FORCE
all: $(PROGRAM_BINS) $(WRAP_SO)

# The binaries in bin/ are of one flavor at a time; this stamp changes when
# the flavor does, so switching between `make` and `make sanitize` relinks.
build/flavor: FORCE
	@mkdir -p build
	@[ "$$(cat $@ 2>/dev/null)" = "$(FLAVOR)" ] || echo "$(FLAVOR)" > $@

$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

build/gen/statspage.c: libcommon/server/statspage.html tools/embed
	@mkdir -p $(dir $@)
	tools/embed $< stats_page_html >$@.tmp && mv $@.tmp $@

$(PIC_O)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(PIC_CFLAGS) -c -o $@ $<

$(WRAP_SO): $(PIC_OBJS)
	$(CC) -shared -Wl,-z,defs -o $@ $^ -ldl -lpthread

$(LIB): $(LIB_OBJS)
	rm -f $@
	$(AR) rcs $@ $^

bin/stp-%: $(O)/bin/stp-%.o $(LIB) build/flavor
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIB) $(LIBS)

$(O)/tests/unit/%: $(O)/tests/unit/%.o $(LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIB) $(LIBS)

units: $(UNIT_BINS)

deps:
	@tools/install-deps build

test-deps:
	@tools/install-deps test

# The two commands of the README.  Each installs what is missing first, then
# builds in a fresh make (so pkg-config sees what was just installed).
run: deps
	@$(MAKE) --no-print-directory all
	bin/stp-serve -l 127.0.0.1:1080

# SUITES="udp mux units" runs only those (tests/run's names).
test: test-deps
	@$(MAKE) --no-print-directory all units
	@tests/run $(O) $(SUITES)

check: test

sanitize: test-deps
	@$(MAKE) --no-print-directory FLAVOR=san CFLAGS="-O1 -g" all units
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
		STP_SANITIZE=1 tests/run build/san $(SUITES)

# make fuzz: the library again, compiled by clang with libFuzzer's coverage
# hooks and ASan + UBSan (objects in build/fuzz/obj/, archived into
# build/fuzz/libcommon.a), and each target linked against it, so the
# fuzzers run the very code the programs do.
FUZZ_CC     ?= clang
FUZZ_O       = build/fuzz
FUZZ_SAN     = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS  = -std=gnu11 -g -O1 -Wall -Wextra -Werror -D_GNU_SOURCE -Ilibcommon \
               $(PKG_CFLAGS) -fsanitize=fuzzer-no-link $(FUZZ_SAN) -MMD -MP
FUZZ_LIB     = $(FUZZ_O)/libcommon.a
FUZZ_OBJS    = $(addprefix $(FUZZ_O)/obj/,$(COMMON_OBJS))
FUZZ_BINS    = $(addprefix $(FUZZ_O)/,$(FUZZERS))
.SECONDARY: $(addprefix $(FUZZ_O)/obj/tests/fuzz/,$(FUZZERS:=.o))
.PHONY: fuzz-deps fuzzers

$(FUZZ_O)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_LIB): $(FUZZ_OBJS)
	rm -f $@
	$(AR) rcs $@ $^

$(FUZZ_BINS): $(FUZZ_O)/%: $(FUZZ_O)/obj/tests/fuzz/%.o $(FUZZ_LIB)
	$(FUZZ_CC) -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $< $(FUZZ_LIB) $(PKG_LIBS) -lhttp_parser -lpthread

fuzzers: $(FUZZ_BINS)

fuzz-deps:
	@tools/install-deps fuzz

# Like run: what is missing is installed first, then a fresh make builds.
fuzz: fuzz-deps
	@$(MAKE) --no-print-directory fuzzers
	@for f in $(FUZZERS); do \
		mkdir -p build/fuzz/corpus-$$f; \
		echo "fuzz $$f for $(FUZZ_SECONDS)s"; \
		build/fuzz/$$f -max_total_time=$(FUZZ_SECONDS) -timeout=5 \
			-artifact_prefix=build/fuzz/$$f- \
			build/fuzz/corpus-$$f tests/fuzz/corpus/$$f 2>build/fuzz/$$f.log \
			|| { tail -40 build/fuzz/$$f.log; exit 1; }; \
	done

-include $(FUZZ_OBJS:.o=.d) $(addprefix $(FUZZ_O)/obj/tests/fuzz/,$(FUZZERS:=.d))

bench: all
	tools/bench --with-ssh
	tools/bench-udp
	tools/bench-mux

install: all
	install -d $(DESTDIR)$(bindir) $(DESTDIR)$(mandir)/man1
	install -m 755 $(PROGRAM_BINS) $(DESTDIR)$(bindir)
	install -d $(DESTDIR)$(libdir)/stp
	install -m 644 $(WRAP_SO) $(DESTDIR)$(libdir)/stp
	install -m 644 $(addprefix man/,$(addsuffix .1,$(PROGRAMS))) $(DESTDIR)$(mandir)/man1
	install -d $(DESTDIR)$(mandir)/man7
	install -m 644 man/stp-protocol.7 $(DESTDIR)$(mandir)/man7
	install -d $(DESTDIR)$(datadir)/bash-completion/completions \
		$(DESTDIR)$(datadir)/zsh/vendor-completions \
		$(DESTDIR)$(datadir)/fish/vendor_completions.d
	for p in $(PROGRAMS); do \
		install -m 644 completions/stp.bash $(DESTDIR)$(datadir)/bash-completion/completions/$$p; \
		install -m 644 completions/_$$p $(DESTDIR)$(datadir)/zsh/vendor-completions/_$$p; \
		install -m 644 completions/$$p.fish $(DESTDIR)$(datadir)/fish/vendor_completions.d/$$p.fish; \
	done
	install -d $(DESTDIR)$(unitdir)
	sed 's|/usr/bin/stp-serve|$(bindir)/stp-serve|' tools/systemd/stp-serve.service \
		>$(DESTDIR)$(unitdir)/stp-serve.service
	chmod 644 $(DESTDIR)$(unitdir)/stp-serve.service
	install -m 644 tools/systemd/stp-serve.socket $(DESTDIR)$(unitdir)

clean:
	rm -rf build $(PROGRAM_BINS) $(WRAP_SO)

-include $(PIC_OBJS:.o=.d)
-include $(LIB_OBJS:.o=.d) $(addprefix $(O)/bin/,$(PROGRAMS:=.d)) $(UNIT_BINS:=.d)
