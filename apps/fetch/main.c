/* ahttp-fetch: a curl-like fetcher on the ahttp client. Many URLs are fetched one after the
 * other over kept-alive connections, or concurrently with -Z over the shared pool.
 *
 *   ahttp-fetch [options] URL...
 *
 * Flags and exit codes follow curl's: 0 ok, 1 unsupported scheme, 2 bad usage, 3 malformed URL,
 * 5 proxy not resolved or malformed, 6 DNS, 7 connect, 18 partial body (truncated), 22 HTTP
 * error with -f, 23 write error, 26 read error (-d @file), 28 timeout, 35 TLS, 47 too many
 * redirects, 52 empty reply, 55 send error, 56 receive error (a proxy refusing CONNECT too),
 * 60 certificate, 61 bad content encoding, 77 CA file.
 *
 * Cookie files (-b, -c) are read before the loop starts and written after it ends, so their
 * blocking I/O never stalls a transfer. Like curl, the proxy environment variables (http_proxy,
 * https_proxy, all_proxy, no_proxy and their upper-case forms) are honoured unless -x or
 * --noproxy say otherwise.
 *
 * This file is the command line: usage, curl's flags, checking every URL before anything is
 * fetched, the cookie files and main. The transfers (and the mapping of client errors to the
 * exit codes above) are in transfer.c, where their output goes in output.c; fetch.h has what
 * they share. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fetch.h"

static const char usage[] =
    "usage: ahttp-fetch [options] URL...\n"
    "  -X, --request METHOD       request method (default GET; POST with -d)\n"
    "  -H, --header 'Name: value' extra request header (repeatable)\n"
    "  -d, --data DATA            request body (@FILE: from a file, CR/LF removed; repeated -d\n"
    "                             are joined with '&'); sends a form Content-Type\n"
    "      --data-binary DATA     request body as is (@FILE: from a file)\n"
    "  -T, --upload-file FILE     PUT FILE as the body (POST etc. with -X), read as it is sent\n"
    "  -o, --output FILE          write the body to FILE (one -o per URL, in order)\n"
    "  -O, --remote-name          write the body to a file named like the URL's last segment\n"
    "  -i, --include              write the response head before the body\n"
    "  -I, --head                 HEAD request; write the response head\n"
    "  -L, --location             follow redirects\n"
    "      --max-redirs N         at most N redirects with -L (default 50)\n"
    "  -k, --insecure             do not verify the server's certificate\n"
    "      --cacert FILE          trust the CAs in FILE (PEM) as well\n"
    "  -E, --cert FILE            client certificate (PEM) for servers that ask for one\n"
    "      --key FILE             its private key (PEM; default: in the --cert file)\n"
    "      --compressed           ask for gzip/deflate and decode it\n"
    "  -m, --max-time SECONDS     limit each transfer to SECONDS in all\n"
    "      --connect-timeout SECONDS  limit DNS + connect + TLS handshake\n"
    "  -f, --fail                 exit 22 on an HTTP status >= 400 (and write no body)\n"
    "  -s, --silent               no error messages, no progress meter\n"
    "  -S, --show-error           error messages even with -s\n"
    "  -v, --verbose              request and response heads (and more) on stderr\n"
    "  -w, --write-out FORMAT     after each transfer write FORMAT: %{http_code},\n"
    "                             %{time_total}, %{size_download}, %{url_effective},\n"
    "                             %{num_redirects}, %{content_type}, %{exitcode},\n"
    "                             %{errormsg}; \\n \\t \\\\ escapes\n"
    "  -b, --cookie DATA|FILE     send cookies: \"name=value; n2=v2\" as given, or those of a\n"
    "                             Netscape cookie file (curl's); with a FILE (\"\" for none)\n"
    "                             cookies from responses are kept for the next requests\n"
    "  -c, --cookie-jar FILE      write every cookie to FILE at the end (\"-\": stdout)\n"
    "  -x, --proxy [http://][user:password@]host[:port]\n"
    "                             use this HTTP proxy (port 1080 if none); \"\" for none\n"
    "      --noproxy LIST         hosts reached directly: names (with their subdomains),\n"
    "                             addresses, CIDR blocks, comma-separated; \"*\" for all\n"
    "                             (http_proxy, https_proxy, all_proxy and no_proxy from the\n"
    "                             environment are used as curl uses them)\n"
    "  -Z, --parallel             fetch the URLs concurrently\n"
    "      --parallel-max N       at most N at a time with -Z (default 50)\n"
    "  -h, --help                 this text\n";

/* ---- command line ---- */

