#!/usr/bin/env python3
"""test_run.py - the README's first command: scripts/run.sh.

usage: test_run.py BUILD_DIR SOURCE_DIR

Runs scripts/run.sh with the programs of BUILD_DIR (TLOGD_BUILD), its data in
a fresh folder and free ports, for the default kind (an audit log with a
writer and a reader token, 0600) and for TLOGD_KIND=blob. Every command the
banner prints is then run as printed, in order, by sh, and must succeed with
what it promises (a receipt, a search row, an offline verification, an
audit). A second start on the same data keeps the log and its tokens. A bad
TLOGD_KIND is exit 2.
"""
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import tltest  # noqa: E402

BUILD = os.path.abspath(sys.argv[1])
SRC = os.path.abspath(sys.argv[2])
TMP = tltest.mkdtemp("tlogd-run-")
procs = []


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    stop_all()
    print("files kept in " + TMP, file=sys.stderr)
    sys.exit(1)


def stop_all():
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def expect(cond, msg):
    if not cond:
        fail(msg)


def start(data, kind=None):
    port, wport = tltest.free_port(), tltest.free_port()
    env = dict(os.environ, TLOGD_BUILD=BUILD, TLOGD_DATA=data,
               TLOGD_LISTEN="127.0.0.1:%d" % port, TLOGD_WITNESS_LISTEN="127.0.0.1:%d" % wport)
    if kind:
        env["TLOGD_KIND"] = kind
    errpath = data + ".err"
    p = subprocess.Popen(["sh", os.path.join(SRC, "scripts", "run.sh")], env=env,
                         stderr=open(errpath, "w"), start_new_session=True)
    procs.append(p)
    tltest.wait_port(port)
    tltest.wait_port(wport)
    for _ in range(100):
        if "tlogd: serving" in open(errpath).read():
            break
        time.sleep(0.05)
    return p, errpath


def banner_commands(errpath):
    """The banner's indented commands, with their continuation lines joined."""
    text = open(errpath).read()
    cmds, cur = [], ""
    for line in text.splitlines():
        if not line.startswith("    "):
            continue
        cur += line.strip()
        if cur.endswith("\\"):
            cur = cur[:-1] + " "
            continue
        cmds.append(cur)
        cur = ""
    return cmds


def run_banner(errpath, cwd, checks):
    cmds = banner_commands(errpath)
    expect(len(cmds) == len(checks), "banner commands: %r" % cmds)
    for c, check in zip(cmds, checks):
        r = subprocess.run(["sh", "-c", c], cwd=cwd, capture_output=True, text=True, timeout=120)
        expect(r.returncode == 0, "banner command failed (%d): %s\n%s%s"
               % (r.returncode, c, r.stdout, r.stderr))
        expect(check(r.stdout, r.stderr), "banner command's output: %s\n%s%s"
               % (c, r.stdout, r.stderr))


def main():
    # ---- the default: an audit log ------------------------------------------
    data = os.path.join(TMP, "audit")
    p, errpath = start(data)
    for name in ("writer.token", "reader.token"):
        st = os.stat(os.path.join(data, name))
        expect(stat.S_IMODE(st.st_mode) == 0o600, name + " is 0600")
        expect(re.fullmatch(r"[A-Za-z0-9_-]{22,}\n", open(os.path.join(data, name)).read()),
               name + " holds one token")
    tokens = {n: open(os.path.join(data, n)).read() for n in ("writer.token", "reader.token")}
    run_banner(errpath, TMP, [
        lambda o, e: '"receipts":[{' in o,                       # curl
        lambda o, e: True,                                       # echo > event.json
        lambda o, e: "1 event recorded, every receipt verified" in e,
        lambda o, e: o.count(" alice ") == 2 and "order/42" in o,  # both events found
        lambda o, e: o.startswith("OK: event.receipt.json"),
        lambda o, e: o.startswith("OK: ") and "public part only" not in e,
    ])
    for t in tokens.values():
        expect(t.strip() not in open(errpath).read(), "no token in the log's output")
    stop_all()
    expect(p.returncode == 0, "run.sh exits 0 on SIGTERM, got %s" % p.returncode)
    # a second start keeps the log, its tokens and events
    p, errpath = start(data)
    expect({n: open(os.path.join(data, n)).read() for n in tokens} == tokens,
           "the tokens are kept")
    run_banner(errpath, TMP, [
        lambda o, e: '"receipts":[{' in o,
        lambda o, e: True,
        lambda o, e: "1 event recorded" in e,
        lambda o, e: o.count(" alice ") == 4,
        lambda o, e: o.startswith("OK: "),
        lambda o, e: o.startswith("OK: "),
    ])
    stop_all()
    # ---- TLOGD_KIND=blob --------------------------------------------------------
    data = os.path.join(TMP, "blob")
    p, errpath = start(data, "blob")
    expect(not os.path.exists(os.path.join(data, "writer.token")), "no tokens for a blob log")
    run_banner(errpath, TMP, [
        lambda o, e: True,                                   # echo hello > entry.txt
        lambda o, e: True,                                   # curl POST /add
        lambda o, e: True,                                   # tlog add
        lambda o, e: o.startswith("OK: entry.txt is entry 0"),  # a repeat: its first index
        lambda o, e: o.startswith("OK: "),
    ])
    stop_all()
    r = subprocess.run(["sh", os.path.join(SRC, "scripts", "run.sh")], capture_output=True,
                       text=True, env=dict(os.environ, TLOGD_BUILD=BUILD, TLOGD_KIND="ledger",
                                           TLOGD_DATA=os.path.join(TMP, "bad")))
    expect(r.returncode == 2 and "TLOGD_KIND=ledger" in r.stderr, "a bad kind: exit 2")
    shutil.rmtree(TMP, ignore_errors=True)
    print("ok: scripts/run.sh, audit and blob, every banner command")


if __name__ == "__main__":
    main()
