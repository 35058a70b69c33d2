/* Shared by the check_client* suites: ahttp's own server with the routes the client tests
 * use (the "world", run_world), raw TCP servers that misbehave on purpose (raw_start, run_main),
 * the compressed bodies (setup_bodies) and small fetch helpers. */
#ifndef AH_CLIENT_FIXTURE_H
#define AH_CLIENT_FIXTURE_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <ahttp/client.h>

#include "checkutil.h"

const char *cert(const char *name);

/* Timing bounds are looser under valgrind. */
int64_t slow_factor(void);

/* ---- compressed bodies ---- */

#define TEXT_REPEAT 400
extern char text[TEXT_REPEAT * 50 + 1]; /* 20,000 bytes of text */
extern unsigned char *bomb;             /* 1 MB of zeros, gzipped */
extern size_t bomb_len;

/* Compress in[0..len) with the given window bits (31 gzip, 15 zlib, -15 raw). malloc'd. */
unsigned char *compress_with(const void *in, size_t len, int wbits, size_t *out_len);

extern uint16_t g_port1; /* the first listener */
extern uint16_t g_port2; /* the second listener: another origin */
extern int g_inflight, g_max_inflight;
extern char g_accept_encoding[128];
extern int g_hello_count;

int h_hello(ah_request *req, ah_response *resp, void *arg);

typedef struct world {
    ah_server *srv;
    ah_task *task;
    uint16_t port, port2, tls_port;
    ah_tls_ctx *tls;
    char url[64], url2[64], tls_url[64];
} world;

int server_task(void *arg);

typedef void (*client_fn)(world *w);

typedef struct run_ctx {
    client_fn fn;
    const char *cert, *key;
} run_ctx;

/* Run fn against a fresh server; no descriptor may be left open after. */
void run_world_tls(client_fn fn, const char *cert_name, const char *key_name);

void run_world(client_fn fn);

/* "base + path" in a static buffer (one of four, rotating). */
const char *at(const char *base, const char *path);

/* GET url, expect status, return the body (malloc'd). */
char *get_body(ah_client *c, const char *url, int status);

void expect_body(ah_client *c, const char *url, int status, const char *want);

/* ---- raw servers that misbehave on purpose ---- */

typedef int (*raw_conn_fn)(ah_stream *s, int index, void *arg);

typedef struct raw_server {
    ah_listener *l;
    uint16_t port;
    raw_conn_fn fn;
    void *arg;
    ah_task *task;
    int conns;
    ah_tls_ctx *tls; /* set: TLS is spoken on every connection */
    char url[64];
} raw_server;

typedef struct raw_conn {
    raw_conn_fn fn;
    void *arg;
    ah_stream *s;
    int index;
    ah_tls_ctx *tls;
} raw_conn;

void raw_start(raw_server *rs, raw_conn_fn fn, void *arg);

void raw_stop(raw_server *rs);

/* Read one request head (no body). > 0, or <= 0 when the client went away. */
int read_request(ah_stream *s);

int send_text(ah_stream *s, const char *text_out);

typedef int (*raw_main_fn)(void *arg);

/* Run a client scenario in its own loop; no descriptor may be left open after. */
void run_main(raw_main_fn fn);

/* Answers one request, then closes. */
int close_after_one(ah_stream *s, int index, void *arg);

/* Serves, on one kept-alive connection, a few bodies made for reading by lines, and a chain of
 * redirects /r1 (301) -> /r2 (302, absolute Location) -> /final (200). */
int lines_server(ah_stream *s, int index, void *arg);

#endif
