/* ahttp: growable byte buffers with a hard cap.
 *
 * Every buffer that input can grow carries its own limit: adding past it fails with AH_ETOOBIG
 * and leaves the buffer as it was, so no caller can forget the check (the idea of curl's dynbuf).
 * The bytes are always followed by a NUL, so a buffer of text is a C string.
 *
 *     ah_buf b;
 *     ah_buf_init(&b, 64 * 1024);
 *     if (ah_buf_add(&b, "GET ", 4) < 0 || ah_buf_addf(&b, "%s HTTP/1.1\r\n", path) < 0)
 *         ...;                       // AH_ETOOBIG past 64 KiB, AH_ENOMEM
 *     use(ah_buf_data(&b), ah_buf_len(&b));
 *     ah_buf_free(&b);
 */
#ifndef AHTTP_BUF_H
#define AHTTP_BUF_H

#include <stdarg.h>

#include <ahttp/common.h>
#include <ahttp/error.h>

AH_BEGIN_DECLS

/** A buffer. Its fields are private: use the functions. Zeroed (or after ah_buf_free) it is
 * empty with no cap set: call ah_buf_init before adding. */
typedef struct ah_buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max;         /* the most bytes it may hold (not counting the NUL) */
    unsigned char heap; /* data is malloc'd (else the caller's memory, or NULL) */
    int error;          /* the first failure, sticky: later adds do nothing and return it */
} ah_buf;

/** Make b empty, holding at most max bytes (max > 0). Allocates nothing. */
AH_EXPORT void ah_buf_init(ah_buf *b, size_t max);

/** As ah_buf_init, starting in the caller's memory mem[0..size) (which must outlive b's use): a
 * builder whose usual result fits there allocates nothing; past it the bytes move to the heap. */
AH_EXPORT void ah_buf_init_with(ah_buf *b, char *mem, size_t size, size_t max);

/** Append len bytes. Returns 0, AH_ETOOBIG if the buffer would pass its cap, AH_ENOMEM. On
 * failure the buffer is unchanged, and the error sticks: every later add returns it without
 * adding, so a builder may make several adds and check ah_buf_error once. */
AH_NODISCARD AH_EXPORT int ah_buf_add(ah_buf *b, const void *data, size_t len);

/** Append a NUL-terminated string (as ah_buf_add). */
AH_NODISCARD AH_EXPORT int ah_buf_adds(ah_buf *b, const char *s);

/** Append printf-style formatted text (as ah_buf_add; AH_EINVAL for a bad format). */
AH_NODISCARD AH_EXPORT int ah_buf_addf(ah_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/** As ah_buf_addf with a va_list. */
AH_NODISCARD AH_EXPORT int ah_buf_vaddf(ah_buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/** Room to write into directly (a read into the buffer, without a copy): makes space for up to
 * want more bytes — fewer if the cap allows fewer, at least 1 — and returns where they go, with
 * *room how many. NULL with *room 0 when the buffer is at its cap (AH_ETOOBIG as its error is
 * not set: the caller decides whether a full buffer is an error), or out of memory (error set).
 * Follow with ah_buf_commit. */
AH_EXPORT char *ah_buf_space(ah_buf *b, size_t want, size_t *room);

/** Count n bytes written into ah_buf_space's room as added (n <= that room), and terminate
 * them. (Bytes written into the room and not committed may cover the NUL until then; commit 0
 * or take the buffer to end that.) */
AH_EXPORT void ah_buf_commit(ah_buf *b, size_t n);

/** The first error an add met (AH_ETOOBIG, AH_ENOMEM, AH_EINVAL), or 0. */
AH_EXPORT int ah_buf_error(const ah_buf *b);

/** The bytes (NUL-terminated; "" when empty, never NULL). Valid until the next change. */
AH_EXPORT const char *ah_buf_data(const ah_buf *b);

/** The number of bytes. */
AH_EXPORT size_t ah_buf_len(const ah_buf *b);

/** Drop the last len - n bytes (n <= len), keeping the memory. */
AH_EXPORT void ah_buf_truncate(ah_buf *b, size_t n);

/** Take the bytes out: returns a malloc'd NUL-terminated copy or the buffer itself (the caller
 * frees it), or NULL when out of memory; b is left empty with its cap and no error. */
AH_EXPORT char *ah_buf_take(ah_buf *b);

/** Free the memory (not the caller's of ah_buf_init_with); b is left empty with its cap and no
 * error. */
AH_EXPORT void ah_buf_free(ah_buf *b);

AH_END_DECLS

#endif
