/* Static files: ah_server_static maps a URL prefix to a directory. Lookups (realpath, open,
 * fstat) run on the loop's thread pool, the body goes out with sendfile, and nothing outside the
 * directory can be reached: ".." segments are refused before the file system is asked, and what
 * is opened is checked to lie beneath the canonical root (symlinks included). */
#include "internal.h"

#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ahttp/thread.h>

struct ah__static {
    struct ah__static *next; /* the server's list (srv->statics), freed with it */
    char *root;              /* canonical directory (realpath), no trailing slash but for "/" */
    size_t root_len;
    char *prefix; /* URL prefix with one trailing slash ("/static/"), for redirects */
};

void ah__static_free_all(ah__static *list)
{
    while (list) {
        ah__static *next = list->next;
        free(list->root);
        free(list->prefix);
        free(list);
        list = next;
    }
}

/* ---- the lookup, on a pool thread ---- */

#define INDEX_FILE "index.html"

/* Owned by the lookup: it holds copies of everything it reads, so a lookup abandoned by a
 * cancelled request may finish after the request (and even the server) is gone. */
typedef struct static_job {
    int trailing_slash; /* the URL path ends in '/' */
    int status;         /* 0: fd is open on a regular file; else the HTTP status to answer */
    int fd;
    struct stat st;
    size_t root_len;
    size_t path_len;
    char path[]; /* root "/" relative path, with room for "/" INDEX_FILE */
} static_job;

static int status_of_errno(int err)
{
    switch (err) {
    case ENOENT:
    case ENOTDIR:
    case ELOOP:
    case ENAMETOOLONG: return 404;
    case EACCES:
    case EPERM: return 403;
    default: return 500;
    }
}

/* Is path (canonical) the root (the first root_len bytes of root, which need not end there)
 * or beneath it? */
static int beneath(const char *path, const char *root, size_t root_len)
{
    if (strncmp(path, root, root_len) != 0)
        return 0;
    if (root_len == 1) /* the root is "/" */
        return 1;
    return path[root_len] == '\0' || path[root_len] == '/';
}

/* Open path if it resolves beneath the root: 0 with *fd and *st, or an HTTP status. */
static int open_beneath(const char *path, const char *root, size_t root_len, int *fd,
                        struct stat *st)
{
    char resolved[PATH_MAX];
    if (!realpath(path, resolved))
        return status_of_errno(errno);
    /* A symlink out of the root: answer as if it did not exist rather than reveal it. */
    if (!beneath(resolved, root, root_len))
        return 404;
    /* O_NONBLOCK: a FIFO put in the directory must not hang a pool thread (it is refused
     * below); O_NOFOLLOW: the last component cannot have become a symlink since realpath. */
    int f = open(resolved, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW);
    if (f < 0)
        return status_of_errno(errno);
    /* A directory on the way could have been swapped for a symlink since realpath looked:
     * ask the kernel what was really opened. Without /proc the realpath check stands alone. */
    char proc[64], opened[PATH_MAX];
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", f);
    ssize_t n = readlink(proc, opened, sizeof(opened));
    if (n >= (ssize_t)sizeof(opened) ||
        (n >= 0 && (opened[n] = '\0', !beneath(opened, root, root_len)))) {
        close(f);
        return 404;
    }
    if (fstat(f, st) < 0) {
        int err = errno;
        close(f);
        return status_of_errno(err);
    }
    *fd = f;
    return 0;
}

static int lookup(void *arg)
{
    static_job *j = arg;
    const char *root = j->path; /* its first root_len bytes */
    j->status = open_beneath(j->path, root, j->root_len, &j->fd, &j->st);
    if (j->status == 0 && S_ISDIR(j->st.st_mode)) {
        close(j->fd);
        j->fd = -1;
        if (!j->trailing_slash) {
            j->status = 301; /* relative links in the index need the slash */
            return 0;
        }
        size_t len = j->path_len;
        if (len > 0 && j->path[len - 1] != '/')
            j->path[len++] = '/';
        memcpy(j->path + len, INDEX_FILE, sizeof(INDEX_FILE));
        j->status = open_beneath(j->path, root, j->root_len, &j->fd, &j->st);
        if (j->status == 404)
            j->status = 403; /* no listing of directories */
    } else if (j->status == 0 && j->trailing_slash) {
        j->status = 404; /* "a.txt/" names a directory that a.txt is not */
    }
    if (j->status == 0 && !S_ISREG(j->st.st_mode))
        j->status = 403; /* a FIFO, a device, a socket, a directory called index.html */
    if (j->status != 0 && j->fd >= 0) {
        close(j->fd);
        j->fd = -1;
    }
    return 0;
}

