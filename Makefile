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
# the system users (INSTALL, section 2): smtp-recv runs as SMTPUSER, the
# queue belongs to QUEUEUSER
SMTPUSER  ?= sluice
QUEUEUSER ?= sluiceq

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
SCRIPTS  :=
MANS     :=
# the first rule in a build.mk must not become the default goal
.DEFAULT_GOAL := all
# lib/build.mk first: the programs' build.mk test what it sets (MUSL_CC)
include lib/build.mk
include $(sort $(filter-out lib/build.mk,$(wildcard */build.mk)))

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
	libtls-dev tinycdb libldns-dev ldnsutils libspf2-dev \
	libopendkim-dev python3-dkim iproute2 openssl systemd procps psmisc \
	util-linux netcat-openbsd whois postfix clang libclang-rt-14-dev valgrind \
	publicsuffix python3-spf python3-authheaders python3-nacl python3-yaml python3-dnspython \
	postgrey musl-tools xfsprogs e2fsprogs
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

# paths and users baked into units and run scripts
SUBST = sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONF@|$(SYSCONF)|g' -e 's|@QUEUEDIR@|$(QUEUEDIR)|g' \
	-e 's|@SMTPUSER@|$(SMTPUSER)|g' -e 's|@QUEUEUSER@|$(QUEUEUSER)|g'

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man7 \
		$(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SHAREDIR)/conf
	for p in $(PROGS) $(SCRIPTS); do install -m 0755 $$p $(DESTDIR)$(SBINDIR)/; done
	for m in $(MANS); do s=$${m##*.}; install -m 0644 $$m $(DESTDIR)$(MANDIR)/man$$s/; done
	for u in systemd/*; do $(SUBST) $$u >$(DESTDIR)$(UNITDIR)/$${u#systemd/}; \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$${u#systemd/}; done
	for d in service/*; do install -d $(DESTDIR)$(SHAREDIR)/$$d; \
		$(SUBST) $$d/run >$(DESTDIR)$(SHAREDIR)/$$d/run; chmod 0755 $(DESTDIR)$(SHAREDIR)/$$d/run; done
	for c in conf/*; do install -m 0644 $$c $(DESTDIR)$(SHAREDIR)/conf/; done
	@if [ "$$(id -u)" != 0 ]; then \
		echo "make install: not root: no owners, set-id bits or queue (make install-privsep as root)"; \
	elif ! id -u $(QUEUEUSER) >/dev/null 2>&1 || ! id -u $(SMTPUSER) >/dev/null 2>&1; then \
		echo "make install: no users $(SMTPUSER)/$(QUEUEUSER) (make install-users first):" \
			"programs installed without set-id bits, no queue"; \
	else $(MAKE) --no-print-directory install-privsep; fi

# The owners and modes of INSTALL's table, and the queue tree; as root, once
# the users exist (install-users; never created behind the installer's back).
install-privsep:
	for p in $(PROGS); do chown root:root $(DESTDIR)$(SBINDIR)/$${p##*/}; \
		chmod 0755 $(DESTDIR)$(SBINDIR)/$${p##*/}; done
	chown $(QUEUEUSER):$(QUEUEUSER) $(DESTDIR)$(SBINDIR)/queue-inject
	chmod 6711 $(DESTDIR)$(SBINDIR)/queue-inject
	chown root:$(QUEUEUSER) $(DESTDIR)$(SBINDIR)/deliver-local
	chmod 4750 $(DESTDIR)$(SBINDIR)/deliver-local
	install -d -o $(QUEUEUSER) -g $(QUEUEUSER) -m 0750 $(DESTDIR)$(QUEUEDIR)
	for d in tmp new msg state hold quarantine; do \
		install -d -o $(QUEUEUSER) -g $(QUEUEUSER) -m 0750 $(DESTDIR)$(QUEUEDIR)/$$d; done
	[ -p $(DESTDIR)$(QUEUEDIR)/trigger ] || mkfifo -m 0600 $(DESTDIR)$(QUEUEDIR)/trigger
	chown $(QUEUEUSER):$(QUEUEUSER) $(DESTDIR)$(QUEUEDIR)/trigger

# the system users, on this system (idempotent): SMTPUSER in no group of
# the queue's, so smtp-recv reaches the queue through queue-inject only
install-users:
	getent group $(QUEUEUSER) >/dev/null || groupadd --system $(QUEUEUSER)
	id -u $(QUEUEUSER) >/dev/null 2>&1 || useradd --system --gid $(QUEUEUSER) \
		--home-dir $(QUEUEDIR) --no-create-home --shell /usr/sbin/nologin $(QUEUEUSER)
	getent group $(SMTPUSER) >/dev/null || groupadd --system $(SMTPUSER)
	id -u $(SMTPUSER) >/dev/null 2>&1 || useradd --system --gid $(SMTPUSER) \
		--home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin $(SMTPUSER)

clean:
	rm -f $(PROGS) $(LIB) lib/*.o lib/*.d */*.o */*.d .build-flags
	rm -rf run

.PHONY: all check deps install install-privsep install-users clean start stop FORCE
# every object's header dependencies (lib/, each program's directory)
-include $(wildcard */*.d)

# the benchmark against Postfix and OpenSMTPD (root; see bench/README.md);
# a measurement, not a test: make check does not run it
bench: all
	bench/bench

.PHONY: bench
