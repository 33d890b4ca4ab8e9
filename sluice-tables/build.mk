# sluice-tables is a shell script: nothing to compile; installed by hand
# from here (its manual section is in users(5)).
