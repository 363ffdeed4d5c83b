#!/usr/bin/env python3
"""frontend_idle.py - a server under N idle connections, beside live clients.

    frontend_idle.py PID PORT [N] [--hold S] [--fresh-every S]
    frontend_idle.py PID PORT --trickle N [--hold S]

Idle mode (the default): opens N TCP connections to 127.0.0.1:PORT; on each it
sends the HTTP/2 client preface and an empty SETTINGS frame (so the server
holds a full HTTP/2 session per connection, the expensive case) and nothing
else. Meanwhile, from the start, a "busy" client on one keep-alive h2c
connection makes a request (GET /checkpoint) every 5 ms, and every
--fresh-every seconds (default 1) a "fresh" client opens a new connection and
makes one request on it. Once all N are open they are held for --hold
seconds (default 15). Reported: the server's RssAnon (its own memory, from
/proc/PID/status) before and with the N connections open, per connection;
the busy client's requests answered/failed; the fresh connections served
(a response read) or refused (reset, closed or no answer within 5 s); and
how many idle connections the server closed (HTTP/2 GOAWAY or EOF) while
they were held.

Trickle mode: N connections each send the preface and SETTINGS, then the
bytes of one HEADERS frame (GET /checkpoint, END_HEADERS | END_STREAM), one
byte per second. Reported: for each, when (seconds after its first HEADERS
byte) the server closed the connection or sent GOAWAY, or that it was still
open after --hold seconds (default 40).
"""
import argparse
import socket
import struct
import threading
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", sid) + payload


SETTINGS = frame(4, 0, 0)
SETTINGS_ACK = frame(4, 1, 0)


def get_block(path, authority):
    """HPACK: :method GET, :scheme http (static), :path and :authority as
    literals without indexing (so the same block can be sent again)."""
    p, a = path.encode(), authority.encode()
    return bytes([0x82, 0x86, 0x04, len(p)]) + p + bytes([0x01, len(a)]) + a


def rss_anon_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    return 0


class H2Conn:
    """A minimal h2c client: one request at a time on its own connection."""

    def __init__(self, port, timeout=5.0):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.s.sendall(PREFACE + SETTINGS)
        self.buf = b""
        self.sid = 1
        self.block = get_block("/checkpoint", "127.0.0.1:%d" % port)

    def request(self):
        """Returns the :status's first HPACK byte (0x88 is 200), or raises."""
        sid = self.sid
        self.sid += 2
        self.s.sendall(frame(1, 0x5, sid, self.block))
        status = None
        while True:
            while len(self.buf) < 9 or len(self.buf) < 9 + int.from_bytes(self.buf[:3], "big"):
                d = self.s.recv(65536)
                if not d:
                    raise ConnectionError("closed by the server")
                self.buf += d
            ln = int.from_bytes(self.buf[:3], "big")
            ft, fl = self.buf[3], self.buf[4]
            fsid = int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF
            pl = self.buf[9:9 + ln]
            self.buf = self.buf[9 + ln:]
            if ft == 0 and ln:  # give the connection window back
                self.s.sendall(frame(8, 0, 0, struct.pack(">I", ln)))
            if ft == 4 and not fl & 1:
                self.s.sendall(SETTINGS_ACK)
            elif ft == 7:
                raise ConnectionError("GOAWAY")
            elif ft == 3 and fsid == sid:
                raise ConnectionError("RST_STREAM")
            elif ft == 1 and fsid == sid:
                status = pl[0] if pl else 0
            if fsid == sid and ft in (0, 1) and fl & 1:
                return status

    def close(self):
        self.s.close()


def busy_client(port, stop, res):
    c = None
    while not stop.is_set():
        try:
            if c is None:
                c = H2Conn(port)
                res["busy_conns"] += 1
            st = c.request()
            res["busy_ok" if st == 0x88 else "busy_fail"] += 1
        except (OSError, ConnectionError) as e:
            res["busy_fail"] += 1
            res["busy_err"] = res.get("busy_err", "") + "%s at %.1f s; " % (e, time.time() - res["t0"])
            if c:
                c.close()
            c = None
        time.sleep(0.005)
    if c:
        c.close()


def fresh_client(port, every, stop, res):
    while not stop.wait(every):
        t0 = time.time()
        try:
            c = H2Conn(port)
            st = c.request()
            c.close()
            if st == 0x88:
                res["fresh_ok"] += 1
                res["fresh_ms"].append((time.time() - t0) * 1000)
            else:
                res["fresh_fail"] += 1
        except (OSError, ConnectionError) as e:
            res["fresh_fail"] += 1
            res["fresh_err"] = str(e)


