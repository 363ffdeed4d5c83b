#!/usr/bin/env python3
"""test_syslog.py - syslog into an audit log end to end, with the real senders:
util-linux `logger` (RFC 5424 with an audit@32473 element, octet counting and
LF framing; RFC 3164), rsyslog 8 run unprivileged from a config written here
(imtcp in, omfwd out over TCP, and over TLS with the gtls driver and a client
certificate of a test CA made with openssl), and raw sockets for what senders
rarely do (several frames in one write, a frame split across writes, an
oversize frame, garbage, a half frame left at the close, a half frame that
stalls). Each part sends a known set of messages, then reads the log back
through GET /audit/v1/events with a reader token and checks that every one
is recorded exactly once with the members the contract's mapping gives.

Usage: test_syslog.py BUILD_DIR
"""
import atexit
import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "pylib"))
from tltest import check, free_port, mkdtemp, summary  # noqa: E402

BUILD = os.path.abspath(sys.argv[1])
TLOGD = os.path.join(BUILD, "tlogd")
TMP = mkdtemp("tlog-syslog-")
SLOW = 3 if os.environ.get("TL_SANITIZED") else 1
PROCS = []  # what this test started: killed at exit if still running


@atexit.register
def _reap():
    for p in PROCS:
        if p.poll() is None:
            p.kill()
            p.wait()


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def run(*args, **kw):
    r = subprocess.run(list(args), capture_output=True, text=True, **kw)
    if r.returncode != 0:
        fail("%s: %s" % (" ".join(args), r.stderr))
    return r.stdout


# ---- a test CA, the server's certificate and a client's ----------------------

def make_certs():
    d = os.path.join(TMP, "pki")
    os.mkdir(d)
    p = lambda n: os.path.join(d, n)  # noqa: E731
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", p("ca.key"), "-out", p("ca.pem"), "-days", "2", "-subj",
        "/CN=tlogd test CA", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    for name, cn, ext in (("server", "localhost",
                           "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth"),
                          ("client", "rsyslog-client",
                           "subjectAltName=DNS:rsyslog-client\nextendedKeyUsage=clientAuth")):
        run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", p(name + ".key"), "-out", p(name + ".csr"), "-subj", "/CN=" + cn)
        with open(p(name + ".ext"), "w") as f:
            f.write(ext + "\n")
        run("openssl", "x509", "-req", "-in", p(name + ".csr"), "-CA", p("ca.pem"), "-CAkey",
            p("ca.key"), "-CAcreateserial", "-out", p(name + ".pem"), "-days", "2",
            "-extfile", p(name + ".ext"))
    return p


# ---- tlogd -------------------------------------------------------------------

