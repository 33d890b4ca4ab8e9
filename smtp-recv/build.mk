PROGS += smtp-recv/smtp-recv
MANS  += smtp-recv/smtp-recv.8
# once per connection: libtls linked statically (lib/build.mk)
smtp-recv/smtp-recv: smtp-recv/smtp-recv.o $(LIB)
	$(call link,$<,$(call static_libs,-ltls -lssl -lcrypto))