/* The request was cancelled while the lookup ran: it cleans up after itself. */
static void lookup_abandoned(void *arg)
{
    static_job *j = arg;
    if (j->fd >= 0)
        close(j->fd);
    free(j);
}

/* ---- the response, on the loop ---- */

static const char *content_type_of(const char *path)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {"html", "text/html; charset=utf-8"},
        {"htm", "text/html; charset=utf-8"},
        {"css", "text/css; charset=utf-8"},
        {"js", "text/javascript; charset=utf-8"},
        {"mjs", "text/javascript; charset=utf-8"},
        {"json", "application/json"},
        {"txt", "text/plain; charset=utf-8"},
        {"xml", "application/xml"},
        {"svg", "image/svg+xml"},
        {"png", "image/png"},
        {"jpg", "image/jpeg"},
        {"jpeg", "image/jpeg"},
        {"gif", "image/gif"},
        {"webp", "image/webp"},
        {"ico", "image/vnd.microsoft.icon"},
        {"pdf", "application/pdf"},
        {"wasm", "application/wasm"},
        {"woff", "font/woff"},
        {"woff2", "font/woff2"},
        {"mp4", "video/mp4"},
        {"webm", "video/webm"},
        {"gz", "application/gzip"},
        {"zip", "application/zip"},
    };
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash : path, '.');
    if (dot)
        for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
            if (strcasecmp(dot + 1, types[i].ext) == 0)
                return types[i].type;
    return "application/octet-stream";
}

static const char *skip_ows(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* If-None-Match: "*" or a list of entity tags, compared weakly (W/ ignored). */
static int etag_list_matches(const char *list, const char *etag)
{
    size_t etag_len = strlen(etag);
    const char *p = list;
    for (;;) {
        p = skip_ows(p);
        while (*p == ',' || *p == ' ' || *p == '\t')
            p++;
        if (!*p)
            return 0;
        if (*p == '*')
            return 1;
        if (p[0] == 'W' && p[1] == '/')
            p += 2;
        if (*p != '"')
            return 0; /* malformed: no match */
        const char *end = strchr(p + 1, '"');
        if (!end)
            return 0;
        size_t len = (size_t)(end - p) + 1;
        if (len == etag_len && memcmp(p, etag, len) == 0)
            return 1;
        p = end + 1;
    }
}

/* An IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), or -1. */
static time_t parse_http_date(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *end = strptime(skip_ows(s), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (!end || *skip_ows(end))
        return -1;
    return timegm(&tm);
}

/* A non-negative decimal number, saturating at INT64_MAX; the end is returned, NULL if there
 * are no digits. */
static const char *parse_pos(const char *p, int64_t *out)
{
    if (*p < '0' || *p > '9')
        return NULL;
    int64_t v = 0;
    for (; *p >= '0' && *p <= '9'; p++)
        v = v > (INT64_MAX - (*p - '0')) / 10 ? INT64_MAX : v * 10 + (*p - '0');
    *out = v;
    return p;
}

enum { RANGE_NONE, RANGE_ONE, RANGE_UNSATISFIABLE };

/* A Range header against a file of size bytes: RANGE_ONE with [*first, *last], RANGE_NONE to
 * send the whole file (a malformed header or several ranges are ignored, as RFC 9110 allows),
 * or RANGE_UNSATISFIABLE. */
static int parse_range(const char *h, int64_t size, int64_t *first, int64_t *last)
{
    const char *p = skip_ows(h);
    if (strncasecmp(p, "bytes=", 6) != 0)
        return RANGE_NONE;
    p += 5;
    if (*p++ != '=')
        return RANGE_NONE;
    p = skip_ows(p);
    int64_t a, b;
    if (*p == '-') {
        if (!(p = parse_pos(p + 1, &b)))
            return RANGE_NONE;
        if (b == 0)
            return RANGE_UNSATISFIABLE;
        if (size == 0)
            return RANGE_NONE; /* nothing to take the suffix of: the whole (empty) file */
        a = b >= size ? 0 : size - b;
        b = size - 1;
    } else {
        if (!(p = parse_pos(p, &a)) || *p++ != '-')
            return RANGE_NONE;
        if (*p >= '0' && *p <= '9') {
            p = parse_pos(p, &b);
            if (b < a)
                return RANGE_NONE; /* invalid: ignored */
        } else {
            b = INT64_MAX;
        }
        if (a >= size)
            return RANGE_UNSATISFIABLE;
        if (b >= size)
            b = size - 1;
    }
    p = skip_ows(p);
    if (*p) /* several ranges (or junk): the whole file */
        return RANGE_NONE;
    *first = a;
    *last = b;
    return RANGE_ONE;
}

/* If-Range: the range applies only if the validator still matches (strong comparison). */
static int if_range_holds(const char *h, const char *etag, const char *last_modified)
{
    h = skip_ows(h);
    if (*h == '"')
        return strcmp(h, etag) == 0;
    if (h[0] == 'W' && h[1] == '/')
        return 0; /* weak tags never match strongly */
    return strcmp(h, last_modified) == 0;
}

static int is_location_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr("-._~!$&'()*+,;=:@/", c);
}

/* A redirect to the directory's URL with a slash: prefix + rel + "/" (+ "?query"), rel
 * percent-encoded. Built from the prefix rather than the request's path, so "//host" cannot
 * come out of it. */
static int redirect_to_dir(ah_request *req, ah_response *resp, const ah__static *st,
                           const char *rel)
{
    const char *query = ah_request_query(req);
    size_t len = strlen(st->prefix) + 3 * strlen(rel) + strlen(query) + 3;
    char *loc = ah_request_alloc(req, len);
    if (!loc)
        return AH_ENOMEM;
    size_t n = strlen(st->prefix);
    memcpy(loc, st->prefix, n);
    for (const unsigned char *p = (const unsigned char *)rel; *p; p++) {
        if (is_location_char(*p)) {
            loc[n++] = (char)*p;
        } else {
            static const char hex[] = "0123456789ABCDEF";
            loc[n++] = '%';
            loc[n++] = hex[*p >> 4];
            loc[n++] = hex[*p & 15];
        }
    }
    if (*rel)
        loc[n++] = '/';
    if (*query) {
        loc[n++] = '?';
        memcpy(loc + n, query, strlen(query));
        n += strlen(query);
    }
    loc[n] = '\0';
    int rc = ah_response_header(resp, "Location", loc);
    if (rc == AH_EINVAL) /* the query held bytes not fit for a header: drop it */
        rc = ah_response_header(resp, "Location", st->prefix);
    return rc < 0 ? rc
                  : ah_response_text(resp, 301, "text/plain; charset=utf-8", "Moved Permanently\n");
}

/* The "*" parameter without empty and "." segments, in the request's arena; NULL if a segment
 * is ".." (the decoded form of "%2e%2e" too) or out of memory (*status says which). */
static char *clean_relative(ah_request *req, const char *param, int *status)
{
    size_t plen = strlen(param);
    char *out = ah_request_alloc(req, plen + 1);
    if (!out) {
        *status = 500;
        return NULL;
    }
    size_t n = 0;
    const char *p = param;
    while (*p) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 2 && p[0] == '.' && p[1] == '.') {
            *status = 404;
            return NULL;
        }
        if (len > 0 && !(len == 1 && p[0] == '.')) {
            if (n)
                out[n++] = '/';
            memcpy(out + n, p, len);
            n += len;
        }
        p += len;
        if (*p == '/')
            p++;
    }
    out[n] = '\0';
    return out;
}

