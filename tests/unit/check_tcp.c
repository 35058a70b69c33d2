/* TCP over loopback: echo, 1,000 concurrent connections, timeouts, refusal, cancellation without
 * leaked descriptors, and accept under EMFILE. */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checkutil.h"

/* ---- an echo server: one task per connection ---- */

static int echo_conn(void *arg)
{
    ah_stream *s = arg;
    char buf[4096];
    int n;
    while ((n = ah_stream_read(s, buf, sizeof(buf))) > 0)
        if (ah_stream_write(s, buf, (size_t)n) < 0)
            break;
    ah_stream_close(s);
    return n < 0 ? n : 0;
}

static int echo_server(void *arg)
{
    ah_listener *l = arg;
    for (;;) {
        ah_stream *s;
        int rc = ah_listener_accept(l, &s, NULL);
        if (rc < 0)
            return rc == AH_ECANCELED ? 0 : rc;
        ah_task *t = ah_spawn(echo_conn, s);
        if (!t) {
            ah_stream_close(s);
            continue;
        }
        ah_task_detach(t);
    }
}

static int roundtrip(ah_stream *s, const char *msg)
{
    size_t len = strlen(msg);
    char buf[256];
    int rc = ah_stream_write(s, msg, len);
    if (rc < 0)
        return rc;
    rc = ah_stream_read_exactly(s, buf, len);
    if (rc < 0)
        return rc;
    return memcmp(buf, msg, len) == 0 ? 0 : -1;
}

static int main_echo(void *arg)
{
    const char *host = arg;
    ah_listener *l;
    ck_assert_int_eq(ah_tcp_listen(host, 0, NULL, &l), 0);
    uint16_t port = ah_listener_port(l);
    ck_assert_uint_gt(port, 0);
    ah_task *srv = ah_spawn(echo_server, l);
    ah_stream *c;
    ck_assert_int_eq(ah_tcp_connect(host, port, NULL, &c), 0);
    ck_assert_int_eq(roundtrip(c, "hello, loop"), 0);
    ck_assert_int_eq(roundtrip(c, "and again"), 0);
    ah_stream_close(c);
    ah_cancel(srv);
    ck_assert_int_eq(ah_join(srv), AH_ECANCELED);
    ah_listener_close(l);
    return 0;
}

START_TEST(test_echo_over_ipv4_loopback) { ck_assert_int_eq(ah_run(main_echo, "127.0.0.1"), 0); }
END_TEST

static int ipv6_loopback_works(void)
{
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    int ok = bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)) == 0;
    close(fd);
    return ok;
}

START_TEST(test_echo_over_ipv6_loopback)
{
    if (!ipv6_loopback_works())
        return; /* no IPv6 in this sandbox: nothing to test */
    ck_assert_int_eq(ah_run(main_echo, "::1"), 0);
    ck_assert_int_eq(ah_run(main_echo, "[::1]"), 0);
}
END_TEST

typedef struct {
    uint16_t port;
    int ok;
} many_state;

static int many_client(void *arg)
{
    many_state *st = arg;
    ah_stream *c;
    int rc = ah_tcp_connect("127.0.0.1", st->port, NULL, &c);
    if (rc < 0)
        return rc;
    char msg[100];
    memset(msg, 'a' + (int)(st->ok % 26), sizeof(msg) - 1);
    msg[sizeof(msg) - 1] = '\0';
    rc = ah_sleep(10); /* hold every connection open at once */
    if (rc == 0)
        rc = roundtrip(c, msg);
    ah_stream_close(c);
    if (rc == 0)
        st->ok++;
    return rc;
}

static int main_many(void *arg)
{
    int n = (int)(intptr_t)arg;
    ah_tcp_listen_opts lo = {.backlog = 4096};
    ah_listener *l;
    ck_assert_int_eq(ah_tcp_listen("127.0.0.1", 0, &lo, &l), 0);
    many_state st = {ah_listener_port(l), 0};
    ah_task *srv = ah_spawn(echo_server, l);
    ah_group *g = ah_group_new();
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(ah_group_spawn(g, many_client, &st), 0);
    ck_assert_int_eq(ah_group_wait(g), 0);
    ah_group_free(g);
    ck_assert_int_eq(st.ok, n);
    ah_cancel(srv);
    (void)!ah_join(srv);
    ah_listener_close(l);
    return 0;
}

