#!/usr/bin/env python3
"""Test and demo backend: a small HTTP/1.1 server (Python standard library only).

Usage: backend.py NAME PORT [--host 127.0.0.1] [--delay-ms N]

Every response carries `X-Server: NAME`, so tests and the demo can see which
server answered. Endpoints:
  /                      "hello from NAME"
  /slow?ms=N             answers after N milliseconds
  /status/N              answers with status N
  /bytes?n=N[&chunked=1] N bytes of body, streamed in 64 KiB writes
  /echo                  the request body back (Content-Length or chunked in)
  /headers               the request head back, as received
  /close                 answers with Connection: close and closes
  /continue              answers the body length (Python sends 100 Continue itself)
  /ws                    101 Switching Protocols, then echoes raw bytes
  /garbage               an invalid response
  /die[?n=N&ms=M]        closes the connection in the middle of a response (with n:
                         a Content-Length of 2N, N bytes sent, M ms of silence first)
  /reject                401 at once, without reading the request body, then closes
                         (an auth check failing on a large upload)
  /drop                  reads the request, then closes without answering (a server
                         that acted on a request and died before its answer)
  /stall?ms=N            reads nothing and answers nothing for N ms, then closes
  /interim-stall?n=B&ms=N  a 100 Continue with about B bytes of headers, then
                         nothing for N ms, then closes
  /eof-reset             a read-until-close response cut short by a reset (RST)
  /oversend?n=N          N bytes of body as its Content-Length says, then a whole
                         second response no request asked for (a smuggling server)
  /conn-framing          a response whose Connection header names Content-Length
  /bad-chunk             a chunked response whose first chunk size has 17 digits
  /healthz               the health endpoint: 200, or as Server.health says ("sick":
                         503, "stall": accepts and never answers)
A Server's fail_status (e.g. 500) answers every other request with that status,
and its delay_ms slows every request: a server that turns bad while it runs.
Methods are case-sensitive: `head` is an extension method, answered with a body.
Every request is recorded in Server.seen as (method, path), in arrival order.
"""
import argparse
import os
import socket
import socketserver
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlparse

