#!/usr/bin/env python3
"""test_tokens.py - the real `tlogd token add|list|revoke` (CONTRACT.md "Audit
logs" -> "Tokens"): exit codes and one-line reasons, the token alone on one
line of stdout with at least 128 bits in URL-safe characters, only its SHA-256
in DIR/tokens (mode 0600 under a permissive umask), names and roles checked,
revoke, 20 concurrent adds that all survive, list printing names and roles and
never a token or a hash, and the commands working while tlogd serve runs.
Usage: test_tokens.py BUILD_DIR
"""
import base64
import hashlib
import os
import re
import shutil
import signal
import stat
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from tltest import check, mkdtemp, summary  # noqa: E402

BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
TLOGD = os.path.join(BUILD, "tlogd")
TMP = mkdtemp("tl-tokens-")
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]+")


def tlogd(*args, umask=None):
    pre = (lambda: os.umask(umask)) if umask is not None else None
    return subprocess.run([TLOGD, *args], capture_output=True, text=True, timeout=60,
                          preexec_fn=pre)


def add(d, name, role, umask=None):
    return tlogd("token", "add", "--dir", d, "--name", name, "--role", role, umask=umask)


def token_bits(tok):
    """Bits of randomness a base64url token without padding carries."""
    raw = base64.urlsafe_b64decode(tok + "=" * (-len(tok) % 4))
    return 8 * len(raw)


def sha256_hex(tok):
    return hashlib.sha256(tok.encode()).hexdigest()


def read(path):
    with open(path) as f:
        return f.read()


def listed(d):
    r = tlogd("token", "list", "--dir", d)
    return r, [tuple(x.split(" ")) for x in r.stdout.splitlines()]


def bad_usage(args, what, d=None):
    """args must exit 2 with one line on stderr, nothing on stdout, and leave
    d/tokens as it was."""
    before = read(os.path.join(d, "tokens")) if d and os.path.exists(os.path.join(d, "tokens")) else None
    r = tlogd(*args)
    check(r.returncode == 2 and r.stderr.count("\n") == 1 and r.stderr.startswith("tlogd: ")
          and r.stdout == "",
          "%s: exit 2, one line on stderr, nothing on stdout (%d %r)" % (what, r.returncode, r.stderr))
    if d:
        after = read(os.path.join(d, "tokens")) if os.path.exists(os.path.join(d, "tokens")) else None
        check(before == after, "%s: tokens file unchanged" % what)
    return r


