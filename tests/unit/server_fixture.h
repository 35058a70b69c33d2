/* Shared by the check_server* suites: the server fixture (fx_start/fx_stop: a server on an
 * ephemeral loopback port with the routes below, served by its own task), the handlers and what
 * they saw (st), RUN and the assertions that fail inside the test's main task
 * (every ck_assert* in a file including this header goes through task_assert_failed). */
#ifndef AH_SERVER_FIXTURE_H
#define AH_SERVER_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <unistd.h>
#include <pthread.h>

#include "checkutil.h"
#include "httputil.h"
#include "../../lib/http/internal.h" /* ah__request_parse_head, for the parser-only test */

#include <setjmp.h>
#include <stdarg.h>

/* ---- assertions inside the test's main task ----
 * In Check's no-fork mode (valgrind) a failed assertion longjmps from the task's stack straight
 * to the runner, leaving the loop marked as running: every later test would then fail too.
 * Instead, an assertion failing in the main task jumps back to the start of that task (the same
 * stack), the server is stopped, ah_run returns, and the test raises the recorded failure. */

extern jmp_buf task_fail_jmp;
extern ah_task *task_fail_owner;
extern const char *task_fail_file;
extern int task_fail_line;
extern char task_fail_msg[1024];

void task_assert_failed(const char *file, int line, const char *expr, const char *msg, ...)
    __attribute__((noreturn, format(printf, 4, 5)));

/* every ck_assert* below goes through task_assert_failed */
#define _ck_assert_failed task_assert_failed

/* ---- what the handlers saw (reset for every server) ---- */

struct server_seen {
    char trace[256];
    int private_calls;
    int after_rc;
    int small_calls;
    int small_rc;
    int body_calls;
    int body_reading; /* the /body handler is about to read the body */
    int body_rc;
    int sleep_started;
    int sleep_rc;
    int split_rc[4];
    char logged[128]; /* what the logging middleware wrote */
};
extern struct server_seen st;

void trace_add(const char *what);

int text(ah_response *resp, const char *body);

#define BIG_LEN (2 * 1024 * 1024 + 7)

unsigned char pattern_at(size_t i);

/* ---- the fixture: a server on an ephemeral loopback port, served by its own task ---- */

typedef struct fixture {
    ah_server *srv;
    ah_task *serve;
    uint16_t port;
} fixture;

void fx_start(fixture *fx, const ah_server_opts *opts, void (*setup)(ah_server *));

/* Join the serving task (after ah_server_shutdown) and free the server. */
void fx_join(fixture *fx);

void fx_stop(fixture *fx);

ah_server_stats stats(const fixture *fx);

int64_t slow_x(int64_t ms);

typedef struct {
    ah_task_fn fn;
    void *arg;
} guarded;

/* The main task: runs the test's main, or lands here when one of its assertions fails. */
int guarded_main(void *arg);

/* Run main in a fresh loop; no descriptor may outlive it. */
#define RUN(main_fn, main_arg)                                                                     \
    do {                                                                                           \
        int fds_before_ = ah_check_open_fds();                                                     \
        guarded g_ = {main_fn, main_arg};                                                          \
        int rc_ = ah_run(guarded_main, &g_);                                                       \
        if (task_fail_file)                                                                        \
            ck_abort_msg("%s:%d: %s", task_fail_file, task_fail_line, task_fail_msg);              \
        ck_assert_int_eq(rc_, 0);                                                                  \
        ck_assert_int_eq(ah_check_open_fds(), fds_before_);                                        \
    } while (0)

/* Send raw on a connection and read one response into *r (asserting it arrived). */
void roundtrip(ah_stream *s, const char *raw, int head, http_response *r);

/* One request on its own connection. */
void exchange(const fixture *fx, const char *raw, int head, http_response *r);

/* A GET of path on its own connection that must answer status with body (NULL: any body). */
void expect_get(const fixture *fx, const char *path, int status, const char *body);

void expect_closed(ah_stream *s);

void expect_open(ah_stream *s);

#endif