CHUNK = 65536


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # head and body are separate writes: avoid the 40 ms delayed-ACK stall
    server_version = "ringlb-test-backend"

    def log_message(self, *args):  # quiet: tests read their own output
        pass

    def read_body(self, keep=True):
        """The request body (or, with keep=False, its length, read in 64 KiB steps)."""
        out, count = bytearray(), 0

        def take(n):
            nonlocal count
            while n > 0:
                part = self.rfile.read(min(n, CHUNK))
                if not part:
                    raise ConnectionError("body cut short")
                count += len(part)
                n -= len(part)
                if keep:
                    out.extend(part)

        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                take(size)
                self.rfile.readline()
        else:
            take(int(self.headers.get("Content-Length", "0") or 0))
        return bytes(out) if keep else count

    def reply(self, status, body, extra=()):
        self.send_response(status)
        self.send_header("X-Server", self.server.name)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        # RFC 9112 6.3: no body after HEAD, 1xx, 204 or 304. Writing one anyway
        # leaves stray bytes on a kept-alive connection that the proxy may
        # already have reused, which made tests flaky.
        if self.command != "HEAD" and status >= 200 and status not in (204, 304):
            self.wfile.write(body)

    def handle_any(self):
        with self.server.lock:
            self.server.seen.append((self.command, self.path))
        if self.server.delay_ms:
            time.sleep(self.server.delay_ms / 1000.0)  # every request, as a slow server
        url = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        path = url.path
        if path == "/healthz":
            return self.health_check()
        if self.server.fail_status:
            self.read_body(keep=False)
            return self.reply(self.server.fail_status, b"failing\n")
        if path == "/reject":
            self.close_connection = True
            self.reply(401, b"no\n", [("Connection", "close")])
            return self.linger()
        if path == "/continue":
            return self.reply(200, str(self.read_body(keep=False)).encode())
        if path == "/oversend":
            n = int(q.get("n", "0"))
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (n, b"x" * n) +
                             b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nSMUGGLE")
            return
        if path in ("/stall", "/interim-stall", "/eof-reset", "/conn-framing", "/bad-chunk"):
            return self.misbehave(path, q)
        body = self.read_body() if path != "/ws" else b""
        if path == "/drop":
            self.close_connection = True
            return
        if path == "/slow":
            time.sleep(int(q.get("ms", "100")) / 1000.0)
            return self.reply(200, b"slow from %s\n" % self.server.name.encode())
        if path.startswith("/status/"):
            return self.reply(int(path.split("/")[2]), b"status\n")
        if path == "/bytes":
            return self.send_bytes(int(q.get("n", "0")), q.get("chunked") == "1")
        if path == "/echo":
            return self.reply(200, body)
        if path == "/headers":
            return self.reply(200, self.raw_requestline + bytes(self.headers))
        if path == "/close":
            self.close_connection = True
            return self.reply(200, b"bye\n", [("Connection", "close")])
        if path == "/ws":
            return self.websocket_echo()
        if path == "/garbage":
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello")
            self.close_connection = True
            return
        if path == "/die":
            n = int(q.get("n", "0"))
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (2 * n if n else 100))
            self.wfile.write(b"x" * n if n else b"partial")
            self.wfile.flush()
            time.sleep(int(q.get("ms", "0")) / 1000.0)
            self.close_connection = True
            return
        return self.reply(200, b"hello from %s\n" % self.server.name.encode())

    def health_check(self):
        with self.server.lock:
            self.server.health_checks.append(self.headers.get("User-Agent", ""))
            self.server.health_conns.add(self.client_address)
        if self.server.health == "stall":
            self.close_connection = True
            self.server.released.wait(10)  # until the server stops
            return
        self.reply(503 if self.server.health == "sick" else 200, b"ok\n" if self.server.health == "ok" else b"sick\n")

    def misbehave(self, path, q):
        """Responses no good server sends, for the proxy's seams."""
        self.close_connection = True
        if path == "/stall":
            time.sleep(int(q.get("ms", "1000")) / 1000.0)
        elif path == "/interim-stall":
            filler = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"f" * 8000) for i in range(int(q.get("n", "0")) // 8000))
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n" + filler + b"\r\n")
            self.wfile.flush()
            time.sleep(int(q.get("ms", "1000")) / 1000.0)
        elif path == "/eof-reset":
            self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Server: %s\r\n\r\npartial" % self.server.name.encode())
            self.wfile.flush()
            time.sleep(0.2)  # the head and "partial" reach the client first
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            # Close here: socketserver's own close starts with shutdown(SHUT_WR),
            # a FIN, which would make the cut body look complete.
            os.close(self.connection.detach())
        elif path == "/conn-framing":
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: content-length\r\n\r\nhello")
        elif path == "/bad-chunk":  # a chunk size of 17 digits, in the head's own packet
            self.wfile.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                             b"00000000000000003\r\nabc\r\n0\r\n\r\n")

    def linger(self):
        """Closes as nginx does after an early answer: FIN, then drop what
        still comes (up to 2 s), so no RST destroys the answer in flight."""
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_WR)
        self.connection.settimeout(2)
        try:
            while self.connection.recv(CHUNK):
                pass
        except OSError:
            pass

    def send_bytes(self, n, chunked):
        self.send_response(200)
        self.send_header("X-Server", self.server.name)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(n))
        self.end_headers()
        if self.command == "HEAD":
            return
        block = b"x" * CHUNK
        left = n
        while left > 0:
            part = block[: min(CHUNK, left)]
            if chunked:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            else:
                self.wfile.write(part)
            left -= len(part)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")

    def websocket_echo(self):
        self.send_response(101)
        self.send_header("Upgrade", self.headers.get("Upgrade", "websocket"))
        self.send_header("Connection", "Upgrade")
        self.end_headers()
        self.wfile.flush()
        while True:
            data = self.connection.recv(65536)
            if not data:
                break
            self.connection.sendall(data)
        self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = do_PATCH = handle_any
    do_head = handle_any  # not HEAD: an extension method, answered with a body


class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    """Counts connections, so tests can see pooling and idle closes."""
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024
    idle_timeout = None  # seconds a keep-alive connection may idle, None: forever
    delay_ms = 0         # added to every request
    health = "ok"        # /healthz: "ok" (200), "sick" (503), "stall" (never answers)
    fail_status = None   # answer every other request with this status

    def __init__(self, *args, **kwargs):
        self.accepted = 0
        self.closed = 0
        self.seen = []  # (method, path) of every request, in arrival order
        self.health_checks = []  # the User-Agent of every /healthz request
        self.health_conns = set()  # the connections they came on
        self.open_conns = set()
        self.released = threading.Event()  # set at server_close: stalled handlers return
        self.lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def server_close(self):
        self.released.set()
        super().server_close()

    def process_request(self, request, client_address):
        with self.lock:
            self.accepted += 1
            self.open_conns.add(request)
        request.settimeout(self.idle_timeout)
        super().process_request(request, client_address)

    def kill(self):
        """Dies as a crashed process does: the port refuses, and every
        connection it had is reset."""
        self.shutdown()
        self.server_close()
        with self.lock:
            conns, self.open_conns = list(self.open_conns), set()
        for c in conns:
            try:
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address):
        # A proxy that gave up on us, or a client that cut its body short (the
        # soak does both on purpose), is expected; anything else is printed.
        if not isinstance(sys.exc_info()[1], (ConnectionError, ValueError)):
            super().handle_error(request, client_address)

    def shutdown_request(self, request):
        super().shutdown_request(request)
        with self.lock:
            self.closed += 1
            self.open_conns.discard(request)


def serve(name, port, host="127.0.0.1", delay_ms=0):
    srv = Server((host, port), Handler)
    srv.name = name
    srv.delay_ms = delay_ms
    return srv


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("name")
    ap.add_argument("port", type=int)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--delay-ms", type=float, default=0)
    a = ap.parse_args()
    srv = serve(a.name, a.port, a.host, a.delay_ms)
    print("backend %s listening on %s:%d" % (a.name, a.host, a.port), flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
