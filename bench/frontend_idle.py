#!/usr/bin/env python3
"""frontend_idle.py - memory of a server under N idle connections.

Opens N TCP connections to HOST:PORT; on each it sends the HTTP/2 client
preface and an empty SETTINGS frame (so the server holds a full HTTP/2
session per connection, the expensive case), keeps them open, and reports
the server's VmRSS (from /proc/PID/status) before and after, per connection,
and whether a request on a fresh connection still succeeds meanwhile.

    frontend_idle.py PID PORT [N]
"""
import socket
import subprocess
import sys
import time


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    pid, port = int(sys.argv[1]), int(sys.argv[2])
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 10000
    before = rss_kib(pid)
    socks = []
    preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
    t0 = time.time()
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(preface)
        socks.append(s)
    time.sleep(2)
    alive = 0
    for s in socks:
        s.setblocking(False)
        try:
            d = s.recv(65536)
            alive += len(d) > 0  # the server's SETTINGS arrived
        except BlockingIOError:
            alive += 1
    after = rss_kib(pid)
    r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{time_total}",
                        "--http2-prior-knowledge", "http://127.0.0.1:%d/checkpoint" % port],
                       capture_output=True, text=True)
    print("idle connections: %d opened in %.1f s, %d answered SETTINGS" % (n, time.time() - t0, alive))
    print("server RSS: %.1f MiB before, %.1f MiB with %d idle h2c connections (%.1f KiB each)"
          % (before / 1024, after / 1024, n, (after - before) / n))
    print("a request meanwhile: status %s" % r.stdout)
    for s in socks:
        s.close()


if __name__ == "__main__":
    main()
