/* ahttp server internals, shared by server.c (the server object, listeners, workers, running
 * and shutdown) and server_conn.c (one connection: its task, the request cycle, idle parking). */
#ifndef AH_HTTP_SERVER_INTERNAL_H
#define AH_HTTP_SERVER_INTERNAL_H

#include "internal.h"

#include <event2/event.h>

#define AH__MAX_LISTENS 16

#define AH__COUNT(field, delta) atomic_fetch_add(&(field), (delta))

/* A worker: one loop (one thread under ah_server_run), its listeners and its connections. */
typedef struct ah__worker {
    ah_server *srv;
    size_t index;
    ah_loop *loop;
    pthread_t thread;
    int efd; /* written to ask this worker to shut down */
    struct event shutdown_ev;
    ah_event *stop;    /* set when shutdown starts */
    ah_event *drained; /* set when the last connection closes during shutdown */
    ah_event *slot;    /* set when a connection closes below max_connections */
    ah_listener *listeners[AH__MAX_LISTENS];
    ah_task *acceptors[AH__MAX_LISTENS]; /* one accept task per listener */
    size_t nlisteners;
    int listener_fds[AH__MAX_LISTENS]; /* sockets made for this worker before it runs */
    ah__conn *conns;
    size_t nconns;
    /* idle connections, oldest first: [1] fresh ones (header timeout), [2] kept alive */
    ah__conn *idle_head[3], *idle_tail[3];
    struct event idle_timer;
    int64_t idle_timer_at; /* when idle_timer fires, 0: not armed */
    int stopping;
    struct event flush_timer;
    int result;
} ah__worker;

/* ---- connections (server_conn.c) ---- */

/* Take an accepted stream on: a connection on w's list, counted, with its task spawned. On
 * failure the stream is closed. */
void ah__conn_start(ah__worker *w, ah_stream *s, const struct sockaddr_storage *peer,
                    ah_tls_ctx *tls);
/* Close a connection and free it; wakes the accept task waiting for a slot and, while stopping,
 * the worker waiting for its connections to drain. */
void ah__conn_free(ah__conn *c);
/* The worker's idle timer (w->idle_timer, arg the worker): close the connections whose idle
 * timeout has passed, then re-arm. */
void ah__idle_expired(evutil_socket_t fd, short what, void *arg);

/* Serve one connection on stream s (taken over) with srv's routes, in the calling task's loop,
 * and return when it has closed: how the request-parsing fuzzer drives the server over an
 * in-memory transport. A stream that is not a plain socket is never parked idle: it is served
 * until its transport reports the end. 0 or < 0. */
int ah__server_serve_stream(ah_server *srv, ah_stream *s);

#endif
