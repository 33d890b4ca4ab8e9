PROGS += sendmail/sendmail
MANS  += sendmail/sendmail.8
sendmail/sendmail: sendmail/sendmail.o $(LIB)
	$(call link,$<,)