class Tlogd:
    def __init__(self, name, *extra, again=None):
        if again:
            self.dir, self.reader = again.dir, again.reader
        else:
            self.dir = os.path.join(TMP, name)
            run(TLOGD, "init", "--dir", self.dir, "--origin", "example.com/" + name, "--kind",
                "audit")
            self.reader = run(TLOGD, "token", "add", "--dir", self.dir, "--name", "auditor",
                              "--role", "reader").strip()
        self.errpath = os.path.join(TMP, name + (".again" if again else "") + ".err")
        self.err = open(self.errpath, "w+")
        self.p = subprocess.Popen([TLOGD, "serve", "--dir", self.dir, "--listen", "127.0.0.1:0",
                                   "--batch-interval", "5", *extra], stderr=self.err)
        PROCS.append(self.p)
        self.ports = {}
        for _ in range(300):
            text = self.log()
            if "relp" in " ".join(extra) and "relp: listening" not in text:
                time.sleep(0.05)
                continue
            for kind, port in re.findall(r"listening on (tcp|tls) \S+ \(port (\d+)\)", text):
                self.ports[kind] = int(port)
            for port in re.findall(r"relp: listening on \S+ \(port (\d+)\)", text):
                self.ports["relp"] = int(port)
            m = re.findall(r"serving .* \(port (\d+)\)", text)
            if m:
                self.ports["http"] = int(m[-1])
                return
            if self.p.poll() is not None:
                break
            time.sleep(0.05)
        fail("tlogd did not start: " + self.log())

    def log(self):
        self.err.seek(0)
        return self.err.read()

    def events(self):
        """Every event sources sent (not the log's own access records), oldest first."""
        out, cursor = [], None
        while True:
            url = "http://127.0.0.1:%d/audit/v1/events?limit=1000" % self.ports["http"]
            if cursor:
                url += "&cursor=" + cursor
            r = subprocess.run(["curl", "-sS", "-H", "Authorization: Bearer " + self.reader,
                                url], capture_output=True)
            if r.returncode != 0:
                fail("curl: " + r.stderr.decode())
            try:
                page = json.loads(r.stdout)
            except ValueError:
                fail("GET /audit/v1/events: not JSON: %r" % r.stdout[:200])
            out += [e["event"] for e in page["events"] if e["event"]["submitter"] != "@log"]
            cursor = page.get("next")
            if not cursor:
                return out[::-1]

    def wait_for(self, pred, n, what, secs=20):
        """Waits until n events match pred; returns them."""
        deadline = time.time() + secs * SLOW
        while True:
            got = [e for e in self.events() if pred(e)]
            if len(got) >= n or time.time() > deadline:
                if len(got) < n:
                    print("  (%s: %d of %d recorded)" % (what, len(got), n))
                return got
            time.sleep(0.2)

    def metric(self, name):
        """A /metrics sample's value (name with its labels), or None."""
        r = subprocess.run(["curl", "-sS", "http://127.0.0.1:%d/metrics" % self.ports["http"]],
                           capture_output=True, text=True)
        for line in r.stdout.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
        return None

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        try:
            check(self.p.wait(60) == 0, "tlogd exits 0 on SIGTERM (%s)" % self.p.returncode)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            check(False, "tlogd exits on SIGTERM")


def once_each(got, key, want_keys, what):
    seen = {}
    for e in got:
        k = key(e)
        seen[k] = seen.get(k, 0) + 1
    check(sorted(seen) == sorted(want_keys) and all(v == 1 for v in seen.values()),
          "%s: every message recorded exactly once (%d events for %d messages)"
          % (what, len(got), len(want_keys)))


# ---- util-linux logger ---------------------------------------------------------

def test_logger(t):
    port = t.ports["tcp"]
    n = 12
    for framing in ("octet", "lf"):
        for i in range(n):
            args = ["logger", "--tcp", "-n", "127.0.0.1", "-P", str(port), "--rfc5424",
                    "-t", "shop", "--sd-id", "audit@32473",
                    "--sd-param", 'actor="alice"', "--sd-param", 'actor_type="user"',
                    "--sd-param", 'action="order.cancel"',
                    "--sd-param", 'resource_type="order"',
                    "--sd-param", 'resource_id="%s-%d"' % (framing, i),
                    "--sd-param", 'outcome="%s"' % ("success" if i % 2 else "denied"),
                    "--sd-param", 'request_id="req-%s-%d"' % (framing, i),
                    "cancelled order %d \"quoted\" \\ [x]" % i]
            if framing == "octet":
                args.insert(2, "--octet-count")
            run(*args)
    got = t.wait_for(lambda e: e["resource"]["type"] == "order", 2 * n, "logger audit@")
    once_each(got, lambda e: e["resource"]["id"],
              ["%s-%d" % (f, i) for f in ("octet", "lf") for i in range(n)],
              "logger --rfc5424 --sd-id audit@32473 (octet counting and LF)")
    ok = True
    for e in got:
        f, i = e["resource"]["id"].split("-")
        i = int(i)
        want = {"id": "alice", "type": "user"}
        ok &= e["actor"] == want and e["action"] == "order.cancel"
        ok &= e["outcome"] == ("success" if i % 2 else "denied")
        ok &= e["request_id"] == "req-%s-%d" % (f, i) and e["submitter"] == "@syslog"
        ok &= re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", e.get("time", "")) is not None
        ok &= isinstance(e.get("source"), str) and e["source"] != ""
        ok &= e["details"]["app_name"] == "shop" and e["details"]["severity"] == 5
        ok &= e["details"]["msg"] == "cancelled order %d \"quoted\" \\ [x]" % i
        sd = e["details"]["sd"]["audit@32473"]
        ok &= sd["resource_id"] == e["resource"]["id"] and sd["actor"] == "alice"
        ok &= e["id"].startswith("sha256:")
    check(ok, "logger's audit@32473 messages have the mapped members")

    # the generic mapping: no audit element, a MSGID
    for i in range(5):
        run("logger", "--tcp", "-n", "127.0.0.1", "-P", str(port), "--rfc5424", "-t", "cron",
            "--msgid", "JOB", "-p", "auth.notice", "plain %d" % i)
    got = t.wait_for(lambda e: e["action"] == "syslog.JOB", 5, "logger plain")
    once_each(got, lambda e: e["details"]["msg"], ["plain %d" % i for i in range(5)],
              "logger --rfc5424 --msgid")
    check(all(e["actor"] == {"id": "cron", "type": "process"} and e["outcome"] == "unknown"
              and e["resource"]["type"] == "host" and e["details"]["facility"] == 4
              and e["details"]["severity"] == 5 and e["details"]["msgid"] == "JOB"
              for e in got), "generic RFC 5424: actor APP-NAME process, action syslog.MSGID, "
                             "resource the host, facility and severity")

    # RFC 3164
    for i in range(4):
        run("logger", "--tcp", "-n", "127.0.0.1", "-P", str(port), "--rfc3164", "-t", "bsd",
            "old style %d" % i)
    got = t.wait_for(lambda e: e["actor"]["id"] == "bsd", 4, "logger 3164")
    once_each(got, lambda e: e["details"]["msg"], ["old style %d" % i for i in range(4)],
              "logger --rfc3164")
    check(all("time" not in e and "id" not in e and e["action"] == "syslog.message"
              and re.fullmatch(r"[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d", e["details"]["timestamp"])
              for e in got), "RFC 3164: no time (no year), the timestamp kept in details")


