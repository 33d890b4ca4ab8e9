# lib/build.mk - how the per-connection and per-message programs are linked
# (the measurements are in bench/README.md, "Results").
#
# Each exec of a program linked against glibc costs ~650 microseconds of CPU
# on a virtual machine before main() runs: glibc's start-up reads the CPU's
# cache geometry with some 60 CPUID instructions, each a trap to the
# hypervisor (~10 us).  A dynamic libtls adds ~3.7 million instructions of
# symbol binding for libcrypto and libssl.  smtp-recv runs once per
# connection and queue-inject once per message, so both costs are paid on
# every message.  Hence two helpers:
#
#   $(call static_libs,L)  links the libraries L from their .a archives
#       (no symbol binding at exec); glibc stays shared.  Used by the
#       programs that need libtls or ldns (smtp-recv-tls, deliver-remote).
#
#   MUSL_CC, $(MUSL_LIB)   a program that needs only the C library (no NSS,
#       no external library) is linked statically against musl, whose
#       start-up does no CPUID: ~100 us per exec.  smtp-recv is one: its
#       musl build links tlsio_absent.c instead of libtls and execs
#       smtp-recv-tls (glibc, static libtls) only for a connection that
#       wants TLS (smtp-recv/build.mk).  queue-run is one too, for a
#       cheaper posix_spawn per delivery (queue-run/build.mk).  musl
#       resolves accounts (getpwnam) from /etc/passwd and, for the rest,
#       through nscd: a site whose mail accounts come from LDAP or sssd
#       runs nscd or unscd, or builds with MUSL_CC= (INSTALL).  musl-out/
#       holds lib/ compiled again with musl-gcc, apart from the glibc
#       objects.  Without musl-gcc (Debian: musl-tools) such a program is
#       linked against glibc as usual.
#
# Debian's musl-gcc cannot link a static PIE (its libc.a is not built for
# one), so a musl program's own code sits at a fixed address; its stack,
# heap and mappings are still randomized.  Neither helper changes a line of
# the programs.  A statically linked program carries its own copy of the
# libraries: rebuild after a security update of libssl, libcrypto, libtls,
# ldns or musl.  SANITIZE=1 links everything dynamically against
# glibc, as the sanitizer runtimes expect.  The Makefile reads this file before
# the programs' build.mk, which test MUSL_CC as they are read.
ifeq ($(SANITIZE),1)
static_libs   = $(1)
MUSL_CC      :=
else
static_libs   = -Wl,-Bstatic $(1) -Wl,-Bdynamic
MUSL_CC      ?= $(shell command -v musl-gcc 2>/dev/null)
endif

# lib/ files that need a library besides the C library; the rest is built
# for musl too
LIB_EXTERNAL := authres dkim dkimsign dmarc dns ruleauth spf tlsio
# lib/ files only in the musl archive: tlsio_absent.c implements tlsio.h
# without a TLS library (tlsio_available() is 0), so the musl smtp-recv
# links and hands TLS to smtp-recv-tls (smtp-recv/build.mk).  The glibc
# archive keeps tlsio.c alone: one definition of each symbol per archive.
LIB_MUSL_ONLY := tlsio_absent heap memcopy
LIB_SRC      := $(filter-out $(LIB_MUSL_ONLY:%=lib/%.c),$(LIB_SRC))
LIB_OBJ      := $(LIB_SRC:.c=.o)
MUSL_LIB_OBJ := $(patsubst %.c,musl-out/%.o,$(filter-out $(LIB_EXTERNAL:%=lib/%.c),$(LIB_SRC)) \
		$(LIB_MUSL_ONLY:%=lib/%.c))
MUSL_LIB     := musl-out/libsluice.a

musl-out/%.o: %.c .build-flags
	@mkdir -p $(dir $@)
	$(MUSL_CC) $(CFLAGS) -c -o $@ $<

# heap.c replaces musl's malloc (its opening comment says why); the
# glibc archive has no allocator of its own.  A program links it only if
# it needs malloc: the object comes first, so musl's is never pulled in.
musl-out/lib/heap.o: CFLAGS += -DHEAP_REPLACES_MALLOC
# memcopy.c replaces musl's memcpy and memmove likewise (its opening
# comment says why); no loop of it may become a call to memcpy
musl-out/lib/memcopy.o: CFLAGS += -DMEMCOPY_REPLACES_LIBC -fno-builtin -fno-tree-loop-distribute-patterns

$(MUSL_LIB): $(MUSL_LIB_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

# link a program against musl: $(call musl_link,objects)
musl_link = $(MUSL_CC) $(LDFLAGS) -static -o $@ $(1) musl-out/lib/heap.o musl-out/lib/memcopy.o $(MUSL_LIB)

clean: clean-musl
clean-musl:
	rm -rf musl-out
.PHONY: clean-musl
-include $(wildcard musl-out/*/*.d)
