PROGS += deliver-local/deliver-local
MANS  += deliver-local/deliver-local.8
# once per delivery: tinycdb linked statically (lib/build.mk)
deliver-local/deliver-local: deliver-local/deliver-local.o $(LIB)
	$(call link,$<,$(call static_libs,-lcdb))
MANS  += deliver-local/users.5 deliver-local/aliases.5