# ---- raw sockets: framing the senders rarely exercise -------------------------

def test_raw(t):
    port = t.ports["tcp"]

    def msg(i, tag):
        return ("<14>1 2026-12-02T06:00:00.%06d+02:00 rawhost raw - %s - raw %d" %
                (i, tag, i)).encode()

    # several frames in one write, mixed framing, and frames split byte by byte
    s = socket.create_connection(("127.0.0.1", port))
    blob = b""
    for i in range(10):
        m = msg(i, "MANY")
        blob += (b"%d " % len(m) + m) if i % 2 else m + b"\n"
    s.sendall(blob)
    for i in range(10, 14):
        m = msg(i, "MANY")
        frame = b"%d " % len(m) + m
        for j in range(len(frame)):
            s.send(frame[j:j + 1])
            if j % 16 == 0:
                time.sleep(0.001)
    # an oversize frame (octet counted), then one that must still arrive
    big = b"<14>1 - bighost big - - - " + b"x" * 70000
    s.sendall(b"%d " % len(big) + big + b"%d " % len(msg(14, "MANY")) + msg(14, "MANY"))
    # an oversize LF frame, then one more
    s.sendall(b"<14>" + b"y" * 70000 + b"\n" + msg(15, "MANY") + b"\n")
    s.sendall(b"\x00\x01garbage here\n")
    s.close()
    got = t.wait_for(lambda e: e["action"] == "syslog.MANY", 16, "raw frames")
    once_each(got, lambda e: e["details"]["msg"], ["raw %d" % i for i in range(16)],
              "several frames a write, frames split across writes, after oversize ones")
    check(all(e["time"] == "2026-12-02T04:00:00.%03dZ" % (int(e["details"]["msg"][4:]) // 1000)
              for e in got), "TIMESTAMP with an offset and micro-seconds: UTC, milliseconds")
    un = t.wait_for(lambda e: e["action"] == "syslog.unparsed" and
                    e["resource"]["id"].startswith("127.0.0.1:"), 3, "unparsed")
    cut = [e for e in un if e["details"].get("truncated")]
    check(len(cut) == 2 and all(len(base64.b64decode(e["details"]["raw"])) == 65536 for e in cut),
          "oversize frames recorded unparsed with their first 65536 bytes, marked truncated")
    check(base64.b64decode(cut[0]["details"]["raw"]) == big[:65536], "... the bytes as sent")
    junk = [e for e in un if not e["details"].get("truncated")]
    check(len(junk) == 1 and base64.b64decode(junk[0]["details"]["raw"]) == b"\x00\x01garbage here"
          and junk[0]["actor"] == {"id": "unknown"} and junk[0]["outcome"] == "unknown"
          and junk[0]["resource"]["type"] == "syslog", "garbage: syslog.unparsed, raw in base64")
    check("a frame over 65536 bytes" in t.log(), "the oversize frame is said in the log")

    # a half frame left when the peer closes is still recorded
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(msg(100, "HALF"))  # no LF
    s.close()
    got = t.wait_for(lambda e: e["action"] == "syslog.HALF", 1, "half at close")
    check(len(got) == 1 and got[0]["details"]["msg"] == "raw 100",
          "an LF frame ended by the close is recorded")
    # a half frame that stalls: the connection is closed at the deadline
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"200 <14>1 - stall")
    t0 = time.time()
    s.settimeout(10 * SLOW)
    try:
        closed = s.recv(1) == b""
    except (socket.timeout, ConnectionResetError):
        closed = False
    check(closed and time.time() - t0 < 8 * SLOW,
          "a stalled half frame: tlogd closes the connection at the deadline")
    s.close()
    got = t.wait_for(lambda e: e["action"] == "syslog.unparsed" and
                     base64.b64decode(e["details"]["raw"]) == b"200 <14>1 - stall", 1,
                     "stalled")
    check(len(got) == 1, "... and records what it had as syslog.unparsed")
    check("stalled past the deadline" in t.log(), "... saying so in the log")

    # a resend of the same RFC 5424 message is the same occurrence
    m = msg(7, "RESEND")
    for _ in range(2):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(m + b"\n")
        s.close()
    time.sleep(1)
    got = t.wait_for(lambda e: e["action"] == "syslog.RESEND", 1, "resend")
    check(len(got) == 1, "the same RFC 5424 message sent twice is recorded once")
    check("raw 100" not in t.log() and "garbage" not in t.log(),
          "message contents never reach the log lines")


