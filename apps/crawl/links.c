/* Link extraction with a real HTML5 parser (gumbo): entities are decoded, attributes may be
 * unquoted, tags are any case, and comments, scripts and styles hold no elements — all for free,
 * where a regular expression over the markup would get each of them wrong.
 *
 * Two things keep it cheap. Gumbo allocates a node, a vector or a string for nearly every byte
 * of markup and frees them one by one; here its allocator is a bump arena dropped in one go
 * after each parse (the tree is never destroyed node by node). And gumbo builds the whole tree
 * before we can walk it — some 16 bytes of tree per byte of document, 48 MB for a 3 MB page — so
 * a long document is parsed in windows cut where the cut cannot change the links (see crawl.h
 * and scan() below), which bounds the tree by the window, not the document. */
#include "config.h"

#include <ctype.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>

#include <gumbo.h>

#include <ahttp/error.h>

#include "crawl.h"

/* ---- the arena ------------------------------------------------------------------------------ */

#define ARENA_FIRST (64 * 1024)   /* malloc'd: a small page's whole parse fits in it */
#define ARENA_BLOCK (1024 * 1024) /* then mmap'd blocks, unmapped (so given back) at the end */

typedef struct arena_block {
    struct arena_block *next;
    size_t size, used;
    int mapped;
} arena_block;

typedef struct arena {
    arena_block *head;
    size_t total; /* bytes of all blocks */
    jmp_buf oom;  /* gumbo cannot fail an allocation: out of memory jumps out of the parse */
} arena;

#define BLOCK_HEADER ((sizeof(arena_block) + 15) & ~(size_t)15)

static void *arena_alloc(void *userdata, size_t n)
{
    arena *a = userdata;
    n = (n + 15) & ~(size_t)15;
    arena_block *b = a->head;
    if (!b || b->size - b->used < n) {
        size_t size = a->head ? ARENA_BLOCK : ARENA_FIRST;
        if (n + BLOCK_HEADER > size)
            size = (n + BLOCK_HEADER + 4095) & ~(size_t)4095;
        int mapped = a->head != NULL;
        if (mapped) {
            b = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (b == MAP_FAILED)
                b = NULL;
        } else {
            b = malloc(size);
        }
        if (!b)
            longjmp(a->oom, 1);
        b->next = a->head;
        b->size = size;
        b->used = BLOCK_HEADER;
        b->mapped = mapped;
        a->head = b;
        a->total += size;
    }
    void *p = (char *)b + b->used;
    b->used += n;
    return p;
}

static void arena_free_one(void *userdata, void *p)
{
    (void)userdata; /* everything goes at once in arena_release */
    (void)p;
}

static void arena_release(arena *a)
{
    for (arena_block *b = a->head, *next; b; b = next) {
        next = b->next;
        if (b->mapped)
            munmap(b, b->size);
        else
            free(b);
    }
    a->head = NULL;
}

/* ---- finding the links in one tree -------------------------------------------------------- */

typedef struct crawl_links_parser {
    const ah_url *page;
    int follow_nofollow;
    size_t window;
    /* what has been fed and not parsed */
    char *buf;
    size_t len, cap;
    /* the scanner (see scan) */
    size_t pos;         /* next byte to look at */
    size_t split;       /* the last safe cut found (0: none) */
    size_t tags;        /* tags in buf: gumbo's tree grows with them (~300 bytes each) */
    size_t split_tags;  /* of which before the cut */
    size_t pending_cut; /* a cut before the '<' being read, once it is known not to start a
                           <frameset> (which a fresh window would take where the whole
                           document may not) */
    int state, end_tag, self_closing;
    char name[16]; /* the tag being read, lower case ("" if too long to matter) */
    size_t name_len;
    const char *raw_end; /* the element whose end tag ends the raw text */
    int select_open, foreign_depth, no_more_cuts;
    int squeeze; /* the text run at pos follows markup (not a text '<' or the start) */
    /* what was found */
    char *refs; /* as written (cleaned), each with its NUL, one after another; resolved at the
                   end */
    size_t nrefs, refs_len, refs_cap;
    char *base_href;
    size_t nofollow;
    size_t parses, arena_peak;
} crawl_links_parser;

/* The href, src and rel attributes of an element, in one pass over its attributes (the first
 * of each name wins, as with gumbo_get_attribute, which would compare every name with strcasecmp
 * once for each). The tokenizer has lower-cased the names already. */