def main():
    d = os.path.join(TMP, "log")
    r = tlogd("init", "--dir", d, "--origin", "example.test/tokens")
    check(r.returncode == 0, "tlogd init")
    tokfile = os.path.join(d, "tokens")

    r = tlogd("--help")
    check(r.returncode == 0 and "tlogd token add --dir DIR --name NAME --role writer|reader|admin"
          in r.stdout and "token list" in r.stdout and "token revoke" in r.stdout,
          "--help shows the token commands")

    r, rows = listed(d)
    check(r.returncode == 0 and r.stdout == "" and r.stderr == "", "list with no tokens: nothing")

    # one add: the token alone on one line of stdout
    r = add(d, "ci-bot", "writer", umask=0)
    tok = r.stdout[:-1]
    check(r.returncode == 0 and r.stdout.endswith("\n") and r.stdout.count("\n") == 1
          and r.stderr == "", "add: exit 0, one line of stdout, nothing on stderr")
    check(TOKEN_RE.fullmatch(tok) is not None, "add: URL-safe characters only (%r)" % tok)
    check(token_bits(tok) >= 128, "add: at least 128 bits (%d)" % token_bits(tok))
    mode = stat.S_IMODE(os.stat(tokfile).st_mode)
    check(mode == 0o600, "tokens file mode 0600 under umask 0 (%o)" % mode)
    text = read(tokfile)
    check(tok not in text and tok[:12] not in text, "the file never holds the token")
    check(("\nci-bot writer %s\n" % sha256_hex(tok)) in text, "the file holds its SHA-256")
    check(not [f for f in os.listdir(d) if ".tmp." in f], "no temporary file left behind")

    # more roles
    toks = {"ci-bot": tok}
    for name, role in (("auditor.1", "reader"), ("Root_2", "admin")):
        r = add(d, name, role)
        check(r.returncode == 0 and TOKEN_RE.fullmatch(r.stdout.strip()), "add %s %s" % (name, role))
        toks[name] = r.stdout.strip()
    check(len(set(toks.values())) == 3, "every token differs")
    r, rows = listed(d)
    check(r.returncode == 0 and rows == [("ci-bot", "writer"), ("auditor.1", "reader"),
                                         ("Root_2", "admin")], "list: names and roles (%r)" % rows)
    text = read(tokfile)
    check(all(t not in r.stdout and sha256_hex(t) not in r.stdout for t in toks.values()),
          "list prints no token and no hash")
    check(all(sha256_hex(t) in text and t not in text for t in toks.values()),
          "every hash in the file, no token")

    # a name in use, bad names and roles, bad usage: exit 2, nothing changes
    r = bad_usage(["token", "add", "--dir", d, "--name", "ci-bot", "--role", "reader"],
                  "add a name in use", d)
    check("in use" in r.stderr, "a name in use says so")
    for name in ("", "a b", "x" * 65, "a/b", "\u00e9", "@anonymous", "a:b", "a\nb"):
        bad_usage(["token", "add", "--dir", d, "--name", name, "--role", "reader"],
                  "add --name %r" % name, d)
    r = add(d, "n" * 64, "reader")
    check(r.returncode == 0, "a name of 64 characters")
    toks["n" * 64] = r.stdout.strip()
    for role in ("", "root", "Writer", "READER", "admin "):
        bad_usage(["token", "add", "--dir", d, "--name", "fresh", "--role", role],
                  "add --role %r" % role, d)
    notlog = os.path.join(TMP, "notalog")
    os.mkdir(notlog)
    for args, what in (
            (["token"], "token alone"),
            (["token", "--dir", d], "token without a command"),
            (["token", "bogus", "--dir", d], "unknown token command"),
            (["token", "add", "--dir", d, "--name", "x"], "add without --role"),
            (["token", "add", "--dir", d, "--role", "reader"], "add without --name"),
            (["token", "add", "--name", "x", "--role", "reader"], "add without --dir"),
            (["token", "add", "extra", "--dir", d, "--name", "x", "--role", "reader"],
             "an extra argument"),
            (["token", "add", "--dir", d, "--name", "x", "--role", "reader", "--origin", "o"],
             "add --origin"),
            (["token", "add", "--dir", d, "--name"], "--name without a value"),
            (["token", "list", "--dir", d, "--name", "ci-bot"], "list --name"),
            (["token", "revoke", "--dir", d, "--name", "ci-bot", "--role", "writer"],
             "revoke --role"),
            (["token", "revoke", "--dir", d], "revoke without --name"),
            (["token", "revoke", "--dir", d, "--name", "nobody"], "revoke an unknown name"),
            (["token", "add", "--dir", notlog, "--name", "x", "--role", "reader"],
             "add in a folder that is not a log"),
            (["token", "list", "--dir", notlog], "list in a folder that is not a log"),
            (["token", "revoke", "--dir", notlog, "--name", "x"],
             "revoke in a folder that is not a log"),
            (["token", "list", "--dir", os.path.join(TMP, "missing")], "list in no folder"),
            (["serve", "--dir", d, "--name", "x"], "serve --name"),
            (["init", "--dir", os.path.join(TMP, "i"), "--origin", "o", "--role", "admin"],
             "init --role")):
        bad_usage(args, what, d)
    check(not os.path.exists(os.path.join(notlog, "tokens")), "nothing written outside a log")

    # revoke
    r = tlogd("token", "revoke", "--dir", d, "--name", "auditor.1")
    check(r.returncode == 0 and r.stdout == "" and r.stderr == "", "revoke: exit 0, silent")
    r, rows = listed(d)
    check(("auditor.1", "reader") not in rows and len(rows) == 3, "revoked: not listed")
    check(sha256_hex(toks["auditor.1"]) not in read(tokfile), "revoked: its hash is gone")
    bad_usage(["token", "revoke", "--dir", d, "--name", "auditor.1"], "revoke twice", d)
    r = add(d, "auditor.1", "reader")
    check(r.returncode == 0 and r.stdout.strip() != toks["auditor.1"],
          "a revoked name can be added again, with a new token")
    toks["auditor.1"] = r.stdout.strip()

    # concurrent adds: none loses another's line
    procs = [subprocess.Popen([TLOGD, "token", "add", "--dir", d, "--name", "par%02d" % i,
                               "--role", ("writer", "reader", "admin")[i % 3]],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(20)]
    outs = [p.communicate(timeout=60) + (p.returncode,) for p in procs]
    check(all(rc == 0 and err == "" and TOKEN_RE.fullmatch(out.strip()) for out, err, rc in outs),
          "20 concurrent adds: all exit 0 with a token")
    par = {"par%02d" % i: outs[i][0].strip() for i in range(20)}
    r, rows = listed(d)
    names = [x[0] for x in rows]
    check(all(n in names for n in par) and len(rows) == len(set(names)) == 4 + 20,
          "20 concurrent adds: all listed, each once (%d)" % len(rows))
    text = read(tokfile)
    check(all(("\n%s %s %s\n" % (n, ("writer", "reader", "admin")[int(n[3:]) % 3], sha256_hex(t)))
              in text for n, t in par.items()), "20 concurrent adds: every hash in the file")
    toks.update(par)
    check(len(set(toks.values())) == len(toks), "every token differs")
    check(all(t not in r.stdout and sha256_hex(t) not in r.stdout for t in toks.values()),
          "list never prints a token or a hash")
    check(all(t not in text for t in toks.values()), "the file never holds a token")
    check(stat.S_IMODE(os.stat(tokfile).st_mode) == 0o600, "still mode 0600")

    # a tokens file that does not parse: add refuses and changes nothing
    with open(tokfile, "a") as f:
        f.write("broken line\n")
    before = read(tokfile)
    r = add(d, "late", "reader")
    check(r.returncode == 1 and r.stdout == "" and r.stderr.count("\n") == 1
          and "line %d:" % before.count("\n") in r.stderr,
          "add on a broken file: exit 1 naming the line (%r)" % r.stderr)
    r = tlogd("token", "list", "--dir", d)
    check(r.returncode == 1 and r.stdout == "" and "line" in r.stderr, "list on a broken file")
    check(read(tokfile) == before, "a broken file is left alone")
    with open(tokfile, "w") as f:
        f.write(before[:-len("broken line\n")])

    # while tlogd serve runs on the folder
    p = subprocess.Popen([TLOGD, "serve", "--dir", d, "--listen", "127.0.0.1:0"],
                         stderr=subprocess.PIPE, text=True)
    try:
        started = False
        for line in p.stderr:
            if re.search(r"\(port (\d+)\)", line):
                started = True
                break
        check(started, "tlogd serve started")
        r = add(d, "while-serving", "writer")
        check(r.returncode == 0 and TOKEN_RE.fullmatch(r.stdout.strip()), "add while serve runs")
        r = tlogd("token", "revoke", "--dir", d, "--name", "par00")
        check(r.returncode == 0, "revoke while serve runs")
        r, rows = listed(d)
        check(("while-serving", "writer") in rows and ("par00", "writer") not in rows,
              "list while serve runs")
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(40)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = p.wait()
        p.stderr.close()
    check(rc == 0, "tlogd serve exits 0")
    return summary("tlogd token")


if __name__ == "__main__":
    rc = main()
    if rc == 0:
        shutil.rmtree(TMP, ignore_errors=True)  # kept for inspection on failure
    sys.exit(rc)
