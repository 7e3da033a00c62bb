# testudo -- one non-recursive Makefile.
#
#   make            build/testudo, build/testudo.so, build/libtestudo.a
#   make run        the demo shell on SQLite
#   make test       every test (unit, Lua specs, shell); SANITIZE=address,undefined
#   make check      the quick loop (< 30 s): unit tests, Lua specs on SQLite,
#                   the shell tests that need no server
#   make fuzz       each libFuzzer harness of tests/fuzz for FUZZ_SECONDS
#                   (60) with clang, ASan and UBSan; installs clang first
#   make bench      tests/bench: testudo beside the raw driver, ratios
#                   (BENCH_N=10000, BENCH_RUNS=5, BENCH_TARGETS="memory file";
#                   BACKENDS=all adds PostgreSQL and MariaDB), start-up
#                   times, and the memory of 1M rows (BENCH_MEM_N; 0: none)
#   make deps       install missing Debian packages (as root)
#
# `run` and `test` install the packages first, then build in a second
# make: the pkg-config flags below are read when a make starts, so they
# must be read after `make deps` on a fresh machine.
#   make install    PREFIX=/usr/local DESTDIR= (LUA_CMOD_DIR: see install)
#   make uninstall  the same variables

PREFIX  ?= /usr/local
DESTDIR ?=
B       := build
CC      ?= cc
V       ?= 0
SANITIZE ?=
NPROC   := $(shell nproc 2>/dev/null || echo 1)
# the second make of `run` and `test`: parallel unless -j was given
SUBMAKE  = $(MAKE) --no-print-directory $(if $(filter -j%,$(MAKEFLAGS)),,-j$(NPROC))

ifeq ($(V),0)
Q  := @
QP  = @printf '  %-6s %s\n' $(1) $(2);
else
Q  :=
QP  =
endif

PKGS      := sqlite3 libpq libmariadb lua5.4 readline libpcre2-8 uuid jansson
PKG_CFLAGS = $(shell pkg-config --cflags sqlite3 libpq lua5.4 libpcre2-8 uuid jansson 2>/dev/null)
# libpq and libmariadb are loaded when first used (orm/dlib.c), not linked
# PCRE2: SQLite's REGEXP (the regex lookups); libuuid: UUIDField keys;
# jansson: SQLite's JSON containment (the JSONField contains lookups)
PKG_LIBS   = $(shell pkg-config --libs sqlite3 libpcre2-8 uuid jansson 2>/dev/null) -ldl -lpthread
# the benchmark's raw-driver twins call the drivers directly
DRIVER_LIBS = $(shell pkg-config --libs libpq libmariadb 2>/dev/null)
MARIADB_CFLAGS = $(shell pkg-config --cflags libmariadb 2>/dev/null)
LUA_LIBS   = $(shell pkg-config --libs lua5.4 2>/dev/null)
RL_LIBS    = $(shell pkg-config --libs readline 2>/dev/null || echo -lreadline)
# libcsv (the shell's CSV: .import, .export, .mode csv) has no .pc file
CSV_LIBS   = -lcsv
CMOCKA_LIBS = $(shell pkg-config --libs cmocka 2>/dev/null || echo -lcmocka)

WARN    := -Wall -Wextra -Wno-unused-parameter -Wwrite-strings \
           -Wmissing-prototypes -Wshadow
CFLAGS  ?= -O2 -g
ALL_CFLAGS := -std=gnu17 $(WARN) $(CFLAGS) -fPIC -fvisibility=hidden \
              -I. -Iorm -Ilua_bindings -I$(B)/gen $(PKG_CFLAGS) -MMD -MP
ALL_LDFLAGS := $(LDFLAGS)
ifneq ($(SANITIZE),)
ALL_CFLAGS  += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
ALL_LDFLAGS += -fsanitize=$(SANITIZE)
endif

