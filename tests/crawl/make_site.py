#!/usr/bin/python3
"""Write a static test site for ahttp-crawl, an nginx.conf serving it, and the answers.

    make_site.py OUTDIR PORT [PAGES [PORT_5XX PORT_404 PORT_DELAY]]

OUTDIR/site/          the site (PAGES pages, default 40)
OUTDIR/nginx.conf     nginx on 127.0.0.1:PORT: 1 worker, daemon off, everything in OUTDIR, plus
                      /redir/a <-> /redir/b (a loop), /moved -> /page/3.html, /boom -> 500,
                      /slow/ rate-limited, and an access log with $msec and $request_time
OUTDIR/expected.txt   the paths a correct crawl from / with --same-host must fetch, sorted
OUTDIR/slow.txt       the paths a crawl from /slow/index.html must fetch, sorted

With the three extra ports, nginx serves the same site there too, but with another robots.txt:
a 503 on PORT_5XX (the host must not be crawled), a 404 on PORT_404 (everything is allowed), and
"Crawl-delay: 0.3" on PORT_DELAY. The access log's last field is the port.

The link graph: page i links to pages 2i+1 and 2i+2 (when they exist) and back to page 0, in
varied spellings (absolute path, relative, with fragments, duplicated). The index links to
everything else: a <base> page, a 404, a text and a PDF file, a huge page, pages under /private/
that robots.txt forbids (and one it allows again), another host, the redirects and the 500, and
links that must not be followed (rel=nofollow, inside a comment, inside a script).
"""
import os
import sys


def write(root, path, text):
    full = os.path.join(root, path.lstrip("/"))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    mode = "wb" if isinstance(text, bytes) else "w"
    with open(full, mode) as f:
        f.write(text)


def page_links(i, pages):
    """The links of page i, spelled in several ways that all mean the same URLs."""
    out = []
    for k, child in enumerate((2 * i + 1, 2 * i + 2)):
        if child >= pages:
            continue
        if k == 0:
            out.append('<a href="%d.html">child</a>' % child)  # relative to /page/
            out.append('<A HREF="/page/%d.html#section">same child, fragment</A>' % child)
        else:
            out.append("<a href=../page/%d.html>unquoted, dot segments</a>" % child)
            out.append('<a href="./%d.html">same child, ./</a>' % child)
    out.append('<a href="/page/0.html">home</a>')
    out.append('<a href="http://127.0.0.1:PORT/page/0.html#x">home again, absolute</a>')
    return out


def extra_servers(outdir, root, ports):
    """Servers for the robots.txt cases: 503, 404, and a Crawl-delay."""
    if len(ports) != 3:
        return ""
    with open(os.path.join(outdir, "robots-delay.txt"), "w") as f:
        f.write("User-agent: *\nCrawl-delay: 0.3\nDisallow: /private/\n")
    robots = ["return 503;", "return 404;", "alias %s/robots-delay.txt;" % outdir]
    return "".join("""    server {{
        listen 127.0.0.1:{port};
        root {root};
        index index.html;
        location = /robots.txt {{ {robots} }}
    }}
""".format(port=p, root=root, robots=r) for p, r in zip(ports, robots))