static int bad_usage(const char *fmt, const char *what)
{
    fprintf(stderr, "ahttp-fetch: ");
    fprintf(stderr, fmt, what);
    fprintf(stderr, "\nahttp-fetch: try 'ahttp-fetch --help'\n");
    return 2;
}

/* -v: the library's notices (a name server that cannot be reached, libevent's messages) are
 * lines of the trace, as curl's "* " lines are. */
static void log_as_trace(int level, const char *msg, void *arg)
{
    (void)level;
    (void)arg;
    fprintf(stderr, "* %s\n", msg);
}

/* The library says as much as the flags let ahttp-fetch say: -s nothing (-sS errors), -v its
 * notices too. Without either, its warnings only, as by default. */
static void set_log_level(const options *o)
{
    if (o->verbose) {
        ah_log_set_level(AH_LOG_INFO);
        ah_log_set_handler(log_as_trace, NULL);
    } else if (o->silent) {
        ah_log_set_level(o->show_error ? AH_LOG_ERROR : AH_LOG_SILENT);
    }
}

/* curl's exit 3, with what is wrong: a host name IDNA refuses, a bad port, a bad escape... */
static void report_malformed(const char *url)
{
    char why[160];
    if (ah_url_explain(url, why, sizeof(why)) != AH_EINVAL)
        snprintf(why, sizeof(why), "no host");
    fprintf(stderr, "ahttp-fetch: (3) URL malformed (%s): %s\n", why, url);
}

/* Seconds (fractions allowed) to milliseconds; -1 when malformed. */
static int64_t parse_seconds(const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || v < 0 || v > 1e9)
        return -1;
    int64_t ms = (int64_t)(v * 1000.0 + 0.5);
    return ms > 0 ? ms : 1;
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

/* Read a whole file ("-": stdin) before the loop starts. */
static int slurp(const char *path, char **data, size_t *len)
{
    int fd = strcmp(path, "-") == 0 ? 0 : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t cap = 4096, used = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            if (fd)
                close(fd);
            return -ENOMEM;
        }
        if (used == cap) {
            char *nbuf = realloc(buf, cap * 2);
            if (!nbuf) {
                free(buf);
                buf = NULL;
                continue;
            }
            buf = nbuf;
            cap *= 2;
        }
        ssize_t n = read(fd, buf + used, cap - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int err = n < 0 ? -errno : 0;
            if (fd)
                close(fd);
            if (err) {
                free(buf);
                return err;
            }
            break;
        }
        used += (size_t)n;
    }
    *data = buf;
    *len = used;
    return 0;
}

/* Add -d / --data-binary data to the body. */
static int add_data(options *o, const char *arg, int binary)
{
    char *piece = NULL;
    size_t len = 0;
    if (arg[0] == '@') {
        int rc = slurp(arg + 1, &piece, &len);
        if (rc < 0) {
            fprintf(stderr, "ahttp-fetch: (26) cannot read %s: %s\n", arg + 1, strerror(-rc));
            return 26;
        }
        if (!binary) { /* like curl -d: line breaks are dropped */
            size_t k = 0;
            for (size_t i = 0; i < len; i++)
                if (piece[i] != '\r' && piece[i] != '\n')
                    piece[k++] = piece[i];
            len = k;
        }
    } else {
        len = strlen(arg);
        piece = malloc(len + 1);
        if (!piece)
            return 27;
        memcpy(piece, arg, len);
    }
    size_t sep = o->body && !binary ? 1 : 0;
    char *body = realloc(o->body, o->body_len + sep + len + 1);
    if (!body) {
        free(piece);
        return 27;
    }
    if (sep)
        body[o->body_len] = '&';
    memcpy(body + o->body_len + sep, piece, len);
    o->body = body;
    o->body_len += sep + len;
    o->body[o->body_len] = '\0';
    free(piece);
    if (!binary)
        o->form = 1;
    return 0;
}

static int add_header(options *o, char *arg)
{
    char *colon = strchr(arg, ':');
    if (!colon || colon == arg)
        return -1;
    if (o->nheaders == MAX_HEADERS)
        return -2;
    *colon = '\0';
    char *value = colon + 1;
    while (*value == ' ' || *value == '\t')
        value++;
    o->headers[o->nheaders++] = (ah_client_header){arg, value};
    return 0;
}

