/* HTTP proxies for the client: which proxy (options, then the environment as curl reads it),
 * which hosts bypass it (no_proxy: names with their subdomains, addresses, CIDR blocks, "*"),
 * and the CONNECT handshake that turns a connection to the proxy into a tunnel to an https
 * origin (RFC 9110 §9.3.6). How requests travel on the connections is client.c's and
 * client_pool.c's business; this file only says where they go. */
#include "client_internal.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* curl's default proxy port. */
#define DEFAULT_PROXY_PORT 1080

size_t ah__base64(const void *in, size_t n, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *s = in;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)s[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)s[i + 1] << 8;
        if (i + 2 < n)
            v |= s[i + 2];
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? tab[v & 63] : '=';
    }
    out[o] = '\0';
    return o;
}

/* ---- choosing the proxy ---- */

static void proxy_free(ah__proxy *p)
{
    if (!p)
        return;
    free(p->host);
    free(p->authorization);
    free(p->name);
    free(p);
}

void ah__proxy_free(ah_client *c)
{
    if (c->https_proxy != c->http_proxy)
        proxy_free(c->https_proxy);
    proxy_free(c->http_proxy);
    c->http_proxy = c->https_proxy = NULL;
}

/* why = fmt with what; AH_EINVAL. */
static int bad_proxy(char *why, const char *fmt, const char *what)
{
    snprintf(why, AH__PROXY_WHY_MAX, fmt, what);
    return AH_EINVAL;
}

/* Parse "[http://][user:password@]host[:port][/]" into *out (NULL for "" or NULL). 0, AH_ENOMEM,
 * or AH_EINVAL with the reason in why (AH__PROXY_WHY_MAX bytes). */