# ---- rsyslog -------------------------------------------------------------------

def rsyslog(name, forward, extra_global=""):
    """Starts rsyslogd with imtcp on a free port forwarding with `forward`."""
    d = os.path.join(TMP, name)
    os.mkdir(d)
    inport = free_port()
    conf = os.path.join(d, "rsyslog.conf")
    with open(conf, "w") as f:
        f.write("""global(workDirectory="%s" %s)
module(load="imtcp")
input(type="imtcp" port="%d" address="127.0.0.1")
%s
""" % (d, extra_global, inport, forward))
    p = subprocess.Popen(["rsyslogd", "-n", "-f", conf, "-i", os.path.join(d, "pid")],
                         stdout=open(os.path.join(d, "out"), "w"), stderr=subprocess.STDOUT)
    PROCS.append(p)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", inport), timeout=0.2).close()
            return p, inport
        except OSError:
            if p.poll() is not None:
                break
            time.sleep(0.1)
    with open(os.path.join(d, "out")) as f:
        fail("rsyslogd did not start: " + f.read())


def rsyslog_stop(p):
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(20)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def send_to_rsyslog(inport, tag, n):
    s = socket.create_connection(("127.0.0.1", inport))
    for i in range(n):
        s.sendall(("<86>1 2026-12-02T06:00:%02d.%03dZ app1 %s %d - [audit@32473 actor=\"u%d\" "
                   "action=\"doc.read\" resource_type=\"doc\" resource_id=\"%s-%d\"] read %d\n" %
                   (i % 60, i, tag, i, i, tag, i, i)).encode())
    s.close()


