#!/usr/bin/env python3
"""test_httpd.py - tl_httpd alone, through build/frontend_httpd_testsrv.

Protocols (HTTP/1.1, h2c, TLS h2 and the http/1.1 fallback) with curl and
nghttp; limits (header bytes, body bytes, connections: the longest-idle
connection evicted at the limit, never a busy one); absolute deadlines
(preface, request head with a byte trickle on HTTP/1.1 and HTTP/2, down to
the bytes of the HEADERS frame's own header, idle) and the minimum body rate
(HTTP/2 and HTTP/1.1); answers from another thread; client aborts; graceful
drain with a request in flight. Usage: test_httpd.py BUILD_DIR
"""
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import shutil
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from tltest import check, summary  # noqa: E402

BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
SRV = os.path.join(BUILD, "frontend_httpd_testsrv")
SCALE = 2 if os.environ.get("TL_SANITIZED") else 1


class Server:
    def __init__(self, *args):
        self.p = subprocess.Popen([SRV, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True)
        line = self.p.stdout.readline()
        if not line.startswith("port "):
            raise RuntimeError("testsrv did not start: " + line + self.p.stderr.read())
        self.port = int(line.split()[1])
        self.url = "http://127.0.0.1:%d" % self.port

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        try:
            rc = self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            rc = -9
        err = self.p.stderr.read()
        if "Sanitizer" in err or "runtime error" in err:
            check(False, "sanitizer report from testsrv:\n" + err[-3000:])
        return rc


def curl(*args, data=None, timeout=20):
    """Returns (status, body) using curl; status 0 when no response."""
    cmd = ["curl", "-s", "-o", "-", "-w", "\n%{http_code}", *args]
    r = subprocess.run(cmd, input=data, capture_output=True, timeout=timeout)
    out = r.stdout
    i = out.rfind(b"\n")
    return int(out[i + 1:] or b"0"), out[:i]


def closed_within(sock, seconds):
    """Reads until EOF/reset; returns the elapsed time or None if still open."""
    sock.settimeout(0.05)
    t0 = time.time()
    while time.time() - t0 < seconds:
        try:
            b = sock.recv(65536)
            if not b:
                return time.time() - t0
        except socket.timeout:
            continue
        except ConnectionResetError:
            return time.time() - t0
    return None


def h2_frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", sid) + payload


PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def h2_frames(buf):
    """Splits complete frames off buf: ([(type, flags, sid, payload)], rest)."""
    out = []
    while len(buf) >= 9 and len(buf) >= 9 + int.from_bytes(buf[:3], "big"):
        ln = int.from_bytes(buf[:3], "big")
        out.append((buf[3], buf[4], int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF, buf[9:9 + ln]))
        buf = buf[9 + ln:]
    return out, buf


def h2_get_block(path):
    """HPACK for GET PATH (static :method/:scheme, literal :path, :authority)."""
    p = path.encode()
    return bytes([0x82, 0x86, 0x04, len(p)]) + p + bytes([0x01, 1]) + b"x"


def h2_watch(sock, seconds, send=None, every=0.05):
    """Calls send() every `every` s (if given) and reads what the server sends
    until it closes the connection or `seconds` pass. Returns (frames seen as
    (elapsed, type, flags, sid, payload), elapsed at close or None)."""
    sock.settimeout(0.02)
    t0 = time.time()
    seen, buf, nxt = [], b"", 0.0
    while time.time() - t0 < seconds:
        now = time.time() - t0
        if send and now >= nxt:
            nxt += every
            try:
                send()
            except (BrokenPipeError, ConnectionResetError):
                return seen, now
        try:
            d = sock.recv(65536)
            if not d:
                return seen, time.time() - t0
            fr, buf = h2_frames(buf + d)
            seen += [(time.time() - t0,) + f for f in fr]
        except socket.timeout:
            pass
        except ConnectionResetError:
            return seen, time.time() - t0
    return seen, None


def main():
    tmp = tempfile.mkdtemp(prefix="tl-httpd-")
    rc = run(tmp)
    if rc == 0:
        shutil.rmtree(tmp, ignore_errors=True)  # kept for inspection on failure
    return rc


def run(tmp):
    s = Server("--max-body", "1000", "--max-header", "4096", "--max-conns", "8",
               "--preface-ms", str(600 * SCALE), "--header-ms", str(400 * SCALE),
               "--body-ms", str(400 * SCALE), "--idle-ms", str(800 * SCALE))
    try:
        # Protocols over cleartext.
        st, b = curl("--http1.1", s.url + "/hello")
        check(st == 200 and b == b"hello http/1.1\n", "HTTP/1.1 request")
        st, b = curl("--http2-prior-knowledge", s.url + "/hello")
        check(st == 200 and b == b"hello h2c\n", "h2c prior-knowledge request")
        r = subprocess.run(["nghttp", s.url + "/hello"], capture_output=True, timeout=20)
        check(r.returncode == 0 and r.stdout == b"hello h2c\n", "nghttp h2c request")
        st, b = curl("--http2-prior-knowledge", "--data-binary", "@-", s.url + "/echo",
                     data=b"x" * 1000)
        check(st == 200 and b == b"x" * 1000, "h2c body at the limit echoed")
        st, b = curl("--http1.1", "--data-binary", "@-", s.url + "/echo", data=b"y" * 1000)
        check(st == 200 and b == b"y" * 1000, "HTTP/1.1 body at the limit echoed")
        st, _ = curl("--http2-prior-knowledge", "--data-binary", "@-", s.url + "/echo",
                     data=b"x" * 1001)
        check(st == 413, "h2c body over the limit: 413 (got %d)" % st)
        st, _ = curl("--http1.1", "--data-binary", "@-", s.url + "/echo", data=b"x" * 5000)
        check(st == 413, "HTTP/1.1 body over the limit: 413 (got %d)" % st)
        st, b = curl("--http2-prior-knowledge", "-H", "X-Test: v1", s.url + "/hdr?x-test")
        check(st == 200 and b == b"v1", "h2c request header seen (lowercase)")
        st, b = curl("--http1.1", "-H", "X-Test: v2", s.url + "/hdr?x-test")
        check(st == 200 and b == b"v2", "HTTP/1.1 request header seen (lowercase)")
        big = "X-Big: " + "a" * 5000
        st, _ = curl("--http2-prior-knowledge", "-H", big, s.url + "/hello")
        check(st == 431, "h2c header list over the limit: 431 (got %d)" % st)
        st, _ = curl("--http1.1", "-H", big, s.url + "/hello")
        check(400 <= st < 500, "HTTP/1.1 headers over the limit: 4xx (got %d)" % st)
        st, b = curl("--http2-prior-knowledge", s.url + "/thread")
        check(st == 200 and b == b"thread\n", "answer from another thread (run_in_loop)")
        st, b = curl("--http1.1", s.url + "/thread")
        check(st == 200 and b == b"thread\n", "HTTP/1.1 answer from another thread")
        # Many streams on one connection, many connections.
        r = subprocess.run(["h2load", "-n", "400", "-c", "4", "-m", "20", s.url + "/hello"],
                           capture_output=True, text=True, timeout=60)
        check("400 succeeded" in r.stdout and "400 2xx" in r.stdout,
              "h2load 400 requests over 4 connections x 20 streams")
        # Client abort: the handler hears about it.
        curl("--http2-prior-knowledge", "--max-time", "0.3", s.url + "/slow?3000")
        time.sleep(0.3)
        st, b = curl("--http2-prior-knowledge", s.url + "/stats")
        check(st == 200 and b.startswith(b"aborts ") and int(b.split()[1]) >= 1,
              "client abort reported to the handler (%r)" % b)

        # HTTP/1.1 client gone before its (late) answer: the server survives.
        curl("--http1.1", "--max-time", "0.3", s.url + "/slow?600")
        time.sleep(0.5)
        st, b = curl("--http1.1", s.url + "/hello")
        check(st == 200, "HTTP/1.1 client abort before the answer is harmless")
        # Streams beyond max_streams are refused: 8 requests at once on a
        # server allowing 5 (sent before our SETTINGS can be acknowledged).
        s5 = Server("--max-streams", "5")
        try:
            c = socket.create_connection(("127.0.0.1", s5.port))
            path = b"/slow?300"
            block = bytes([0x82, 0x86, 0x01, 1]) + b"x" + bytes([0x04, len(path)]) + path
            c.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + h2_frame(4, 0, 0) +
                      b"".join(h2_frame(1, 0x5, 2 * k + 1, block) for k in range(8)))
            refused, answered, buf = set(), set(), b""
            c.settimeout(0.2)
            t0 = time.time()
            while time.time() - t0 < 5 and len(refused) + len(answered) < 8:
                try:
                    d = c.recv(65536)
                except socket.timeout:
                    continue
                if not d:
                    break
                buf += d
                while len(buf) >= 9 and len(buf) >= 9 + int.from_bytes(buf[:3], "big"):
                    ln, ft, fl = int.from_bytes(buf[:3], "big"), buf[3], buf[4]
                    sid = int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF
                    if ft == 3 and int.from_bytes(buf[9:13], "big") == 7:
                        refused.add(sid)
                    if ft == 1 and sid:
                        answered.add(sid)
                    buf = buf[9 + ln:]
            c.close()
            check(len(answered) == 5 and len(refused) == 3,
                  "streams over max_streams refused (%d answered, %d REFUSED_STREAM)"
                  % (len(answered), len(refused)))
        finally:
            s5.stop()

        # Preface deadline: a partial preface, then nothing.
        c = socket.create_connection(("127.0.0.1", s.port))
        c.sendall(b"PRI * HTTP/2.0\r\n")
        t = closed_within(c, 3 * SCALE)
        check(t is not None and t < 1.5 * SCALE, "partial preface closed at the deadline (%s)" % t)
        c.close()
        # HTTP/1.1 request head trickled one byte every 50 ms: closed at the
        # absolute head deadline (400 ms), not kept alive by traffic.
        c = socket.create_connection(("127.0.0.1", s.port))
        c.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n")
        t0 = time.time()
        closed = None
        c.settimeout(0.05)
        while time.time() - t0 < 4 * SCALE:
            try:
                c.sendall(b"X-Slow: a\r\n"[int((time.time() - t0) * 20) % 10:][:1])
                b = c.recv(4096)
                if not b:
                    closed = time.time() - t0
                    break
            except socket.timeout:
                continue
            except (ConnectionResetError, BrokenPipeError):
                closed = time.time() - t0
                break
        check(closed is not None and closed < 0.75 * SCALE,
              "HTTP/1.1 trickled head closed at the deadline (%s)" % closed)
        c.close()
        # HTTP/2 header block trickled in CONTINUATION frames: RST/close at the
        # header deadline.
        c = socket.create_connection(("127.0.0.1", s.port))
        c.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + h2_frame(4, 0, 0))
        # :method GET, :path /, :scheme http; then a literal "x-a" with a long value
        c.sendall(h2_frame(1, 0x1, 1, bytes([0x82, 0x84, 0x86, 0x01, 1]) + b"x" + bytes([0x00, 3]) + b"x-a" + bytes([100])))
        t0 = time.time()
        got = None
        c.settimeout(0.05)
        buf = b""
        while time.time() - t0 < 4 * SCALE and got is None:
            try:
                c.sendall(h2_frame(9, 0, 1, b"v"))
            except (BrokenPipeError, ConnectionResetError):
                got = time.time() - t0
                break
            try:
                d = c.recv(65536)
                if not d:
                    got = time.time() - t0
                    break
                buf += d
                while len(buf) >= 9:
                    ln = int.from_bytes(buf[:3], "big")
                    if len(buf) < 9 + ln:
                        break
                    if buf[3] in (3, 7):  # RST_STREAM or GOAWAY
                        got = time.time() - t0
                    buf = buf[9 + ln:]
            except socket.timeout:
                pass
            except ConnectionResetError:
                got = time.time() - t0
            time.sleep(0.05)
        check(got is not None and got < 2.5 * SCALE,
              "HTTP/2 trickled header block stopped at the deadline (%s)" % got)
        c.close()
        # An HTTP/1.1 request pipelined behind a slow one (600 ms, longer than
        # the 400 ms head deadline; times x SCALE), its head's end sent at
        # 700 ms: its clock starts once the slow one is answered, so it is
        # served.
        c = socket.create_connection(("127.0.0.1", s.port))
        c.sendall(b"GET /slow?%d HTTP/1.1\r\nHost: x\r\n\r\n" % (600 * SCALE))
        time.sleep(0.1 * SCALE)
        c.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n")
        time.sleep(0.6 * SCALE)
        c.sendall(b"\r\n")
        c.settimeout(3 * SCALE)
        got = b""
        try:
            while got.count(b"HTTP/1.1 200") < 2 or not got.endswith(b"hello http/1.1\n"):
                d = c.recv(65536)
                if not d:
                    break
                got += d
        except (socket.timeout, ConnectionResetError):
            pass
        check(got.count(b"HTTP/1.1 200") == 2 and b"slow\n" in got and b"hello http/1.1" in got,
              "HTTP/1.1 request pipelined behind a slow one timed from its answer (%r)" % got[-60:])
        c.close()
        # HTTP/2: the bytes of a HEADERS frame itself, its 9-byte frame header
        # first, trickled one every 100 ms (3.3 s for the frame): GOAWAY and
        # close at the head deadline, 400 ms from the first byte, not a mere
        # reset of the stream once its frame header is in.
        c = socket.create_connection(("127.0.0.1", s.port))
        c.sendall(PREFACE + h2_frame(4, 0, 0))
        hf = h2_frame(1, 0x5, 1, h2_get_block("/hello") + bytes([0x00, 3]) + b"x-a" + bytes([5]) + b"vvvvv")
        left = [hf]

        def one():
            if left[0]:
                c.sendall(left[0][:1])
                left[0] = left[0][1:]
        seen, t = h2_watch(c, 5 * SCALE, one, 0.1)
        goaway = [f for f in seen if f[1] == 7]
        # (ENHANCE_YOUR_CALM: the head deadline's, not the idle one's NO_ERROR)
        check(t is not None and t < 1.5 * SCALE and goaway and goaway[0][0] < 0.75 * SCALE and
              goaway[0][4][4:8] == b"\0\0\0\x0b" and len(left[0]) > 0,
              "HTTP/2 HEADERS frame trickled byte by byte: GOAWAY and close at the head "
              "deadline (closed %s, GOAWAY %s)"
              % (t, (goaway[0][0], goaway[0][4][4:8]) if goaway else None))
        c.close()
        # HTTP/2 request body trickled in 1-byte DATA frames: RST at the body
        # deadline (400 ms after the head), not kept alive by the trickle.
        c = socket.create_connection(("127.0.0.1", s.port))
        path = b"/echo"
        block = bytes([0x83, 0x86, 0x01, 1]) + b"x" + bytes([0x04, len(path)]) + path
        c.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + h2_frame(4, 0, 0) + h2_frame(1, 0x4, 1, block))
        t0 = time.time()
        got = None
        c.settimeout(0.05)
        buf = b""
        while time.time() - t0 < 4 * SCALE and got is None:
            try:
                c.sendall(h2_frame(0, 0, 1, b"b"))
                d = c.recv(65536)
                if not d:
                    got = time.time() - t0
                buf += d
                while len(buf) >= 9 and len(buf) >= 9 + int.from_bytes(buf[:3], "big"):
                    if buf[3] == 3:
                        got = time.time() - t0
                    buf = buf[9 + int.from_bytes(buf[:3], "big"):]
            except socket.timeout:
                pass
            except (ConnectionResetError, BrokenPipeError):
                got = time.time() - t0
            time.sleep(0.05)
        check(got is not None and 0.3 * SCALE < got < 2.5 * SCALE,
              "HTTP/2 trickled body stopped at the body deadline (%s)" % got)
        c.close()
        # A header flood (over 4x the limit in one block) drops the connection
        # at once, before any deadline.
        c = socket.create_connection(("127.0.0.1", s.port))
        field = bytes([0x00, 3]) + b"x-a" + bytes([100]) + b"v" * 100
        block = bytes([0x82, 0x84, 0x86, 0x01, 1]) + b"x" + field * 200
        frames = h2_frame(1, 0x1, 1, block[:16000]) + h2_frame(9, 0x4, 1, block[16000:])
        t0 = time.time()
        c.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + h2_frame(4, 0, 0) + frames)
        t = closed_within(c, 3)
        check(t is not None and t < 0.3 * SCALE, "HTTP/2 header flood drops the connection (%s)" % t)
        c.close()
        # Idle deadline: an h2c connection with no stream is closed.
        c = socket.create_connection(("127.0.0.1", s.port))
        c.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + h2_frame(4, 0, 0))
        t = closed_within(c, 4 * SCALE)
        check(t is not None and 0.5 * SCALE < t < 2.5 * SCALE, "idle h2c connection closed (%s)" % t)
        c.close()
        time.sleep(0.3)
        st, _ = curl("--http1.1", s.url + "/hello")
        check(st == 200, "serving again after the extra connections closed")

        # Graceful drain: a slow request in flight still gets its answer.
        res = {}

        def slow():
            res["h2"] = curl("--http2-prior-knowledge", s.url + "/slow?700")

        def slow1():
            res["h1"] = curl("--http1.1", s.url + "/slow?600")
        th = [threading.Thread(target=slow), threading.Thread(target=slow1)]
        for x in th:
            x.start()
        time.sleep(0.25)
        s.p.send_signal(signal.SIGTERM)
        time.sleep(0.1)
        st, _ = curl("--http1.1", "--max-time", "2", s.url + "/hello")
        check(st == 0, "no new connections while draining")
        for x in th:
            x.join()
        check(res.get("h2") == (200, b"slow\n"), "h2c request in flight answered during drain")
        check(res.get("h1") == (200, b"slow\n"), "HTTP/1.1 request in flight answered during drain")
        try:
            rc = s.p.wait(10)
        except subprocess.TimeoutExpired:
            rc = None
        check(rc == 0, "server exits 0 after draining (%s)" % rc)
        s.stop()
    finally:
        s.stop()

    # Eviction at max_conns (8), on a server whose idle deadline (60 s) stays
    # out of the way: the longest-idle connection goes, a connection with a
    # request in flight stays, the new client is served.
    s = Server("--max-conns", "8", "--idle-ms", "60000")
    try:
        old = socket.create_connection(("127.0.0.1", s.port))  # idle longest
        old.sendall(PREFACE + h2_frame(4, 0, 0))
        time.sleep(0.05)
        busy = socket.create_connection(("127.0.0.1", s.port))  # a request in flight
        busy.sendall(PREFACE + h2_frame(4, 0, 0) +
                     h2_frame(1, 0x5, 1, h2_get_block("/slow?%d" % (1500 * SCALE))))
        h1 = socket.create_connection(("127.0.0.1", s.port))  # HTTP/1.1, between requests
        h1.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        h1.settimeout(2 * SCALE)
        check(b"hello http/1.1" in h1.recv(4096), "HTTP/1.1 keep-alive connection served")
        time.sleep(0.05)
        rest = []

        def idle_one():
            x = socket.create_connection(("127.0.0.1", s.port))
            x.sendall(PREFACE + h2_frame(4, 0, 0))
            rest.append(x)
            time.sleep(0.05)
        for _ in range(5):
            idle_one()  # 8 open: old, busy, h1, 5 more
        st, b = curl("--http2-prior-knowledge", s.url + "/hello")
        check(st == 200 and b == b"hello h2c\n", "a new client at max_conns is served (%d)" % st)
        seen, t = h2_watch(old, 1.0 * SCALE)
        check(any(f[1] == 7 and f[4][4:8] == b"\0\0\0\0" for f in seen) and t is not None,
              "the longest-idle connection got GOAWAY(NO_ERROR) and was closed (%s, %s)"
              % ([f[1] for f in seen], t))
        idle_one()  # 8 open again
        st, b = curl("--http1.1", s.url + "/hello")
        check(st == 200, "a second new client at max_conns is served (%d)" % st)
        h1.settimeout(1.0 * SCALE)
        try:
            gone = h1.recv(4096) == b""
        except (socket.timeout, ConnectionResetError):
            gone = False
        check(gone, "the next longest-idle connection (HTTP/1.1, between requests) was closed")
        seen, t = h2_watch(busy, 3.0 * SCALE)
        kinds = [f[1] for f in seen if f[1] in (0, 1, 7)]  # DATA, HEADERS, GOAWAY
        check(kinds[:2] == [1, 0],
              "the connection with a request in flight was kept and answered (%s)" % kinds)
        for x in [old, busy, h1] + rest:
            x.close()
        time.sleep(0.2)
        # With every connection busy, a new one is refused at once.
        busy = []
        for _ in range(8):
            x = socket.create_connection(("127.0.0.1", s.port))
            x.sendall(PREFACE + h2_frame(4, 0, 0) +
                      h2_frame(1, 0x5, 1, h2_get_block("/slow?%d" % (1000 * SCALE))))
            busy.append(x)
        time.sleep(0.2 * SCALE)
        extra = socket.create_connection(("127.0.0.1", s.port))
        t = closed_within(extra, 0.5 * SCALE)
        check(t is not None, "connection over max_conns with none idle closed at once (%s)" % t)
        extra.close()
        for x in busy:
            x.close()
    finally:
        s.stop()

    # Minimum body rate: a body at ~10 bytes/s, far below 1000 bytes/s, is
    # cut off after the 5 s allowance, long before the 60 s body deadline:
    # HTTP/2 with a 408 and its reason, then RST_STREAM(NO_ERROR); HTTP/1.1
    # by closing the connection.
    s = Server("--body-ms", "60000", "--body-min-rate", "1000", "--max-body", "100000")
    try:
        res = {}

        def h2_slow():
            c = socket.create_connection(("127.0.0.1", s.port))
            path = b"/echo"
            block = bytes([0x83, 0x86, 0x04, len(path)]) + path + bytes([0x01, 1]) + b"x"
            c.sendall(PREFACE + h2_frame(4, 0, 0) + h2_frame(1, 0x4, 1, block))
            res["h2"] = h2_watch(c, 15 * SCALE, lambda: c.sendall(h2_frame(0, 0, 1, b"b")), 0.1)
            c.close()

        def h1_slow():
            c = socket.create_connection(("127.0.0.1", s.port))
            c.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n")
            res["h1"] = h2_watch(c, 15 * SCALE, lambda: c.sendall(b"b"), 0.1)
            c.close()
        th = [threading.Thread(target=h2_slow), threading.Thread(target=h1_slow)]
        for x in th:
            x.start()
        for x in th:
            x.join()
        seen, t = res["h2"]
        hdr = [f for f in seen if f[1] == 1 and f[3] == 1]
        data = b"".join(f[4] for f in seen if f[1] == 0 and f[3] == 1)
        rst = [f for f in seen if f[1] == 3 and f[3] == 1]
        check(hdr and 4.5 < hdr[0][0] < 10 * SCALE and hdr[0][4][:1] != b"\x88" and
              data == b"request body too slow\n" and rst and rst[0][4] == b"\0\0\0\0",
              "HTTP/2 body below the minimum rate: 408 with its reason, then RST_STREAM(NO_ERROR) "
              "(%s, %r, %s)" % (hdr[0][0] if hdr else None, data, [f[4] for f in rst]))
        seen, t = res["h1"]
        check(t is not None and 4.5 < t < 10 * SCALE,
              "HTTP/1.1 body below the minimum rate: closed after the allowance (%s)" % t)
        st, b = curl("--http1.1", "--data-binary", "@-", s.url + "/echo", data=b"q" * 50000)
        check(st == 200 and len(b) == 50000, "a body at full speed is not cut off")
    finally:
        s.stop()

    # TLS: ALPN h2 and the http/1.1 fallback.
    cert, key = os.path.join(tmp, "c.pem"), os.path.join(tmp, "k.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=DNS:localhost,IP:127.0.0.1"], check=True,
                   capture_output=True)
    s = Server("--tls-cert", cert, "--tls-key", key, "--handshake-ms", str(500 * SCALE))
    try:
        u = "https://localhost:%d" % s.port
        st, b = curl("--cacert", cert, "--http2", u + "/hello")
        check(st == 200 and b == b"hello h2\n", "TLS ALPN h2")
        st, b = curl("--cacert", cert, "--http1.1", u + "/hello")
        check(st == 200 and b == b"hello http/1.1\n", "TLS http/1.1 fallback")
        st, b = curl("--cacert", cert, "--http2", "--data-binary", "@-", u + "/echo",
                     data=b"z" * 500)
        check(st == 200 and b == b"z" * 500, "TLS h2 POST body")
        r = subprocess.run(["h2load", "-n", "200", "-c", "2", "-m", "10", u + "/hello"],
                           capture_output=True, text=True, timeout=60)
        check("200 succeeded" in r.stdout, "h2load over TLS")
        c = socket.create_connection(("127.0.0.1", s.port))
        c.sendall(b"\x16\x03\x01")  # start of a ClientHello, never finished
        t = closed_within(c, 3 * SCALE)
        check(t is not None and t < 1.5 * SCALE, "stalled TLS handshake closed at the deadline (%s)" % t)
        c.close()
    finally:
        check(s.stop() == 0, "TLS server exits 0")
    return summary("httpd")


if __name__ == "__main__":
    sys.exit(main())