/* -b "name=value; ...": sent as is (several are joined into one Cookie line). */
static int add_cookie_data(options *o, const char *data)
{
    size_t old = o->cookie_data ? strlen(o->cookie_data) : 0, len = strlen(data);
    char *p = realloc(o->cookie_data, old + 2 + len + 1);
    if (!p)
        return 27;
    if (old)
        memcpy(p + old, "; ", 2);
    memcpy(p + (old ? old + 2 : 0), data, len + 1);
    o->cookie_data = p;
    return 0;
}

/* The jar of -b FILE / -c, with the -b files read into it (before the loop: blocking is fine).
 * A file that does not exist is no error, as with curl (-c names one to be made). NULL: out of
 * memory. */
static ah_cookie_jar *load_cookies(const options *o)
{
    ah_cookie_jar *jar = ah_cookie_jar_new();
    for (size_t i = 0; jar && i < o->ncookie_files; i++) {
        if (!o->cookie_files[i][0])
            continue; /* -b "": the jar alone */
        int n = ah_cookie_jar_load(jar, o->cookie_files[i]);
        if (n == AH_ENOMEM) {
            ah_cookie_jar_free(jar);
            return NULL;
        }
        if (n >= 0 && o->verbose)
            fprintf(stderr, "* %d cookies read from %s\n", n, o->cookie_files[i]);
        else if (n < 0 && (n != -ENOENT || o->verbose) && (!o->silent || o->show_error))
            fprintf(stderr, "ahttp-fetch: cannot read cookies from %s: %s\n", o->cookie_files[i],
                    ah_strerror(n));
    }
    return jar;
}

/* -c FILE after the loop: a failure is reported but, as with curl, does not change the exit
 * code (the transfers themselves went as they went). */
static void save_cookies(const options *o)
{
    int n = ah_cookie_jar_save(o->jar, o->cookie_jar);
    if (n < 0 && (!o->silent || o->show_error))
        fprintf(stderr, "ahttp-fetch: failed to save cookies in %s: %s\n", o->cookie_jar,
                ah_strerror(n));
    else if (n >= 0 && o->verbose)
        fprintf(stderr, "* %d cookies written to %s\n", n, o->cookie_jar);
}

