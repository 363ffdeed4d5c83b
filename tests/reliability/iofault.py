#!/usr/bin/env python3
"""iofault.py - I/O errors on tlogd's commit path ("Faults" in docs/RELIABILITY.md).

Runs tlogd under `strace -f -e inject=SYSCALLS:error=ERR:when=N[+]`,
stepping N through the calls of the first batches (strace counts per
thread, so N walks the sequencer thread's syncs/writes one commit at a
time, and the startup thread's during open). For each step, under load:
  - every 200 to /add carries a proof that verifies against a correctly
    signed checkpoint (the log never acknowledges what it did not commit);
  - the only error status is 503 (no other 5xx, no crash: a signal death
    of tlogd is a failure); a failed startup exits non-zero with a message;
then tlogd is killed (-9) and restarted without faults, and must start,
keep every acknowledged entry, serve heads consistent with every head seen
(no fork), and sign again.

Usage: iofault.py BUILD_DIR [--max-n N] [--long]
"""
import argparse
import os
import random
import re
import shutil
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tlrel  # noqa: E402
from tlrel import Violation, log  # noqa: E402


def child_pid(strace_pid, exe, timeout=10):
    """The traced program's pid: a child of strace running exe (strace forks
    short-lived probe children first, so the first child is not it)."""
    end = time.time() + timeout
    while time.time() < end:
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % d) as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                if ppid == strace_pid and os.readlink("/proc/%s/exe" % d) == exe:
                    return int(d)
            except (OSError, ValueError, IndexError):
                pass
        time.sleep(0.01)
    return None


def stop_traced(sp, pid):
    """kill -9 the traced tlogd, then make sure strace and it are gone."""
    if pid:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
    try:
        sp.p.wait(20)
    except Exception:
        sp.kill9()
    if pid:
        for _ in range(200):
            try:
                with open("/proc/%d/stat" % pid) as f:
                    if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                        break
                os.kill(pid, 9)
            except (OSError, IndexError):
                break
            time.sleep(0.05)


# LeakSanitizer cannot run under ptrace: the traced tlogd goes without it.
TRACED_ENV = dict(os.environ)
TRACED_ENV["ASAN_OPTIONS"] = (TRACED_ENV.get("ASAN_OPTIONS", "") + ":detect_leaks=0").lstrip(":")


def calibrate(serve, port, calls, top):
    """Per-thread counts of `calls` during startup (strace counts injections
    per thread, so the commit path starts after the largest of these)."""
    stlog = os.path.join(top, "calib.log")
    argv = ["strace", "-f", "-qq", "-o", stlog, "-e", "trace=" + calls, "--"] + serve
    sp = tlrel.Proc(argv, os.path.join(top, "tlogd.stderr"), env=TRACED_ENV)
    pid = child_pid(sp.pid, serve[0])
    tlrel.wait_healthy(port, sp)
    time.sleep(0.2)
    counts = {}
    with open(stlog, errors="replace") as f:
        for line in f:
            t = line.split(None, 1)
            if len(t) == 2 and t[0].isdigit() and "(" in t[1] and "resumed>" not in t[1]:
                counts[t[0]] = counts.get(t[0], 0) + 1
    if pid:
        os.kill(pid, 15)
    try:
        sp.p.wait(20)
    except Exception:
        stop_traced(sp, pid)
    os.unlink(stlog)
    return max(counts.values()) if counts else 0


