# fuzz/build.mk - libFuzzer harnesses (see fuzz/README.md).
#
# Every fuzz/NAME.c is a harness for one parser, seeded from
# fuzz/corpus/NAME/.  lib/ is compiled again with clang, coverage
# instrumentation, ASan and UBSan into fuzz/out/, apart from the normal
# objects, so `make` and `make fuzz` never share an object file.  Nothing
# here is part of `make all` or `make install`.
#
#   make fuzz                 each harness for FUZZ_SECONDS (60)
#   make fuzz-smoke           each harness for FUZZ_SMOKE_SECONDS (2), for CI
#   make fuzz FUZZ=addr       only the named harnesses
#   make fuzz-build           build without running

FUZZ_CC            ?= clang
FUZZ_SECONDS       ?= 60
FUZZ_SMOKE_SECONDS ?= 2
FUZZ_SAN           := -fsanitize=address,undefined -fno-sanitize-recover=all
# clang-only warnings must not stop a fuzz build; va_list printf wrappers are fine
FUZZ_CFLAGS        := $(CSTD) $(filter-out -Werror,$(WARN)) -Wno-format-nonliteral -O1 -g -fno-omit-frame-pointer \
		$(FUZZ_SAN) -fsanitize=fuzzer-no-link -Ilib -Ifuzz/common -MMD -MP
# libraries lib/ objects may need; only those a harness uses are linked
FUZZ_LIBS          := -Wl,--as-needed -ltls -lldns

FUZZ_ALL   := $(sort $(basename $(notdir $(wildcard fuzz/*.c))))
FUZZ       ?= $(FUZZ_ALL)
FUZZ_BINS  := $(FUZZ_ALL:%=fuzz/out/bin/%)
FUZZ_LIBA  := fuzz/out/libsluice-fuzz.a
# heap.c and memcopy.c are built for the musl programs only; here without
# replacing malloc and memcpy
FUZZ_LOBJ  := $(LIB_SRC:lib/%.c=fuzz/out/lib/%.o) fuzz/out/lib/heap.o fuzz/out/lib/memcopy.o
FUZZ_COBJ  := fuzz/out/common/fuzz.o

fuzz/out/lib/%.o: lib/%.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

fuzz/out/common/%.o: fuzz/common/%.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

fuzz/out/harness/%.o: fuzz/%.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_LIBA): $(FUZZ_LOBJ)
	rm -f $@
	$(AR) rcs $@ $^

fuzz/out/bin/%: fuzz/out/harness/%.o $(FUZZ_COBJ) $(FUZZ_LIBA)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $< $(FUZZ_COBJ) $(FUZZ_LIBA) $(FUZZ_LIBS)

fuzz-build: $(FUZZ_BINS)

fuzz: fuzz-build
	fuzz/run $(FUZZ_SECONDS) $(FUZZ)

fuzz-smoke: fuzz-build
	fuzz/run $(FUZZ_SMOKE_SECONDS) $(FUZZ)

fuzz-clean:
	rm -rf fuzz/out

clean: fuzz-clean

.PHONY: fuzz fuzz-build fuzz-smoke fuzz-clean
.PRECIOUS: fuzz/out/harness/%.o fuzz/out/lib/%.o
-include $(wildcard fuzz/out/*/*.d)
