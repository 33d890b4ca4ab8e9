# sluice-tables is a shell script: nothing to compile, installed as is
# (its manual section is in users(5)).
SCRIPTS += sluice-tables/sluice-tables