def test_rsyslog_tcp(t):
    fwd = ('action(type="omfwd" target="127.0.0.1" port="%d" protocol="tcp" '
           'TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format")' %
           t.ports["tcp"])
    p, inport = rsyslog("rs-tcp", fwd)
    n = 50
    send_to_rsyslog(inport, "rstcp", n)
    got = t.wait_for(lambda e: e["resource"]["id"].startswith("rstcp-"), n, "rsyslog tcp")
    rsyslog_stop(p)
    once_each(got, lambda e: e["resource"]["id"], ["rstcp-%d" % i for i in range(n)],
              "rsyslog omfwd over TCP (octet-counted)")
    check(all(e["actor"] == {"id": "u" + e["resource"]["id"][6:]} and e["action"] == "doc.read"
              and e["outcome"] == "unknown" and e["submitter"] == "@syslog" for e in got),
          "rsyslog over TCP: the audit@32473 members, submitter @syslog")
    # rsyslog's traditional forwarding format (RFC 3164) over LF framing
    fwd = ('action(type="omfwd" target="127.0.0.1" port="%d" protocol="tcp" '
           'template="RSYSLOG_TraditionalForwardFormat")' % t.ports["tcp"])
    p, inport = rsyslog("rs-tcp3164", fwd)
    s = socket.create_connection(("127.0.0.1", inport))
    for i in range(10):
        s.sendall(b"<13>Dec  3 10:00:00 h1 legacy[42]: legacy %d\n" % i)
    s.close()
    got = t.wait_for(lambda e: e["actor"]["id"] == "legacy", 10, "rsyslog 3164")
    rsyslog_stop(p)
    once_each(got, lambda e: e["details"]["msg"], ["legacy %d" % i for i in range(10)],
              "rsyslog omfwd, traditional format (RFC 3164, LF framing)")
    check(all(e["details"]["procid"] == "42" for e in got), "... with the tag's pid")


def test_rsyslog_tls(pki):
    t = Tlogd("tls", "--syslog-tls-listen", "127.0.0.1:0", "--syslog-tls-cert",
              pki("server.pem"), "--syslog-tls-key", pki("server.key"),
              "--syslog-client-ca", pki("ca.pem"), "--syslog-frame-timeout", str(1500 * SLOW),
              "--syslog-max-conns", "3")
    glob = ('defaultNetstreamDriverCAFile="%s" defaultNetstreamDriverCertFile="%s" '
            'defaultNetstreamDriverKeyFile="%s"' % (pki("ca.pem"), pki("client.pem"),
                                                   pki("client.key")))
    fwd = ('action(type="omfwd" target="127.0.0.1" port="%d" protocol="tcp" '
           'StreamDriver="gtls" StreamDriverMode="1" StreamDriverAuthMode="x509/name" '
           'StreamDriverPermittedPeers="localhost" TCP_Framing="octet-counted" '
           'template="RSYSLOG_SyslogProtocol23Format")' % t.ports["tls"])
    p, inport = rsyslog("rs-tls", fwd, glob)
    n = 40
    send_to_rsyslog(inport, "rstls", n)
    got = t.wait_for(lambda e: e["resource"]["id"].startswith("rstls-"), n, "rsyslog tls")
    rsyslog_stop(p)
    once_each(got, lambda e: e["resource"]["id"], ["rstls-%d" % i for i in range(n)],
              "rsyslog omfwd over TLS (gtls, RFC 5425)")
    check(all(e["submitter"] == "@tls:rsyslog-client" for e in got),
          "TLS with a verified client certificate: submitter @tls:<subject CN>")
    # without a client certificate the handshake is refused and nothing recorded
    r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % t.ports["tls"],
                        "-CAfile", pki("ca.pem"), "-quiet", "-no_ign_eof"],
                       input=b"<13>1 - - - - - - x\n",
                       capture_output=True, timeout=30)
    time.sleep(0.5)
    check("TLS handshake failed" in t.log() or "TLS:" in t.log(),
          "a client without a certificate is refused (%s)" % r.returncode)
    check(all(e["resource"]["id"].startswith("rstls-") for e in t.events()),
          "... and nothing of it is recorded")
    # a handshake that never comes is closed at the deadline; past --syslog-max-conns a
    # connection is closed at once
    socks = [socket.create_connection(("127.0.0.1", t.ports["tls"])) for _ in range(4)]
    socks[3].settimeout(5)
    try:
        fourth = socks[3].recv(1) == b""
    except OSError:
        fourth = True
    check(fourth and "refused: 3 connections open" in t.log(),
          "--syslog-max-conns 3: a fourth connection is closed at once, said in the log")
    t0 = time.time()
    socks[0].settimeout(10 * SLOW)
    try:
        gone = socks[0].recv(1) == b""
    except OSError:
        gone = True
    check(gone and time.time() - t0 < 8 * SLOW and "TLS handshake passed the deadline" in t.log(),
          "a TLS handshake that never starts is closed at the deadline")
    for s in socks:
        s.close()
    t.stop()


