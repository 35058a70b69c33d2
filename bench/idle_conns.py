"""Open N keep-alive connections to 127.0.0.1:PORT, send one GET /hello on each, read the
response, and hold them all open until stdin closes. Prints "ready N" when all are idle.
Used by bench/run-server.sh to measure a server's memory per idle connection.
Run with /usr/bin/python3: idle_conns.py PORT N
"""
import resource
import socket
import sys


def main():
    port, n = int(sys.argv[1]), int(sys.argv[2])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    request = b"GET /hello HTTP/1.1\r\nHost: bench\r\n\r\n"
    conns = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(request)
        conns.append(s)
    for s in conns:
        got = b""
        while b"Hello, World!" not in got:
            chunk = s.recv(4096)
            if not chunk:
                raise SystemExit("connection closed early")
            got += chunk
    print("ready", len(conns), flush=True)
    sys.stdin.read()
    for s in conns:
        s.close()


main()
