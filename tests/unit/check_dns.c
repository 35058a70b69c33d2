/* Name resolution: numeric hosts, /etc/hosts, the cache, name servers that never answer, that
 * cannot be reached (a UDP port on loopback with nothing bound: the kernel answers "port
 * unreachable") or that are not there at all, one that answers (a small responder task), and the
 * library's log. Every name server is on loopback, named through AH_RESOLV_CONF: tests send no
 * query off the machine and never read /etc/resolv.conf. */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkutil.h"

static uint16_t port_of(const struct sockaddr_storage *ss)
{
    return ntohs(ss->ss_family == AF_INET ? ((const struct sockaddr_in *)ss)->sin_port
                                          : ((const struct sockaddr_in6 *)ss)->sin6_port);
}

static int main_numeric(void *arg)
{
    ah_addrs a;
    ck_assert_int_eq(ah_dns_resolve("127.0.0.1", 80, AF_UNSPEC, 1000, &a), 1);
    ck_assert_int_eq(a.addr[0].ss_family, AF_INET);
    ck_assert_uint_eq(port_of(&a.addr[0]), 80);
    ck_assert_int_eq(ah_dns_resolve("::1", 443, AF_UNSPEC, 1000, &a), 1);
    ck_assert_int_eq(a.addr[0].ss_family, AF_INET6);
    ck_assert_uint_eq(port_of(&a.addr[0]), 443);
    ck_assert_int_eq(ah_dns_resolve("[::1]", 8080, AF_UNSPEC, 1000, &a), 1);
    ck_assert_int_eq(a.addr[0].ss_family, AF_INET6);
    char buf[64];
    ck_assert_str_eq(ah_sockaddr_str((struct sockaddr *)&a.addr[0], buf, sizeof(buf)),
                     "[::1]:8080");
    /* a family filter that the literal does not match */
    ck_assert_int_eq(ah_dns_resolve("127.0.0.1", 80, AF_INET6, 1000, &a) < 0, 1);
    ck_assert_int_eq(ah_dns_resolve("", 80, AF_UNSPEC, 1000, &a), AH_EDNS);
    return 0;
}

START_TEST(test_numeric_hosts_skip_the_resolver)
{
    ck_assert_int_eq(ah_run(main_numeric, NULL), 0);
}
END_TEST

static int main_hosts(void *arg)
{
    ah_addrs a;
    int n = ah_dns_resolve("localhost", 8080, AF_INET, 2000, &a);
    ck_assert_int_ge(n, 1);
    struct sockaddr_in *v4 = (struct sockaddr_in *)&a.addr[0];
    ck_assert_int_eq(v4->sin_family, AF_INET);
    ck_assert_uint_eq(ntohl(v4->sin_addr.s_addr), INADDR_LOOPBACK);
    ck_assert_uint_eq(port_of(&a.addr[0]), 8080);
    /* cached: same answer, new port */
    ck_assert_int_eq(ah_dns_resolve("LOCALHOST", 9090, AF_INET, 2000, &a), n);
    ck_assert_uint_eq(port_of(&a.addr[0]), 9090);
    ah_dns_cache_clear();
    ck_assert_int_eq(ah_dns_resolve("localhost", 1, AF_INET, 2000, &a), n);
    return 0;
}

START_TEST(test_etc_hosts_is_honoured_and_cached) { ck_assert_int_eq(ah_run(main_hosts, NULL), 0); }
END_TEST

/* ---- name servers on loopback, named in a resolv.conf of the test's own ---- */

static char conf_path[64];

