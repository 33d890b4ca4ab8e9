PROGS += smtp-recv/smtp-recv
MANS  += smtp-recv/smtp-recv.8
smtp-recv/smtp-recv: smtp-recv/smtp-recv.o $(LIB)
	$(call link,$<,-lcdb)
