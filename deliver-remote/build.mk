PROGS += deliver-remote/deliver-remote
MANS  += deliver-remote/deliver-remote.8 deliver-remote/routes.5
deliver-remote/deliver-remote: deliver-remote/deliver-remote.o $(LIB)
	$(call link,$<,-ltls -lldns)
