#!/usr/bin/env python3
"""make_corpus.py: write the seed corpora of the fuzz targets (tests/fuzz/corpus/request and
tests/fuzz/corpus/response).

Why a script: the seeds must cover what the targets are for — valid messages of every framing,
and every attack input of the bare-CR / smuggling issue — and some of them (gzip and deflate
bodies) are binary and must be made, not typed. The files are committed; run this again after
changing it (python3 tests/fuzz/make_corpus.py). It overwrites the files it writes and leaves any
other file in the corpus directories alone (inputs the fuzzer found, added by hand or by
`FUZZ_UPDATE_CORPUS=1 tests/fuzz/run.sh`).

File format (tests/fuzz/memstream.h): the bytes the peer sends, except that 0xFF marks a read
boundary and 0xFE a boundary after which the peer stops reading; literal 0xFF and 0xFE bytes
(in compressed bodies) are escaped as 0xFF 0xFF and 0xFF 0xFE. Response files start with one
control byte (tests/fuzz/fuzz_response.c): '0' read() into 16 KiB, '1' the same for a HEAD
request, '2' read_line(), '4' the whole body, '6' lines and reads in turn, and a few others.

Names: valid-* are well-formed messages, attack-* the inputs of the issue and their relatives
(each must be refused or framed safely, never crash), split-* use read boundaries."""
import gzip
import os
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
SPLIT = b"\xff"
GONE = b"\xfe"


def esc(data):
    """Escape body bytes that are markers in the corpus format."""
    return data.replace(b"\xff", b"\xff\xff").replace(b"\xfe", b"\xff\xfe")


def chunked(*pieces, trailers=b""):
    out = b""
    for p in pieces:
        out += b"%x\r\n" % len(p) + p + b"\r\n"
    return out + b"0\r\n" + trailers + b"\r\n"


def req(method, target, headers=(), body=b"", version=b"HTTP/1.1"):
    head = method + b" " + target + b" " + version + b"\r\n"
    for h in headers:
        head += h + b"\r\n"
    return head + b"\r\n" + body


def post_cl(target, body, extra=()):
    return req(b"POST", target, (b"Host: a",) + tuple(extra) +
               (b"Content-Length: %d" % len(body),), body)


def post_te(te, body=chunked(b"hello"), target=b"/echo", extra=()):
    return req(b"POST", target, (b"Host: a", b"Transfer-Encoding: " + te) + tuple(extra), body)


GET_HELLO = req(b"GET", b"/hello", (b"Host: a",))

