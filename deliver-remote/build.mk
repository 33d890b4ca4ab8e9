PROGS += deliver-remote/deliver-remote
MANS  += deliver-remote/deliver-remote.8 deliver-remote/routes.5
# once per delivery: libtls, ldns, OpenSSL linked statically (lib/build.mk)
deliver-remote/deliver-remote: deliver-remote/deliver-remote.o $(LIB)
	$(call link,$<,$(call static_libs,-ltls -lldns -lssl -lcrypto))
