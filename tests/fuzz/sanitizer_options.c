/* sanitizer_options: the defaults the fuzz targets' sanitizers start with, so that running a
 * target by hand (build-fuzz/tests/fuzz/fuzz_request some-input) judges an input as
 * tests/fuzz/run.sh does: every UBSan report stops the run with a stack, except the known
 * library reports listed in tests/fuzz/ubsan.supp. UBSAN_OPTIONS in the environment still
 * overrides these, option by option. */
#include "config.h"

const char *__ubsan_default_options(void);

const char *__ubsan_default_options(void)
{
    return "halt_on_error=1:print_stacktrace=1:suppressions=" AH_FUZZ_DIR "/ubsan.supp";
}
