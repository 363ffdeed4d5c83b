#!/usr/bin/env python3
"""test_browser.py - the web console in a real browser: Debian's chromium,
headless, driven by puppeteer-core (browser.js) against real processes on
loopback: tlogd with an audit log and a policy of one tlog-witness, events
recorded over HTTP (one of them with an actor id that is an HTML injection),
and a proxy of this test in front of tlogd that tampers with answers on
request (a byte of the event, the proof or the checkpoint), or drops them.

This script starts the processes, records the events, runs the proxy and
browser.js, and checks what browser.js reports; browser.js checks the pages
against the API itself (see its header). Screenshots go to
BUILD_DIR/console-artifacts/.

Usage: test_browser.py BUILD_DIR
"""
import http.client
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "pylib"))
from tltest import check, mkdtemp, summary  # noqa: E402

BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
TMP = mkdtemp("tl-console-browser-")
ORIGIN = "example.test/console-browser"
XSS = "<img src=x onerror=window.__xss=1>"
SANITIZED = os.environ.get("TL_SANITIZED") == "1"
PUPPETEER = os.environ.get("TL_PUPPETEER_DIR") or os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
    "tlogd-test", "puppeteer")
PROCS = []


def start(args, name):
    """Starts a server listening on 127.0.0.1:0; returns its port."""
    log = open(os.path.join(TMP, name + ".log"), "ab")
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=log)
    PROCS.append((p, name))
    deadline = time.time() + (60 if SANITIZED else 15)
    while time.time() < deadline:
        with open(os.path.join(TMP, name + ".log"), "rb") as f:
            m = re.findall(rb"port (\d+)", f.read())
        if m and int(m[-1]):
            return int(m[-1])
        if p.poll() is not None:
            break
        time.sleep(0.05)
    raise RuntimeError("%s did not start" % name)


def run(*args):
    r = subprocess.run(list(args), capture_output=True, timeout=60)
    if r.returncode:
        raise RuntimeError("%s: %s" % (args, r.stderr.decode()))
    return r.stdout.decode().strip()


