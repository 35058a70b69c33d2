/* Names for error codes. */
#include "internal.h"

#include <string.h>

const char *ah_strerror(int code)
{
    switch (code) {
    case 0: return "success";
    case AH_EEOF: return "end of stream";
    case AH_EDEADLOCK: return "deadlock: every task waits and nothing can wake them";
    case AH_ECLOSED: return "closed while waiting";
    case AH_EDNS: return "host name could not be resolved";
    case AH_ETLS: return "TLS protocol error";
    case AH_ETLS_VERIFY: return "TLS certificate verification failed";
    case AH_ETLS_TRUNCATED: return "TLS connection closed without close_notify (truncated)";
    case AH_ETOOBIG: return "input exceeds a configured limit";
    case AH_EPROTO_HTTP: return "malformed HTTP message";
    case AH_ETRUNCATED: return "HTTP body truncated: the connection closed before its end";
    case AH_EREDIRECTS: return "too many redirects";
    case AH_ECANCELED: return "task cancelled";
    case AH_ETIMEDOUT: return "timed out";
    default: break;
    }
    if (code < 0 && code > AH_EBASE) {
        const char *s = strerrordesc_np(-code);
        if (s)
            return s;
    }
    return "unknown error";
}
