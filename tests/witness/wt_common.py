"""wt_common.py - helpers for the witness integration tests: temp dirs,
starting real processes on free loopback ports (port 0, read back from
stderr), HTTP(S) with http.client, reading signed notes, tlog-proofs and
/metrics, and cleanup of everything started.
Temp dirs come from tests/pylib/tltest.py."""
import http.client as httpclient
import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from tltest import mkdtemp  # noqa: E402

FAILS = []


def check(cond, what):
    if cond:
        print("ok   - " + what, flush=True)
    else:
        print("FAIL - " + what, flush=True)
        FAILS.append(what)
    return cond


class Env:
    def __init__(self, build):
        self.build = os.path.abspath(build)
        self.tmp = mkdtemp("tlw-")
        self.procs = []

    def bin(self, name):
        return os.path.join(self.build, name)

    def path(self, *p):
        return os.path.join(self.tmp, *p)

    def run(self, *args, check_rc=True, input=None):
        r = subprocess.run(list(args), capture_output=True, input=input, timeout=60)
        if check_rc and r.returncode != 0:
            raise RuntimeError("%s failed (%d): %s" % (args, r.returncode, r.stderr.decode()))
        return r

    def start(self, args, logname, port_re=r"port (\d+)"):
        """Starts a server with --listen 127.0.0.1:0; returns (proc, port)."""
        log = open(self.path(logname), "ab")
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=log)
        self.procs.append(p)
        deadline = time.time() + 15
        while time.time() < deadline:
            with open(self.path(logname), "rb") as f:
                text = f.read().decode(errors="replace")
            m = None
            for m in re.finditer(port_re, text):
                pass
            if m and int(m.group(1)) != 0:
                # the last start line of this log belongs to this process
                if p.poll() is None:
                    return p, int(m.group(1))
            if p.poll() is not None:
                raise RuntimeError("%s exited %d: %s" % (args[0], p.returncode, text[-2000:]))
            time.sleep(0.05)
        raise RuntimeError("%s did not start: %s" % (args[0], text[-2000:]))

    def stop(self, p, sig=signal.SIGTERM):
        if p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        return p.returncode

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


def http(port, method, path, body=None, headers=None, timeout=30, tls=None):
    """One request to 127.0.0.1:port; over HTTPS when tls (an ssl.SSLContext)
    is given. Returns (status, content type, body)."""
    if tls:
        c = httpclient.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=tls)
    else:
        c = httpclient.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        return r.status, r.getheader("Content-Type") or "", data
    finally:
        c.close()


DASH = "\u2014 ".encode()


def cosigners(note):
    """Names on the signature lines of a note (log first)."""
    sigs = note.split(b"\n\n", 1)[1] if b"\n\n" in note else b""
    return [line[len(DASH):].split(b" ")[0].decode() for line in sigs.split(b"\n")
            if line.startswith(DASH)]


def checkpoint_of(proof):
    """The checkpoint inside a tlog-proof body."""
    return proof.split(b"\n\n", 1)[1] if b"\n\n" in proof else b""


def metric(text, sample):
    """The value of one Prometheus sample (name with its labels) in a
    /metrics body, or None when it is absent."""
    for line in text.decode().splitlines():
        if line.startswith(sample + " "):
            return float(line.split()[-1])
    return None


def wait_for(fn, timeout, step=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(step)
    return fn()


def scan_logs(env):
    """Sanitizer reports in any server's stderr fail the test."""
    bad = []
    for name in sorted(os.listdir(env.tmp)):
        if not name.endswith(".log"):
            continue
        with open(os.path.join(env.tmp, name), "rb") as f:
            text = f.read().decode(errors="replace")
        if re.search(r"AddressSanitizer|LeakSanitizer|runtime error:|UndefinedBehavior", text):
            bad.append(name)
            print(text[-4000:])
    check(not bad, "no sanitizer reports in server logs %s" % bad)


def finish(env):
    for p in env.procs:
        if p.poll() is None:
            env.stop(p)
    scan_logs(env)
    env.cleanup()
    if FAILS:
        print("%d check(s) failed:" % len(FAILS))
        for f in FAILS:
            print("  " + f)
        sys.exit(1)
    print("all checks passed")
    sys.exit(0)
