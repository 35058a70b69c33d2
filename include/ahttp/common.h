/* ahttp: macros shared by every public header. */
#ifndef AHTTP_COMMON_H
#define AHTTP_COMMON_H

#include <stddef.h>
#include <stdint.h>

/** Marks a symbol as part of the public ABI; everything else is hidden. */
#if defined(__GNUC__)
#define AH_EXPORT __attribute__((visibility("default")))
#else
#define AH_EXPORT
#endif

/** The result of this call says whether it worked: do not ignore it. */
#if defined(__GNUC__)
#define AH_NODISCARD __attribute__((warn_unused_result))
#else
#define AH_NODISCARD
#endif

#ifdef __cplusplus
#define AH_BEGIN_DECLS extern "C" {
#define AH_END_DECLS }
#else
#define AH_BEGIN_DECLS
#define AH_END_DECLS
#endif

#endif
