#!/usr/bin/env python3
"""h2serve.py - a static HTTP/2 server that misbehaves on request, for the
tests of tlog's HTTP/2 fetcher (client/h2.c). Uses Debian's python3-h2
(hyper-h2, a sans-I/O HTTP/2 state machine) for the framing.

Serves DIR on 127.0.0.1, port 0, h2c with prior knowledge, or h2 over TLS
(ALPN "h2") with --tls CERT KEY; prints the port on its first stdout line.
One thread a connection. Faults, by request path (without the leading /):

  --status PATH=CODE   answers CODE (with a one-line body) instead of the file
  --status-once        ... only the first time for each PATH
  --close PATH         sends the headers and half the body, then closes the
                       TCP connection (every time, or --close-times N times)
  --short PATH         declares the whole content-length, sends all but the
                       last 10 bytes and ends the stream
  --goaway-after N     on each connection, after the Nth request: GOAWAY
                       with that request's stream as the last one, answers
                       what it accepted, ignores later streams, then closes
                       (--goaway-times N connections, default 1)
  --log FILE           one line per request: "CONN PATH" (CONN counts the
                       connections from 1)
"""
import argparse
import os
import socket
import ssl
import sys
import threading

import h2.config
import h2.connection
import h2.events
import h2.exceptions
from hyperframe.frame import GoAwayFrame


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    ap.add_argument("--status", action="append", default=[])
    ap.add_argument("--status-once", action="store_true")
    ap.add_argument("--close", action="append", default=[])
    ap.add_argument("--close-times", type=int, default=-1)
    ap.add_argument("--short", action="append", default=[])
    ap.add_argument("--goaway-after", type=int, default=0)
    ap.add_argument("--goaway-times", type=int, default=1)
    ap.add_argument("--log")
    args = ap.parse_args()
    status = dict((p.split("=")[0], int(p.split("=")[1])) for p in args.status)
    lock = threading.Lock()
    st = {"conns": 0, "closes": args.close_times, "goaways": args.goaway_times,
          "answered": set()}
    tls = None
    if args.tls:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(args.tls[0], args.tls[1])
        tls.set_alpn_protocols(["h2"])

    def record(conn_no, path):
        if args.log:
            with lock, open(args.log, "a") as f:
                f.write("%d %s\n" % (conn_no, path))

    def answer(path):
        """(status, body, mode) for a request path."""
        with lock:
            if path in status and not (args.status_once and path in st["answered"]):
                st["answered"].add(path)
                return status[path], b"injected failure\n", None
            if path in args.close and st["closes"] != 0:
                st["closes"] -= 1
                mode = "close"
            elif path in args.short:
                mode = "short"
            else:
                mode = None
        full = os.path.realpath(os.path.join(args.dir, path))
        if not full.startswith(os.path.realpath(args.dir) + os.sep) or not os.path.isfile(full):
            return 404, b"not found\n", None
        with open(full, "rb") as f:
            return 200, f.read(), mode

    def handle(sock):
        with lock:
            st["conns"] += 1
            conn_no = st["conns"]
        if tls:
            try:
                sock = tls.wrap_socket(sock, server_side=True)
            except (ssl.SSLError, OSError):
                sock.close()
                return
        c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False,
                                                                  header_encoding="utf-8"))
        c.initiate_connection()
        pending = {}  # stream -> [body, sent, mode]
        nreq = 0
        last = None  # the last stream accepted after GOAWAY
        try:
            sock.sendall(c.data_to_send())
            while True:
                data = sock.recv(65536)
                if not data:
                    return
                try:
                    events = c.receive_data(data)
                except h2.exceptions.ProtocolError:
                    return
                for ev in events:
                    if isinstance(ev, h2.events.RequestReceived):
                        sid = ev.stream_id
                        if last is not None and sid > last:
                            continue  # refused by the GOAWAY
                        nreq += 1
                        path = dict(ev.headers)[":path"].lstrip("/")
                        record(conn_no, path)
                        code, body, mode = answer(path)
                        c.send_headers(sid, [(":status", str(code)),
                                             ("content-length", str(len(body)))])
                        pending[sid] = [body, 0, mode]
                        if args.goaway_after and nreq == args.goaway_after and last is None:
                            with lock:
                                go = st["goaways"] != 0
                                if go:
                                    st["goaways"] -= 1
                            if go:
                                last = sid
                                sock.sendall(c.data_to_send())
                                g = GoAwayFrame(0)
                                g.last_stream_id = sid
                                g.error_code = 0
                                sock.sendall(g.serialize())
                    elif isinstance(ev, h2.events.StreamReset):
                        pending.pop(ev.stream_id, None)
                    elif isinstance(ev, h2.events.ConnectionTerminated):
                        return
                for sid in list(pending):
                    body, sent, mode = pending[sid]
                    end = len(body) - 10 if mode == "short" else len(body)
                    if mode == "close" and sent >= len(body) // 2:
                        sock.sendall(c.data_to_send())
                        sock.shutdown(socket.SHUT_RDWR)
                        return
                    while sent < end:
                        limit = len(body) // 2 + 1 if mode == "close" else end
                        n = min(c.local_flow_control_window(sid), c.max_outbound_frame_size,
                                limit - sent)
                        if n <= 0:
                            break
                        c.send_data(sid, body[sent:sent + n])
                        sent += n
                        if mode == "close" and sent >= len(body) // 2:
                            break
                    pending[sid][1] = sent
                    if mode == "close" and sent >= len(body) // 2:
                        sock.sendall(c.data_to_send())
                        sock.shutdown(socket.SHUT_RDWR)
                        return
                    if sent >= end:
                        c.end_stream(sid)
                        del pending[sid]
                sock.sendall(c.data_to_send())
                if last is not None and not pending:
                    return
        except (OSError, h2.exceptions.ProtocolError, ssl.SSLError):
            return
        finally:
            try:
                sock.close()
            except OSError:
                pass

    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(64)
    print(ls.getsockname()[1], flush=True)
    try:
        while True:
            s, _ = ls.accept()
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=handle, args=(s,), daemon=True).start()
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
