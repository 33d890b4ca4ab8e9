PROGS += queue-run/queue-run
MANS  += queue-run/queue-run.8
QUEUE_RUN_OBJ := queue-run/queue-run.o queue-run/index.o queue-run/round.o queue-run/report.o
queue-run/queue-run: $(QUEUE_RUN_OBJ) $(LIB)
	$(call link,$(QUEUE_RUN_OBJ),)
