PROGS += queue-run/queue-run
MANS  += queue-run/queue-run.8
QUEUE_RUN_SRC := queue-run/queue-run.c queue-run/index.c queue-run/round.c queue-run/report.c
# Statically linked against musl when musl-gcc is there (lib/build.mk):
# not for its start-up, once per boot, but for its posix_spawn, run for
# every delivery.  glibc's child walks all 64 signals (a sigaction to
# read each disposition and one to reset it) before the exec, while
# queue-run waits; musl's resets only the signals the process ever set a
# handler for.
ifneq ($(MUSL_CC),)
QUEUE_RUN_OBJ := $(QUEUE_RUN_SRC:%.c=musl-out/%.o)
queue-run/queue-run: $(QUEUE_RUN_OBJ) $(MUSL_LIB)
	$(call musl_link,$(QUEUE_RUN_OBJ))
else
QUEUE_RUN_OBJ := $(QUEUE_RUN_SRC:.c=.o)
queue-run/queue-run: $(QUEUE_RUN_OBJ) $(LIB)
	$(call link,$(QUEUE_RUN_OBJ),)
endif