ORM_SRC   := $(sort $(wildcard orm/*.c))
LB_SRC    := $(sort $(wildcard lua_bindings/*.c))
LB_LUA    := $(sort $(wildcard lua_bindings/testudo/*.lua))
SH_SRC    := $(sort $(wildcard shell/*.c))
SHOP_LUA  := $(sort $(wildcard examples/shop/*.lua))
UNIT_SRC  := $(sort $(wildcard tests/unit/test_*.c))

ORM_OBJ   := $(ORM_SRC:%.c=$(B)/%.o)
LB_OBJ    := $(LB_SRC:%.c=$(B)/%.o) $(B)/gen/lua_embed.o
SH_OBJ    := $(SH_SRC:%.c=$(B)/%.o) $(B)/gen/shop_embed.o \
             $(B)/gen/prelude_embed.o
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)

LIBA   := $(B)/libtestudo.a
LIBSO  := $(B)/libtestudo.so
LUAMOD := $(B)/testudo.so
SHELL_BIN := $(B)/testudo

.PHONY: all run test check unit lua-test shell-test deps install uninstall \
        clean format fuzz fuzz-build bench FORCE
all: $(LIBA) $(LIBSO) $(LUAMOD) $(SHELL_BIN) $(B)/testudo.pc $(UNIT_BIN) \
     $(B)/examples/c/shop_report

# Rebuild everything when the flags change (say, SANITIZE on or off).
# Without the libraries' development packages every pkg-config flag is
# empty: say so once instead of a compiler error.
$(B)/.flags: FORCE
	@pkg-config --exists $(PKGS) 2>/dev/null && \
	    test -f /usr/include/csv.h || { \
	    echo "testudo: missing development packages; run 'make deps' as root" \
	        "(or 'make test' / 'make run', which do)" >&2; exit 1; }
	@mkdir -p $(B)
	@echo '$(ALL_CFLAGS) $(ALL_LDFLAGS)' | cmp -s - $@ || \
	    echo '$(ALL_CFLAGS) $(ALL_LDFLAGS)' > $@

$(B)/%.o: %.c $(B)/.flags
	@mkdir -p $(dir $@)
	$(call QP,CC,$<)$(CC) $(ALL_CFLAGS) -c $< -o $@

# libmariadb's cflags define _XOPEN_SOURCE: only for its backend.
$(B)/orm/backend_mysql.o: orm/backend_mysql.c $(B)/.flags
	@mkdir -p $(dir $@)
	$(call QP,CC,$<)$(CC) $(ALL_CFLAGS) $(MARIADB_CFLAGS) -c $< -o $@

# Pure-Lua parts and the shop example are embedded as C arrays (the folder
# is a prerequisite too: removing a file changes its time).
$(B)/gen/lua_embed.c: $(LB_LUA) lua_bindings/testudo tools/embed.sh
	@mkdir -p $(dir $@)
	$(call QP,GEN,$@)sh tools/embed.sh tdo_lua_sources $(LB_LUA) > $@
$(B)/gen/shop_embed.c: $(SHOP_LUA) tools/embed.sh
	@mkdir -p $(dir $@)
	$(call QP,GEN,$@)sh tools/embed.sh tdo_shop_sources $(SHOP_LUA) > $@
$(B)/gen/prelude_embed.c: shell/prelude.lua tools/embed.sh
	@mkdir -p $(dir $@)
	$(call QP,GEN,$@)sh tools/embed.sh tdo_prelude_sources shell/prelude.lua > $@
$(B)/gen/%.o: $(B)/gen/%.c $(B)/.flags
	$(call QP,CC,$<)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIBA): $(ORM_OBJ)
	$(call QP,AR,$@)rm -f $@ && ar rcs $@ $^
$(LIBSO): $(ORM_OBJ)
	$(call QP,LD,$@)$(CC) -shared -o $@ $^ $(ALL_LDFLAGS) $(PKG_LIBS) -lm
# The Lua module is not linked against liblua.
$(LUAMOD): $(LB_OBJ) $(ORM_OBJ)
	$(call QP,LD,$@)$(CC) -shared -o $@ $^ $(ALL_LDFLAGS) $(PKG_LIBS) -lm
# The shell exports its symbols (-Wl,-E) so C modules can be required.
$(SHELL_BIN): $(SH_OBJ) $(LB_OBJ) $(LIBA)
	$(call QP,LD,$@)$(CC) -Wl,-E -o $@ $(SH_OBJ) $(LB_OBJ) $(LIBA) \
	    $(ALL_LDFLAGS) $(LUA_LIBS) $(RL_LIBS) $(CSV_LIBS) $(PKG_LIBS) -lm -ldl
$(B)/tests/%: tests/unit/%.c $(LIBA) $(B)/.flags
	@mkdir -p $(dir $@)
	$(call QP,CC,$<)$(CC) $(ALL_CFLAGS) -o $@ $< $(LIBA) $(ALL_LDFLAGS) \
	    $(CMOCKA_LIBS) $(PKG_LIBS) -lm
$(B)/examples/c/shop_report: examples/c/shop_report.c $(LIBA) $(B)/.flags
	@mkdir -p $(dir $@)
	$(call QP,CC,$<)$(CC) $(ALL_CFLAGS) -o $@ $< $(LIBA) $(ALL_LDFLAGS) \
	    $(PKG_LIBS) -lm
# testudo.pc names PREFIX: made again whenever PREFIX changes.
$(B)/testudo.pc: $(B)/.prefix
	$(call QP,GEN,$@)printf 'prefix=%s\nlibdir=$${prefix}/lib\nincludedir=$${prefix}/include\n\nName: libtestudo\nDescription: testudo ORM core\nVersion: 0.1.0\nRequires.private: sqlite3 libpcre2-8 uuid jansson\nLibs: -L$${libdir} -ltestudo\nLibs.private: -ldl -lpthread -lm\nCflags: -I$${includedir}\n' '$(PREFIX)' > $@
$(B)/.prefix: FORCE
	@mkdir -p $(B)
	@echo '$(PREFIX)' | cmp -s - $@ || echo '$(PREFIX)' > $@

run: deps
	@$(SUBMAKE) all
	$(SHELL_BIN) --demo

deps:
	@sh tools/deps.sh

test: deps
	@$(SUBMAKE) all
	@sh tests/run.sh "$(B)" "$(SANITIZE)"

check: all
	@TESTUDO_TEST_BACKENDS=sqlite sh tests/run.sh "$(B)" "$(SANITIZE)" quick

unit: all
	@sh tests/run.sh "$(B)" "$(SANITIZE)" unit
lua-test: all
	@sh tests/run.sh "$(B)" "$(SANITIZE)" lua
shell-test: all
	@sh tests/run.sh "$(B)" "$(SANITIZE)" shell

# ---- benchmarks (tests/bench; timings never go into the test suite) ------
BENCH_N       ?= 10000
BENCH_RUNS    ?= 5
BENCH_MEM_N   ?= 1000000
BENCH_TARGETS ?= memory file
BACKENDS      ?= sqlite
BENCH_BIN     := $(B)/bench/bench
BENCH_OBJ     := $(B)/tests/bench/bench.o $(B)/tests/bench/raw_sqlite.o \
                 $(B)/tests/bench/raw_pg.o $(B)/tests/bench/raw_mysql.o

$(BENCH_BIN): $(BENCH_OBJ) $(LB_OBJ) $(LIBA)
	@mkdir -p $(dir $@)
	$(call QP,LD,$@)$(CC) -o $@ $(BENCH_OBJ) $(LB_OBJ) $(LIBA) \
	    $(ALL_LDFLAGS) $(LUA_LIBS) $(PKG_LIBS) $(DRIVER_LIBS) -lm -ldl

bench: deps
	@$(SUBMAKE) $(BENCH_BIN) $(LUAMOD) $(SHELL_BIN)
	@BENCH_MEM_N=$(BENCH_MEM_N) sh tests/bench/run.sh $(BENCH_BIN) \
	    $(BENCH_N) $(BENCH_RUNS) "$(BENCH_TARGETS)" "$(BACKENDS)"

# libmariadb's cflags define _XOPEN_SOURCE: only for its twin.
$(B)/tests/bench/raw_mysql.o: tests/bench/raw_mysql.c $(B)/.flags
	@mkdir -p $(dir $@)
	$(call QP,CC,$<)$(CC) $(ALL_CFLAGS) $(MARIADB_CFLAGS) -c $< -o $@

# ---- fuzzing (clang's libFuzzer), in build/fuzz ---------------------------
FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang
FB           := $(B)/fuzz
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS   = -std=gnu17 -g -O1 -I. -Iorm $(PKG_CFLAGS) $(FUZZ_SAN)
FUZZ_NAMES   := $(sort $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_BINS    := $(FUZZ_NAMES:%=$(FB)/fuzz_%)
FUZZ_ORM_OBJ := $(ORM_SRC:%.c=$(FB)/%.o)

$(FB)/orm/%.o: orm/%.c
	@mkdir -p $(dir $@)
	$(call QP,FUZZCC,$<)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link \
	    $(if $(findstring backend_mysql,$<),$(MARIADB_CFLAGS)) -c $< -o $@
$(FB)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_ORM_OBJ) shell/sugar.c
	$(call QP,FUZZLD,$@)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< \
	    $(FUZZ_ORM_OBJ) $(PKG_LIBS) -lm

fuzz-build: $(FUZZ_BINS)
.SECONDARY: $(FUZZ_ORM_OBJ)

# Each harness runs FUZZ_SECONDS from its seeds (tests/fuzz/corpus/NAME),
# growing a corpus of its own in build/fuzz; a crash stops make, and its
# input is left in build/fuzz/crash-* to become a regression test.
fuzz:
	@sh tools/deps.sh fuzz
	@$(SUBMAKE) fuzz-build
	@sh tests/fuzz/run.sh "$(FB)" "$(FUZZ_SECONDS)" $(FUZZ_NAMES)

format:
	clang-format -i orm/*.[ch] lua_bindings/*.[ch] shell/*.[ch] tests/unit/*.c examples/c/*.c

# Where `require "testudo"` finds the module: the lua5.4 package's own
# C module folder when installing into its prefix (Debian:
# /usr/lib/x86_64-linux-gnu/lua/5.4), else PREFIX/lib/lua/5.4, which
# Debian's Lua searches under /usr/local.  LUA_CMOD_DIR overrides it.
LUA_PREFIX   = $(shell pkg-config --variable=prefix lua5.4 2>/dev/null)
LUA_CMOD_DIR ?= $(if $(filter $(LUA_PREFIX),$(PREFIX)),$(shell \
                pkg-config --variable=INSTALL_CMOD lua5.4 2>/dev/null),$(PREFIX)/lib/lua/5.4)
INSTALLED = bin/testudo lib/libtestudo.a lib/libtestudo.so include/testudo.h \
            lib/pkgconfig/testudo.pc share/man/man1/testudo.1 \
            share/man/man3/libtestudo.3 share/man/man7/testudo-lua.7

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib \
	    $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig \
	    $(DESTDIR)$(LUA_CMOD_DIR) \
	    $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man3 \
	    $(DESTDIR)$(PREFIX)/share/man/man7
	install -m 755 $(SHELL_BIN) $(DESTDIR)$(PREFIX)/bin/testudo
	install -m 644 $(LIBA) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(LIBSO) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(LUAMOD) $(DESTDIR)$(LUA_CMOD_DIR)/testudo.so
	install -m 644 orm/testudo.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 $(B)/testudo.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/
	install -m 644 man/testudo.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 644 man/libtestudo.3 $(DESTDIR)$(PREFIX)/share/man/man3/
	install -m 644 man/testudo-lua.7 $(DESTDIR)$(PREFIX)/share/man/man7/
uninstall:
	rm -f $(INSTALLED:%=$(DESTDIR)$(PREFIX)/%) $(DESTDIR)$(LUA_CMOD_DIR)/testudo.so

clean:
	rm -rf $(B)

-include $(shell find $(B) -name '*.d' 2>/dev/null)
