/* Compiles llhttp's http.c from the directory configure found (see Makefile.am). */
#include "http.c"