START_TEST(test_thousand_concurrent_connections_echo)
{
    int before = ah_check_open_fds();
    ck_assert_int_eq(ah_run(main_many, (void *)(intptr_t)(ah_check_slow() ? 200 : 1000)), 0);
    ck_assert_int_eq(ah_check_open_fds(), before);
}
END_TEST

/* A listener that accepts and then says nothing. */
static int mute_server(void *arg)
{
    ah_listener *l = arg;
    ah_stream *held[8];
    int n = 0;
    for (;;) {
        ah_stream *s;
        int rc = ah_listener_accept(l, &s, NULL);
        if (rc < 0) {
            while (n)
                ah_stream_close(held[--n]);
            return 0;
        }
        if (n < 8)
            held[n++] = s;
        else
            ah_stream_close(s);
    }
}

static int main_read_timeout(void *arg)
{
    ah_listener *l;
    ck_assert_int_eq(ah_tcp_listen("127.0.0.1", 0, NULL, &l), 0);
    ah_task *srv = ah_spawn(mute_server, l);
    ah_stream_opts so = {.read_timeout_ms = 50};
    ah_tcp_connect_opts co = {.stream = &so};
    ah_stream *c;
    ck_assert_int_eq(ah_tcp_connect("127.0.0.1", ah_listener_port(l), &co, &c), 0);
    char buf[8];
    int64_t start = ah_now_ms();
    ck_assert_int_eq(ah_stream_read(c, buf, sizeof(buf)), AH_ETIMEDOUT);
    ck_assert_int_ge(ah_check_elapsed(start), 45);
    ah_stream_close(c);
    ah_cancel(srv);
    (void)!ah_join(srv);
    ah_listener_close(l);
    return 0;
}

START_TEST(test_read_times_out_on_a_silent_peer)
{
    int before = ah_check_open_fds();
    ck_assert_int_eq(ah_run(main_read_timeout, NULL), 0);
    ck_assert_int_eq(ah_check_open_fds(), before);
}
END_TEST

/* The peer's last bytes and its reset (or FIN) come in one loop report: after reading those
 * bytes, the next read must find the end at once, not wait for a report that never comes. And
 * after a short read and a write, a read waits for the loop rather than asking the kernel, and
 * still gets what comes. */
static int main_end_with_last_bytes(void *arg)
{
    int reset = arg != NULL;
    ah_listener *l;
    ck_assert_int_eq(ah_tcp_listen("127.0.0.1", 0, NULL, &l), 0);
    ah_stream_opts so = {.read_timeout_ms = 3000};
    ah_tcp_connect_opts co = {.stream = &so};
    ah_stream *c, *s;
    ck_assert_int_eq(ah_tcp_connect("127.0.0.1", ah_listener_port(l), &co, &c), 0);
    ck_assert_int_eq(ah_listener_accept(l, &s, NULL), 0);
    char buf[64];
    /* a read that waits (the loop watches the client's socket from then on), then a round
     * trip: the client has read short and written since */
    ck_assert_int_eq(ah_deadline_push(20), 0);
    ck_assert_int_eq(ah_stream_read(c, buf, sizeof(buf)), AH_ETIMEDOUT);
    ck_assert_int_eq(ah_deadline_pop(), 1);
    ck_assert_int_eq(ah_stream_write(s, "hello", 5), 0);
    ck_assert_int_eq(ah_stream_read(c, buf, sizeof(buf)), 5);
    ck_assert_int_eq(ah_stream_write(c, "junk", 4), 0); /* the server leaves it unread */
    ck_assert_int_eq(ah_sleep(20), 0);
    ck_assert_int_eq(ah_stream_write(s, "abc", 3), 0);
    if (reset)
        ah_stream_close(s); /* unread bytes: the kernel sends RST, not FIN */
    else
        ck_assert_int_eq(ah_stream_shutdown_write(s), 0);
    ck_assert_int_eq(ah_sleep(20), 0); /* the loop sees both at once */
    ck_assert_int_eq(ah_stream_read(c, buf, sizeof(buf)), 3);
    int64_t start = ah_now_ms();
    int rc = ah_stream_read(c, buf, sizeof(buf));
    ck_assert_int_lt(ah_check_elapsed(start), 1000);
    if (reset)
        ck_assert_msg(rc == AH_ECONNRESET || rc == 0, "read gave %d", rc);
    else
        ck_assert_int_eq(rc, 0);
    ah_stream_close(c);
    if (!reset)
        ah_stream_close(s);
    ah_listener_close(l);
    return 0;
}

