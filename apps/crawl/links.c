/* Link extraction with a real HTML5 parser (gumbo): entities are decoded, attributes may be
 * unquoted, tags are any case, and comments, scripts and styles hold no elements — all for free,
 * where a regular expression over the markup would get each of them wrong. */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gumbo.h>

#include <ahttp/error.h>

#include "crawl.h"

/* Depth-first walk over element nodes with an explicit stack (documents can nest deeply). */
typedef int (*visit_fn)(void *ctx, const GumboElement *el);

static int walk(const GumboNode *root, visit_fn fn, void *ctx)
{
    size_t cap = 256, n = 0;
    const GumboNode **stack = malloc(cap * sizeof(*stack));
    if (!stack)
        return AH_ENOMEM;
    stack[n++] = root;
    int rc = 0;
    while (n && rc == 0) {
        const GumboNode *node = stack[--n];
        const GumboVector *children;
        if (node->type == GUMBO_NODE_DOCUMENT) {
            children = &node->v.document.children;
        } else if (node->type == GUMBO_NODE_ELEMENT || node->type == GUMBO_NODE_TEMPLATE) {
            rc = fn(ctx, &node->v.element);
            if (rc)
                break;
            children = &node->v.element.children;
        } else {
            continue; /* text, comments, CDATA, whitespace */
        }
        if (n + children->length > cap) {
            while (n + children->length > cap)
                cap *= 2;
            const GumboNode **s = realloc(stack, cap * sizeof(*s));
            if (!s) {
                rc = AH_ENOMEM;
                break;
            }
            stack = s;
        }
        /* pushed in reverse so the document order is kept */
        for (size_t i = children->length; i > 0; i--)
            stack[n++] = children->data[i - 1];
    }
    free(stack);
    return rc < 0 ? rc : 0;
}

static const char *attr(const GumboElement *el, const char *name)
{
    const GumboAttribute *a = gumbo_get_attribute(&el->attributes, name);
    return a ? a->value : NULL;
}

/* 1 if the space-separated token list `list` holds `token` (ASCII case-insensitive). */
static int has_token(const char *list, const char *token)
{
    size_t tlen = strlen(token);
    const char *p = list;
    while (*p) {
        while (*p && isspace((unsigned char)*p))
            p++;
        const char *start = p;
        while (*p && !isspace((unsigned char)*p))
            p++;
        if ((size_t)(p - start) == tlen && strncasecmp(start, token, tlen) == 0)
            return 1;
    }
    return 0;
}

/* An attribute value as a URL reference: leading and trailing blanks removed, tabs and newlines
 * inside dropped (as browsers do), spaces inside encoded. malloc'd, or NULL. */
static char *clean_ref(const char *v)
{
    while (*v && isspace((unsigned char)*v))
        v++;
    size_t len = strlen(v);
    while (len && isspace((unsigned char)v[len - 1]))
        len--;
    char *out = malloc(len * 3 + 1), *w = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        if (v[i] == '\t' || v[i] == '\n' || v[i] == '\r')
            continue;
        if (v[i] == ' ') {
            memcpy(w, "%20", 3);
            w += 3;
        } else {
            *w++ = v[i];
        }
    }
    *w = '\0';
    return out;
}

typedef struct base_ctx {
    const char *href;
} base_ctx;

static int find_base(void *arg, const GumboElement *el)
{
    base_ctx *c = arg;
    if (el->tag == GUMBO_TAG_BASE && (c->href = attr(el, "href")) != NULL)
        return 1; /* the first <base href> wins */
    return 0;
}

typedef struct collect_ctx {
    const ah_url *base;
    int follow_nofollow;
    crawl_links *out;
} collect_ctx;

static int add_link(crawl_links *l, char *url)
{
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 32;
        char **n = realloc(l->urls, cap * sizeof(*n));
        if (!n)
            return AH_ENOMEM;
        l->urls = n;
        l->cap = cap;
    }
    l->urls[l->count++] = url;
    return 0;
}

static int collect(void *arg, const GumboElement *el)
{
    collect_ctx *c = arg;
    const char *ref = NULL;
    int can_nofollow = 0;
    switch (el->tag) {
    case GUMBO_TAG_A:
    case GUMBO_TAG_AREA:
    case GUMBO_TAG_LINK:
        ref = attr(el, "href");
        can_nofollow = 1;
        break;
    case GUMBO_TAG_FRAME:
    case GUMBO_TAG_IFRAME: ref = attr(el, "src"); break;
    default: return 0;
    }
    if (!ref)
        return 0;
    if (can_nofollow && !c->follow_nofollow) {
        const char *rel = attr(el, "rel");
        if (rel && has_token(rel, "nofollow")) {
            c->out->nofollow++;
            return 0;
        }
    }
    char *clean = clean_ref(ref);
    if (!clean)
        return AH_ENOMEM;
    char *url;
    int rc = crawl_url_resolve(c->base, clean, &url);
    free(clean);
    if (rc == AH_ENOMEM)
        return rc;
    if (rc < 0)
        return 0; /* a bad or non-http reference: not a link we can follow */
    rc = add_link(c->out, url);
    if (rc < 0)
        free(url);
    return rc;
}

int crawl_links_extract(const char *html, size_t len, const ah_url *page_url, int follow_nofollow,
                        crawl_links *out)
{
    memset(out, 0, sizeof(*out));
    GumboOutput *doc = gumbo_parse_with_options(&kGumboDefaultOptions, html, len);
    if (!doc)
        return AH_ENOMEM;
    base_ctx b = {NULL};
    int rc = walk(doc->document, find_base, &b);
    ah_url base_url;
    const ah_url *base = page_url;
    int have_base = 0;
    if (rc == 0 && b.href) {
        char *clean = clean_ref(b.href);
        if (!clean) {
            rc = AH_ENOMEM;
        } else {
            if (ah_url_resolve(page_url, clean, &base_url) == 0) {
                base = &base_url;
                have_base = 1;
            }
            free(clean);
        }
    }
    if (rc == 0) {
        collect_ctx c = {base, follow_nofollow, out};
        rc = walk(doc->document, collect, &c);
    }
    if (have_base)
        ah_url_free(&base_url);
    gumbo_destroy_output(&kGumboDefaultOptions, doc);
    if (rc < 0)
        crawl_links_free(out);
    return rc;
}

void crawl_links_free(crawl_links *l)
{
    for (size_t i = 0; i < l->count; i++)
        free(l->urls[i]);
    free(l->urls);
    memset(l, 0, sizeof(*l));
}
