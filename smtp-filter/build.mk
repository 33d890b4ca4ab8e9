PROGS += smtp-filter/smtp-filter
MANS  += smtp-filter/smtp-filter.8 smtp-filter/rules.5
# once per message: tinycdb, ldns, OpenSSL linked statically (lib/build.mk)
smtp-filter/smtp-filter: smtp-filter/smtp-filter.o $(LIB)
	$(call link,$<,$(call static_libs,-lcdb -lldns -lssl -lcrypto))