static void raise_nofile_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* The last path segment of u for -O (malloc'd; "" if it has none), or NULL without memory. */
static char *remote_name_of(const ah_url *u)
{
    const char *slash = strrchr(u->path, '/');
    return strdup(slash ? slash + 1 : u->path);
}

int main(int argc, char **argv)
{
    options o = {.parallel_max = 50, .max_redirs = -2};
    enum {
        O_DATA_BINARY = 256,
        O_MAX_REDIRS,
        O_CACERT,
        O_KEY,
        O_COMPRESSED,
        O_CONNECT_TIMEOUT,
        O_PARALLEL_MAX,
        O_NOPROXY
    };
    static const struct option longopts[] = {
        {"request", required_argument, NULL, 'X'},
        {"header", required_argument, NULL, 'H'},
        {"data", required_argument, NULL, 'd'},
        {"data-binary", required_argument, NULL, O_DATA_BINARY},
        {"upload-file", required_argument, NULL, 'T'},
        {"output", required_argument, NULL, 'o'},
        {"remote-name", no_argument, NULL, 'O'},
        {"include", no_argument, NULL, 'i'},
        {"head", no_argument, NULL, 'I'},
        {"location", no_argument, NULL, 'L'},
        {"max-redirs", required_argument, NULL, O_MAX_REDIRS},
        {"insecure", no_argument, NULL, 'k'},
        {"cacert", required_argument, NULL, O_CACERT},
        {"cert", required_argument, NULL, 'E'},
        {"key", required_argument, NULL, O_KEY},
        {"compressed", no_argument, NULL, O_COMPRESSED},
        {"max-time", required_argument, NULL, 'm'},
        {"connect-timeout", required_argument, NULL, O_CONNECT_TIMEOUT},
        {"fail", no_argument, NULL, 'f'},
        {"silent", no_argument, NULL, 's'},
        {"show-error", no_argument, NULL, 'S'},
        {"verbose", no_argument, NULL, 'v'},
        {"write-out", required_argument, NULL, 'w'},
        {"parallel", no_argument, NULL, 'Z'},
        {"parallel-max", required_argument, NULL, O_PARALLEL_MAX},
        {"cookie", required_argument, NULL, 'b'},
        {"cookie-jar", required_argument, NULL, 'c'},
        {"proxy", required_argument, NULL, 'x'},
        {"noproxy", required_argument, NULL, O_NOPROXY},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char **outputs = calloc((size_t)argc, sizeof(*outputs));
    const char **urls = calloc((size_t)argc, sizeof(*urls));
    if (!outputs || !urls) {
        free(outputs);
        free(urls);
        return 27;
    }
    o.outputs = outputs;
    size_t nurls = 0;
    int c, rc = 0;
    opterr = 0;
    /* Options may follow URLs, as with curl. getopt's permuting mode would move every URL past
     * the options, which is quadratic (40,000 alternating -o and URL arguments spent more time
     * there than fetching), so getopt runs in order ("+") and each URL it stops at is taken here
     * and skipped: one pass. */
    while (rc == 0) {
        int before = optind;
        c = getopt_long(argc, argv, "+:X:H:d:T:o:OiILkm:fsSvw:Zb:c:x:hE:", longopts, NULL);
        if (c == -1) {
            if (optind >= argc)
                break;
            if (optind == before + 1 && strcmp(argv[before], "--") == 0) {
                while (optind < argc) /* after "--" everything is a URL */
                    urls[nurls++] = argv[optind++];
                break;
            }
            urls[nurls++] = argv[optind++];
            continue;
        }
        switch (c) {
        case 'X': o.method = optarg; break;
        case 'H':
            if (add_header(&o, optarg) < 0)
                rc = bad_usage("bad header '%s' (want 'Name: value')", optarg);
            break;
        case 'd': rc = add_data(&o, optarg, 0); break;
        case O_DATA_BINARY: rc = add_data(&o, optarg, 1); break;
        case 'T': o.upload_file = optarg; break;
        case 'o': outputs[o.noutputs++] = optarg; break;
        case 'O': o.remote_name = 1; break;
        case 'i': o.include = 1; break;
        case 'I': o.head = 1; break;
        case 'L': o.follow = 1; break;
        case O_MAX_REDIRS:
            if (parse_int(optarg, -1, 1000000, &o.max_redirs) < 0)
                rc = bad_usage("bad --max-redirs '%s'", optarg);
            break;
        case 'k': o.insecure = 1; break;
        case O_CACERT: o.cacert = optarg; break;
        case 'E': o.cert = optarg; break;
        case O_KEY: o.key = optarg; break;
        case O_COMPRESSED: o.compressed = 1; break;
        case 'm':
            if ((o.max_time_ms = parse_seconds(optarg)) < 0)
                rc = bad_usage("bad --max-time '%s' (seconds)", optarg);
            break;
        case O_CONNECT_TIMEOUT:
            if ((o.connect_timeout_ms = parse_seconds(optarg)) < 0)
                rc = bad_usage("bad --connect-timeout '%s' (seconds)", optarg);
            break;
        case 'f': o.fail = 1; break;
        case 's': o.silent = 1; break;
        case 'S': o.show_error = 1; break;
        case 'v': o.verbose = 1; break;
        case 'w': o.write_out = optarg; break;
        case 'Z': o.parallel = 1; break;
        case O_PARALLEL_MAX:
            if (parse_int(optarg, 1, 10000, &o.parallel_max) < 0)
                rc = bad_usage("bad --parallel-max '%s' (1..10000)", optarg);
            break;
        case 'b':
            if (strchr(optarg, '=')) /* curl: with a '=' it is cookies to send, not a file */
                rc = add_cookie_data(&o, optarg);
            else if (o.ncookie_files == MAX_COOKIE_FILES)
                rc = bad_usage("more than %s cookie files", "16");
            else
                o.cookie_files[o.ncookie_files++] = optarg;
            break;
        case 'c': o.cookie_jar = optarg; break;
        case 'x': o.proxy = optarg; break;
        case O_NOPROXY: o.no_proxy = optarg; break;
        case 'h':
            fputs(usage, stdout);
            free(outputs);
            free(urls);
            free(o.body);
            free(o.cookie_data);
            return 0;
        case ':': rc = bad_usage("option '%s' needs an argument", argv[optind - 1]); break;
        default:
            if (optopt && optopt < 256) {
                char flag[3] = {'-', (char)optopt, '\0'};
                rc = bad_usage("unknown option '%s'", flag);
            } else {
                rc = bad_usage("unknown option '%s'", argv[optind - 1]);
            }
            break;
        }
    }
    if (rc == 0 && nurls == 0)
        rc = bad_usage("%s", "no URL given");
    if (rc == 0 && o.upload_file && o.body)
        rc = bad_usage("%s", "-T cannot be combined with -d or --data-binary");
    if (rc == 0 && o.cookie_data) {
        if (o.nheaders == MAX_HEADERS)
            rc = bad_usage("more than %s headers", "64");
        else
            o.headers[o.nheaders++] = (ah_client_header){"Cookie", o.cookie_data};
    }
    if (rc) {
        free(outputs);
        free(urls);
        free(o.body);
        free(o.cookie_data);
        return rc;
    }
    if (o.max_redirs == -2)
        o.max_redirs = 50;
    else if (o.max_redirs == -1)
        o.max_redirs = 1000000; /* curl: -1 means no limit */
    if (!o.method)
        o.method = o.head ? "HEAD" : o.upload_file ? "PUT" : o.body ? "POST" : "GET";
    if (o.form) {
        int has_type = 0;
        for (size_t i = 0; i < o.nheaders; i++)
            has_type |= strcasecmp(o.headers[i].name, "Content-Type") == 0;
        if (!has_type && o.nheaders < MAX_HEADERS)
            o.headers[o.nheaders++] =
                (ah_client_header){"Content-Type", "application/x-www-form-urlencoded"};
    }

    size_t n = nurls;
    transfer *ts = calloc(n, sizeof(*ts));
    if (!ts) {
        free(outputs);
        free(urls);
        free(o.body);
        free(o.cookie_data);
        return 27;
    }
    /* Every URL is checked before anything is fetched. */
    for (size_t i = 0; i < n && rc == 0; i++) {
        transfer *t = &ts[i];
        t->url = urls[i];
        ah_url u;
        if (ah_url_parse(t->url, &u) < 0 || !u.host || !u.host[0]) {
            if (!o.silent || o.show_error)
                report_malformed(t->url);
            rc = 3;
        } else if (!ah_url_is_http(&u)) {
            if (!o.silent || o.show_error)
                fprintf(stderr, "ahttp-fetch: (1) protocol \"%s\" not supported: %s\n", u.scheme,
                        t->url);
            rc = 1;
        } else if (i < o.noutputs && strcmp(outputs[i], "-") != 0) {
            t->out_path = outputs[i];
        } else if (i >= o.noutputs && o.remote_name) {
            if (!(t->remote_name = remote_name_of(&u))) {
                rc = 27;
            } else if (!t->remote_name[0]) {
                if (!o.silent || o.show_error)
                    fprintf(stderr, "ahttp-fetch: (23) remote file name has no length: %s\n",
                            t->url);
                rc = 23;
            }
            t->out_path = t->remote_name;
        }
        ah_url_free(&u);
    }
    if (rc == 0 && (o.ncookie_files || o.cookie_jar) && !(o.jar = load_cookies(&o)))
        rc = 27;
    if (rc == 0) {
        raise_nofile_limit();
        set_log_level(&o);
        /* stdout is switched to non-blocking mode only if it is a pipe or socket that stderr
         * does not share (messages on stderr must not meet EAGAIN), and switched back at the
         * end: its open file description belongs to the shell too. */
        int stdout_flags = fcntl(1, F_GETFL);
        struct stat st1, st2;
        int shared = fstat(1, &st1) < 0 || fstat(2, &st2) < 0 ||
                     (st1.st_dev == st2.st_dev && st1.st_ino == st2.st_ino);
        stdout_mode = classify_fd(1, !shared);
        stdout_tty = isatty(1);
        app a = {.o = &o, .transfers = ts, .ntransfers = n};
        progress_init(&a.meter, !o.silent && !o.verbose && isatty(2), n);
        int run = ah_run(amain, &a);
        if (stdout_flags >= 0 && !(stdout_flags & O_NONBLOCK))
            (void)fcntl(1, F_SETFL, stdout_flags);
        if (run < 0) {
            fprintf(stderr, "ahttp-fetch: %s\n", ah_strerror(run));
            rc = 1;
        }
        for (size_t i = 0; i < n && rc == 0; i++)
            rc = ts[i].exit_code;
        if (o.cookie_jar)
            save_cookies(&o);
    }
    ah_cookie_jar_free(o.jar);
    for (size_t i = 0; i < n; i++)
        free(ts[i].remote_name);
    free(ts);
    free(outputs);
    free(urls);
    free(o.body);
    free(o.cookie_data);
    return rc;
}
