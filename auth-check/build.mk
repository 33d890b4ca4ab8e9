PROGS += auth-check/auth-check
MANS  += auth-check/auth-check.8 auth-check/passwords.5
auth-check/auth-check: auth-check/auth-check.o $(LIB)
	$(call link,$<,-lcrypt)
