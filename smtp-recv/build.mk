PROGS += smtp-recv/smtp-recv smtp-recv/smtp-recv-tls
MANS  += smtp-recv/smtp-recv.8 smtp-recv/smtp-recv-tls.8
# Once per connection, so smtp-recv is statically linked against musl when
# musl-gcc is there (lib/build.mk), with lib/tlsio_absent.c in place of
# TLS; a connection that wants TLS goes on in smtp-recv-tls, the same
# program linked against glibc and (statically) libtls, which smtp-recv
# execs from its own directory.  Without musl-gcc smtp-recv has TLS
# itself and never execs; smtp-recv-tls is built all the same (the units
# for port 465 run it directly).
smtp-recv/smtp-recv-tls: smtp-recv/smtp-recv.o $(LIB)
	$(call link,$<,$(call static_libs,-ltls -lssl -lcrypto))
ifneq ($(MUSL_CC),)
smtp-recv/smtp-recv: musl-out/smtp-recv/smtp-recv.o $(MUSL_LIB)
	$(call musl_link,$<)
else
smtp-recv/smtp-recv: smtp-recv/smtp-recv.o $(LIB)
	$(call link,$<,$(call static_libs,-ltls -lssl -lcrypto))
endif