/* Point the resolver of every loop made from now on at a resolv.conf holding text. */
static void resolv_conf_use(const char *text)
{
    snprintf(conf_path, sizeof(conf_path), "/tmp/ahttp-resolv-%d.conf", (int)getpid());
    FILE *f = fopen(conf_path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    setenv("AH_RESOLV_CONF", conf_path, 1);
}

static void resolv_conf_done(void)
{
    unsetenv("AH_RESOLV_CONF");
    unlink(conf_path);
}

/* A UDP socket bound to a port of loopback (family AF_INET or AF_INET6), or -1 if the family is
 * not there; *port is its port. */
static int udp_bound(int family, uint16_t *port)
{
    int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_storage ss = {0};
    socklen_t len;
    if (family == AF_INET6) {
        struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
        v6->sin6_family = AF_INET6;
        v6->sin6_addr = in6addr_loopback;
        len = sizeof(*v6);
    } else {
        struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
        v4->sin_family = AF_INET;
        v4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof(*v4);
    }
    if (bind(fd, (struct sockaddr *)&ss, len) != 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
        close(fd);
        return -1;
    }
    *port = port_of(&ss);
    return fd;
}

/* A port with nothing bound to it (bound, then closed): a query sent there draws ICMP "port
 * unreachable". Returns 0 if the family is not there. */
static uint16_t dead_port(int family)
{
    uint16_t port = 0;
    int fd = udp_bound(family, &port);
    if (fd < 0)
        return 0;
    close(fd);
    return port;
}

/* A "name server" that reads queries and never answers. */
static int silent_fd = -1;

static void silent_server_up(void)
{
    uint16_t port;
    silent_fd = udp_bound(AF_INET, &port);
    ck_assert_int_ge(silent_fd, 0);
    char conf[128];
    snprintf(conf, sizeof(conf), "nameserver 127.0.0.1:%u\noptions timeout:5 attempts:1\n", port);
    resolv_conf_use(conf);
}

static void silent_server_down(void)
{
    resolv_conf_done();
    close(silent_fd);
}

static int main_silent_timeout(void *arg)
{
    ah_addrs a;
    int64_t start = ah_now_ms();
    ck_assert_int_eq(ah_dns_resolve("nothing.test", 80, AF_UNSPEC, 100, &a), AH_ETIMEDOUT);
    int64_t took = ah_check_elapsed(start);
    ck_assert_int_ge(took, 95);
    ck_assert_int_lt(took, ah_check_slow() ? 5000 : 1000);
    /* names in /etc/hosts still resolve without the server */
    ck_assert_int_ge(ah_dns_resolve("localhost", 80, AF_INET, 1000, &a), 1);
    return 0;
}

START_TEST(test_unanswered_lookup_times_out)
{
    silent_server_up();
    int rc = ah_run(main_silent_timeout, NULL);
    silent_server_down();
    ck_assert_int_eq(rc, 0);
}
END_TEST

static int lookup(void *arg)
{
    ah_addrs a;
    return ah_dns_resolve((const char *)arg, 80, AF_UNSPEC, -1, &a);
}

static int main_silent_cancel(void *arg)
{
    ah_task *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = ah_spawn(lookup, "slow.test");
    ck_assert_int_eq(ah_sleep(20), 0);
    for (int i = 0; i < 3; i++) {
        ah_cancel(t[i]);
        ck_assert_int_eq(ah_join(t[i]), AH_ECANCELED);
    }
    return 0;
}

START_TEST(test_cancelled_lookup_is_safe)
{
    silent_server_up();
    int64_t start = ah_now_ms();
    int rc = ah_run(main_silent_cancel, NULL); /* freeing the loop frees the abandoned requests */
    silent_server_down();
    ck_assert_int_eq(rc, 0);
    ck_assert_int_lt(ah_check_elapsed(start), ah_check_slow() ? 10000 : 2000);
}
END_TEST

START_TEST(test_numeric_hosts_need_no_task)
{
    ah_addrs a;
    ck_assert_int_eq(ah_dns_resolve("127.0.0.1", 80, AF_UNSPEC, 1000, &a), 1);
    ck_assert_int_eq(ah_dns_resolve("localhost", 80, AF_UNSPEC, 1000, &a), AH_EINVAL);
    /* so a listener on a numeric address can be made before the loop runs */
    ah_listener *l;
    ck_assert_int_eq(ah_tcp_listen("127.0.0.1", 0, NULL, &l), 0);
    ck_assert_uint_gt(ah_listener_port(l), 0);
    ah_listener_close(l);
}
END_TEST

/* ---- name servers that cannot be reached ---- */

/* A name server that is not there: the lookup fails with AH_EDNS within a small part of a
 * second, not after evdns's timeouts (5 s and more) or the caller's (3 s here). */
static int main_unreachable(void *arg)
{
    (void)arg;
    ah_addrs a;
    int64_t start = ah_now_ms();
    ck_assert_int_eq(ah_dns_resolve("nothing.invalid", 80, AF_UNSPEC, 3000, &a), AH_EDNS);
    ck_assert_int_lt(ah_check_elapsed(start), ah_check_slow() ? 3000 : 500);
    /* the next lookup does not wait for the check again */
    start = ah_now_ms();
    ck_assert_int_eq(ah_dns_resolve("other.invalid", 80, AF_INET, 3000, &a), AH_EDNS);
    ck_assert_int_lt(ah_check_elapsed(start), ah_check_slow() ? 1000 : 100);
    /* names in /etc/hosts still resolve */
    ck_assert_int_ge(ah_dns_resolve("localhost", 80, AF_INET, 1000, &a), 1);
    return 0;
}

START_TEST(test_unreachable_name_server_fails_lookups_at_once)
{
    char conf[96];
    snprintf(conf, sizeof(conf), "nameserver 127.0.0.1:%u\n", dead_port(AF_INET));
    resolv_conf_use(conf);
    int fds = ah_check_open_fds();
    int rc = ah_run(main_unreachable, NULL);
    resolv_conf_done();
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(ah_check_open_fds(), fds); /* the check's sockets went with the loop */
}
END_TEST

static int lookup_timed(void *arg)
{
    ah_addrs a;
    int64_t start = ah_now_ms();
    int rc = ah_dns_resolve((const char *)arg, 80, AF_UNSPEC, 3000, &a);
    return rc == AH_EDNS && ah_check_elapsed(start) < (ah_check_slow() ? 3000 : 500) ? 0 : -1;
}

/* Every lookup waiting on the resolver fails once the check has found no server. Returns how
 * many did not (no ck_assert: it also runs on threads of its own). */
static int main_unreachable_many(void *arg)
{
    (void)arg;
    static const char *names[] = {"a.invalid", "b.invalid", "c.invalid", "d.invalid"};
    ah_task *t[4];
    for (int i = 0; i < 4; i++)
        t[i] = ah_spawn(lookup_timed, (void *)names[i]);
    int wrong = 0;
    for (int i = 0; i < 4; i++)
        wrong += !t[i] || ah_join(t[i]) != 0;
    return wrong;
}

START_TEST(test_unreachable_name_server_fails_every_waiting_lookup)
{
    char conf[96];
    snprintf(conf, sizeof(conf), "nameserver 127.0.0.1:%u\n", dead_port(AF_INET));
    resolv_conf_use(conf);
    int rc = ah_run(main_unreachable_many, NULL);
    resolv_conf_done();
    ck_assert_int_eq(rc, 0);
}
END_TEST

static void *thread_main(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)ah_run(main_unreachable_many, NULL);
}

