PROGS += mail-auth/mail-auth
MANS  += mail-auth/mail-auth.8 mail-auth/sluice-auth.5
mail-auth/mail-auth: mail-auth/mail-auth.o $(LIB)
	$(call link,$<,-lspf2 -lopendkim -lldns)
