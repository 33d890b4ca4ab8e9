# lib/build.mk - how the per-connection and per-message programs are linked.
#
# smtp-recv runs once per connection and the delivery programs once per
# message, so their start-up cost is paid on every message.  Dynamically
# linked against libtls, ld.so spends ~3.7 million instructions per exec
# binding libcrypto's and libssl's symbols, 15 times the work of the whole
# SMTP session (valgrind --tool=callgrind; bench/README.md "Results").  So
#
#   $(call static_libs,L)   links the libraries L from their .a archives
#
# and glibc stays shared: getpwnam needs its NSS modules, and valgrind
# (tests/valgrind.bats) can only check a program whose malloc is in a shared
# libc.  The program stays position independent (ASLR).  It carries its own
# copy of the libraries: rebuild after a security update of libssl,
# libcrypto, libtls, ldns or tinycdb.  SANITIZE=1 links dynamically, as the
# sanitizer runtimes expect.
ifeq ($(SANITIZE),1)
static_libs   = $(1)
else
static_libs   = -Wl,-Bstatic $(1) -Wl,-Bdynamic
endif
