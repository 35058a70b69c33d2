/* Compiles llhttp's llhttp.c from the directory configure found (see Makefile.am).
 *
 * In llhttp 8.x, strictness is chosen when llhttp.c is compiled: without LLHTTP_STRICT_MODE the
 * generated parser ends a head at "\r" followed by anything (CVE-2023-30589), skips the two bytes
 * after chunk data whatever they are, and takes any byte after a chunk size's CR as its LF. ahttp
 * checks heads itself as well (lib/http/message.c), but bodies are framed by llhttp, so it must
 * be the strict parser. (llhttp 9 dropped the switch: it is strict unless lenient flags are set.)
 */
#define LLHTTP_STRICT_MODE 1
#include "llhttp.c"