START_TEST(test_the_end_that_comes_with_the_last_bytes_is_seen)
{
    int before = ah_check_open_fds();
    ck_assert_int_eq(ah_run(main_end_with_last_bytes, NULL), 0);
    ck_assert_int_eq(ah_run(main_end_with_last_bytes, "reset"), 0);
    ck_assert_int_eq(ah_check_open_fds(), before);
}
END_TEST

static int main_refused(void *arg)
{
    /* a port that was just free: nothing listens there */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    socklen_t len = sizeof(sin);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    close(fd);
    ah_stream *c;
    ck_assert_int_eq(ah_tcp_connect("127.0.0.1", ntohs(sin.sin_port), NULL, &c), AH_ECONNREFUSED);
    ck_assert_ptr_null(c);
    return 0;
}

START_TEST(test_connection_refused_is_reported)
{
    int before = ah_check_open_fds();
    ck_assert_int_eq(ah_run(main_refused, NULL), 0);
    ck_assert_int_eq(ah_check_open_fds(), before);
}
END_TEST

/* A listener whose accept queue is full and never drained: further SYNs go unanswered, so a
 * connect to it hangs — on loopback, without any other host. */
typedef struct {
    int listen_fd;
    uint16_t port;
    int filler[64];
    int nfill;
} black_hole;

