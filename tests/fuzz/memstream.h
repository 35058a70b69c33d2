/* memstream: an in-memory transport for the fuzz targets.
 *
 * The fuzz targets drive the HTTP parsers through the same ah_stream a socket would feed, so
 * what they test is what a peer reaches: the stream's buffering, the scanners, llhttp and the
 * body readers together. This transport plays the peer from the fuzzer's bytes.
 *
 * How the fuzzer's bytes become the peer's behaviour. The bytes are what the peer sends, as
 * they are, except for two marker bytes outside ASCII, so a corpus file stays readable HTTP
 * that could be piped to a real server with the markers deleted:
 *
 *   0xFF        a read boundary: the reader gets the bytes before it from one or more reads (a
 *               read never returns more than it asks for), and no read returns bytes from both
 *               sides of it. Several in a row add nothing. This is how the fuzzer chooses the
 *               read splits: a head cut inside "\r\n", a chunk size line cut in two, a
 *               pipelined request arriving with the end of the one before.
 *   0xFE        a read boundary as 0xFF, and the peer stops reading: once the reader has been
 *               given everything before it, every write fails with AH_EPIPE (a client that
 *               resets in the middle of a response, for the error paths of the writer).
 *   0xFF 0xFF   one literal 0xFF byte (no boundary); 0xFF 0xFE: one literal 0xFE byte. Body
 *               bytes such as gzip data need these escapes (tests/fuzz/make_corpus.py
 *               writes them).
 *
 * After the last byte every read returns 0 (end of stream). A read never returns AH_EAGAIN and
 * never waits, whatever its timeout (AH__NOWAIT included): all the peer will ever send is
 * already here, so "what you have now" and "what you will get" are the same.
 *
 * To see what a target does with one input, run it on that file with AH_FUZZ_DUMP=1 in the
 * environment: the reads are noted and everything written is copied to stderr. */
#ifndef AH_FUZZ_MEMSTREAM_H
#define AH_FUZZ_MEMSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include <ahttp/stream.h>

#define AH_FUZZ_SPLIT 0xFF
#define AH_FUZZ_PEER_GONE 0xFE

/** What a memstream saw, for the harness to check after the stream is closed (the stream owns
 * and frees the transport, so the figures are kept in memory the caller owns). */
typedef struct ah_fuzz_mem_stats {
    size_t bytes_read;    /**< bytes handed to the reader */
    size_t bytes_written; /**< bytes the writer sent (those that did not fail) */
    size_t writes_failed; /**< writes refused after a 0xFE marker */
    int reached_end;      /**< a read returned 0 (end of stream) */
    int closed;           /**< the stream closed the transport */
} ah_fuzz_mem_stats;

/** A stream over the decoded bytes of data[0..size) (copied: data may go once this returns).
 * expect_prefix: if not NULL, everything written must begin with it (checked as it is written;
 * a mismatch abort()s, which the fuzzer reports as a crash). stats: zeroed, then updated until
 * the stream is closed; it must outlive the stream, or be NULL. Returns a stream the caller
 * closes with ah_stream_close, or NULL when out of memory. */
ah_stream *ah_fuzz_stream_new(const uint8_t *data, size_t size, const char *expect_prefix,
                              ah_fuzz_mem_stats *stats);

/** The bytes the peer sends for data[0..size): the markers taken out, the escapes undone, as a
 * reader of the whole stream gets them. out must hold size bytes; returns how many it got. For
 * harnesses that compare what a parser made of the stream with their own reading of it. */
size_t ah_fuzz_peer_bytes(const uint8_t *data, size_t size, char *out);

#endif