def request(port, method, path, body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def post_events(port, token, events):
    st, body = request(port, "POST", "/audit/v1/events", json.dumps(events),
                       {"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    if st != 200:
        raise RuntimeError("POST /audit/v1/events: %d %r" % (st, body[:200]))
    return [json.loads(r["record"])["time"] for r in json.loads(body)["receipts"]]


def event(actor, action, rid, outcome="success", **extra):
    e = {"actor": {"id": actor, "type": "user"}, "action": action,
         "resource": {"type": "order", "id": rid}, "outcome": outcome}
    e.update(extra)
    return e


# ---- the tampering proxy ------------------------------------------------------

MODE = {"mode": "none"}


def flip_b64(s, i):
    """s with its i-th base64 character replaced by another one."""
    c = s[i]
    return s[:i] + ("A" if c != "A" else "B") + s[i + 1:]


def tamper_note(note):
    """The note with a byte of its log signature changed."""
    lines = note.split("\n")
    for k, line in enumerate(lines):
        if line.startswith("\u2014 " + ORIGIN + " "):
            lines[k] = flip_b64(line, len(line) - 12)
            break
    return "\n".join(lines)


def tamper(path, body):
    mode = MODE["mode"]
    if mode == "quorum" and path == "/console/v1/status":
        # a policy that wants w2 too, which never cosigned: the page must
        # decide the quorum from what it verified, not from the server's word
        j = json.loads(body)
        j["quorum"]["rule"] = {"groups": [{"name": "both", "k": 2, "members": [
            {"witness": "w1"}, {"witness": "w2"}]}], "root": {"group": 0}}
        return json.dumps(j).encode()
    if mode in ("none", "quorum") or not path.startswith("/audit/v1/events"):
        return body
    j = json.loads(body)
    if "events" in j:  # a search page
        for e in j["events"]:
            if mode == "event":
                e["event"]["actor"]["id"] = e["event"]["actor"]["id"] + "x"
            elif mode == "proof" and e["inclusion_proof"]:
                e["inclusion_proof"][0] = flip_b64(e["inclusion_proof"][0], 5)
        if mode == "checkpoint":
            j["checkpoint"] = tamper_note(j["checkpoint"])
    else:  # a receipt
        if mode == "event":
            j["event"]["actor"]["id"] = j["event"]["actor"]["id"] + "x"
        elif mode == "proof":
            head, _, note = j["proof"].partition("\n\n")
            lines = head.split("\n")
            k = next(i for i, line in enumerate(lines) if line.startswith("index ")) + 1
            lines[k] = flip_b64(lines[k], 5)
            j["proof"] = "\n".join(lines) + "\n\n" + note
        elif mode == "checkpoint":
            head, _, note = j["proof"].partition("\n\n")
            j["proof"] = head + "\n\n" + tamper_note(note)
    return json.dumps(j).encode()


def proxy(upstream):
    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_GET(self):
            if self.path.startswith("/__tamper?mode="):
                MODE["mode"] = self.path.split("=", 1)[1]
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if MODE["mode"] == "down":
                self.close_connection = True
                self.connection.close()
                return
            c = http.client.HTTPConnection("127.0.0.1", upstream, timeout=30)
            hdrs = {k: v for k, v in self.headers.items()
                    if k.lower() not in ("host", "connection", "if-none-match")}
            c.request("GET", self.path, headers=hdrs)
            r = c.getresponse()
            body = r.read()
            if r.status == 200:
                body = tamper(self.path.split("?")[0], body)
            self.send_response(r.status)
            for k, v in r.getheaders():
                if k.lower() not in ("content-length", "connection", "transfer-encoding", "date"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            c.close()

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def rfc3339(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms // 1000))


def main():
    tlogd, witness = os.path.join(BUILD, "tlogd"), os.path.join(BUILD, "tlog-witness")
    r = subprocess.run(["sh", os.path.join(HERE, "puppeteer_install.sh"), PUPPETEER])
    check(r.returncode == 0, "puppeteer-core is installed in the test cache")
    logdir, wdir = os.path.join(TMP, "log"), os.path.join(TMP, "w1")
    logvkey = run(tlogd, "init", "--dir", logdir, "--origin", ORIGIN, "--kind", "audit")
    wvkey = run(witness, "init", "--dir", wdir, "--name", "w1.example")
    with open(os.path.join(TMP, "logs"), "w") as f:
        f.write("%s %s\n" % (ORIGIN, logvkey))
    wport = start([witness, "serve", "--dir", wdir, "--logs", os.path.join(TMP, "logs"),
                   "--listen", "127.0.0.1:0"], "witness")
    pol = os.path.join(TMP, "policy")
    with open(pol, "w") as f:
        f.write("log %s\nwitness w1 %s http://127.0.0.1:%d\nquorum w1\n" % (logvkey, wvkey, wport))
    writer = run(tlogd, "token", "add", "--dir", logdir, "--name", "ingest", "--role", "writer")
    reader = run(tlogd, "token", "add", "--dir", logdir, "--name", "auditor", "--role", "reader")
    port = start([tlogd, "serve", "--dir", logdir, "--listen", "127.0.0.1:0", "--policy", pol,
                  "--batch-interval", "5"], "tlogd")

    # Batch A: alice, bob and the injection; then, in a later second, batch B.
    ta = post_events(port, writer, [event("alice", "order.create", str(i)) for i in range(5)] +
                     [event("bob", "order.cancel", "9", "denied", time="2026-12-01T10:00:00.000Z")] +
                     [event(XSS, "order.view", "<b>7</b>", "failure")] +
                     # JCS in the page: keys sorted by UTF-16 code units ("\uff5e" after
                     # the surrogates of "\U0001f600", unlike code point order)
                     [event("dana", "order.note", "3", details={
                         "z": 1, "\u00e9": "\u00fc", "\U0001f600": "x", "\uff5e": "y",
                         "a": [1, {"b": -5, "c": None, "d": True}], "q": "\"\\\n\u2028"})])
    time.sleep(1.05 - (time.time() % 1.0) + 0.05)
    tb = post_events(port, writer, [event("carol", "order.refund", str(i)) for i in range(4)] +
                     [event("alice", "order.close", "4")])
    check(max(ta) // 1000 < min(tb) // 1000, "the two batches are in different seconds")

    px = proxy(port)
    art = os.path.join(BUILD, "console-artifacts")
    os.makedirs(art, exist_ok=True)
    cfg = {"base": "http://127.0.0.1:%d" % port,
           "proxy": "http://127.0.0.1:%d" % px.server_address[1],
           "reader": reader, "writer": writer, "xss": XSS, "origin": ORIGIN,
           "since": rfc3339(min(ta)), "until": rfc3339(min(tb)), "batch_a": len(ta),
           "artifacts": art, "tmp": TMP, "chromium": shutil.which("chromium"),
           "slow": SANITIZED}
    env = dict(os.environ, NODE_PATH=os.path.join(PUPPETEER, "node_modules"))
    try:
        r = subprocess.run(["node", os.path.join(HERE, "browser.js"), json.dumps(cfg)],
                           env=env, capture_output=True, text=True, timeout=150)
        out = r.stdout
        sys.stderr.write(r.stderr[-4000:])
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        check(False, "browser.js finished in time")
    for line in out.splitlines():
        if line.startswith("ok ") or line.startswith("FAIL "):
            check(line.startswith("ok "), line.split(" ", 1)[1].strip())
        else:
            print(line)
    check("browser.js done" in out, "browser.js ran to its end")
    px.shutdown()
    for p, name in PROCS:
        p.terminate()
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
        with open(os.path.join(TMP, name + ".log"), errors="replace") as f:
            log = f.read()
        check(not re.search(r"Sanitizer|runtime error", log), name + ": no sanitizer report")
        check(reader not in log and writer not in log, name + ": no token in its log")
    shutil.rmtree(TMP, ignore_errors=True)
    return summary("console browser")


if __name__ == "__main__":
    sys.exit(main())