/* Each loop has a resolver and a verdict of its own; loops on several threads check at once. */
START_TEST(test_unreachable_name_server_fails_fast_in_every_loop)
{
    char conf[96];
    snprintf(conf, sizeof(conf), "nameserver 127.0.0.1:%u\n", dead_port(AF_INET));
    resolv_conf_use(conf);
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, thread_main, NULL), 0);
    void *rc[3];
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], &rc[i]);
    resolv_conf_done();
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq((int)(intptr_t)rc[i], 0);
}
END_TEST

static int main_timed_out(void *arg)
{
    (void)arg;
    ah_addrs a;
    int64_t start = ah_now_ms();
    ck_assert_int_eq(ah_dns_resolve("nothing.invalid", 80, AF_UNSPEC, 400, &a), AH_ETIMEDOUT);
    ck_assert_int_ge(ah_check_elapsed(start), 395);
    return 0;
}

static int main_edns_fast(void *arg)
{
    (void)arg;
    ah_addrs a;
    int64_t start = ah_now_ms();
    ck_assert_int_eq(ah_dns_resolve("nothing.invalid", 80, AF_UNSPEC, 3000, &a), AH_EDNS);
    ck_assert_int_lt(ah_check_elapsed(start), ah_check_slow() ? 3000 : 500);
    return 0;
}

