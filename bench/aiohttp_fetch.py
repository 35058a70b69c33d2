"""The aiohttp side of bench/run-client.sh: what a Python program does with the same fetches.

    aiohttp_fetch.py --urls FILE [--parallel N] [--cacert PEM]
        GET every URL of FILE (one a line) over one ClientSession whose TCPConnector holds at
        most N connections (default 64): N workers take the next URL, read the body and write
        it to /dev/null, as curl -Z and ahttp-fetch -Z do with -o /dev/null.
    aiohttp_fetch.py --stream URL [--cacert PEM]
        GET one URL and stream the body to /dev/null in 256 KiB pieces (flat memory).

Prints one line, "aiohttp_fetch: requests=N bytes=B errors=E", and exits 1 if any fetch failed.
Run it with /usr/bin/python3 (Debian's python3-aiohttp).
"""

import argparse
import asyncio
import ssl
import sys

import aiohttp

CHUNK = 256 * 1024


async def fetch_list(urls, parallel, ssl_ctx):
    done = errors = nbytes = 0
    it = iter(urls)
    connector = aiohttp.TCPConnector(limit=parallel, limit_per_host=parallel, ssl=ssl_ctx)
    # aiohttp's default total timeout is 5 minutes; that is the client's too
    async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:
        with open("/dev/null", "wb") as devnull:

            async def worker():
                nonlocal done, errors, nbytes
                for url in it:  # one iterator shared by the workers: each URL once
                    try:
                        async with session.get(url) as resp:
                            body = await resp.read()
                            devnull.write(body)
                            nbytes += len(body)
                            done += 1
                    except (aiohttp.ClientError, asyncio.TimeoutError) as e:
                        errors += 1
                        if errors == 1:
                            print(f"aiohttp_fetch: {url}: {e!r}", file=sys.stderr)

            await asyncio.gather(*(worker() for _ in range(min(parallel, len(urls)))))
    return done, nbytes, errors


async def fetch_stream(url, ssl_ctx):
    connector = aiohttp.TCPConnector(limit=1, ssl=ssl_ctx)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=60)
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, auto_decompress=False
    ) as session:
        async with session.get(url) as resp:
            resp.raise_for_status()
            nbytes = 0
            with open("/dev/null", "wb") as devnull:
                async for chunk in resp.content.iter_chunked(CHUNK):
                    devnull.write(chunk)
                    nbytes += len(chunk)
    return 1, nbytes, 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    what = ap.add_mutually_exclusive_group(required=True)
    what.add_argument("--urls", help="file with one URL a line")
    what.add_argument("--stream", metavar="URL", help="stream one URL to /dev/null")
    ap.add_argument("--parallel", type=int, default=64)
    ap.add_argument("--cacert", help="trust this CA (PEM) as well")
    args = ap.parse_args()
    ssl_ctx = None
    if args.cacert:
        ssl_ctx = ssl.create_default_context(cafile=args.cacert)
    if args.urls:
        with open(args.urls) as f:
            urls = [line.strip() for line in f if line.strip()]
        done, nbytes, errors = asyncio.run(fetch_list(urls, args.parallel, ssl_ctx))
    else:
        try:
            done, nbytes, errors = asyncio.run(fetch_stream(args.stream, ssl_ctx))
        except (aiohttp.ClientError, asyncio.TimeoutError) as e:
            print(f"aiohttp_fetch: {args.stream}: {e!r}", file=sys.stderr)
            done, nbytes, errors = 0, 0, 1
    print(f"aiohttp_fetch: requests={done} bytes={nbytes} errors={errors}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
