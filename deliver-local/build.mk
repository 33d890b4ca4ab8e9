PROGS += deliver-local/deliver-local
MANS  += deliver-local/deliver-local.8
deliver-local/deliver-local: deliver-local/deliver-local.o $(LIB)
	$(call link,$<,-lcdb)
MANS  += deliver-local/users.5 deliver-local/aliases.5