def load(port, ck, tag, n_threads, duration, stats):
    adders = [tlrel.Adder(port, ck, "%s-%d" % (tag, i), stats) for i in range(n_threads)]
    for t in adders:
        t.start()
    time.sleep(duration)
    for t in adders:
        t.stop.set()
    for t in adders:
        t.join(45)
        if t.is_alive():
            raise Violation("an add hung for 45 s after the load stopped (%s)" % tag)
        if t.violation:
            raise t.violation


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--max-n", type=int, default=0)
    ap.add_argument("--long", action="store_true")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    if not shutil.which("strace"):
        log("FAIL: strace not installed (scripts/deps.sh test installs it)")
        return 1
    build = os.path.abspath(a.build)
    tlogd = os.path.join(build, "tlogd")
    top = tlrel.tmpdir("iofault")
    ldir = os.path.join(top, "log")
    vk = tlrel.init_log(build, ldir, "reliability.test/iofault-%d" % os.getpid())
    pem = open(os.path.join(ldir, "rfc6962.pub"), "rb").read()
    ck = tlrel.LogChecker(vk, pem)
    port = tlrel.free_port()
    serve = [tlogd, "serve", "--dir", ldir, "--listen", "127.0.0.1:%d" % port,
             "--batch-interval", "5"]
    maxn = a.max_n or (16 if a.long else (3 if tlrel.sanitized() else 5))
    faults = [("fdatasync,fsync", "EIO"), ("write,pwrite64,writev", "ENOSPC")]
    if a.long:
        faults += [("write,pwrite64,writev", "EIO"), ("fdatasync,fsync", "ENOSPC"),
                   ("openat", "ENOSPC"), ("rename", "EIO"), ("ftruncate,fallocate", "ENOSPC")]
    t0 = time.time()
    summary = {"steps": 0, "injected": 0, "startup_refused": 0, "saw_503": 0, "acked": 0}
    c = tlrel.Client(port, timeout=30)
    p = None
    traced = [None, None]
    ok = False
    try:
        # A few entries before any fault, so faults hit a non-empty log.
        p = tlrel.Proc(serve, os.path.join(top, "tlogd.stderr"))
        tlrel.wait_healthy(port, p)
        load(port, ck, "pre", 2, 0.3, {})
        ck.sync(c)
        p.term()
        # Step N through the startup calls (only a few: they must refuse
        # cleanly) and then through the commit path of the following batches.
        steps = []
        for calls, err in faults:
            s0 = calibrate(serve, port, calls, top)
            log("%s: %d calls by one thread during startup" % (calls, s0))
            if "write" in calls:
                # The sequencer's first writes are the WAL appends of the
                # first batches (low N); the rest come after startup, whose
                # count grows with the database: recalibrated at each step.
                steps += [(calls, err, n, False, "") for n in range(1, maxn + 1)]
                steps += [(calls, err, k, True, "") for k in (1, 2, 3)]
            else:
                steps += [(calls, err, n, False, "") for n in ([1, s0] if s0 > 1 else [1])]
                steps += [(calls, err, k, True, "") for k in range(1, maxn + 1)]
            steps.append((calls, err, random.randint(1, maxn), True, "+"))
        s0_of = {}
        for calls, err, n, after, plus in steps:
            if after:
                if "write" in calls or calls not in s0_of:
                    s0_of[calls] = calibrate(serve, port, calls, top)
                n += s0_of[calls]
            when = "%d%s" % (n, plus)
            summary["steps"] += 1
            stlog = os.path.join(top, "strace.log")
            argv = ["strace", "-f", "-qq", "-o", stlog, "-e", "trace=" + calls,
                    "-e", "inject=%s:error=%s:when=%s" % (calls, err, when), "--"] + serve
            sp = tlrel.Proc(argv, os.path.join(top, "tlogd.stderr"), env=TRACED_ENV)
            pid = child_pid(sp.pid, serve[0])
            traced[:] = [sp, pid]
            stats = {}
            try:
                tlrel.wait_healthy(port, sp, timeout=20)
                started = True
            except Violation:
                started = False
            if started:
                load(port, ck, "f%d" % summary["steps"], 2, 0.5, stats)
                c.close()
                try:
                    ck.sync(c)  # what it serves while faulted must still verify
                except (OSError, tlrel.http.client.HTTPException) as e:
                    stats["read-neterr"] = type(e).__name__  # a failed response write
                c.close()
            stop_traced(sp, pid)
            traced[:] = [None, None]
            rc = sp.p.returncode
            injected = 0
            if os.path.exists(stlog):
                with open(stlog, errors="replace") as f:
                    text = f.read()
                injected = text.count("(INJECTED)")
                sigs = set(re.findall(r"killed by (SIG[A-Z0-9]+)", text)) - {"SIGKILL"}
                if sigs:
                    raise Violation("tlogd died of a signal under %s=%s@%s:\n%s" %
                                    (calls, err, when, text[-800:]))
                os.unlink(stlog)
            if not started:
                summary["startup_refused"] += 1
                if rc == 0:
                    raise Violation("tlogd exited 0 without serving under %s=%s@%s" %
                                    (calls, err, when))
            summary["injected"] += 1 if injected else 0
            summary["saw_503"] += 1 if stats.get(503) else 0
            log("step %s=%s when=%s: started %s, injected %d, adds %s" %
                (calls, err, when, started, injected, stats))
            # Recovery without faults.
            p = tlrel.Proc(serve, os.path.join(top, "tlogd.stderr"))
            tlrel.wait_healthy(port, p)
            c.close()
            ck.sync(c)
            st = {}
            load(port, ck, "r%d" % summary["steps"], 2, 0.25, st)
            if not st.get("ok"):
                raise Violation("no add succeeded after restarting from %s=%s@%s: %s" %
                                (calls, err, when, st))
            ck.sync(c)
            ck.check_server_proofs(c, 1)
            rc = p.term()
            if rc != 0:
                raise Violation("tlogd exit status %s after SIGTERM" % rc)
        tlrel.scan_logs(top)
        ok = True
    except (Violation, OSError, tlrel.http.client.HTTPException) as e:
        # OSError/HTTPException: the server hung (timeout) or vanished mid-check.
        log("VIOLATION: %s%s" % ("" if isinstance(e, Violation) else
                                 "server did not answer a check: %s: " % type(e).__name__, e))
        if p:
            log("tlogd stderr tail:\n%s" % p.tail(25))
    finally:
        c.close()
        if p and p.alive():
            p.kill9()
        if traced[0]:
            stop_traced(traced[0], traced[1])
    summary["acked"] = len(ck.acked)
    if not ok:
        log("FAIL; data kept in %s" % top)
        return 1
    if summary["injected"] == 0:
        log("FAIL: no fault was ever injected (strace?)")
        return 1
    log("PASS in %.1fs: %s; %d signed heads consistent" % (time.time() - t0, summary,
                                                           len(ck.heads)))
    if not a.keep:
        shutil.rmtree(top, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
