/* ahttp: error codes. Every call that can fail returns an int: >= 0 on success, < 0 an AH_E*
 * code. Where an errno value fits, the code is its negation (AH_ETIMEDOUT == -ETIMEDOUT). */
#ifndef AHTTP_ERROR_H
#define AHTTP_ERROR_H

#include <errno.h>

#include <ahttp/common.h>

AH_BEGIN_DECLS

#define AH_EINVAL (-EINVAL)             /**< bad argument, or an await called outside a task */
#define AH_ENOMEM (-ENOMEM)             /**< out of memory (or of stack mappings) */
#define AH_ECANCELED (-ECANCELED)       /**< the awaiting task was cancelled */
#define AH_ETIMEDOUT (-ETIMEDOUT)       /**< a timeout or deadline expired */
#define AH_EAGAIN (-EAGAIN)             /**< would block / try again */
#define AH_EBUSY (-EBUSY)               /**< resource in use (e.g. a task already has a joiner) */
#define AH_EPIPE (-EPIPE)               /**< the peer or queue is closed */
#define AH_ECONNRESET (-ECONNRESET)     /**< connection reset by peer */
#define AH_ECONNREFUSED (-ECONNREFUSED) /**< connection refused */

/* Codes with no errno equivalent live below AH_EBASE. */
#define AH_EBASE (-20000)
#define AH_EEOF (AH_EBASE - 1)           /**< end of stream */
#define AH_EDEADLOCK (AH_EBASE - 2)      /**< every task waits and nothing can wake them */
#define AH_ECLOSED (AH_EBASE - 3)        /**< the object was closed while a task waited on it */
#define AH_EDNS (AH_EBASE - 4)           /**< host name could not be resolved */
#define AH_ETLS (AH_EBASE - 5)           /**< TLS protocol failure */
#define AH_ETLS_VERIFY (AH_EBASE - 6)    /**< TLS peer certificate verification failed */
#define AH_ETLS_TRUNCATED (AH_EBASE - 7) /**< TLS peer closed without close_notify */
#define AH_ETOOBIG (AH_EBASE - 8)        /**< input exceeds a configured limit */
#define AH_EPROTO_HTTP (AH_EBASE - 9)    /**< malformed HTTP */
#define AH_ETRUNCATED (AH_EBASE - 10)    /**< HTTP body cut short: the connection closed early */
#define AH_EREDIRECTS (AH_EBASE - 11)    /**< too many HTTP redirects */

/** A short, static, human-readable name for an AH_E* code (or any -errno). Never NULL. */
AH_EXPORT const char *ah_strerror(int code);

AH_END_DECLS

#endif
