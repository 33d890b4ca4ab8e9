PROGS += queue-inject/queue-inject
MANS  += queue-inject/queue-inject.8
# Once per message, so statically linked against musl when musl-gcc is
# there (lib/build.mk).  queue-inject-glibc is the same program linked
# against glibc, not installed: valgrind (tests/valgrind.bats) can only
# follow malloc in a shared C library.
ifneq ($(MUSL_CC),)
queue-inject/queue-inject: musl-out/queue-inject/queue-inject.o $(MUSL_LIB)
	$(call musl_link,$<)
all: queue-inject/queue-inject-glibc
queue-inject/queue-inject-glibc: queue-inject/queue-inject.o $(LIB)
	$(call link,$<,)
clean: clean-queue-inject-glibc
clean-queue-inject-glibc:
	rm -f queue-inject/queue-inject-glibc
.PHONY: clean-queue-inject-glibc
else
queue-inject/queue-inject: queue-inject/queue-inject.o $(LIB)
	$(call link,$<,)
endif
