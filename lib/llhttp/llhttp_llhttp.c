/* Compiles llhttp's llhttp.c from the directory configure found (see Makefile.am). */
#include "llhttp.c"