def main():
    if len(sys.argv) < 3:
        sys.stderr.write("usage: make_site.py OUTDIR PORT [PAGES]\n")
        return 2
    outdir = os.path.abspath(sys.argv[1])
    port = int(sys.argv[2])
    pages = int(sys.argv[3]) if len(sys.argv) > 3 else 40
    extra_ports = [int(p) for p in sys.argv[4:7]]
    root = os.path.join(outdir, "site")
    expected = set()

    def page(path, body, title="page", expect=True):
        html = ("<!DOCTYPE html>\n<html><head><title>%s</title></head>\n<body>\n%s\n</body></html>\n"
                % (title, body)).replace("PORT", str(port))
        write(root, path, html)
        if expect:
            expected.add(path)

    for i in range(pages):
        page("/page/%d.html" % i, "\n".join(page_links(i, pages)), "page %d" % i)

    index_links = [
        '<a href="/page/0.html">the graph</a>',
        '<a href="page/0.html#top">the graph again</a>',
        '<a href="/base/index.html">a page with a base href</a>',
        '<a href="/missing.html">a 404</a>',
        '<a href="/files/doc.txt">text</a>',
        '<a href="/files/doc.pdf">pdf</a>',
        '<a href="/big.html">huge</a>',
        '<a href="/private/secret.html">forbidden by robots.txt</a>',
        '<a href="/private/open.html">allowed again by robots.txt</a>',
        '<a href="http://other.example/">another host</a>',
        '<a href="http://other.example:PORT/page/1.html">another host, same port</a>',
        '<a href="/redir/a">a redirect loop</a>',
        '<a href="/moved">a permanent redirect to page 3</a>',
        '<a href="/boom">a 500</a>',
        '<a href="mailto:someone@example.com">mail</a>',
        '<a href="javascript:void(0)">script</a>',
        '<a href="/nofollow.html" rel="nofollow">not followed</a>',
        '<a href="/a&amp;b.html">an entity in href</a>',
        '<iframe src="/frame.html"></iframe>',
        '<!-- <a href="/comment.html">in a comment</a> -->',
        '<script>document.write(\'<a href="/script.html">x</a>\');</script>',
    ]
    page("/index.html", "\n".join(index_links), "index", expect=False)
    expected.add("/")  # the seed: nginx serves index.html for it
    page("/base/index.html",
         '<base href="/page/">\n<a href="5.html">page 5 through the base</a>\n'
         '<a href="/page/6.html">absolute</a>', "base")
    page("/frame.html", "in a frame", "frame")
    page("/a&b.html", "entity", "entity")
    page("/private/secret.html", '<a href="/private/deeper.html">deeper</a>', expect=False)
    page("/private/deeper.html", "deeper", expect=False)
    page("/private/open.html", "open", "open")
    page("/nofollow.html", "nofollow", expect=False)
    page("/comment.html", "comment", expect=False)
    page("/script.html", "script", expect=False)
    write(root, "/files/doc.txt", "plain text, with <a href=\"/page/7.html\">no link</a>\n")
    write(root, "/files/doc.pdf", b"%PDF-1.4\n% not really\n")
    expected.update({"/files/doc.txt", "/files/doc.pdf", "/missing.html", "/boom", "/moved",
                     "/redir/a", "/redir/b", "/big.html"})
    # 3 MB: longer than --max-body 1000000; its one link is near the start
    big = ('<html><body><a href="/page/1.html">dup</a>\n' + "<p>filler filler filler</p>\n" * 110000
           + '<a href="/never.html">past the cut</a></body></html>\n')
    write(root, "/big.html", big)
    write(root, "/never.html", "never")

    # robots.txt: our product token has its own group, so the '*' group (which forbids all)
    # does not apply to us; within ours the longer Allow beats the Disallow.
    write(root, "/robots.txt",
          "# test robots\nUser-agent: *\nDisallow: /\n\n"
          "User-agent: ahttp-crawl\nDisallow: /private/\nAllow: /private/open.html$\n")

    # A slow corner for the per-host test: 8 pages of 48 KiB, sent at 96 KiB/s each.
    slow = set(["/slow/index.html"])
    page("/slow/index.html",
         "\n".join('<a href="/slow/%d.html">%d</a>' % (k, k) for k in range(8)), "slow",
         expect=False)
    for k in range(8):
        write(root, "/slow/%d.html" % k, "<html><body>" + "x" * (48 * 1024) + "</body></html>")
        slow.add("/slow/%d.html" % k)

    with open(os.path.join(outdir, "expected.txt"), "w") as f:
        f.write("".join(p + "\n" for p in sorted(expected)))
    with open(os.path.join(outdir, "slow.txt"), "w") as f:
        f.write("".join(p + "\n" for p in sorted(slow)))

    conf = """worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 256; }}
http {{
    types {{ text/html html; text/plain txt; application/pdf pdf; }}
    default_type application/octet-stream;
    log_format timing '$msec $request_time $status "$request" $connection $server_port';
    access_log {d}/access.log timing;
    client_body_temp_path {d}/tmp_body;
    proxy_temp_path {d}/tmp_proxy;
    fastcgi_temp_path {d}/tmp_fastcgi;
    uwsgi_temp_path {d}/tmp_uwsgi;
    scgi_temp_path {d}/tmp_scgi;
    server {{
        listen 127.0.0.1:{port};
        server_name localhost;
        root {root};
        index index.html;
        location = /redir/a {{ return 302 /redir/b; }}
        location = /redir/b {{ return 302 /redir/a; }}
        location = /moved {{ return 301 /page/3.html; }}
        location = /boom {{ return 500; }}
        location /slow/ {{ limit_rate 96k; }}
    }}
{extra}}}
""".format(d=outdir, port=port, root=root, extra=extra_servers(outdir, root, extra_ports))
    with open(os.path.join(outdir, "nginx.conf"), "w") as f:
        f.write(conf)
    return 0


if __name__ == "__main__":
    sys.exit(main())
