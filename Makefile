# yonder — GNU make build.  See README.md and HACKING.md.
#
#   make              build ./yonder
#   make check        install missing Debian packages, build, run every test
#   make DEVELOPER=1  warnings are errors
#   make SANITIZE=address,undefined check
#   make fuzz         libFuzzer targets (needs clang)

CC      ?= cc
PKGS    := libcrypto sqlite3 libzstd libssh
O       := build
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wstrict-prototypes \
           -Wmissing-prototypes -Wno-unused-parameter -iquote src/lib -MMD -MP
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS  += $(PKG_CFLAGS)
LDLIBS  += $(PKG_LIBS)

ifeq ($(DEVELOPER),1)
CFLAGS  += -Werror
endif
ifneq ($(SANITIZE),)
CFLAGS  += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SANITIZE)
O       := build-san
endif

LIB_SRC  := $(sort $(wildcard src/lib/*.c))
CLI_SRC  := $(sort $(wildcard src/cli/*.c))
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
FUZZ_TGT := $(sort $(wildcard tests/fuzz/fuzz_*.c))

LIB_OBJ  := $(LIB_SRC:%.c=$(O)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(O)/%.o)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(O)/tests/unit/%)
REPLAY_BIN := $(FUZZ_TGT:tests/fuzz/%.c=$(O)/tests/fuzz/replay_%)
LIBA     := $(O)/libyonder.a

VERSION := 0.1.0

all: yonder

yonder: $(O)/yonder
	ln -sf $(O)/yonder yonder

$(O)/yonder: $(CLI_OBJ) $(LIBA)
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(LIBA) $(LDLIBS)

$(LIBA): $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DYONDER_VERSION='"$(VERSION)"' -c -o $@ $<

$(O)/tests/unit/%: $(O)/tests/unit/%.o $(O)/tests/unit/tap.o $(LIBA)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(O)/tests/unit/tap.o: tests/unit/tap.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# The fuzz targets, linked with a plain driver that replays files (gcc, no
# clang needed) — that is what `make check` runs.
$(O)/tests/fuzz/replay_%: $(O)/tests/fuzz/%.o $(O)/tests/fuzz/standalone.o $(LIBA)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

tests-bin: $(UNIT_BIN) $(REPLAY_BIN)

deps:
	scripts/install-deps.sh

# prove's summary line ends the output.  Unit tests and fuzz replays are
# executables; shell tests are run by their shebang (--exec env).
# The daemon-offloading cluster tests (t081x) are also runnable alone with
# `make check-offload`.
OFFLOAD_T := $(sort $(wildcard tests/t/t081[0-9]-*.sh))
CHECK_T   := $(sort $(wildcard tests/t/t[0-9]*.sh))

check: deps
	$(MAKE) yonder tests-bin
	O=$(O) prove -j2 --exec env $(UNIT_BIN) $(REPLAY_BIN) $(CHECK_T)

check-offload: deps
	$(MAKE) yonder
	O=$(O) timeout 600 prove --exec env $(OFFLOAD_T)

# make demo: three build machines in namespaces on this host, the daemon
# offloading examples/ to them, then all torn down (root; scripts/demo.sh).
demo: deps
	@$(MAKE) --no-print-directory yonder
	@O=$(O) scripts/demo.sh
.PHONY: demo

fuzz:
	@mkdir -p build-fuzz
	for t in $(FUZZ_TGT); do \
	  clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	    -iquote src/lib $(PKG_CFLAGS) -o build-fuzz/$$(basename $$t .c) $$t $(LIB_SRC) $(PKG_LIBS) || exit 1; \
	done

bench: yonder
	for b in $(filter-out bench/lib.sh bench/nix-peers.sh bench/nixrun.sh,$(sort $(wildcard bench/*.sh))); do $$b || exit 1; done

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-san build-fuzz yonder

.PHONY: all yonder check check-offload deps fuzz bench format clean tests-bin install uninstall
.SECONDARY:

-include $(shell find $(O) -name '*.d' 2>/dev/null)

# make install [PREFIX=/usr/local] [DESTDIR=] [BINDIR=] [MANDIR=]: the binary,
# the man pages (doc/man/*.1, uncompressed) and, as documentation only, the
# example systemd unit (nothing is enabled).  make uninstall removes exactly
# those files, and the doc directories if they are left empty.
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
DOCDIR  ?= $(PREFIX)/share/doc/yonder
INSTALL ?= install
MAN1    := $(sort $(wildcard doc/man/*.1))

install: $(O)/yonder
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(DOCDIR)/examples
	$(INSTALL) -m 0755 $(O)/yonder $(DESTDIR)$(BINDIR)/yonder
	$(INSTALL) -m 0644 $(MAN1) $(DESTDIR)$(MANDIR)/man1/
	$(INSTALL) -m 0644 contrib/yonder-daemon.service $(DESTDIR)$(DOCDIR)/examples/

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/yonder $(addprefix $(DESTDIR)$(MANDIR)/man1/,$(notdir $(MAN1))) \
	  $(DESTDIR)$(DOCDIR)/examples/yonder-daemon.service
	rmdir $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(DOCDIR) 2>/dev/null || true