static void black_hole_open(black_hole *bh)
{
    bh->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(bh->listen_fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ck_assert_int_eq(listen(bh->listen_fd, 0), 0);
    socklen_t len = sizeof(sin);
    ck_assert_int_eq(getsockname(bh->listen_fd, (struct sockaddr *)&sin, &len), 0);
    bh->port = ntohs(sin.sin_port);
    bh->nfill = 0;
}

static void black_hole_close(black_hole *bh)
{
    while (bh->nfill)
        close(bh->filler[--bh->nfill]);
    close(bh->listen_fd);
}

/* Connect with a short timeout until one hangs; returns its result (AH_ETIMEDOUT expected). */
static int fill_until_hang(black_hole *bh)
{
    ah_tcp_connect_opts co = {.connect_timeout_ms = 100};
    while (bh->nfill < 64) {
        ah_stream *c;
        int rc = ah_tcp_connect("127.0.0.1", bh->port, &co, &c);
        if (rc < 0)
            return rc;
        bh->filler[bh->nfill++] = dup(ah_stream_fd(c));
        ah_stream_close(c);
    }
    return 0;
}

static int main_connect_timeout(void *arg)
{
    black_hole bh;
    black_hole_open(&bh);
    int64_t start = ah_now_ms();
    int rc = fill_until_hang(&bh);
    black_hole_close(&bh);
    ck_assert_int_eq(rc, AH_ETIMEDOUT);
    ck_assert_int_lt(ah_check_elapsed(start), 5000);
    return 0;
}

START_TEST(test_connect_times_out_on_a_full_backlog)
{
    int before = ah_check_open_fds();
    ck_assert_int_eq(ah_run(main_connect_timeout, NULL), 0);
    ck_assert_int_eq(ah_check_open_fds(), before);
}
END_TEST

static int connect_forever(void *arg)
{
    black_hole *bh = arg;
    ah_tcp_connect_opts co = {.connect_timeout_ms = -1};
    ah_stream *c;
    return ah_tcp_connect("127.0.0.1", bh->port, &co, &c);
}

static int reader_forever(void *arg)
{
    char buf[4];
    return ah_stream_read(arg, buf, sizeof(buf));
}

static int main_cancel(void *arg)
{
    black_hole bh;
    black_hole_open(&bh);
    ck_assert_int_eq(fill_until_hang(&bh), AH_ETIMEDOUT);
    /* cancel during connect */
    ah_task *t = ah_spawn(connect_forever, &bh);
    ck_assert_int_eq(ah_sleep(20), 0);
    ah_cancel(t);
    ck_assert_int_eq(ah_join(t), AH_ECANCELED);
    black_hole_close(&bh);

    /* cancel during read */
    ah_listener *l;
    ck_assert_int_eq(ah_tcp_listen("127.0.0.1", 0, NULL, &l), 0);
    ah_task *srv = ah_spawn(mute_server, l);
    ah_stream *c;
    ck_assert_int_eq(ah_tcp_connect("127.0.0.1", ah_listener_port(l), NULL, &c), 0);
    t = ah_spawn(reader_forever, c);
    ck_assert_int_eq(ah_sleep(10), 0);
    ah_cancel(t);
    ck_assert_int_eq(ah_join(t), AH_ECANCELED);
    ah_stream_close(c);
    ah_cancel(srv);
    (void)!ah_join(srv);
    ah_listener_close(l);
    return 0;
}

START_TEST(test_cancel_during_connect_and_read_leaks_no_fd)
{
    int before = ah_check_open_fds();
    ck_assert_int_eq(ah_run(main_cancel, NULL), 0);
    ck_assert_int_eq(ah_check_open_fds(), before);
}
END_TEST

/* ---- EMFILE ---- */

static double cpu_ms(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

static int main_emfile(void *arg)
{
    ah_listener *l;
    if (ah_tcp_listen("127.0.0.1", 0, NULL, &l) < 0)
        return 10;
    ah_task *srv = ah_spawn(echo_server, l);
    /* Room for exactly two connections (a client and a server end each) and one more client. */
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = (rlim_t)ah_check_open_fds() + 5 + 2; /* +2: the /proc/self/fd count's slack */
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 11;
    ah_stream *c1, *c2, *c3;
    if (ah_tcp_connect("127.0.0.1", ah_listener_port(l), NULL, &c1) < 0 || roundtrip(c1, "one") < 0)
        return 12;
    if (ah_tcp_connect("127.0.0.1", ah_listener_port(l), NULL, &c2) < 0 || roundtrip(c2, "two") < 0)
        return 13;
    /* Use the two spare descriptors so the server's next accept hits EMFILE. */
    int spare1 = dup(0), spare2 = dup(0);
    if (ah_tcp_connect("127.0.0.1", ah_listener_port(l), NULL, &c3) < 0)
        return 14; /* the kernel completes it; the server cannot accept it */
    double cpu0 = cpu_ms();
    if (ah_sleep(300) < 0)
        return 15;
    double spent = cpu_ms() - cpu0;
    /* open connections are still served while accept is starved */
    if (roundtrip(c1, "still here") < 0 || roundtrip(c2, "me too") < 0)
        return 16;
    if (spent > 150)
        return 17; /* a spinning accept loop would burn the whole 300 ms */
    /* free descriptors: the waiting connection is accepted and served */
    close(spare1);
    close(spare2);
    ah_stream_close(c1);
    if (roundtrip(c3, "finally") < 0)
        return 18;
    ah_stream_close(c2);
    ah_stream_close(c3);
    ah_cancel(srv);
    (void)!ah_join(srv);
    ah_listener_close(l);
    return 0;
}

START_TEST(test_accept_backs_off_when_out_of_descriptors)
{
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(ah_run(main_emfile, NULL));
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %#x (step %d)",
                  status, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}
END_TEST

static Suite *tcp_suite(void)
{
    Suite *s = suite_create("tcp");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_echo_over_ipv4_loopback);
    tcase_add_test(tc, test_echo_over_ipv6_loopback);
    tcase_add_test(tc, test_thousand_concurrent_connections_echo);
    tcase_add_test(tc, test_read_times_out_on_a_silent_peer);
    tcase_add_test(tc, test_connection_refused_is_reported);
    tcase_add_test(tc, test_connect_times_out_on_a_full_backlog);
    tcase_add_test(tc, test_cancel_during_connect_and_read_leaks_no_fd);
    tcase_add_test(tc, test_accept_backs_off_when_out_of_descriptors);
    tcase_add_test(tc, test_the_end_that_comes_with_the_last_bytes_is_seen);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return ah_check_run(tcp_suite()); }
