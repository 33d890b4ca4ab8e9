PROGS += smtp-filter/smtp-filter
MANS  += smtp-filter/smtp-filter.8 smtp-filter/rules.5
smtp-filter/smtp-filter: smtp-filter/smtp-filter.o $(LIB)
	$(call link,$<,-lspf2 -lopendkim -lldns)