REQUESTS = {
    # ---- valid requests
    "valid-get-hello": GET_HELLO,
    "valid-get-hello-http10": req(b"GET", b"/hello", (), version=b"HTTP/1.0"),
    "valid-get-keepalive-http10": req(b"GET", b"/hello", (b"Connection: keep-alive",),
                                      version=b"HTTP/1.0") + GET_HELLO,
    "valid-get-connection-close": req(b"GET", b"/hello", (b"Host: a", b"Connection: close")),
    "valid-head-hello": req(b"HEAD", b"/hello", (b"Host: a",)),
    "valid-options-star": req(b"OPTIONS", b"*", (b"Host: a",)),
    "valid-post-echo-content-length": post_cl(b"/echo", b"hello", (b"Content-Type: text/plain",)),
    "valid-post-echo-empty": post_cl(b"/echo", b""),
    "valid-put-echo-content-length": req(b"PUT", b"/echo", (b"Host: a", b"Content-Length: 3"),
                                         b"abc"),
    "valid-post-echo-chunked-trailers": post_te(
        b"chunked", chunked(b"hello", b" world", trailers=b"X-Checksum: abc\r\nX-Other: 1\r\n")),
    "valid-post-echo-chunked-extension": post_te(
        b"chunked", b"5;name=value\r\nhello\r\n6 ; q=\"x\"\r\n world\r\n0\r\n\r\n"),
    "valid-post-pieces-content-length": post_cl(b"/pieces?size=2", b"abcdefghijklmnop"),
    "valid-post-pieces-chunked": post_te(b"chunked", chunked(b"abc", b"defghij", b"k"),
                                         b"/pieces?size=1"),
    "valid-post-ignore-then-get": post_cl(b"/ignore", b"x" * 100) + GET_HELLO,
    "valid-post-ignore-chunked-then-get": post_te(b"chunked", chunked(b"abc"), b"/ignore") +
    GET_HELLO,
    "valid-post-small-over-limit": post_cl(b"/small", b"y" * 40),
    "valid-post-small-chunked-over-limit": post_te(b"chunked", chunked(b"y" * 20, b"z" * 20),
                                                   b"/small"),
    "valid-expect-100-continue": post_cl(b"/echo", b"hello", (b"Expect: 100-continue",)),
    "valid-expect-100-continue-ignored": post_cl(b"/ignore", b"hello",
                                                 (b"Expect: 100-continue",)),
    "valid-expect-unknown": post_cl(b"/echo", b"hi", (b"Expect: something-else",)),
    "valid-pipelined-get-get": GET_HELLO + GET_HELLO,
    "valid-pipelined-get-post": GET_HELLO + post_cl(b"/echo", b"pipelined"),
    "valid-pipelined-post-chunked-get": post_te(b"chunked") + GET_HELLO,
    "valid-get-stream": req(b"GET", b"/stream?n=3", (b"Host: a",)),
    "valid-head-stream": req(b"HEAD", b"/stream?n=3", (b"Host: a",)),
    "valid-get-users-id": req(b"GET", b"/users/42", (b"Host: a",)),
    "valid-get-users-encoded-crlf": req(b"GET", b"/users/a%0D%0Ab%00c", (b"Host: a",)),
    "valid-get-search-query": req(b"GET", b"/search?q=a+b%20c&page=2&&=x&q=second",
                                  (b"Host: a", b"User-Agent: fuzz/1.0")),
    "valid-delete-files-prefix": req(b"DELETE", b"/files/a/b/../c%2f", (b"Host: a",)),
    "valid-get-fail": req(b"GET", b"/fail", (b"Host: a",)) + GET_HELLO,
    "valid-get-fail-late": req(b"GET", b"/fail?late=1", (b"Host: a",)) + GET_HELLO,
    "valid-get-not-found": req(b"GET", b"/nope", (b"Host: a",)),
    "valid-method-not-allowed": req(b"PATCH", b"/hello", (b"Host: a",)),
    "valid-absolute-form": req(b"GET", b"http://a/hello?x=1", (b"Host: a",)),
    "valid-many-headers": req(b"GET", b"/hello",
                              tuple(b"X-H%d: v%d" % (i, i) for i in range(30))),
    "valid-too-many-headers": req(b"GET", b"/hello",
                                  tuple(b"X-H%d: v%d" % (i, i) for i in range(40))),
    "valid-request-line-too-long": req(b"GET", b"/hello?" + b"a" * 1100, (b"Host: a",)),
    "valid-header-block-too-big": req(b"GET", b"/hello", (b"X-Big: " + b"b" * 4200,)),
    "valid-http2-preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "valid-http-version-unknown": req(b"GET", b"/hello", (b"Host: a",), version=b"HTTP/1.7"),
    # ---- read boundaries and a peer that goes away
    "split-head-everywhere": b"GE" + SPLIT + b"T /hel" + SPLIT + b"lo HTTP/1.1\r" + SPLIT +
    b"\nHost: a\r\n\r" + SPLIT + b"\n",
    "split-chunked-size-line": b"POST /pieces?size=3 HTTP/1.1\r\nHost: a\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n1" + SPLIT + b"0\r" + SPLIT + b"\n" + b"0123456789abcdef" +
    SPLIT + b"\r\n0\r" + SPLIT + b"\n\r\n",
    "split-pipelined-in-body": post_cl(b"/echo", b"abcd")[:-2] + SPLIT + b"cd" + GET_HELLO[:5] +
    SPLIT + GET_HELLO[5:],
    "split-peer-gone-during-stream": req(b"GET", b"/stream?n=16", (b"Host: a",)) + GONE +
    GET_HELLO,
    "split-peer-gone-before-continue": post_cl(b"/echo", b"hello", (b"Expect: 100-continue",))[:-5]
    + GONE + b"hello",
    # ---- the attack inputs: a bare CR must never end a line or the head
    "attack-bare-cr-empty-line-content-length":
    b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\rabcdefgh\r\n\r\n",
    "attack-bare-cr-empty-line-pipelined":
    b"GET /hello HTTP/1.1\r\nHost: a\r\n\rGET /hello HTTP/1.1\r\nHost: a\r\n\r\n",
    "attack-te-foo-chunked": post_te(b"foo, chunked"),
    "attack-te-gzip-chunked": post_te(b"gzip, chunked"),
    "attack-te-identity-chunked": post_te(b"identity, chunked"),
    "attack-te-chunked-identity": post_te(b"chunked, identity", b"hello"),
    "attack-te-chunked-chunked": post_te(b"chunked, chunked"),
    "attack-te-two-lines": post_te(b"chunked", extra=(b"Transfer-Encoding: chunked",)),
    "attack-te-two-lines-gzip": post_te(b"gzip", extra=(b"Transfer-Encoding: chunked",)),
    "attack-te-and-content-length": post_te(b"chunked", extra=(b"Content-Length: 3",)) +
    GET_HELLO,
    "attack-te-space-before-colon": req(b"POST", b"/echo", (b"Host: a",
                                                           b"Transfer-Encoding : chunked"),
                                        chunked(b"hello")),
    "attack-te-obs-fold": req(b"POST", b"/echo", (b"Host: a", b"Transfer-Encoding:",
                                                 b" chunked"), chunked(b"hello")),
    "attack-te-vertical-tab": post_te(b"\x0bchunked"),
    "attack-te-http10-chunked": req(b"POST", b"/echo", (b"Transfer-Encoding: chunked",),
                                    chunked(b"hello"), version=b"HTTP/1.0"),
    "attack-cl-two-different": req(b"POST", b"/echo", (b"Host: a", b"Content-Length: 3",
                                                      b"Content-Length: 5"), b"hello"),
    "attack-cl-two-same": req(b"POST", b"/echo", (b"Host: a", b"Content-Length: 5",
                                                 b"Content-Length: 5"), b"hello"),
    "attack-cl-list": req(b"POST", b"/echo", (b"Host: a", b"Content-Length: 5, 5"), b"hello"),
    "attack-cl-plus-sign": req(b"POST", b"/echo", (b"Host: a", b"Content-Length: +5"), b"hello"),
    "attack-cl-negative": req(b"POST", b"/echo", (b"Host: a", b"Content-Length: -1"), b"hello"),
    "attack-cl-overflow": req(b"POST", b"/echo", (b"Host: a",
                                                 b"Content-Length: 18446744073709551621"),
                              b"hello"),
    "attack-cl-hex": req(b"POST", b"/echo", (b"Host: a", b"Content-Length: 0x5"), b"hello"),
    "attack-chunk-size-overflow": post_te(b"chunked", b"fffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
    "attack-chunk-data-too-long": post_te(b"chunked", b"5\r\nhelloXX3\r\nabc\r\n0\r\n\r\n"),
    "attack-bare-lf-head": b"GET /hello HTTP/1.1\nHost: a\n\n",
    "attack-bare-lf-chunked": post_te(b"chunked", b"5\nhello\n0\n\n"),
    "attack-nul-in-header": req(b"GET", b"/hello", (b"Host: a\x00b",)),
    "attack-leading-crlf": b"\r\n\r\n" + GET_HELLO,
    "attack-space-in-target": req(b"GET", b"/hello world", (b"Host: a",)),
    # a bare CR in every place of a request head
    "attack-bare-cr-head-start": b"\r" + GET_HELLO,
    "attack-bare-cr-in-method": b"GE\rT /hello HTTP/1.1\r\nHost: a\r\n\r\n",
    "attack-bare-cr-in-target": b"GET /hel\rlo HTTP/1.1\r\nHost: a\r\n\r\n",
    "attack-bare-cr-in-version": b"GET /hello HTTP/1.1\r\r\nHost: a\r\n\r\n",
    "attack-bare-cr-after-request-line": b"GET /hello HTTP/1.1\rHost: a\r\n\r\n",
    "attack-bare-cr-in-header-name": b"GET /hello HTTP/1.1\r\nHo\rst: a\r\n\r\n",
    "attack-bare-cr-before-colon": b"GET /hello HTTP/1.1\r\nHost\r: a\r\n\r\n",
    "attack-bare-cr-in-header-value": b"GET /hello HTTP/1.1\r\nHost: a\rb\r\n\r\n",
    "attack-bare-cr-as-header-line-end": b"GET /hello HTTP/1.1\r\nHost: a\rX-Other: b\r\n\r\n",
    "attack-bare-cr-in-te-value": post_te(b"chunked\r"),
    "attack-bare-cr-in-cl-value": req(b"POST", b"/echo", (b"Host: a", b"Content-Length: 4\r"),
                                      b"abcd"),
    "attack-bare-cr-before-empty-line": b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\r\n",
    "attack-bare-cr-as-empty-line": b"GET /hello HTTP/1.1\r\nHost: a\r\n\r",
    "attack-bare-cr-after-empty-line": GET_HELLO + b"\r",
    "attack-bare-cr-after-empty-line-pipelined": GET_HELLO + b"\r" + GET_HELLO,
    "attack-bare-cr-body-first-byte": post_cl(b"/echo", b"\rab"),
    "attack-bare-cr-chunk-size": post_te(b"chunked", b"5\rhello\r\n0\r\n\r\n"),
    "attack-bare-cr-chunk-size-then-lf": post_te(b"chunked", b"5\r\nhello\r\n3\rabc\r\n0\r\n\r\n"),
    "attack-bare-cr-chunk-extension": post_te(b"chunked", b"5;a\r=b\r\nhello\r\n0\r\n\r\n"),
    "attack-bare-cr-chunk-data-end": post_te(b"chunked", b"5\r\nhello\r3\r\nabc\r\n0\r\n\r\n"),
    "attack-bare-cr-last-chunk": post_te(b"chunked", b"5\r\nhello\r\n0\r\r\n"),
    "attack-bare-cr-trailer": post_te(b"chunked", b"5\r\nhello\r\n0\r\nX-T: a\rb\r\n\r\n"),
    "attack-bare-cr-trailer-end": post_te(b"chunked", b"5\r\nhello\r\n0\r\nX-T: a\r\n\r") +
    GET_HELLO,
    "attack-te-empty": req(b"POST", b"/echo", (b"Host: a", b"Transfer-Encoding: "), b"") +
    GET_HELLO,
    "attack-te-empty-with-content-length": req(b"POST", b"/echo", (b"Host: a",
                                                                  b"Transfer-Encoding: ",
                                                                  b"Content-Length: 5"),
                                               b"hello") + GET_HELLO,
    "attack-bare-lf-last-chunk": post_te(b"chunked", b"5\r\nhello\r\n0\n\r\n") + GET_HELLO,
    "attack-bare-lf-chunk-data-end": post_te(b"chunked", b"5\r\nhello\n0\r\n\r\n") + GET_HELLO,
    # ---- what the fuzzer found (tests/fuzz/RESULTS.md), minimised by hand
    # F1: a Content-Length above INT64_MAX was accepted and read back negative (a 100 Continue
    # went out where 413 belonged)
    "found-f1-content-length-above-int64-max": req(b"POST", b"/echo", (
        b"Host: a", b"Expect: 100-continue", b"Content-Length: 18446744073709551615"), b"hello"),
    "found-f1-content-length-above-int64-max-get": req(b"GET", b"/hello", (
        b"Host: a", b"Content-Length: 18446740001667340603")),
    # F2: a bare LF accepted as the empty line that ends a chunked body's trailer section; what
    # follows was served as the next request
    "found-f2-bare-lf-ends-chunked-body": post_te(b"chunked", b"5\r\nhello\r\n0\r\n\n") +
    GET_HELLO,
    "found-f2-bare-lf-ends-trailers": post_te(b"chunked", b"5\r\nhello\r\n0\r\nX-T: 1\r\n\n") +
    GET_HELLO,
    "attack-bare-cr-split-after-cr": b"GET /hello HTTP/1.1\r" + SPLIT + b"Host: a\r\n\r" + SPLIT +
    b"GET /hello HTTP/1.1\r\n\r\n",
}


def status(code, reason, headers=(), body=b"", version=b"HTTP/1.1"):
    head = version + b" %d " % code + reason + b"\r\n"
    for h in headers:
        head += h + b"\r\n"
    return head + b"\r\n" + body


def ok_cl(body, extra=()):
    return status(200, b"OK", tuple(extra) + (b"Content-Length: %d" % len(body),), body)


def ok_chunked(body, extra=()):
    return status(200, b"OK", tuple(extra) + (b"Transfer-Encoding: chunked",), body)


TEXT = b"line one\nline two\r\nline three without end"
JSON = b'{"message":"Hello, World!","gzipped":true}' * 4
GZ = gzip.compress(JSON, mtime=0)
ZL = zlib.compress(JSON)
RAW = zlib.compressobj(wbits=-15)
RAWDEFLATE = RAW.compress(JSON) + RAW.flush()

RESPONSES = {
    # ---- valid responses
    "valid-content-length": b"0" + ok_cl(b"hello", (b"Content-Type: text/plain",)),
    "valid-content-length-lines": b"2" + ok_cl(TEXT),
    "valid-content-length-body": b"4" + ok_cl(TEXT, (b"Set-Cookie: a=1", b"Set-Cookie: b=2")),
    "valid-content-length-mixed": b"6" + ok_cl(TEXT),
    "valid-content-length-tiny-reads": b"\x00" + ok_cl(b"tiny reads of one byte"),
    "valid-content-length-tiny-lines": b"\x0a" + ok_cl(TEXT),
    "valid-content-length-zero": b"0" + ok_cl(b""),
    "valid-chunked-trailers": b"0" + ok_chunked(chunked(b"hello", b" world",
                                                       trailers=b"X-Checksum: abc\r\n"
                                                       b"Expires: never\r\n")),
    "valid-chunked-lines": b"2" + ok_chunked(chunked(b"line one\nli", b"ne two\n", b"end")),
    "valid-chunked-body": b"4" + ok_chunked(chunked(b"a" * 100, b"b" * 7)),
    "valid-chunked-extension": b"0" + ok_chunked(b"5;ext=1\r\nhello\r\n0;last\r\n\r\n"),
    "valid-close-delimited": b"0" + status(200, b"OK", (b"Content-Type: text/plain",),
                                           b"until the connection closes"),
    "valid-close-delimited-http10": b"2" + status(200, b"OK", (), TEXT, version=b"HTTP/1.0"),
    "valid-204-with-length": b"0" + status(204, b"No Content", (b"Content-Length: 5",)),
    "valid-304-with-length": b"0" + status(304, b"Not Modified", (b"Content-Length: 5",
                                                                  b"ETag: \"x\"")),
    "valid-head-with-length": b"1" + status(200, b"OK", (b"Content-Length: 100",)),
    "valid-head-chunked": b"1" + ok_chunked(b""),
    "valid-1xx-then-200": b"0" + status(100, b"Continue") +
    status(103, b"Early Hints", (b"Link: </style.css>; rel=preload",)) + ok_cl(b"ok"),
    "valid-101-switching": b"0" + status(101, b"Switching Protocols", (b"Upgrade: websocket",
                                                                       b"Connection: Upgrade"),
                                         b"raw bytes after"),
    "valid-empty-reason": b"0" + b"HTTP/1.1 200 \r\nContent-Length: 2\r\n\r\nok",
    "valid-no-reason": b"0" + b"HTTP/1.1 404\r\nContent-Length: 2\r\n\r\nno",
    "valid-gzip-content-length": b"0" + status(200, b"OK", (b"Content-Encoding: gzip",
                                                            b"Content-Length: %d" % len(GZ)),
                                               esc(GZ)),
    "valid-gzip-chunked": b"2" + ok_chunked(esc(chunked(GZ[:10], GZ[10:])),
                                            (b"Content-Encoding: gzip",)),
    "valid-gzip-close-delimited": b"4" + status(200, b"OK", (b"Content-Encoding: gzip",),
                                                esc(GZ)),
    "valid-gzip-two-members": b"0" + status(200, b"OK", (b"Content-Encoding: gzip",
                                                         b"Content-Length: %d" % (2 * len(GZ))),
                                            esc(GZ + GZ)),
    "valid-gzip-raw-client": b"\xb0" + status(200, b"OK", (b"Content-Encoding: gzip",
                                                           b"Content-Length: %d" % len(GZ)),
                                              esc(GZ)),
    "valid-deflate-zlib": b"6" + status(200, b"OK", (b"Content-Encoding: deflate",
                                                     b"Content-Length: %d" % len(ZL)), esc(ZL)),
    "valid-deflate-raw": b"0" + status(200, b"OK", (b"Content-Encoding: deflate",
                                                    b"Content-Length: %d" % len(RAWDEFLATE)),
                                       esc(RAWDEFLATE)),
    "valid-gzip-truncated": b"0" + status(200, b"OK", (b"Content-Encoding: gzip",
                                                       b"Content-Length: 20"), esc(GZ[:20])),
    "valid-gzip-trailing-garbage": b"0" + status(200, b"OK", (b"Content-Encoding: x-gzip",
                                                              b"Content-Length: %d" %
                                                              (len(GZ) + 4)), esc(GZ + b"junk")),
    "valid-gzip-tiny-reads": b"\x00" + status(200, b"OK", (b"Content-Encoding: gzip",
                                                           b"Content-Length: %d" % len(GZ)),
                                              esc(GZ)),
    "valid-unknown-encoding": b"0" + status(200, b"OK", (b"Content-Encoding: br",
                                                         b"Content-Length: 4"), b"\x01\x02ab"),
    "valid-give-up-early": b"@" + ok_cl(b"x" * 5000),
    "valid-give-up-early-chunked": b"B" + ok_chunked(chunked(b"line\n" * 50)),
    "valid-many-headers": b"0" + status(200, b"OK", tuple(b"X-H%d: v%d" % (i, i)
                                                          for i in range(60)), b""),
    # ---- read boundaries
    "split-head-and-chunks": b"0HTTP/1.1 2" + SPLIT + b"00 OK\r" + SPLIT +
    b"\nTransfer-Encoding: chunked\r\n\r" + SPLIT + b"\n5\r" + SPLIT + b"\nhel" + SPLIT +
    b"lo\r\n0\r\n" + SPLIT + b"\r\n",
    "split-gzip-one-byte-pieces": b"0" + status(200, b"OK", (b"Content-Encoding: gzip",
                                                             b"Content-Length: %d" % len(GZ)),
                                                SPLIT.join(esc(GZ[i:i + 1])
                                                           for i in range(len(GZ)))),
    # ---- the attack inputs: a bare CR must never end a line or the head
    "attack-bare-cr-empty-line-content-length":
    b"0HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\rhello",
    "attack-bare-cr-status-line-end": b"0HTTP/1.1 200 OK\r\r\n\r\n",
    "attack-chunk-data-too-long": b"0HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5\r\nhelloXX3\r\nabc\r\n0\r\n\r\n",
    "attack-chunk-data-too-long-lines": b"2HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5\r\nhelloXX3\r\nabc\r\n0\r\n\r\n",
    "attack-te-gzip-chunked": b"0" + ok_chunked(chunked(b"hello")).replace(
        b"Transfer-Encoding: chunked", b"Transfer-Encoding: gzip, chunked"),
    "attack-te-chunked-gzip": b"0" + status(200, b"OK", (b"Transfer-Encoding: chunked, gzip",),
                                            b"hello"),
    "attack-te-and-content-length": b"0" + status(200, b"OK", (b"Content-Length: 3",
                                                               b"Transfer-Encoding: chunked"),
                                                  chunked(b"hello")),
    "attack-cl-two-different": b"0" + status(200, b"OK", (b"Content-Length: 3",
                                                          b"Content-Length: 5"), b"hello"),
    "attack-cl-overflow": b"0" + status(200, b"OK", (b"Content-Length: 18446744073709551621",),
                                        b"hello"),
    "attack-cl-huge-body-call": b"4" + status(200, b"OK", (b"Content-Length: 999999999999",),
                                              b"hello"),
    "attack-chunk-size-overflow": b"0" + ok_chunked(b"fffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
    "attack-gzip-bomb-small": b"0" + status(200, b"OK", (b"Content-Encoding: gzip",),
                                            esc(gzip.compress(b"\0" * 2000000, mtime=0))),
    "attack-status-not-http": b"0ICY 200 OK\r\nContent-Length: 2\r\n\r\nok",
    "attack-status-http2": b"0HTTP/2.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
    "attack-status-bad-code": b"0HTTP/1.1 20 OK\r\nContent-Length: 2\r\n\r\nok",
    "attack-bare-lf-head": b"0HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
    "attack-obs-fold": b"0HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 2\r\n\r\nok",
    "attack-space-before-colon": b"0HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok",
    "attack-1xx-with-body": b"0HTTP/1.1 100 Continue\r\nContent-Length: 5\r\n\r\nhello"
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    # F2 (tests/fuzz/RESULTS.md): a bare LF accepted as the empty line that ends a chunked
    # body's trailer section (found as 0HTTP/1.1 2\xff00 \r\xff\n...0\r\n\no\n)
    "found-f2-bare-lf-ends-chunked-body": b"0" + ok_chunked(b"5\r\nhello\r\n0\r\n\n"),
    "found-f2-bare-lf-ends-trailers": b"0" + ok_chunked(b"5\r\nhello\r\n0\r\nX-T: 1\r\n\n"),
    # F3: ah_client_response_body hands out an empty body that is not NUL-terminated ('4' reads
    # with _body, '5' the same for a HEAD request; found as a gzip chunked answer to HEAD)
    "found-f3-empty-body-content-length-0": b"4" + ok_cl(b""),
    "found-f3-empty-body-head": b"5" + status(200, b"OK", (b"Content-Length: 5",)),
    "found-f3-empty-body-204": b"4" + status(204, b"No Content"),
    "found-f3-empty-body-gzip": b"4" + status(200, b"OK", (b"Content-Encoding: gzip",
                                                           b"Content-Length: 0")),
    "attack-bare-lf-chunk-size": b"0" + ok_chunked(b"5\nhello\r\n0\r\n\r\n"),
    "attack-bare-lf-chunk-data-end": b"0" + ok_chunked(b"5\r\nhello\n0\r\n\r\n"),
    "attack-bare-lf-last-chunk": b"0" + ok_chunked(b"5\r\nhello\r\n0\n\r\n"),
    "attack-bare-lf-trailer": b"0" + ok_chunked(b"5\r\nhello\r\n0\r\nX-T: 1\n\r\n"),
    # a bare CR in every place of a response head and chunked body
    "attack-bare-cr-head-start": b"0\rHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    "attack-bare-cr-in-version": b"0HTTP/1.\r1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    "attack-bare-cr-in-reason": b"0HTTP/1.1 200 O\rK\r\nContent-Length: 2\r\n\r\nok",
    "attack-bare-cr-after-status-line": b"0HTTP/1.1 200 OK\rContent-Length: 2\r\n\r\nok",
    "attack-bare-cr-in-header-name": b"0HTTP/1.1 200 OK\r\nConte\rnt-Length: 2\r\n\r\nok",
    "attack-bare-cr-in-header-value": b"0HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 2\r\n"
    b"\r\nok",
    "attack-bare-cr-as-header-line-end": b"0HTTP/1.1 200 OK\r\nX-A: a\rContent-Length: 2\r\n"
    b"\r\nok",
    "attack-bare-cr-in-length-value": b"0HTTP/1.1 200 OK\r\nContent-Length: 2\r\r\n\r\nok",
    "attack-bare-cr-before-empty-line": b"0HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\r\nok",
    "attack-bare-cr-as-empty-line": b"0HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\rok",
    "attack-bare-cr-after-empty-line": b"0HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n\rok",
    "attack-bare-cr-after-1xx": b"0HTTP/1.1 100 Continue\r\n\r\rHTTP/1.1 200 OK\r\n"
    b"Content-Length: 2\r\n\r\nok",
    "attack-bare-cr-chunk-size": b"0" + ok_chunked(b"5\rhello\r\n0\r\n\r\n"),
    "attack-bare-cr-chunk-size-later": b"0" + ok_chunked(b"5\r\nhello\r\n3\rabc\r\n0\r\n\r\n"),
    "attack-bare-cr-chunk-extension": b"0" + ok_chunked(b"5;a\r=b\r\nhello\r\n0\r\n\r\n"),
    "attack-bare-cr-chunk-data-end": b"0" + ok_chunked(b"5\r\nhello\r3\r\nabc\r\n0\r\n\r\n"),
    "attack-bare-cr-last-chunk": b"0" + ok_chunked(b"5\r\nhello\r\n0\r\r\n"),
    "attack-bare-cr-trailer": b"0" + ok_chunked(b"5\r\nhello\r\n0\r\nX-Checksum: a\rb\r\n\r\n"),
    "attack-bare-cr-trailer-name": b"0" + ok_chunked(b"5\r\nhello\r\n0\r\nX-Che\rcksum: a\r\n"
                                                     b"\r\n"),
    "attack-bare-cr-trailer-end": b"0" + ok_chunked(b"5\r\nhello\r\n0\r\nX-Checksum: a\r\n\r"),
    "attack-bare-cr-chunked-lines": b"2" + ok_chunked(b"5\r\nhello\r3\r\nabc\r\n0\r\n\r\n"),
    "attack-bare-cr-chunked-body-call": b"4" + ok_chunked(b"5\rhello\r\n0\r\n\r\n"),
    "attack-bare-cr-gzip-chunked": b"0" + ok_chunked(esc(b"%x\r" % len(GZ) + GZ + b"\r\n0\r\n\r\n"),
                                                     (b"Content-Encoding: gzip",)),
}


def write(kind, files):
    out = os.path.join(HERE, "corpus", kind)
    os.makedirs(out, exist_ok=True)
    for name, data in sorted(files.items()):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print("%s: %d seed files in %s" % (kind, len(files), os.path.relpath(out)))


def main():
    write("request", REQUESTS)
    write("response", RESPONSES)
    return 0


if __name__ == "__main__":
    sys.exit(main())
