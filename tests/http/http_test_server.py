#!/usr/bin/python3
"""A small HTTP/1.1 server (stdlib only) for the tests of server/http's client.

Connections are kept alive as HTTP/1.1 allows. Every request is logged with the number of the
TCP connection that carried it (1, 2, ... in accept order), so a test can see connection reuse.

  ANY  /echo[?status=N&header=Name:Value]   status N (default 200), the given extra header, and a
                                            JSON body {method, path, headers (lower-cased),
                                            body, connection}
  GET  /bytes?n=N                           N bytes of "x"
  GET  /slow?ms=N                           waits N ms, then 200 "late"
  GET  /redirect                            302 to /echo
  ANY  /drop/KEY                            the first request with KEY is read whole and its
                                            connection closed without an answer; later ones
                                            get 200 "answered"
  GET  /_log                                the log [{method, path, connection}] of every other
                                            request

Prints "LISTENING <port>" once it accepts connections (--port 0: a free port).
"""

import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "http-test-server"
    sys_version = ""
    # TCP_NODELAY, as Keycloak's Vert.x server sets it: a response goes out in two writes (head,
    # body), and on a kept-alive connection Nagle would hold the body back until the client's
    # delayed ACK, some 40 ms per request.
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):
        pass

    def setup(self):
        super().setup()
        with self.server.lock:
            self.server.connections += 1
            self.connection_number = self.server.connections

    def do_GET(self):
        self.dispatch()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def reply(self, status, body=b"", content_type="text/plain", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def dispatch(self):
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        server = self.server
        if url.path == "/_log":
            with server.lock:
                log = list(server.log)
            self.reply(200, json.dumps(log).encode(), "application/json")
            return
        with server.lock:
            server.log.append({"method": self.command, "path": self.path,
                               "connection": self.connection_number})

        if url.path == "/echo":
            extra = []
            if "header" in query:
                name, _, value = query["header"].partition(":")
                extra.append((name, value))
            echo = {"method": self.command, "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": body.decode("utf-8", "replace"),
                    "connection": self.connection_number}
            self.reply(int(query.get("status", 200)), json.dumps(echo).encode(),
                       "application/json", extra)
        elif url.path == "/bytes":
            self.reply(200, b"x" * int(query.get("n", 0)))
        elif url.path == "/slow":
            time.sleep(int(query.get("ms", 0)) / 1000.0)
            self.reply(200, b"late")
        elif url.path == "/redirect":
            self.reply(302, b"", headers=[("Location", "/echo")])
        elif url.path.startswith("/drop/"):
            with server.lock:
                first = url.path not in server.dropped
                server.dropped.add(url.path)
            if first:
                self.close_connection = True
                self.connection.shutdown(2)
                return
            self.reply(200, b"answered")
        else:
            self.reply(404, b"no such path")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address):
        super().__init__(address, Handler)
        self.lock = threading.Lock()
        self.connections = 0
        self.log = []
        self.dropped = set()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = Server(("127.0.0.1", args.port))
    print(f"LISTENING {server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
