PROGS += queue-ctl/queue-ctl queue-ctl/mailq
MANS  += queue-ctl/queue-ctl.8
queue-ctl/queue-ctl: queue-ctl/queue-ctl.o $(LIB)
	$(call link,$<,)
# mailq is queue-ctl under another name: it lists the queue
queue-ctl/mailq: queue-ctl/queue-ctl
	ln -sf queue-ctl $@