static int send_error(ah_response *resp, int status)
{
    return ah_response_text(resp, status, "text/plain; charset=utf-8",
                            status == 404   ? "Not Found\n"
                            : status == 403 ? "Forbidden\n"
                                            : "Internal Server Error\n");
}

/* Headers, conditionals and ranges for the open file j->fd; takes ownership of the fd. */
static int send_file(ah_request *req, ah_response *resp, static_job *j)
{
    int fd = j->fd;
    j->fd = -1;
    int64_t size = (int64_t)j->st.st_size;
    char etag[64], last_modified[32];
    unsigned long long mtime_ns = (unsigned long long)j->st.st_mtim.tv_sec * 1000000000ull +
                                  (unsigned long long)j->st.st_mtim.tv_nsec;
    snprintf(etag, sizeof(etag), "\"%llx-%llx\"", mtime_ns, (unsigned long long)size);
    ah__http_date_of(j->st.st_mtime, last_modified);

    int rc = ah_response_header(resp, "ETag", etag);
    if (rc == 0)
        rc = ah_response_header(resp, "Last-Modified", last_modified);
    if (rc < 0) {
        close(fd);
        return rc;
    }

    /* RFC 9110 13.2.2: If-None-Match, and only without it If-Modified-Since. */
    const char *inm = ah_request_header(req, "If-None-Match");
    const char *ims = inm ? NULL : ah_request_header(req, "If-Modified-Since");
    time_t since;
    if ((inm && etag_list_matches(inm, etag)) ||
        (ims && (since = parse_http_date(ims)) != -1 && j->st.st_mtime <= since)) {
        close(fd);
        ah_response_status(resp, 304);
        return 0;
    }

    rc = ah_response_header(resp, "Content-Type", content_type_of(j->path));
    if (rc == 0)
        rc = ah_response_header(resp, "Accept-Ranges", "bytes");
    if (rc < 0) {
        close(fd);
        return rc;
    }
    int64_t first = 0, last = size - 1;
    const char *range = ah_request_header(req, "Range");
    const char *if_range = ah_request_header(req, "If-Range");
    int kind = RANGE_NONE;
    /* Ranges are defined for GET only (RFC 9110 14.2): HEAD gets the 200 head. */
    if (range && strcmp(ah_request_method(req), "GET") == 0 &&
        (!if_range || if_range_holds(if_range, etag, last_modified)))
        kind = parse_range(range, size, &first, &last);
    char content_range[80];
    if (kind == RANGE_UNSATISFIABLE) {
        close(fd);
        snprintf(content_range, sizeof(content_range), "bytes */%lld", (long long)size);
        rc = ah_response_header(resp, "Content-Range", content_range);
        return rc < 0 ? rc : send_error(resp, 416);
    }
    if (kind == RANGE_ONE) {
        snprintf(content_range, sizeof(content_range), "bytes %lld-%lld/%lld", (long long)first,
                 (long long)last, (long long)size);
        rc = ah_response_header(resp, "Content-Range", content_range);
        if (rc < 0) {
            close(fd);
            return rc;
        }
        ah_response_status(resp, 206);
    }
    rc = ah_response_file(resp, fd, first, last - first + 1, 1);
    if (rc < 0)
        close(fd);
    return rc;
}

