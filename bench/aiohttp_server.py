"""The aiohttp.web side of bench/run-server.sh: GET /hello -> "Hello, World!".

Run with Debian's /usr/bin/python3 (python3-aiohttp):  aiohttp_server.py PORT [CERT KEY]
"""
import ssl
import sys

from aiohttp import web


async def hello(request):
    return web.Response(text="Hello, World!")


def main():
    port = int(sys.argv[1])
    context = None
    if len(sys.argv) == 4:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(sys.argv[2], sys.argv[3])
    app = web.Application()
    app.router.add_get("/hello", hello)
    web.run_app(app, host="127.0.0.1", port=port, ssl_context=context, access_log=None,
                print=lambda *a: None)


main()
