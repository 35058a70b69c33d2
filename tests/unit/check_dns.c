/* Name resolution: numeric hosts, /etc/hosts, the cache, and a name server that never answers
 * (a UDP socket on loopback, named through AH_RESOLV_CONF: tests send no query off the machine). */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
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

/* A "name server" that reads queries and never answers. */
static int silent_fd = -1;
static char conf_path[64];

static void silent_server_up(void)
{
    silent_fd = socket(AF_INET, SOCK_DGRAM, 0);
    ck_assert_int_ge(silent_fd, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(silent_fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    socklen_t len = sizeof(sin);
    ck_assert_int_eq(getsockname(silent_fd, (struct sockaddr *)&sin, &len), 0);
    snprintf(conf_path, sizeof(conf_path), "/tmp/ahttp-resolv-%d.conf", (int)getpid());
    FILE *f = fopen(conf_path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "nameserver 127.0.0.1:%u\noptions timeout:5 attempts:1\n", ntohs(sin.sin_port));
    fclose(f);
    setenv("AH_RESOLV_CONF", conf_path, 1);
}

static void silent_server_down(void)
{
    unsetenv("AH_RESOLV_CONF");
    unlink(conf_path);
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
    return s;
}

int main(void) { return ah_check_run(dns_suite()); }
