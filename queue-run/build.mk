PROGS += queue-run/queue-run
MANS  += queue-run/queue-run.8
queue-run/queue-run: queue-run/queue-run.o $(LIB)
	$(call link,$<,)
