PROGS += deliver-local/deliver-local
MANS  += deliver-local/deliver-local.8
deliver-local/deliver-local: deliver-local/deliver-local.o $(LIB)
	$(call link,$<,-lcdb)