static int proxy_parse(const char *spec, ah__proxy **out, char *why)
{
    *out = NULL;
    if (!spec || !spec[0])
        return 0;
    char *with_scheme = NULL;
    if (!strstr(spec, "://")) {
        size_t len = strlen(spec);
        if (!(with_scheme = malloc(len + 8)))
            return AH_ENOMEM;
        memcpy(with_scheme, "http://", 7);
        memcpy(with_scheme + 7, spec, len + 1);
    }
    ah_url u;
    int rc = ah_url_parse(with_scheme ? with_scheme : spec, &u);
    free(with_scheme);
    if (rc == AH_ENOMEM)
        return rc;
    if (rc < 0 || !u.host || !u.host[0]) {
        ah_url_free(&u);
        const char *at = strrchr(spec, '@'); /* never a password in a message */
        return bad_proxy(why, at ? "bad proxy URL \"...@%s\"" : "bad proxy URL \"%s\"",
                         at ? at + 1 : spec);
    }
    if (strcmp(u.scheme, "http") != 0) {
        rc = bad_proxy(why, "unsupported proxy scheme \"%s\" (only http:// proxies are)", u.scheme);
        ah_url_free(&u);
        return rc;
    }
    ah__proxy *p = calloc(1, sizeof(*p));
    if (!p || !(p->host = strdup(u.host))) {
        free(p);
        ah_url_free(&u);
        return AH_ENOMEM;
    }
    p->port = u.port_explicit ? u.port : DEFAULT_PROXY_PORT;
    int v6 = strchr(p->host, ':') != NULL;
    size_t name_len = strlen(p->host) + 20;
    if (!(p->name = malloc(name_len))) {
        rc = AH_ENOMEM;
    } else {
        snprintf(p->name, name_len, "http://%s%s%s:%u", v6 ? "[" : "", p->host, v6 ? "]" : "",
                 (unsigned)p->port);
    }
    if (rc == 0 && u.userinfo) {
        char *creds;
        size_t n;
        rc = ah_url_decode(u.userinfo, strlen(u.userinfo), 0, &creds, &n);
        if (rc == 0) {
            /* "user" alone means an empty password, as curl has it */
            char *pair = memchr(creds, ':', n) ? creds : malloc(n + 2);
            if (pair && pair != creds) {
                memcpy(pair, creds, n);
                pair[n++] = ':';
            }
            if (pair && (p->authorization = malloc(6 + 4 * ((n + 2) / 3) + 1))) {
                memcpy(p->authorization, "Basic ", 6);
                ah__base64(pair, n, p->authorization + 6);
            } else {
                rc = AH_ENOMEM;
            }
            if (pair != creds)
                free(pair);
            free(creds);
        } else if (rc == AH_EINVAL) {
            rc = bad_proxy(why, "bad credentials in the proxy URL for %s", p->name);
        }
    }
    ah_url_free(&u);
    if (rc < 0) {
        proxy_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

static const char *env(const char *lower_name, const char *upper_name)
{
    const char *v = getenv(lower_name);
    if (!v && upper_name)
        v = getenv(upper_name);
    return v;
}

int ah__proxy_setup(ah_client *c)
{
    const ah_client_opts *o = &c->opts;
    const char *http = o->proxy, *https = o->proxy;
    if (!o->proxy && o->use_env_proxy) {
        /* httpoxy: a CGI program gets the request's "Proxy:" header as HTTP_PROXY */
        http = env("http_proxy", getenv("REQUEST_METHOD") ? NULL : "HTTP_PROXY");
        https = env("https_proxy", "HTTPS_PROXY");
        const char *all = env("all_proxy", "ALL_PROXY");
        if (!http)
            http = all;
        if (!https)
            https = all;
    }
    const char *no = o->no_proxy;
    if (!no && o->use_env_proxy)
        no = env("no_proxy", "NO_PROXY");
    if (no && !(c->no_proxy = strdup(no)))
        return AH_ENOMEM;
    /* a bad proxy fails only the requests that would use it */
    int rc = proxy_parse(http, &c->http_proxy, c->proxy_error_message[0]);
    if (rc == AH_ENOMEM)
        return rc;
    c->proxy_error[0] = rc;
    if (https && http && strcmp(https, http) == 0) {
        c->https_proxy = c->http_proxy;
        c->proxy_error[1] = c->proxy_error[0];
        memcpy(c->proxy_error_message[1], c->proxy_error_message[0], AH__PROXY_WHY_MAX);
        return 0;
    }
    rc = proxy_parse(https, &c->https_proxy, c->proxy_error_message[1]);
    if (rc == AH_ENOMEM)
        return rc;
    c->proxy_error[1] = rc;
    return 0;
}

/* ---- no_proxy ---- */

/* entry is "address/bits": does the address host fall in it? */
static int cidr_match(const char *entry, size_t len, const char *host)
{
    char addr[64];
    const char *slash = memchr(entry, '/', len);
    size_t alen = (size_t)(slash - entry);
    if (alen == 0 || alen >= sizeof(addr))
        return 0;
    memcpy(addr, entry, alen);
    addr[alen] = '\0';
    int bits = 0;
    size_t i = alen + 1;
    if (i == len)
        return 0;
    for (; i < len; i++) {
        if (entry[i] < '0' || entry[i] > '9' || bits > 128)
            return 0;
        bits = bits * 10 + (entry[i] - '0');
    }
    unsigned char net[16], ip[16];
    int family = strchr(addr, ':') ? AF_INET6 : AF_INET;
    int max = family == AF_INET6 ? 128 : 32;
    if (bits > max || inet_pton(family, addr, net) != 1 || inet_pton(family, host, ip) != 1)
        return 0;
    for (int b = 0; b < bits; b += 8) {
        int keep = bits - b >= 8 ? 8 : bits - b;
        unsigned mask = (0xff00u >> keep) & 0xff;
        if ((net[b / 8] & mask) != (ip[b / 8] & mask))
            return 0;
    }
    return 1;
}

int ah__no_proxy_match(const char *list, const char *host)
{
    if (!list || !host)
        return 0;
    unsigned char bin[16];
    int host_is_ip = inet_pton(AF_INET, host, bin) == 1 || inet_pton(AF_INET6, host, bin) == 1;
    size_t hl = strlen(host);
    for (const char *p = list; *p;) {
        p += strspn(p, ", \t");
        size_t len = strcspn(p, ", \t");
        const char *e = p;
        p += len;
        if (len == 0)
            continue;
        if (len == 1 && e[0] == '*')
            return 1;
        if (e[0] == '[' && len >= 2 && e[len - 1] == ']') { /* "[::1]" */
            e++;
            len -= 2;
        }
        if (memchr(e, '/', len)) {
            if (host_is_ip && cidr_match(e, len, host))
                return 1;
            continue;
        }
        if (host_is_ip) {
            if (len == hl && strncasecmp(e, host, len) == 0)
                return 1;
            continue;
        }
        if (e[0] == '.') {
            e++;
            len--;
        }
        if (len && e[len - 1] == '.')
            len--;
        if (len == 0 || len > hl || strncasecmp(host + hl - len, e, len) != 0)
            continue;
        if (len == hl || host[hl - len - 1] == '.')
            return 1;
    }
    return 0;
}

int ah__proxy_for(ah__fetch *f, const ah_url *u, const ah__proxy **out)
{
    const ah_client *c = f->c;
    int tls = strcmp(u->scheme, "https") == 0;
    const ah__proxy *p = tls ? c->https_proxy : c->http_proxy;
    *out = NULL;
    if ((p || c->proxy_error[tls]) && c->no_proxy && ah__no_proxy_match(c->no_proxy, u->host))
        return 0;
    if (c->proxy_error[tls])
        return ah__client_fail(f, c->proxy_error[tls], AH_CLIENT_PHASE_REQUEST,
                               AH_CLIENT_TIMEOUT_NONE, "%s", c->proxy_error_message[tls]);
    *out = p;
    return 0;
}

/* ---- CONNECT ---- */

/* The proxy's answer to CONNECT, head_len bytes at the front of s, through the message core:
 * its status and reason (at most reason_max - 1 bytes of it) into *status and reason. */
static int parse_connect_reply(ah__fetch *f, ah_stream *s, size_t head_len, size_t lines,
                               int *status, char *reason, size_t reason_max, const char *peer)
{
    const ah_client_opts *o = &f->c->opts;
    const char *data;
    (void)ah_stream_buffered(s, &data);
    size_t nheaders = lines >= 2 ? lines - 2 : 0;
    char *head = malloc(head_len + 1);
    ah__header *headers = nheaders ? calloc(nheaders, sizeof(*headers)) : NULL;
    if (!head || (nheaders && !headers)) {
        free(head);
        free(headers);
        return ah__client_fail(f, AH_ENOMEM, AH_CLIENT_PHASE_CONNECT, AH_CLIENT_TIMEOUT_NONE,
                               "out of memory");
    }
    memcpy(head, data, head_len);
    head[head_len] = '\0';
    ah__msg m;
    ah__msg_init(&m, HTTP_RESPONSE, headers, nheaders, o->max_header_bytes, o->max_header_count);
    m.head_request = 1; /* a 2xx to CONNECT has no body: the tunnel follows (RFC 9110 §9.3.6) */
    int rc = ah__msg_parse_head(&m, head, head_len);
    if (rc == 0 && m.parser.http_major != 1)
        rc = AH_EPROTO_HTTP;
    if (rc == 0) {
        *status = m.parser.status_code;
        snprintf(reason, reason_max, "%s", m.start[0] ? m.start[0] : "");
    } else {
        rc = ah__client_fail(f, rc, AH_CLIENT_PHASE_CONNECT, AH_CLIENT_TIMEOUT_NONE,
                             "proxy %s sent a malformed response to CONNECT (%s)", peer,
                             m.why ? m.why : "not HTTP/1.x");
    }
    ah__msg_free(&m);
    free(headers);
    free(head);
    return rc;
}

int ah__proxy_connect(ah__fetch *f, ah_stream *s, const ah__proxy *p, const ah_url *u,
                      const char *proxy_peer)
{
    ah_client *c = f->c;
    const ah_client_opts *o = &c->opts;
    char authority[AH__PEER_MAX], head[AH__PEER_MAX * 2 + 512];
    int v6 = strchr(u->host, ':') != NULL;
    snprintf(authority, sizeof(authority), "%s%s%s:%u", v6 ? "[" : "", u->host, v6 ? "]" : "",
             (unsigned)u->port);
    int len =
        snprintf(head, sizeof(head), "CONNECT %s HTTP/1.1\r\nHost: %s\r\n", authority, authority);
    if (p->authorization)
        len += snprintf(head + len, sizeof(head) - (size_t)len, "Proxy-Authorization: %s\r\n",
                        p->authorization);
    if (o->user_agent[0] && (size_t)len < sizeof(head))
        len += snprintf(head + len, sizeof(head) - (size_t)len, "User-Agent: %.200s\r\n",
                        o->user_agent);
    if ((size_t)len + 3 > sizeof(head)) /* credentials longer than any sane proxy takes */
        return ah__client_fail(f, AH_EINVAL, AH_CLIENT_PHASE_CONNECT, AH_CLIENT_TIMEOUT_NONE,
                               "proxy credentials too long for %s", p->name);
    memcpy(head + len, "\r\n", 3);
    len += 2;
    ah__client_trace(c, AH_CLIENT_TRACE_REQUEST_HEAD, head, (size_t)len);

    /* The tunnel is part of connecting: the connect timeout bounds it. */
    int pushed = 0, rc = 0;
    if (o->connect_timeout_ms > 0) {
        rc = ah_deadline_push(o->connect_timeout_ms);
        pushed = rc == 0;
    }
    size_t head_len = 0, lines = 0;
    int any_byte = 0;
    if (rc == 0)
        rc = ah_stream_write(s, head, (size_t)len);
    if (rc == 0)
        rc = ah__response_find_head(f, s, o, &head_len, &lines, &any_byte);
    int expired = pushed && ah_deadline_pop() == 1;
    if (rc < 0) {
        ah_client_timeout which = ah__client_which_timeout(
            f->total_until, rc, expired ? AH_CLIENT_TIMEOUT_CONNECT : AH_CLIENT_TIMEOUT_READ);
        if (which == AH_CLIENT_TIMEOUT_TOTAL)
            return ah__client_fail(f, rc, AH_CLIENT_PHASE_CONNECT, which,
                                   "total timeout (%lld ms) waiting for proxy %s to open a "
                                   "tunnel",
                                   (long long)f->total_ms, proxy_peer);
        if (which == AH_CLIENT_TIMEOUT_CONNECT || which == AH_CLIENT_TIMEOUT_READ)
            return ah__client_fail(f, rc, AH_CLIENT_PHASE_CONNECT, which,
                                   "%s timeout (%lld ms) waiting for proxy %s to open a tunnel",
                                   which == AH_CLIENT_TIMEOUT_CONNECT ? "connect" : "read",
                                   (long long)(which == AH_CLIENT_TIMEOUT_CONNECT
                                                   ? o->connect_timeout_ms
                                                   : o->read_timeout_ms),
                                   proxy_peer);
        if (rc == AH_EEOF)
            return ah__client_fail(f, rc, AH_CLIENT_PHASE_CONNECT, which,
                                   "proxy %s closed the connection in reply to CONNECT",
                                   proxy_peer);
        if (rc == AH_ETOOBIG)
            return ah__client_fail(f, rc, AH_CLIENT_PHASE_CONNECT, which,
                                   "proxy %s: response to CONNECT larger than %zu bytes",
                                   proxy_peer, o->max_header_bytes);
        if (rc == AH_EPROTO_HTTP || rc == AH_ETRUNCATED) {
            char why[160]; /* what the scanner found, said of the proxy */
            snprintf(why, sizeof(why), "%.150s", f->err ? f->err->message : ah_strerror(rc));
            return ah__client_fail(f, rc, AH_CLIENT_PHASE_CONNECT, which,
                                   "proxy %s sent a malformed response to CONNECT (%s)", proxy_peer,
                                   why);
        }
        return ah__client_fail(f, rc, AH_CLIENT_PHASE_CONNECT, which,
                               "CONNECT through proxy %s: %s", proxy_peer, ah_strerror(rc));
    }
    const char *data;
    (void)ah_stream_buffered(s, &data);
    ah__client_trace(c, AH_CLIENT_TRACE_RESPONSE_HEAD, data, head_len);
    int status = 0;
    char reason[81];
    rc = parse_connect_reply(f, s, head_len, lines, &status, reason, sizeof(reason), proxy_peer);
    if (rc < 0)
        return rc;
    if (status < 200 || status > 299)
        return ah__client_fail(f, AH_ECONNREFUSED, AH_CLIENT_PHASE_CONNECT, AH_CLIENT_TIMEOUT_NONE,
                               "proxy CONNECT refused: %d%s%s (proxy %s)", status,
                               reason[0] ? " " : "", reason, p->name);
    /* Whatever follows the head is the origin's (nothing, until our ClientHello is answered):
     * it stays buffered for the TLS layer. */
    ah_stream_consume(s, head_len);
    ah__client_tracef(c, "tunnel to %s through proxy %s", authority, proxy_peer);
    return 0;
}