def test_relp():
    """rsyslog omrelp: every message acknowledged after commit; tlogd killed with
    SIGKILL while rsyslog streams, then restarted: rsyslog resends what was not
    acknowledged and every message is recorded exactly once."""
    rport = free_port()
    t = Tlogd("relp", "--relp-listen", "127.0.0.1:%d" % rport)
    fwd = ('module(load="omrelp")\n'
           'action(type="omrelp" target="127.0.0.1" port="%d" '
           'template="RSYSLOG_SyslogProtocol23Format" action.resumeRetryCount="-1" '
           'action.resumeInterval="1" queue.type="LinkedList" queue.size="10000")' % rport)
    p, inport = rsyslog("rs-relp", fwd)
    n = 30
    send_to_rsyslog(inport, "relp", n)
    got = t.wait_for(lambda e: e["resource"]["id"].startswith("relp-"), n, "rsyslog relp")
    once_each(got, lambda e: e["resource"]["id"], ["relp-%d" % i for i in range(n)],
              "rsyslog omrelp")
    check(all(e["actor"]["id"] == "u" + e["resource"]["id"][5:] and e["action"] == "doc.read"
              and e["submitter"] == "@syslog" and "time" in e for e in got),
          "RELP: the audit@32473 members, submitter @syslog")
    check(t.metric("tlogd_relp_messages_acked_total") >= n,
          "/metrics: RELP messages acknowledged after the commit point")
    # SIGKILL while rsyslog streams, then a restart on the same port
    n2 = 300
    s = socket.create_connection(("127.0.0.1", inport))
    for i in range(n2):
        s.sendall(("<86>1 2026-12-02T07:00:00.%06dZ app1 kill %d - [audit@32473 actor=\"k\" "
                   "action=\"doc.read\" resource_type=\"doc\" resource_id=\"kill-%d\"] k\n" %
                   (i, i, i)).encode())
    s.close()
    deadline = time.time() + 10 * SLOW
    while time.time() < deadline and not any(
            e["resource"]["id"].startswith("kill-") for e in t.events()):
        time.sleep(0.05)
    t.p.kill()
    t.p.wait()
    t_dead = Tlogd("relp", again=t)
    had = len([e for e in t_dead.events() if e["resource"]["id"].startswith("kill-")])
    t_dead.stop()
    check(0 < had < n2, "tlogd was killed in the middle of the stream (%d of %d recorded)"
          % (had, n2))
    t2 = Tlogd("relp", "--relp-listen", "127.0.0.1:%d" % rport, again=t)
    got = t2.wait_for(lambda e: e["resource"]["id"].startswith("kill-"), n2, "after SIGKILL",
                      secs=60)
    rsyslog_stop(p)
    once_each(got, lambda e: e["resource"]["id"], ["kill-%d" % i for i in range(n2)],
              "SIGKILL of tlogd during a RELP stream, then a restart: rsyslog resends")
    t2.stop()


def test_backpressure():
    """A log whose pool is tiny (--pool-max 50, smaller than a read's group of
    frames): the listener must stop reading and retry with smaller groups,
    never drop; every message of several connections is recorded exactly once."""
    t = Tlogd("busy", "--syslog-listen", "127.0.0.1:0", "--pool-max", "50")
    conns, per = 4, 1500
    socks = [socket.create_connection(("127.0.0.1", t.ports["tcp"])) for _ in range(conns)]
    for c, s in enumerate(socks):
        blob = b""
        for i in range(per):
            m = (b"<86>1 2026-12-02T08:00:00.%06dZ busy app %d - [audit@32473 actor=\"a\" "
                 b"action=\"x.y\" resource_type=\"t\" resource_id=\"b-%d-%d\"] m" % (i, c, c, i))
            blob += b"%d %s" % (len(m), m)
        s.setblocking(False)
        s.send(blob[:1])  # connect the first byte; the rest below
        s.setblocking(True)
        s.sendall(blob[1:])
    for s in socks:
        s.close()
    got = t.wait_for(lambda e: e["resource"]["id"].startswith("b-"), conns * per,
                     "back-pressure", secs=90)
    once_each(got, lambda e: e["resource"]["id"],
              ["b-%d-%d" % (c, i) for c in range(conns) for i in range(per)],
              "back-pressure from a full pool (4 connections, --pool-max 50)")
    check("reading paused" in t.log(), "... the listener paused reading, said in the log")
    check(t.metric('tlogd_syslog_messages_total{result="recorded"}') == conns * per and
          t.metric('tlogd_syslog_messages_total{result="unrecorded"}') == 0,
          "/metrics: every message recorded, none unrecorded")
    check(t.metric('tlogd_syslog_connections_total{result="accepted"}') == conns and
          t.metric("tlogd_syslog_connections") == 0 and
          (t.metric("tlogd_syslog_read_pauses_total") or 0) >= 1,
          "/metrics: the connections, and the pauses of back-pressure")
    t.stop()