def idle_mode(a):
    res = {"busy_ok": 0, "busy_fail": 0, "busy_conns": 0, "fresh_ok": 0, "fresh_fail": 0, "t0": time.time(),
           "fresh_ms": []}
    before = rss_anon_kib(a.pid)
    stop = threading.Event()
    th = [threading.Thread(target=busy_client, args=(a.port, stop, res)),
          threading.Thread(target=fresh_client, args=(a.port, a.fresh_every, stop, res))]
    for t in th:
        t.start()
    socks = []
    t0 = time.time()
    for _ in range(a.n):
        try:
            s = socket.create_connection(("127.0.0.1", a.port))
            s.sendall(PREFACE + SETTINGS)
            socks.append(s)
        except OSError:
            break
    opened = time.time() - t0
    time.sleep(2)
    during = rss_anon_kib(a.pid)
    peak = during
    t1 = time.time()
    while time.time() - t1 < a.hold - 2:
        time.sleep(0.5)
        peak = max(peak, rss_anon_kib(a.pid))
    stop.set()
    for t in th:
        t.join()
    closed = 0
    for s in socks:
        s.setblocking(False)
        got = b""
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    closed += 1
                    break
                got += d
        except BlockingIOError:
            if b"\x07\x00\x00\x00\x00\x00" in got:  # a GOAWAY frame header
                closed += 1
        except OSError:
            closed += 1
    print("idle connections: %d opened in %.1f s (of %d), held %.0f s; %d closed by the server"
          % (len(socks), opened, a.n, a.hold, closed))
    print("server RssAnon: %.1f MiB before, %.1f MiB with them open, peak %.1f MiB (%.2f KiB each)"
          % (before / 1024, during / 1024, peak / 1024, (during - before) / max(1, len(socks))))
    fm = sorted(res["fresh_ms"])
    print("fresh connections: %d served, %d refused%s%s"
          % (res["fresh_ok"], res["fresh_fail"],
             " (%s)" % res["fresh_err"] if res.get("fresh_err") else "",
             "; median %.1f ms" % fm[len(fm) // 2] if fm else ""))
    print("busy client: %d requests answered, %d failed, %d connection(s)%s"
          % (res["busy_ok"], res["busy_fail"], res["busy_conns"],
             " (%s)" % res["busy_err"] if res.get("busy_err") else ""))
    for s in socks:
        s.close()


def trickle_mode(a):
    block = get_block("/checkpoint", "127.0.0.1:%d" % a.port)
    hdrs = frame(1, 0x5, 1, block)
    socks = []
    for _ in range(a.trickle):
        s = socket.create_connection(("127.0.0.1", a.port))
        s.sendall(PREFACE + SETTINGS)
        s.setblocking(False)
        socks.append(s)
    closed = [None] * len(socks)
    how = [""] * len(socks)
    t0 = time.time()
    i = 0  # bytes sent per connection: byte i goes at t0 + i
    while time.time() - t0 < a.hold and None in closed:
        send = time.time() - t0 >= i
        for k, s in enumerate(socks):
            if closed[k] is not None:
                continue
            try:
                while True:
                    d = s.recv(65536)
                    if not d:
                        closed[k], how[k] = time.time() - t0, "closed"
                        break
                    if b"\x07\x00\x00\x00\x00\x00" in d:  # a GOAWAY frame header
                        closed[k], how[k] = time.time() - t0, "GOAWAY, then closed"
                        break
            except BlockingIOError:
                pass
            except OSError:
                closed[k], how[k] = time.time() - t0, "reset"
            if send and closed[k] is None and i < len(hdrs):
                try:
                    s.send(hdrs[i:i + 1])
                except OSError:
                    closed[k], how[k] = time.time() - t0, "reset"
        if send:
            i += 1
        time.sleep(0.05)
    done = sorted(t for t in closed if t is not None)
    print("trickle: %d connections, a %d-byte HEADERS frame one byte a second" % (len(socks), len(hdrs)))
    if done:
        print("closed by the server: %d, after %.1f-%.1f s (median %.1f s) from the first byte"
              % (len(done), done[0], done[-1], done[len(done) // 2]))
        kinds = {}
        for h in how:
            if h:
                kinds[h] = kinds.get(h, 0) + 1
        print("how: %s" % ", ".join("%s %d" % kv for kv in sorted(kinds.items())))
    print("still open after %.0f s: %d" % (a.hold, closed.count(None)))
    for s in socks:
        s.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pid", type=int)
    ap.add_argument("port", type=int)
    ap.add_argument("n", type=int, nargs="?", default=10000)
    ap.add_argument("--hold", type=float, default=None)
    ap.add_argument("--fresh-every", type=float, default=1.0)
    ap.add_argument("--trickle", type=int, default=0)
    a = ap.parse_args()
    if a.trickle:
        a.hold = a.hold or 40
        trickle_mode(a)
    else:
        a.hold = a.hold or 15
        idle_mode(a)


if __name__ == "__main__":
    main()
