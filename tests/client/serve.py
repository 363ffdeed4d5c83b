#!/usr/bin/env python3
"""serve.py - a plain static web server for the client tests (stdlib only).

Serves DIR (which may be a symlink the test swaps) on 127.0.0.1, port 0, and
prints the port on its first stdout line. Optionally records every request
path in --log, answers POST /add with the bytes of --add-response (after
--busy 503 answers carrying Retry-After: 1), so `tlog add` can be tested
without tlogd. With --tls CERT KEY it serves HTTPS, offering only http/1.1
by ALPN.
"""
import argparse
import functools
import http.server
import os
import ssl
import sys
import threading


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--log")
    ap.add_argument("--add-response")
    ap.add_argument("--busy", type=int, default=0)
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    args = ap.parse_args()
    lock = threading.Lock()
    state = {"busy": args.busy}

    class Handler(http.server.SimpleHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, fmt, *a):
            pass

        def record(self):
            if args.log:
                with lock, open(args.log, "a") as f:
                    f.write(self.command + " " + self.path + "\n")

        def do_GET(self):
            self.record()
            # Resolve the (possibly swapped) symlink on every request.
            self.directory = os.path.realpath(args.dir)
            super().do_GET()

        def do_POST(self):
            self.record()
            n = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(n)
            if self.path != "/add" or not args.add_response:
                self.send_error(404)
                return
            with lock:
                busy = state["busy"] > 0
                if busy:
                    state["busy"] -= 1
            if busy:
                msg = b"busy, retry\n"
                self.send_response(503)
                self.send_header("Retry-After", "1")
                self.send_header("Content-Length", str(len(msg)))
                self.end_headers()
                self.wfile.write(msg)
                return
            if not body:
                msg = b"empty entry\n"
                self.send_response(400)
                self.send_header("Content-Length", str(len(msg)))
                self.end_headers()
                self.wfile.write(msg)
                return
            with open(args.add_response, "rb") as f:
                data = f.read()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    class Server(http.server.ThreadingHTTPServer):
        def handle_error(self, request, client_address):
            pass  # clients that abort (tlog on a failed audit) are expected

    srv = Server(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    if args.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls[0], args.tls[1])
        ctx.set_alpn_protocols(["http/1.1"])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print(srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