def test_default_cert(pki):
    """--syslog-tls-listen without its own certificate uses --tls-cert/--tls-key."""
    d = os.path.join(TMP, "defcert")
    run(TLOGD, "init", "--dir", d, "--origin", "example.com/defcert", "--kind", "audit")
    errp = os.path.join(TMP, "defcert.err")
    with open(errp, "w+") as err:
        p = subprocess.Popen([TLOGD, "serve", "--dir", d, "--listen", "127.0.0.1:0",
                              "--tls-cert", pki("server.pem"), "--tls-key", pki("server.key"),
                              "--syslog-tls-listen", "127.0.0.1:0"], stderr=err)
        PROCS.append(p)
        port = None
        for _ in range(300):
            err.seek(0)
            m = re.search(r"listening on tls \S+ \(port (\d+)\)", err.read())
            if m:
                port = int(m.group(1))
                break
            time.sleep(0.05)
        r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % (port or 1),
                            "-CAfile", pki("ca.pem"), "-verify_return_error", "-quiet",
                            "-no_ign_eof"],
                           input=b"<13>1 - - - - - - x\n", capture_output=True, timeout=30)
        time.sleep(0.3)
        p.send_signal(signal.SIGTERM)
        p.wait(60)
        err.seek(0)
        text = err.read()
    check(port is not None and r.returncode == 0 and "TLS established, submitter @syslog" in text,
          "--syslog-tls-listen with --tls-cert/--tls-key: the server certificate verifies")


def test_usage(pki):
    blob = os.path.join(TMP, "blob")
    run(TLOGD, "init", "--dir", blob, "--origin", "example.com/blob")
    r = subprocess.run([TLOGD, "serve", "--dir", blob, "--listen", "127.0.0.1:0",
                        "--syslog-listen", "127.0.0.1:0"], capture_output=True, text=True,
                       timeout=30)
    check(r.returncode == 2 and "audit logs" in r.stderr,
          "--syslog-listen on a blob log: exit 2 (%d)" % r.returncode)
    for args, what in ((["--syslog-tls-listen", "127.0.0.1:0"], "TLS listener without a cert"),
                       (["--syslog-listen", "nope"], "a bad address"),
                       (["--syslog-client-ca", pki("ca.pem")], "a CA without a TLS listener"),
                       (["--syslog-frame-timeout", "5"], "a timeout without a listener")):
        r = subprocess.run([TLOGD, "serve", "--dir", blob, *args], capture_output=True,
                           text=True, timeout=30)
        check(r.returncode == 2 and r.stderr.count("\n") == 1, "bad usage, %s: exit 2" % what)


def main():
    for tool in ("logger", "rsyslogd", "openssl", "curl"):
        if not shutil.which(tool):
            fail("the test needs " + tool)
    pki = make_certs()
    test_usage(pki)
    test_default_cert(pki)
    t = Tlogd("tcp", "--syslog-listen", "127.0.0.1:0", "--syslog-frame-timeout",
              str(1500 * SLOW))
    test_logger(t)
    test_raw(t)
    test_rsyslog_tcp(t)
    t.stop()
    test_rsyslog_tls(pki)
    test_relp()
    test_backpressure()
    rc = summary("syslog")
    if rc == 0:
        shutil.rmtree(TMP, ignore_errors=True)
    sys.exit(rc)


if __name__ == "__main__":
    main()