/* One server that is there (if silent) is enough to keep waiting; two that are not, of either
 * family, are not. */
START_TEST(test_lookups_fail_fast_only_when_no_name_server_can_be_reached)
{
    uint16_t silent_port;
    int silent = udp_bound(AF_INET, &silent_port);
    ck_assert_int_ge(silent, 0);
    char conf[256];
    snprintf(conf, sizeof(conf),
             "nameserver 127.0.0.1:%u\nnameserver 127.0.0.1:%u\noptions timeout:5 attempts:1\n",
             dead_port(AF_INET), silent_port);
    resolv_conf_use(conf);
    int rc = ah_run(main_timed_out, NULL);
    close(silent);
    ck_assert_int_eq(rc, 0);

    uint16_t v6 = dead_port(AF_INET6);
    if (v6)
        snprintf(conf, sizeof(conf), "nameserver 127.0.0.1:%u\nnameserver [::1]:%u\n",
                 dead_port(AF_INET), v6);
    else /* no IPv6 here */
        snprintf(conf, sizeof(conf), "nameserver 127.0.0.1:%u\nnameserver 127.0.0.1:%u\n",
                 dead_port(AF_INET), dead_port(AF_INET));
    resolv_conf_use(conf);
    rc = ah_run(main_edns_fast, NULL);
    resolv_conf_done();
    ck_assert_int_eq(rc, 0);
}
END_TEST

static int main_no_server(void *arg)
{
    (void)arg;
    ah_addrs a;
    int64_t start = ah_now_ms();
    ck_assert_int_eq(ah_dns_resolve("nothing.invalid", 80, AF_UNSPEC, 3000, &a), AH_EDNS);
    ck_assert_int_lt(ah_check_elapsed(start), ah_check_slow() ? 1000 : 100);
    ck_assert_int_ge(ah_dns_resolve("localhost", 80, AF_INET, 1000, &a), 1);
    return 0;
}

/* A resolv.conf that names no server (or cannot be read) leaves the resolver with none: lookups
 * outside /etc/hosts fail at once, and nothing is sent (not even to 127.0.0.1:53). */
START_TEST(test_resolver_without_name_servers_fails_at_once)
{
    resolv_conf_use("options timeout:1 attempts:1\n");
    int rc = ah_run(main_no_server, NULL);
    resolv_conf_done();
    ck_assert_int_eq(rc, 0);

    setenv("AH_RESOLV_CONF", "/nonexistent/ahttp-resolv.conf", 1);
    rc = ah_run(main_no_server, NULL);
    unsetenv("AH_RESOLV_CONF");
    ck_assert_int_eq(rc, 0);
}
END_TEST

/* ---- a name server that answers ---- */

/* Answers A questions with 127.0.0.2 and anything else (the resolver's ". NS" checks among them)
 * with no records, counting both. */
typedef struct responder {
    int fd;
    int a_queries, other_queries;
} responder;

