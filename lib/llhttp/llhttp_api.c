/* Compiles llhttp's api.c from the directory configure found (see Makefile.am). */
#include "api.c"
