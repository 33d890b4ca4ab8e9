PROGS += deliver-local/deliver-local
MANS  += deliver-local/deliver-local.8
MANS  += deliver-local/users.5 deliver-local/aliases.5
# Once per delivery, so statically linked against musl when musl-gcc is
# there (lib/build.mk), like queue-inject.
ifneq ($(MUSL_CC),)
deliver-local/deliver-local: musl-out/deliver-local/deliver-local.o $(MUSL_LIB)
	$(call musl_link,$<)
else
deliver-local/deliver-local: deliver-local/deliver-local.o $(LIB)
	$(call link,$<,)
endif