typedef struct link_attrs {
    const char *href, *src, *rel;
} link_attrs;

static void link_attrs_of(const GumboElement *el, link_attrs *la)
{
    la->href = la->src = la->rel = NULL;
    for (unsigned i = 0; i < el->attributes.length; i++) {
        const GumboAttribute *a = el->attributes.data[i];
        const char *n = a->name;
        switch (n[0] | 0x20) {
        case 'h':
            if (!la->href && !strcasecmp(n, "href"))
                la->href = a->value;
            break;
        case 's':
            if (!la->src && !strcasecmp(n, "src"))
                la->src = a->value;
            break;
        case 'r':
            if (!la->rel && !strcasecmp(n, "rel"))
                la->rel = a->value;
            break;
        default: break;
        }
    }
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
 * inside dropped (as browsers do), spaces inside encoded. Appended with its NUL to the
 * growable *buf (*len used of *cap). Returns 0 or AH_ENOMEM. */
static int clean_ref(const char *v, char **buf, size_t *len, size_t *cap)
{
    while (*v && isspace((unsigned char)*v))
        v++;
    size_t n = strlen(v);
    while (n && isspace((unsigned char)v[n - 1]))
        n--;
    if (*len + n * 3 + 1 > *cap) {
        size_t c = *cap ? *cap : 512;
        while (c < *len + n * 3 + 1)
            c *= 2;
        char *b = realloc(*buf, c);
        if (!b)
            return AH_ENOMEM;
        *buf = b;
        *cap = c;
    }
    char *w = *buf + *len;
    for (size_t i = 0; i < n; i++) {
        if (v[i] == '\t' || v[i] == '\n' || v[i] == '\r')
            continue;
        if (v[i] == ' ') {
            memcpy(w, "%20", 3);
            w += 3;
        } else {
            *w++ = v[i];
        }
    }
    *w++ = '\0';
    *len = (size_t)(w - *buf);
    return 0;
}

static int visit(crawl_links_parser *p, const GumboElement *el)
{
    int can_nofollow = 0, src = 0;
    switch (el->tag) {
    case GUMBO_TAG_BASE:
        /* the first <base href> of the document wins, in tree order (windows come in order) */
        if (!p->base_href) {
            link_attrs la;
            link_attrs_of(el, &la);
            if (la.href) {
                size_t len = 0, cap = 0;
                if (clean_ref(la.href, &p->base_href, &len, &cap) < 0)
                    return AH_ENOMEM;
            }
        }
        return 0;
    case GUMBO_TAG_A:
    case GUMBO_TAG_AREA:
    case GUMBO_TAG_LINK: can_nofollow = 1; break;
    case GUMBO_TAG_FRAME:
    case GUMBO_TAG_IFRAME: src = 1; break;
    default: return 0;
    }
    link_attrs la;
    link_attrs_of(el, &la);
    const char *ref = src ? la.src : la.href;
    if (!ref)
        return 0;
    if (can_nofollow && !p->follow_nofollow && la.rel && has_token(la.rel, "nofollow")) {
        p->nofollow++;
        return 0;
    }
    int rc = clean_ref(ref, &p->refs, &p->refs_len, &p->refs_cap);
    if (rc == 0)
        p->nrefs++;
    return rc;
}

/* Depth-first, in document order, with an explicit stack of (node, next child) as deep as the
 * tree, allocated in the arena (documents can nest deeply; coroutine stacks are small). */
typedef struct frame {
    const GumboVector *children;
    unsigned next;
} frame;

static int walk(crawl_links_parser *p, arena *a, const GumboNode *root)
{
    size_t cap = 64, n = 0;
    frame *stack = arena_alloc(a, cap * sizeof(*stack));
    stack[n++] = (frame){&root->v.document.children, 0};
    while (n) {
        frame *f = &stack[n - 1];
        if (f->next == f->children->length) {
            n--;
            continue;
        }
        const GumboNode *node = f->children->data[f->next++];
        if (node->type != GUMBO_NODE_ELEMENT && node->type != GUMBO_NODE_TEMPLATE)
            continue; /* text, comments, CDATA, whitespace */
        int rc = visit(p, &node->v.element);
        if (rc < 0)
            return rc;
        if (node->v.element.children.length) {
            if (n == cap) {
                frame *bigger = arena_alloc(a, cap * 2 * sizeof(*stack));
                memcpy(bigger, stack, n * sizeof(*stack));
                stack = bigger;
                cap *= 2;
            }
            stack[n++] = (frame){&node->v.element.children, 0};
        }
    }
    return 0;
}

/* One gumbo parse of buf[0..len) into p's refs. */
static int parse_window(crawl_links_parser *p, const char *buf, size_t len)
{
    /* on the heap, not the stack: it changes between setjmp and a longjmp */
    arena *a = calloc(1, sizeof(*a));
    if (!a)
        return AH_ENOMEM;
    int rc;
    if (setjmp(a->oom) == 0) {
        GumboOptions opts = kGumboDefaultOptions;
        opts.allocator = arena_alloc;
        opts.deallocator = arena_free_one;
        opts.userdata = a;
        opts.max_errors = 0; /* parse errors are not kept: nobody reads them */
        GumboOutput *doc = gumbo_parse_with_options(&opts, buf, len);
        rc = walk(p, a, doc->document);
    } else {
        rc = AH_ENOMEM;
    }
    p->parses++;
    if (a->total > p->arena_peak)
        p->arena_peak = a->total;
    arena_release(a);
    free(a);
    return rc;
}

/* ---- where a long document may be cut --------------------------------------------------------
 *
 * A small part of the WHATWG tokenizer, enough to know where the real one is in its data state:
 * tags with their attributes (a '>' inside a quoted value does not end the tag), comments with
 * their odd endings ("<!-->", "--!>"), doctypes and bogus comments (to the first '>'), CDATA
 * sections (inside SVG/MathML), raw text and RCDATA up to their end tag, and script data with its
 * "<!--" escapes (inside which "<script>" ... "</script>" does not end the script). It never
 * decides what the document means — gumbo does — only where a cut is harmless. Cuts are made
 * just before a '<' seen in the data state, outside the elements that decide whether the tree
 * builder makes an <a> at all (crawl.h). */

enum {
    S_DATA,
    S_TAG_OPEN,     /* after '<' */
    S_END_TAG_OPEN, /* after "</" */
    S_TAG_NAME,
    S_BEFORE_ATTR,
    S_ATTR_NAME,
    S_AFTER_ATTR,
    S_BEFORE_VALUE,
    S_VALUE_DQ,
    S_VALUE_SQ,
    S_VALUE_UNQ,
    S_AFTER_VALUE,
    S_SELF_CLOSING,
    S_COMMENT,
    S_BOGUS, /* doctype, "<?...>", "</ ...>": to the first '>' */
    S_CDATA,
    S_RAWTEXT, /* style, textarea, title, xmp, iframe, noembed, noframes */
    S_SCRIPT,
    S_SCRIPT_ESCAPED,
    S_SCRIPT_DOUBLE, /* "<!-- <script>" inside a script */
    S_PLAINTEXT,
};

#define LOOKAHEAD 16            /* the longest thing matched at one position: "</noframes>" */
#define WINDOW_BYTES_PER_TAG 16 /* a 256 KiB window holds at most 16,384 tags (~5 MB of tree) */

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'; }

/* buf+i starts with s (ASCII case-insensitive) */
static int at(const char *buf, size_t i, const char *s)
{
    return strncasecmp(buf + i, s, strlen(s)) == 0;
}

/* buf+i is "</name" followed by a space, '/' or '>' */
static int at_end_tag(const char *buf, size_t i, const char *name)
{
    size_t n = strlen(name);
    return buf[i] == '<' && buf[i + 1] == '/' && strncasecmp(buf + i + 2, name, n) == 0 &&
           (is_space(buf[i + 2 + n]) || buf[i + 2 + n] == '/' || buf[i + 2 + n] == '>');
}

/* The tag names the scanner acts on. */
enum {
    T_OTHER,
    T_SELECT,
    T_SVG,
    T_MATH,
    T_FRAMESET,
    T_PLAINTEXT,
    T_SCRIPT,
    T_RAWTEXT, /* style, textarea, title, xmp, iframe, noembed, noframes */
};

/* Which of them n (lower case, len bytes) is; for T_RAWTEXT *raw_end is the name as a static
 * string. Every tag ends here, so by length and first letter before comparing. */
static int tag_kind(const char *n, size_t len, const char **raw_end)
{
#define IS(lit, kind)                                                                              \
    if (len == sizeof(lit) - 1 && memcmp(n, lit, len) == 0) {                                      \
        *raw_end = lit;                                                                            \
        return kind;                                                                               \
    }
    switch (n[0]) {
    case 'f': IS("frameset", T_FRAMESET); break;
    case 'i': IS("iframe", T_RAWTEXT); break;
    case 'm': IS("math", T_MATH); break;
    case 'n':
        IS("noembed", T_RAWTEXT);
        IS("noframes", T_RAWTEXT);
        break;
    case 'p': IS("plaintext", T_PLAINTEXT); break;
    case 's':
        IS("select", T_SELECT);
        IS("svg", T_SVG);
        IS("script", T_SCRIPT);
        IS("style", T_RAWTEXT);
        break;
    case 't':
        IS("textarea", T_RAWTEXT);
        IS("title", T_RAWTEXT);
        break;
    case 'x': IS("xmp", T_RAWTEXT); break;
    default: break;
    }
#undef IS
    return T_OTHER;
}

/* A tag has ended ('>'): where the tokenizer goes next, and the zones with no cuts. */
static int tag_done(crawl_links_parser *p)
{
    const char *raw_end = NULL;
    /* strlen, not name_len: a NUL in the name ends it, as it always has here */
    int kind = p->name[0] ? tag_kind(p->name, strlen(p->name), &raw_end) : T_OTHER;
    if (p->pending_cut && (p->end_tag || kind != T_FRAMESET)) {
        p->split = p->pending_cut;
        p->split_tags = p->tags;
    }
    p->pending_cut = 0;
    p->tags++;
    if (p->end_tag) {
        if (kind == T_SELECT)
            p->select_open = 0;
        else if ((kind == T_SVG || kind == T_MATH) && p->foreign_depth)
            p->foreign_depth--;
        return S_DATA;
    }
    switch (kind) {
    case T_SELECT: p->select_open = 1; break;
    case T_SVG:
    case T_MATH:
        if (!p->self_closing)
            p->foreign_depth++;
        break;
    case T_FRAMESET:
        p->no_more_cuts = 1; /* what comes after a frameset hinges on it: parse the rest whole */
        break;
    case T_PLAINTEXT: p->no_more_cuts = 1; return S_PLAINTEXT;
    case T_SCRIPT:
        /* raw text in SVG too, as if it were HTML: a cut there is only ever less likely */
        return S_SCRIPT;
    case T_RAWTEXT: p->raw_end = raw_end; return S_RAWTEXT;
    default: break;
    }
    return S_DATA;
}

static void name_add(crawl_links_parser *p, char c)
{
    if (p->name_len < sizeof(p->name) - 1) {
        p->name[p->name_len++] = (char)tolower((unsigned char)c);
        p->name[p->name_len] = '\0';
    } else {
        p->name[0] = '\0'; /* too long to be a name we care about */
    }
}

/* An end tag found by lookahead in raw text or a script: continue in the tag states. */
static size_t start_end_tag(crawl_links_parser *p, size_t i, const char *name)
{
    size_t n = strlen(name); /* one of the raw text names: shorter than p->name */
    p->end_tag = 1;
    p->self_closing = 0;
    memcpy(p->name, name, n + 1);
    p->name_len = n;
    p->state = S_BEFORE_ATTR;
    return i + 2 + n;
}

/* 1 if the text run t[0..n) can be replaced by one "x" without changing the tree's elements:
 * it has a character that is not HTML whitespace (so, like "x", it ends the head, makes the
 * frameset not ok, is foster-parented out of a table, ...), and no '&' (a character reference
 * may decode to whitespace), NUL or CR (which the tokenizer rewrites). */
static int squeezable(const char *t, size_t n)
{
    if (n < 2 || memchr(t, '&', n) || memchr(t, '\0', n) || memchr(t, '\r', n))
        return 0;
    for (size_t k = 0; k < n; k++)
        if (!is_space(t[k]))
            return 1;
    return 0;
}

/* Run the scanner over buf[pos .. len - LOOKAHEAD), remembering the last safe cut.
 *
 * It also squeezes text: a run of text between two pieces of markup becomes one "x" when that
 * cannot change the elements (squeezable). Gumbo spends some 50 ns on every character of text
 * — a token each — and text holds no link; the tags, attributes, comments and raw text are left
 * exactly as they were. Not after a '<' that was text (the "x" could make a tag of it), not at
 * the start of the document (a BOM), and not where cuts are not made either. The buffer is
 * rewritten in place: the write position w never passes the read position i. */
static void scan(crawl_links_parser *p)
{
    char *b = p->buf;
    size_t i = p->pos, end = p->len > LOOKAHEAD ? p->len - LOOKAHEAD : 0;
    size_t w = p->pos, from = p->pos; /* b[from..i) is still to be moved down to b[w..] */
    int s = p->state, stalled = 0;
    while (i < end && !p->no_more_cuts && !stalled) {
        char c = b[i];
        switch (s) {
        case S_DATA: {
            const char *lt = memchr(b + i, '<', end - i);
            if (!lt) {
                stalled = 1; /* the run goes on: look at it whole once its end is here */
                break;
            }
            size_t run_end = (size_t)(lt - b);
            int cuts = !p->select_open && !p->foreign_depth;
            if (cuts && p->squeeze && squeezable(b + i, run_end - i)) {
                memmove(b + w, b + from, i - from);
                w += i - from;
                b[w++] = 'x';
                from = run_end;
            }
            i = run_end;
            p->pending_cut = cuts ? w + (i - from) : 0;
            p->squeeze = 1; /* the next run follows markup, unless this '<' is text */
            s = S_TAG_OPEN;
            i++;
            break;
        }
        case S_TAG_OPEN:
            if (!isalpha((unsigned char)c) && p->pending_cut) {
                p->split = p->pending_cut; /* not a start tag: a cut before it is safe */
                p->split_tags = p->tags;
                p->pending_cut = 0;
            }
            if (c == '!') {
                if (b[i + 1] == '-' && b[i + 2] == '-') {
                    i += 3;
                    /* "<!-->" and "<!--->" are whole (empty) comments */
                    if (b[i] == '>') {
                        s = S_DATA;
                        i++;
                    } else if (b[i] == '-' && b[i + 1] == '>') {
                        s = S_DATA;
                        i += 2;
                    } else {
                        s = S_COMMENT;
                    }
                } else if (p->foreign_depth && at(b, i + 1, "[CDATA[")) {
                    s = S_CDATA;
                    i += 8;
                } else {
                    s = S_BOGUS;
                    i++;
                }
            } else if (c == '/') {
                s = S_END_TAG_OPEN;
                i++;
            } else if (isalpha((unsigned char)c)) {
                p->end_tag = p->self_closing = 0;
                p->name_len = 0;
                p->name[0] = '\0';
                s = S_TAG_NAME;
            } else if (c == '?') {
                s = S_BOGUS;
                i++;
            } else {
                s = S_DATA; /* a '<' that is text */
                p->squeeze = 0;
            }
            break;
        case S_END_TAG_OPEN:
            if (isalpha((unsigned char)c)) {
                p->end_tag = 1;
                p->self_closing = 0;
                p->name_len = 0;
                p->name[0] = '\0';
                s = S_TAG_NAME;
            } else if (c == '>') {
                s = S_DATA; /* "</>" is dropped */
                i++;
            } else {
                s = S_BOGUS;
            }
            break;
        case S_TAG_NAME:
            if (is_space(c))
                s = S_BEFORE_ATTR;
            else if (c == '/')
                s = S_SELF_CLOSING;
            else if (c == '>')
                s = tag_done(p);
            else
                name_add(p, c);
            i++;
            break;
        case S_BEFORE_ATTR:
        case S_AFTER_ATTR:
            if (is_space(c))
                ;
            else if (c == '/')
                s = S_SELF_CLOSING;
            else if (c == '>')
                s = tag_done(p);
            else if (c == '=' && s == S_AFTER_ATTR)
                s = S_BEFORE_VALUE;
            else
                s = S_ATTR_NAME;
            i++;
            break;
        case S_ATTR_NAME:
            if (is_space(c))
                s = S_AFTER_ATTR;
            else if (c == '/')
                s = S_SELF_CLOSING;
            else if (c == '>')
                s = tag_done(p);
            else if (c == '=')
                s = S_BEFORE_VALUE;
            i++;
            break;
        case S_BEFORE_VALUE:
            if (c == '"')
                s = S_VALUE_DQ;
            else if (c == '\'')
                s = S_VALUE_SQ;
            else if (c == '>')
                s = tag_done(p);
            else if (!is_space(c))
                s = S_VALUE_UNQ;
            i++;
            break;
        case S_VALUE_DQ:
        case S_VALUE_SQ: {
            const char *q = memchr(b + i, s == S_VALUE_DQ ? '"' : '\'', end - i);
            if (!q) {
                i = end;
                break;
            }
            i = (size_t)(q - b) + 1;
            s = S_AFTER_VALUE;
            break;
        }
        case S_VALUE_UNQ:
            if (is_space(c))
                s = S_BEFORE_ATTR;
            else if (c == '>')
                s = tag_done(p);
            i++;
            break;
        case S_AFTER_VALUE:
            if (c == '/') {
                s = S_SELF_CLOSING;
                i++;
            } else if (c == '>') {
                s = tag_done(p);
                i++;
            } else {
                s = S_BEFORE_ATTR; /* a space, or reconsumed there */
                if (is_space(c))
                    i++;
            }
            break;
        case S_SELF_CLOSING:
            if (c == '>') {
                p->self_closing = 1;
                s = tag_done(p);
                i++;
            } else {
                s = S_BEFORE_ATTR; /* reconsumed */
            }
            break;
        case S_COMMENT:
            if (c == '-' && at(b, i, "-->")) {
                s = S_DATA;
                i += 3;
            } else if (c == '-' && at(b, i, "--!>")) {
                s = S_DATA;
                i += 4;
            } else {
                i++;
            }
            break;
        case S_BOGUS: {
            const char *gt = memchr(b + i, '>', end - i);
            if (!gt) {
                i = end;
                break;
            }
            i = (size_t)(gt - b) + 1;
            s = S_DATA;
            break;
        }
        case S_CDATA:
            if (c == ']' && at(b, i, "]]>")) {
                s = S_DATA;
                i += 3;
            } else {
                i++;
            }
            break;
        case S_RAWTEXT:
            if (c == '<' && at_end_tag(b, i, p->raw_end))
                i = start_end_tag(p, i, p->raw_end), s = p->state;
            else
                i++;
            break;
        case S_SCRIPT:
            if (c == '<' && at_end_tag(b, i, "script")) {
                i = start_end_tag(p, i, "script"), s = p->state;
            } else if (c == '<' && at(b, i, "<!--")) {
                s = S_SCRIPT_ESCAPED;
                i += 2; /* the "--" may also end it at once: "<!-->" */
            } else {
                i++;
            }
            break;
        case S_SCRIPT_ESCAPED:
            if (c == '-' && at(b, i, "-->")) {
                s = S_SCRIPT;
                i += 3;
            } else if (c == '<' && at_end_tag(b, i, "script")) {
                i = start_end_tag(p, i, "script"), s = p->state;
            } else if (c == '<' && at(b, i + 1, "script") &&
                       (is_space(b[i + 7]) || b[i + 7] == '/' || b[i + 7] == '>')) {
                s = S_SCRIPT_DOUBLE;
                i += 7;
            } else {
                i++;
            }
            break;
        case S_SCRIPT_DOUBLE:
            if (c == '-' && at(b, i, "-->")) {
                s = S_SCRIPT;
                i += 3;
            } else if (c == '<' && at_end_tag(b, i, "script")) {
                s = S_SCRIPT_ESCAPED;
                i += 8;
            } else {
                i++;
            }
            break;
        case S_PLAINTEXT:
        default: i = end; break;
        }
    }
    p->state = s;
    if (from > w) {
        memmove(b + w, b + from, p->len - from);
        p->len = w + (p->len - from);
        memset(b + p->len, 0, LOOKAHEAD + 1);
    }
    p->pos = w + (i - from);
}

/* ---- the parser ------------------------------------------------------------------------------ */

crawl_links_parser *crawl_links_parser_new(const ah_url *page_url, int follow_nofollow,
                                           size_t window)
{
    crawl_links_parser *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->page = page_url;
    p->follow_nofollow = follow_nofollow;
    p->window = window ? window : CRAWL_LINKS_WINDOW;
    return p;
}

int crawl_links_parser_feed(crawl_links_parser *p, const char *data, size_t len)
{
    /* room for the lookahead's NUL padding too: the scanner may look past what it scans */
    if (p->len + len + LOOKAHEAD + 1 > p->cap) {
        size_t cap = p->cap ? p->cap : 16 * 1024;
        while (cap < p->len + len + LOOKAHEAD + 1)
            cap *= 2;
        char *b = realloc(p->buf, cap);
        if (!b)
            return AH_ENOMEM;
        p->buf = b;
        p->cap = cap;
    }
    memcpy(p->buf + p->len, data, len);
    p->len += len;
    memset(p->buf + p->len, 0, LOOKAHEAD + 1);
    if (p->window == SIZE_MAX)
        return 0; /* crawl_links_extract: gumbo gets the document as it is */
    scan(p);
    /* a window is so many bytes, or so many tags once text is squeezed out of it */
    return (p->len >= p->window || p->tags >= p->window / WINDOW_BYTES_PER_TAG) && p->split > 0;
}

size_t crawl_links_parser_pending(const crawl_links_parser *p) { return p->len; }

int crawl_links_parser_parse(crawl_links_parser *p, int final)
{
    size_t n = final ? p->len : p->split;
    if (!n)
        return 0;
    int rc = parse_window(p, p->buf, n);
    memmove(p->buf, p->buf + n, p->len - n);
    p->len -= n;
    p->pos = p->pos > n ? p->pos - n : 0;
    p->pending_cut = p->pending_cut > n ? p->pending_cut - n : 0;
    p->tags = final ? 0 : p->tags - p->split_tags;
    p->split = p->split_tags = 0;
    if (p->window != SIZE_MAX && p->cap > 4 * p->window && p->len + LOOKAHEAD < p->window) {
        /* a buffer that had to grow (no place to cut for a long way) does not stay big */
        char *b = realloc(p->buf, 2 * p->window);
        if (b) {
            p->buf = b;
            p->cap = 2 * p->window;
        }
    }
    return rc;
}

int crawl_links_parser_finish(crawl_links_parser *p, crawl_links *out)
{
    memset(out, 0, sizeof(*out));
    if (!p->parses) {
        int rc = crawl_links_parser_parse(p, 1);
        if (rc < 0)
            return rc;
    }
    ah_url base_url;
    const ah_url *base = p->page;
    int have_base = 0;
    if (p->base_href && ah_url_resolve(p->page, p->base_href, &base_url) == 0) {
        base = &base_url;
        have_base = 1;
    }
    crawl_url_base b;
    crawl_url_base_init(&b, base);
    int rc = 0;
    const char *ref = p->refs;
    for (size_t i = 0; i < p->nrefs && rc == 0; i++, ref += strlen(ref) + 1) {
        rc = crawl_url_resolve_append(&b, ref, &out->store, &out->store_len, &out->store_cap);
        if (rc == 0)
            out->count++;
        else if (rc != AH_ENOMEM)
            rc = 0; /* a bad or non-http reference: not a link we can follow */
    }
    if (rc == 0 && out->count) {
        out->urls = malloc(out->count * sizeof(*out->urls));
        if (!out->urls) {
            rc = AH_ENOMEM;
        } else {
            char *u = out->store;
            for (size_t i = 0; i < out->count; i++, u += strlen(u) + 1)
                out->urls[i] = u;
        }
    }
    out->nofollow = p->nofollow;
    if (have_base)
        ah_url_free(&base_url);
    if (rc < 0)
        crawl_links_free(out);
    return rc;
}

void crawl_links_parser_stats(const crawl_links_parser *p, size_t *parses, size_t *arena_peak)
{
    *parses = p->parses;
    *arena_peak = p->arena_peak;
}

void crawl_links_parser_free(crawl_links_parser *p)
{
    if (!p)
        return;
    free(p->refs);
    free(p->base_href);
    free(p->buf);
    free(p);
}

int crawl_links_extract(const char *html, size_t len, const ah_url *page_url, int follow_nofollow,
                        crawl_links *out)
{
    memset(out, 0, sizeof(*out));
    crawl_links_parser *p = crawl_links_parser_new(page_url, follow_nofollow, SIZE_MAX);
    if (!p)
        return AH_ENOMEM;
    int rc = crawl_links_parser_feed(p, html, len);
    if (rc >= 0)
        rc = crawl_links_parser_parse(p, 1);
    if (rc >= 0)
        rc = crawl_links_parser_finish(p, out);
    crawl_links_parser_free(p);
    return rc < 0 ? rc : 0;
}

void crawl_links_free(crawl_links *l)
{
    free(l->urls);
    free(l->store);
    memset(l, 0, sizeof(*l));
}
