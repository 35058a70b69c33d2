#!/usr/bin/python3
"""The crawl that ahttp-crawl does, written the usual way with aiohttp, for bench/run-crawl.sh.

    aiohttp_crawl.py [--concurrency N] SEED_URL

Same rules as `ahttp-crawl --ignore-robots --same-host --per-host N --concurrency N`: links from
a[href], area[href], link[href], frame/iframe[src] (the standard library's HTMLParser, so
comments and scripts hold no links), <base href>, rel=nofollow skipped, fragments dropped,
redirects not followed by the client but queued, one ClientSession with TCPConnector(limit=N),
only text/html parsed. Prints the number of pages fetched and the bytes read.
"""
import argparse
import asyncio
import sys
from html.parser import HTMLParser
from urllib.parse import urldefrag, urljoin, urlsplit

import aiohttp


class Links(HTMLParser):
    def __init__(self, base):
        super().__init__()
        self.base = base
        self.base_set = False
        self.refs = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "base" and not self.base_set and a.get("href"):
            self.base = urljoin(self.base, a["href"])
            self.base_set = True
        elif tag in ("a", "area", "link"):
            if a.get("href") is not None and "nofollow" not in (a.get("rel") or "").lower().split():
                self.refs.append(a["href"])
        elif tag in ("frame", "iframe") and a.get("src") is not None:
            self.refs.append(a["src"])


def origin(u):
    s = urlsplit(u)
    return (s.scheme, s.hostname, s.port or (443 if s.scheme == "https" else 80))


async def crawl(seed, concurrency):
    seed = urldefrag(seed)[0]
    seed_origin = origin(seed)
    seen = {seed}
    queue = asyncio.Queue()
    queue.put_nowait(seed)
    pages = 0
    nbytes = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, auto_decompress=True) as session:

        def offer(u):
            u = urldefrag(u)[0]
            try:
                if urlsplit(u).scheme not in ("http", "https") or origin(u) != seed_origin:
                    return
            except ValueError:
                return
            if u not in seen:
                seen.add(u)
                queue.put_nowait(u)

        async def worker():
            nonlocal pages, nbytes
            while True:
                url = await queue.get()
                try:
                    async with session.get(url, allow_redirects=False) as r:
                        body = await r.read()
                        pages += 1
                        nbytes += len(body)
                        if r.status in (301, 302, 303, 307, 308) and "Location" in r.headers:
                            offer(urljoin(url, r.headers["Location"]))
                        elif 200 <= r.status < 300 and r.content_type == "text/html":
                            p = Links(url)
                            p.feed(body.decode(r.charset or "utf-8", "replace"))
                            for ref in p.refs:
                                offer(urljoin(p.base, ref.strip()))
                except aiohttp.ClientError:
                    pages += 1
                finally:
                    queue.task_done()

        workers = [asyncio.create_task(worker()) for _ in range(concurrency)]
        await queue.join()
        for w in workers:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    return pages, nbytes


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("seed")
    a = ap.parse_args()
    pages, nbytes = asyncio.run(crawl(a.seed, a.concurrency))
    print("pages %d bytes %d" % (pages, nbytes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
