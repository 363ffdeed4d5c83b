#!/usr/bin/env python3
"""k8s_bench.py - POST /audit/v1/k8s as a kube-apiserver's webhook drives it:
EventLists of 400 Metadata-level items (~0.7 KiB each, distinct auditIDs, so
every event is new) to a fresh audit log served by `tlogd serve` on
loopback, HTTP/1.1 keep-alive, a writer token.

  bench/k8s_bench.py BUILD_DIR [SECONDS] [CONNECTIONS...]

1. Paced: 10 lists/s (the webhook's default --audit-webhook-batch-throttle-qps)
   for SECONDS (default 10): latency of each list from the first byte sent to
   its {"accepted": 400} (p50, p90, p99, max).
2. Sustained: for each number of connections (default 1 2 4), each sending
   its next list as soon as the last is answered, for SECONDS: lists/s,
   events/s and latency.
Prints one line per run; every answer must be 200 {"accepted": 400}.
"""
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

BUILD = os.path.abspath(sys.argv[1])
SECONDS = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
CONNS = [int(c) for c in sys.argv[3:]] or [1, 2, 4]
TLOGD = os.path.join(BUILD, "tlogd")
ITEMS = 400

ITEM = {"level": "Metadata", "auditID": "@ID@", "stage": "ResponseComplete",
        "requestURI": "/api/v1/namespaces/team-a/pods/web-7d4b9c6f5-x2k8q",
        "verb": "get", "user": {"username": "system:serviceaccount:team-a:deployer",
                                "uid": "5f0c2a9e-3b1d-4c7e-9a8f-1e2d3c4b5a69",
                                "groups": ["system:serviceaccounts",
                                           "system:serviceaccounts:team-a",
                                           "system:authenticated"]},
        "sourceIPs": ["10.244.3.17"], "userAgent": "kubectl/v1.30.2 (linux/amd64) kubernetes/39683505",
        "objectRef": {"resource": "pods", "namespace": "team-a", "name": "web-7d4b9c6f5-x2k8q",
                      "apiVersion": "v1"},
        "responseStatus": {"metadata": {}, "code": 200},
        "requestReceivedTimestamp": "2026-12-02T06:00:00.123456Z",
        "stageTimestamp": "2026-12-02T06:00:00.125678Z",
        "annotations": {"authorization.k8s.io/decision": "allow",
                        "authorization.k8s.io/reason": "RBAC: allowed by RoleBinding "
                        "\"deployer/team-a\" of Role \"deployer\" to ServiceAccount "
                        "\"deployer/team-a\""}}
PARTS = json.dumps(ITEM, separators=(",", ":")).split("@ID@")
HEAD = b'{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":['

counter = [0]
lock = threading.Lock()


def next_list():
    with lock:
        n = counter[0]
        counter[0] += 1
    items = ",".join(PARTS[0] + "%08x-%04x-4000-8000-%012x" % (n, i, n * ITEMS + i) + PARTS[1]
                     for i in range(ITEMS))
    return HEAD + items.encode() + b"]}"


class Client:
    def __init__(self, port, token):
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.h = {"Content-Type": "application/json", "Authorization": "Bearer " + token}

    def post(self, body):
        t0 = time.monotonic()
        self.c.request("POST", "/audit/v1/k8s", body=body, headers=self.h)
        r = self.c.getresponse()
        data = r.read()
        dt = time.monotonic() - t0
        if r.status != 200 or data != b'{"accepted":%d}' % ITEMS:
            raise RuntimeError("answer %d %r" % (r.status, data[:200]))
        return dt


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))] * 1000


def report(label, lat, wall):
    print("%-26s lists %5d  %6.1f lists/s  %8.0f events/s  p50 %6.1f ms  p90 %6.1f ms  "
          "p99 %6.1f ms  max %6.1f ms" % (label, len(lat), len(lat) / wall,
                                          len(lat) * ITEMS / wall, pct(lat, 50), pct(lat, 90),
                                          pct(lat, 99), max(lat) * 1000), flush=True)


def paced(port, token, rate):
    c = Client(port, token)
    lat = []
    bodies = [next_list() for _ in range(int(SECONDS * rate))]
    t0 = time.monotonic()
    for i, b in enumerate(bodies):
        wait = t0 + i / rate - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        lat.append(c.post(b))
    report("paced %g lists/s" % rate, lat, time.monotonic() - t0)


def sustained(port, token, n):
    lat, errs = [], []
    stop = time.monotonic() + SECONDS

    def run():
        c = Client(port, token)
        try:
            while time.monotonic() < stop:
                b = next_list()
                dt = c.post(b)
                with lock:
                    lat.append(dt)
        except Exception as e:  # noqa: BLE001 - reported below
            errs.append(str(e))
    ts = [threading.Thread(target=run) for _ in range(n)]
    t0 = time.monotonic()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errs:
        print("errors: %s" % errs[:3])
    report("sustained, %d connection%s" % (n, "s" if n > 1 else ""), lat, time.monotonic() - t0)


def main():
    tmp = tempfile.mkdtemp(prefix="tlog-k8s-bench-", dir=os.environ.get("TMPDIR"))
    d = os.path.join(tmp, "log")
    subprocess.run([TLOGD, "init", "--dir", d, "--origin", "bench.example/k8s", "--kind",
                    "audit"], check=True, capture_output=True)
    token = subprocess.run([TLOGD, "token", "add", "--dir", d, "--name", "kube-apiserver",
                            "--role", "writer"], check=True, capture_output=True,
                           text=True).stdout.strip()
    err = open(os.path.join(tmp, "tlogd.err"), "w+")
    p = subprocess.Popen([TLOGD, "serve", "--dir", d, "--listen", "127.0.0.1:0"], stderr=err)
    try:
        port = None
        for _ in range(300):
            err.seek(0)
            m = re.findall(r"\(port (\d+)\)", err.read())
            if m:
                port = int(m[-1])
                break
            time.sleep(0.05)
        if not port:
            raise RuntimeError("tlogd did not start")
        print("list: %d items, %d bytes; tlogd defaults (--batch-interval 25, --batch-max 4096)"
              % (ITEMS, len(next_list())), flush=True)
        paced(port, token, 10)
        for n in CONNS:
            sustained(port, token, n)
        du = subprocess.run(["du", "-sh", d], capture_output=True, text=True).stdout.split()[0]
        print("events recorded: %d, log size %s" % (counter[0] * ITEMS - ITEMS, du))
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(60)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
