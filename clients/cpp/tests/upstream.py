#!/usr/bin/env python3
"""A real upstream for the C++ client's tests: every answer differs (a call
counter and random hex), so a replayed answer cannot be a fresh one.
Prints its port on the first line of stdout, serves until stdin closes.
With CERT KEY arguments it serves HTTPS."""
import http.server
import os
import ssl
import sys
import threading


class Handler(http.server.BaseHTTPRequestHandler):
    calls = 0
    lock = threading.Lock()

    def do_GET(self):
        with Handler.lock:
            Handler.calls += 1
            n = Handler.calls
        body = f"call {n} path {self.path} random {os.urandom(8).hex()}".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
if len(sys.argv) == 3:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[1], sys.argv[2])
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
threading.Thread(target=server.serve_forever, daemon=True).start()
sys.stdin.read()
server.shutdown()