static int responder_run(void *arg)
{
    responder *rs = arg;
    for (;;) {
        int rc = ah_wait_fd(rs->fd, AH_READ, -1);
        if (rc < 0)
            return rc == AH_ECANCELED ? 0 : rc;
        unsigned char q[512], r[600];
        struct sockaddr_storage from;
        socklen_t from_len = sizeof(from);
        ssize_t n = recvfrom(rs->fd, q, sizeof(q), 0, (struct sockaddr *)&from, &from_len);
        if (n < 12)
            continue;
        size_t i = 12; /* the question: labels, a zero byte, type, class */
        while (i < (size_t)n && q[i])
            i += q[i] + 1u;
        if (i + 5 > (size_t)n)
            continue;
        int type = q[i + 1] << 8 | q[i + 2];
        size_t len = i + 5;
        memcpy(r, q, len);
        r[2] = 0x81; /* a response, recursion desired */
        r[3] = 0x80; /* recursion available, no error */
        memset(r + 6, 0, 6);
        if (type == 1) {
            static const unsigned char answer[] = {
                0xc0, 0x0c,             /* the question's name */
                0x00, 0x01, 0x00, 0x01, /* A, IN */
                0x00, 0x00, 0x00, 0x3c, /* 60 s */
                0x00, 0x04, 127,  0,    0, 2,
            };
            r[7] = 1;
            memcpy(r + len, answer, sizeof(answer));
            len += sizeof(answer);
            rs->a_queries++;
        } else {
            rs->other_queries++;
        }
        (void)sendto(rs->fd, r, len, 0, (struct sockaddr *)&from, from_len);
    }
}

static uint16_t recover_port;

