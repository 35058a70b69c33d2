#!/usr/bin/python3
"""Slowloris against an HTTP server on 127.0.0.1: open --conns connections, each sending one byte
of a request head that never ends, then one more byte every second on every connection.

Prints "slowloris: ready ..." once every connection is open and has sent its first byte (the
caller then checks that other clients are still served), and at the end one summary line. Exits 0
if the server closed every connection (EOF or reset, a 408 response first is fine) between
--header-timeout - 0.5 s and --header-timeout + --slack seconds after its first byte; 1 if not;
2 if it could not set up. Never runs longer than the setup plus --header-timeout + 5 s.

Run with Debian's /usr/bin/python3 (standard library only)."""
import argparse
import resource
import selectors
import socket
import sys
import time

HEAD = b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 4000  # never finished


def raise_fd_limit(want):
    """The soft RLIMIT_NOFILE may be 1024: take up to the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= want:
        return True
    new = want if hard == resource.RLIM_INFINITY or hard >= want else hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return new >= want


class Conn:
    def __init__(self, sock, opened):
        self.sock = sock
        self.opened = opened  # when its first byte went out
        self.sent = 1
        self.closed_at = None
        self.how = None  # "eof" or "reset"
        self.got = b""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--conns", type=int, default=500)
    ap.add_argument("--header-timeout", type=float, required=True, help="the server's, in seconds")
    ap.add_argument("--slack", type=float, default=3.0, help="seconds allowed past the timeout")
    args = ap.parse_args()

    if not raise_fd_limit(args.conns + 64):
        print("slowloris: cannot raise the descriptor limit to %d" % (args.conns + 64))
        return 2

    conns = []
    sel = selectors.DefaultSelector()
    for i in range(args.conns):
        try:
            s = socket.create_connection(("127.0.0.1", args.port), timeout=5)
            s.sendall(HEAD[:1])
        except OSError as e:
            print("slowloris: connection %d of %d failed: %s" % (i + 1, args.conns, e))
            return 2
        s.setblocking(False)
        c = Conn(s, time.monotonic())
        conns.append(c)
        sel.register(s, selectors.EVENT_READ, c)
    setup_done = time.monotonic()
    print("slowloris: ready, %d connections open in %.2f s"
          % (len(conns), setup_done - conns[0].opened), flush=True)

    def closed(c, how, now):
        c.closed_at, c.how = now, how
        sel.unregister(c.sock)
        c.sock.close()

    deadline = setup_done + args.header_timeout + 5
    next_tick = setup_done + 1
    open_count = len(conns)
    while open_count and time.monotonic() < deadline:
        now = time.monotonic()
        if now >= next_tick:
            next_tick += 1
            for c in conns:
                if c.closed_at is None and c.sent < len(HEAD):
                    try:
                        c.sock.send(HEAD[c.sent:c.sent + 1])
                        c.sent += 1
                    except BlockingIOError:
                        pass
                    except OSError:
                        closed(c, "reset", now)
                        open_count -= 1
        for key, _ in sel.select(timeout=max(0.0, min(next_tick, deadline) - time.monotonic())):
            c = key.data
            now = time.monotonic()
            try:
                data = c.sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                data = None
            if data:
                c.got += data
                continue
            closed(c, "eof" if data == b"" else "reset", now)
            open_count -= 1

    done = [c for c in conns if c.closed_at is not None]
    after = [c.closed_at - c.opened for c in done]
    n408 = sum(1 for c in done if c.got.startswith(b"HTTP/1.1 408"))
    other = sum(1 for c in done if c.got and not c.got.startswith(b"HTTP/1.1 408"))
    print("slowloris: %d of %d closed by the server (%d after a 408, %d after another response, "
          "%d reset); closed %.2f..%.2f s after the first byte; header timeout %.2f s"
          % (len(done), len(conns), n408, other, sum(1 for c in done if c.how == "reset"),
             min(after, default=0), max(after, default=0), args.header_timeout))
    for c in conns:
        if c.closed_at is None:
            c.sock.close()
    if len(done) < len(conns):
        print("slowloris: %d connections still open %.1f s after setup"
              % (len(conns) - len(done), time.monotonic() - setup_done))
        return 1
    if other:
        got = next(c.got for c in done if c.got and not c.got.startswith(b"HTTP/1.1 408"))
        print("slowloris: unexpected response: %r" % got[:200])
        return 1
    if max(after) > args.header_timeout + args.slack:
        print("slowloris: closed too late (%.2f s > %.2f s)"
              % (max(after), args.header_timeout + args.slack))
        return 1
    if min(after) < args.header_timeout - 0.5:
        print("slowloris: closed before the header timeout (%.2f s)" % min(after))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
