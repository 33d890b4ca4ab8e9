# sluice top-level build.
#
# lib/*.c becomes one static archive; each program links only the objects it
# uses, so a program that never touches TLS or DNS carries neither.  Each
# program directory contributes a build.mk fragment (PROGS, MANS, its link
# line), so adding a program never edits this file.

PREFIX   ?= /usr/local
DESTDIR  ?=
SBINDIR  ?= $(PREFIX)/sbin
LIBEXEC  ?= $(PREFIX)/libexec/sluice
MANDIR   ?= $(PREFIX)/share/man
SYSCONF  ?= /etc/sluice
QUEUEDIR ?= /var/spool/sluice
UNITDIR  ?= $(PREFIX)/lib/systemd/system
SHAREDIR ?= $(PREFIX)/share/sluice

CC       ?= cc
CSTD     := -std=c11 -D_GNU_SOURCE
WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2
OPT      ?= -O2 -g
# SANITIZE=1 builds with AddressSanitizer and UndefinedBehaviorSanitizer.
ifeq ($(SANITIZE),1)
OPT      := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
LDSAN    := -fsanitize=address,undefined
endif
CFLAGS   ?=
CFLAGS   += $(CSTD) $(WARN) $(OPT) -Ilib -MMD -MP
LDFLAGS  += $(LDSAN)

LIB_SRC  := $(wildcard lib/*.c)
LIB_OBJ  := $(LIB_SRC:.c=.o)
LIB      := lib/libsluice.a

PROGS    :=
MANS     :=
# the first rule in a build.mk must not become the default goal
.DEFAULT_GOAL := all
include $(sort $(wildcard */build.mk))

all: $(PROGS)

$(LIB): $(LIB_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

# link a program: $(call link,objects,extra libraries)
link = $(CC) $(LDFLAGS) -o $@ $(1) $(LIB) $(2)

# Objects remember the flags they were built with (.build-flags): changing
# SANITIZE, CC, OPT or CFLAGS rebuilds everything rather than silently
# linking sanitized and plain objects together.
BUILD_FLAGS := $(CC) $(CFLAGS) $(LDFLAGS)
.build-flags: FORCE
	@if [ "$$(cat $@ 2>/dev/null)" != '$(BUILD_FLAGS)' ]; then \
		echo '$(BUILD_FLAGS)' >$@; fi
FORCE:

%.o: %.c .build-flags
	$(CC) $(CFLAGS) -c -o $@ $<

check: all
	tests/run

# Debian packages needed to build, test and run the demo instance.
DEPS := build-essential pkg-config bats ucspi-tcp swaks python3 \
	libtls-dev libcdb-dev tinycdb libldns-dev ldnsutils libspf2-dev \
	libopendkim-dev python3-dkim iproute2 openssl systemd procps psmisc \
	util-linux netcat-openbsd whois postfix clang libclang-rt-14-dev valgrind \
	publicsuffix python3-spf python3-authheaders python3-nacl python3-yaml python3-dnspython \
	postgrey musl-tools
deps:
	apt-get update
	# postfix is only here for smtp-sink (a test peer): no mail system may start
	echo 'postfix postfix/main_mailer_type select No configuration' | debconf-set-selections
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(DEPS)

# a local instance from the checkout (see scripts/demo and README.md)
start: all
	scripts/demo start
stop:
	scripts/demo stop

# paths baked into units and run scripts
SUBST = sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONF@|$(SYSCONF)|g' -e 's|@QUEUEDIR@|$(QUEUEDIR)|g'

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man7 \
		$(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SHAREDIR)/conf
	for p in $(PROGS); do install -m 0755 $$p $(DESTDIR)$(SBINDIR)/; done
	for m in $(MANS); do s=$${m##*.}; install -m 0644 $$m $(DESTDIR)$(MANDIR)/man$$s/; done
	for u in systemd/*; do $(SUBST) $$u >$(DESTDIR)$(UNITDIR)/$${u#systemd/}; \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$${u#systemd/}; done
	for d in service/*; do install -d $(DESTDIR)$(SHAREDIR)/$$d; \
		$(SUBST) $$d/run >$(DESTDIR)$(SHAREDIR)/$$d/run; chmod 0755 $(DESTDIR)$(SHAREDIR)/$$d/run; done
	for c in conf/*; do install -m 0644 $$c $(DESTDIR)$(SHAREDIR)/conf/; done

clean:
	rm -f $(PROGS) $(LIB) lib/*.o lib/*.d */*.o */*.d .build-flags
	rm -rf run

.PHONY: all check deps install clean start stop FORCE
-include $(LIB_OBJ:.o=.d)

# the benchmark against Postfix and OpenSMTPD (root; see bench/README.md);
# a measurement, not a test: make check does not run it
bench: all
	bench/bench

.PHONY: bench
