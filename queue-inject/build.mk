PROGS += queue-inject/queue-inject
MANS  += queue-inject/queue-inject.8
queue-inject/queue-inject: queue-inject/queue-inject.o $(LIB)
	$(call link,$<,)
