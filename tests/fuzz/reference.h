/* reference: a second, independent and strict reading of HTTP/1.1 message framing, for the fuzz
 * targets to compare the library's reading with.
 *
 * Why: the sanitizers catch memory errors, but a request smuggled past a proxy or a response
 * body mis-framed is memory-safe. It shows only as a disagreement between two readers of the
 * same bytes: where one message ends and the next begins, and what its body is. This reader is
 * the other party: small, strict where framing is decided (every line ends in CRLF; a CR or LF
 * anywhere else ends the reading as malformed), lenient where framing is not at stake (field
 * names and values, chunk extensions, trailer lines are not checked beyond their line ends), and
 * silent on framings it does not judge (several Content-Length or Transfer-Encoding lines, a
 * coding list), so that a disagreement means a bug in one of the two, not a policy choice.
 *
 * It judges by RFC 9112: a body is chunked if the one Transfer-Encoding line says "chunked" and
 * there is no Content-Length; else Content-Length bytes if there is one such line of digits;
 * else nothing (a request) or everything to the end of the stream (a response). */
#ifndef AH_FUZZ_REFERENCE_H
#define AH_FUZZ_REFERENCE_H

#include <stddef.h>
#include <stdint.h>

/** What a head says about framing. */
typedef struct ah_fuzz_head {
    const char *first_line; /**< the request or status line, without CRLF */
    size_t first_line_len;
    size_t te_lines;         /**< Transfer-Encoding lines */
    int te_chunked;          /**< the last one says "chunked" alone */
    size_t cl_lines;         /**< Content-Length lines */
    int cl_digits;           /**< the last one is 1 to 15 digits */
    uint64_t content_length; /**< its value */
} ah_fuzz_head;

/** How a body is framed, as ah_fuzz_ref_framing judges. */
enum {
    AH_FUZZ_BODY_NONE,
    AH_FUZZ_BODY_LENGTH,
    AH_FUZZ_BODY_CHUNKED,
    AH_FUZZ_BODY_UNTIL_END,
    AH_FUZZ_BODY_UNJUDGED, /**< several framing headers, a coding list, a bad length: no opinion */
};

/** Read the head at s[*at..len) up to and including its empty line: 1 with *h filled and *at
 * past the head; -1 if it is malformed (an empty first line, a CR or LF not in a CRLF, a header
 * line without a colon or starting with whitespace) or the bytes end first. */
int ah_fuzz_ref_head(const char *s, size_t len, size_t *at, ah_fuzz_head *h);

/** The status code of a response head (its line "HTTP/1.x DDD ..."), or -1 if the line is not
 * that. */
int ah_fuzz_ref_status(const ah_fuzz_head *h);

/** How the body after head h is framed: is_request selects the rule for no framing header
 * (none for a request, until the end for a response); no_body says the body is absent whatever
 * the headers say (a response to HEAD, 1xx, 204, 304). */
int ah_fuzz_ref_framing(const ah_fuzz_head *h, int is_request, int no_body);

/** Read a body of the given framing at s[*at..len), appending its bytes to out (which must have
 * room for len - *at more bytes) and adding their count to *out_len: 1 and *at past the body, or
 * -1 if the body is malformed or the bytes end first. kind must not be AH_FUZZ_BODY_UNJUDGED. */
int ah_fuzz_ref_body(const char *s, size_t len, size_t *at, int kind, const ah_fuzz_head *h,
                     char *out, size_t *out_len);

#endif