int ah__static_handler(ah_request *req, ah_response *resp, void *arg)
{
    const ah__static *st = arg;
    const char *param = ah_request_param(req, "*");
    int status = 0;
    char *rel = clean_relative(req, param ? param : "", &status);
    if (!rel)
        return status == 500 ? AH_ENOMEM : send_error(resp, status);
    size_t rel_len = strlen(rel);
    /* root "/" rel "/" INDEX_FILE must fit a path */
    size_t room = st->root_len + 1 + rel_len + sizeof("/" INDEX_FILE);
    if (room > PATH_MAX)
        return send_error(resp, 404);
    static_job *j = malloc(sizeof(*j) + room);
    if (!j)
        return AH_ENOMEM;
    memset(j, 0, sizeof(*j));
    j->fd = -1;
    const char *path = ah_request_path(req);
    size_t path_len = strlen(path);
    j->trailing_slash = path_len > 0 && path[path_len - 1] == '/';
    j->root_len = st->root_len;
    memcpy(j->path, st->root, st->root_len);
    size_t n = st->root_len;
    if (rel_len) {
        if (n > 1)
            j->path[n++] = '/';
        memcpy(j->path + n, rel, rel_len);
        n += rel_len;
    }
    j->path[n] = '\0';
    j->path_len = n;
    /* lookup always returns 0: anything else means the job was abandoned and is no longer ours */
    int rc = ah_to_thread_ex(lookup, j, lookup_abandoned);
    if (rc < 0)
        return rc;
    if (j->status == 0)
        rc = send_file(req, resp, j);
    else if (j->status == 301)
        rc = redirect_to_dir(req, resp, st, rel);
    else
        rc = send_error(resp, j->status);
    free(j);
    return rc;
}

int ah_server_static(ah_server *srv, const char *prefix, const char *dir)
{
    if (!srv || !prefix || prefix[0] != '/' || !dir || !*dir)
        return AH_EINVAL;
    size_t plen = strlen(prefix);
    while (plen > 1 && prefix[plen - 1] == '/')
        plen--;
    ah__static *st = calloc(1, sizeof(*st));
    char *pattern = malloc(plen + 3);
    if (st)
        st->prefix = malloc(plen + 2);
    if (!st || !pattern || !st->prefix) {
        free(pattern);
        ah__static_free_all(st);
        return AH_ENOMEM;
    }
    /* "/static" and "/static/" both give "/static/" and the pattern "/static/" "*" */
    memcpy(st->prefix, prefix, plen);
    if (plen > 1)
        st->prefix[plen++] = '/';
    st->prefix[plen] = '\0';
    memcpy(pattern, st->prefix, plen);
    memcpy(pattern + plen, "*", 2);
    /* Before the server runs: a blocking call is fine here. */
    struct stat sb;
    int rc = 0;
    if (!(st->root = realpath(dir, NULL)))
        rc = -errno;
    else if (stat(st->root, &sb) < 0)
        rc = -errno;
    else if (!S_ISDIR(sb.st_mode))
        rc = -ENOTDIR;
    if (rc == 0) {
        st->root_len = strlen(st->root);
        rc = ah_server_route(srv, "GET", pattern, ah__static_handler, st);
    }
    free(pattern);
    if (rc < 0) {
        ah__static_free_all(st);
        return rc;
    }
    st->next = srv->statics;
    srv->statics = st;
    return 0;
}