static int main_recovered(void *arg)
{
    (void)arg;
    ah_addrs a;
    ck_assert_int_eq(ah_dns_resolve("before.test", 80, AF_INET, 3000, &a), AH_EDNS);
    /* the server comes up where the resolver looks for it */
    responder rs = {.fd = -1};
    uint16_t port = 0;
    for (int tries = 0; tries < 50 && port != recover_port; tries++) {
        if (rs.fd >= 0)
            close(rs.fd);
        rs.fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in sin = {.sin_family = AF_INET,
                                  .sin_port = htons(recover_port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        if (bind(rs.fd, (struct sockaddr *)&sin, sizeof(sin)) == 0)
            port = recover_port;
        else
            ck_assert_int_eq(ah_sleep(10), 0);
    }
    ck_assert_uint_eq(port, recover_port);
    ah_task *server = ah_spawn(responder_run, &rs);
    /* past the hold (1 s) in which lookups fail without asking */
    ck_assert_int_eq(ah_sleep(1100), 0);
    ck_assert_int_eq(ah_dns_resolve("after.test", 80, AF_INET, 3000, &a), 1);
    ck_assert_uint_eq(ntohl(((struct sockaddr_in *)&a.addr[0])->sin_addr.s_addr), 0x7f000002);
    ck_assert_int_eq(rs.a_queries, 1);
    /* A server that answers at once is never checked: no query of the resolver's own, as long
     * as each lookup took less than the 50 ms after which one would be sent (a loaded machine
     * may take longer, and then the count proves nothing). */
    int checks = rs.other_queries, all_fast = 1;
    static const char *names[] = {"one.test", "two.test", "three.test"};
    for (int i = 0; i < 3; i++) {
        int64_t start = ah_now_ms();
        ck_assert_int_eq(ah_dns_resolve(names[i], 80, AF_INET, 3000, &a), 1);
        all_fast &= ah_check_elapsed(start) < 45;
    }
    ck_assert_int_eq(rs.a_queries, 4);
    if (all_fast)
        ck_assert_int_eq(rs.other_queries, checks);
    ah_cancel(server);
    ck_assert_int_eq(ah_join(server), AH_ECANCELED);
    close(rs.fd);
    return 0;
}

/* A name server that was down and comes back is asked again. */
START_TEST(test_name_server_that_comes_back_is_used_again)
{
    recover_port = dead_port(AF_INET);
    char conf[96];
    snprintf(conf, sizeof(conf), "nameserver 127.0.0.1:%u\n", recover_port);
    resolv_conf_use(conf);
    int rc = ah_run(main_recovered, NULL);
    resolv_conf_done();
    ck_assert_int_eq(rc, 0);
}
END_TEST

/* ---- the library's log ---- */

static int logged, logged_failed, logged_unreachable, logged_level = -9;

static void log_capture(int level, const char *msg, void *arg)
{
    (void)arg;
    logged++;
    if (strstr(msg, "Nameserver") && strstr(msg, "has failed")) {
        logged_failed++;
        logged_level = level;
    }
    if (strstr(msg, "cannot be reached"))
        logged_unreachable++;
}

/* evdns gives up on its own (timeout:0.2 attempts:1): AH_EDNS, not a timeout of the caller. */
static int main_evdns_gives_up(void *arg)
{
    (void)arg;
    ah_addrs a;
    int64_t start = ah_now_ms();
    ck_assert_int_eq(ah_dns_resolve("nothing.invalid", 80, AF_INET, 5000, &a), AH_EDNS);
    int64_t took = ah_check_elapsed(start);
    ck_assert_int_ge(took, 150);
    ck_assert_int_lt(took, ah_check_slow() ? 4000 : 2000);
    return 0;
}

/* libevent's notices ("[msg] Nameserver ... has failed", which evdns prints when it gives up on a
 * server) go through the library's level: dropped by default, delivered at AH_LOG_INFO. */
START_TEST(test_libevent_messages_follow_the_log_level)
{
    ck_assert_int_eq(ah_log_level(), AH_LOG_WARN); /* the default */
    ah_log_set_handler(log_capture, NULL);
    uint16_t port;
    int silent = udp_bound(AF_INET, &port);
    ck_assert_int_ge(silent, 0);
    char conf[128];
    snprintf(conf, sizeof(conf), "nameserver 127.0.0.1:%u\noptions timeout:0.2 attempts:1\n", port);
    resolv_conf_use(conf);
    int rc = ah_run(main_evdns_gives_up, NULL);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(logged, 0);

    ah_log_set_level(AH_LOG_INFO);
    rc = ah_run(main_evdns_gives_up, NULL); /* a new loop: a new resolver, to fail anew */
    ck_assert_int_eq(rc, 0);
    ck_assert_int_ge(logged_failed, 1);
    ck_assert_int_eq(logged_level, AH_LOG_INFO);

    /* and the resolver's own word on a server that is not there */
    snprintf(conf, sizeof(conf), "nameserver 127.0.0.1:%u\n", dead_port(AF_INET));
    resolv_conf_use(conf);
    rc = ah_run(main_unreachable, NULL);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_ge(logged_unreachable, 1);

    ah_log_set_level(AH_LOG_SILENT);
    int before = logged;
    rc = ah_run(main_unreachable, NULL);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(logged, before);

    ah_log_set_level(AH_LOG_WARN);
    ah_log_set_handler(NULL, NULL);
    resolv_conf_done();
    close(silent);
}
END_TEST

static Suite *dns_suite(void)
{
    Suite *s = suite_create("dns");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_numeric_hosts_skip_the_resolver);
    tcase_add_test(tc, test_numeric_hosts_need_no_task);
    tcase_add_test(tc, test_etc_hosts_is_honoured_and_cached);
    tcase_add_test(tc, test_unanswered_lookup_times_out);
    tcase_add_test(tc, test_cancelled_lookup_is_safe);
    suite_add_tcase(s, tc);
    TCase *down = tcase_create("unreachable");
    tcase_add_test(down, test_unreachable_name_server_fails_lookups_at_once);
    tcase_add_test(down, test_unreachable_name_server_fails_every_waiting_lookup);
    tcase_add_test(down, test_unreachable_name_server_fails_fast_in_every_loop);
    tcase_add_test(down, test_lookups_fail_fast_only_when_no_name_server_can_be_reached);
    tcase_add_test(down, test_resolver_without_name_servers_fails_at_once);
    tcase_add_test(down, test_name_server_that_comes_back_is_used_again);
    suite_add_tcase(s, down);
    TCase *log = tcase_create("log");
    tcase_add_test(log, test_libevent_messages_follow_the_log_level);
    suite_add_tcase(s, log);
    return s;
}

int main(void) { return ah_check_run(dns_suite()); }
