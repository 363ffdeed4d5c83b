"""pub_common.py - helpers for the publication tests (tlogd serve --publish):
the witness tests' process environment (tests/witness/wt_common.py), adds
from many threads, nginx started from a config the test writes, s3rver
found (or installed with npm) in the test cache, and the small checks every
test shares. Python stdlib only."""
import hashlib
import os
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "witness"))
sys.path.insert(0, os.path.join(HERE, "..", "pylib"))
from tltest import free_port, wait_port  # noqa: E402,F401
from wt_common import Env, check, finish, http, metric, wait_for  # noqa: E402,F401


def size_of(note):
    """The tree size of a checkpoint note (bytes), -1 for None."""
    return int(note.split(b"\n")[1]) if note else -1


def start_tlogd(env, logdir, extra, logname, expect_start=True):
    """tlogd serve on a free port; returns (proc, port), or with
    expect_start False the finished process (its exit code and stderr)."""
    args = [env.bin("tlogd"), "serve", "--dir", logdir, "--listen", "127.0.0.1:0"] + extra
    if expect_start:
        return env.start(args, logname, port_re=r"on http://[^ ]* \(port (\d+)\)")
    r = subprocess.run(args, capture_output=True, timeout=60)
    return r.returncode, r.stderr.decode(errors="replace")


def add_many(port, entries, threads=16, after=None):
    """POSTs every entry from threads; returns {entry: (status, body)}.
    after(entry, status, body), if given, runs in the thread right after
    each answer (for checks that must see the moment of the answer)."""
    out = {}
    lock = threading.Lock()
    todo = list(entries)

    def worker():
        while True:
            with lock:
                if not todo:
                    return
                e = todo.pop()
            try:
                st, _, body = http(port, "POST", "/add", body=e)
            except OSError as ex:
                st, body = 0, str(ex).encode()
            if after:
                after(e, st, body)
            with lock:
                out[e] = (st, body)

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


def proof_index(body):
    """The index line of a tlog-proof answer."""
    lines = body.split(b"\n")
    return int(lines[1].split(b" ")[1]) if len(lines) > 1 and lines[1].startswith(b"index ") else -1


def proof_checkpoint(body):
    return body.split(b"\n\n", 1)[1] if b"\n\n" in body else b""


def witness_checkpoint(port, origin):
    st, _, body = http(port, "GET", "/%s/checkpoint" % hashlib.sha256(origin.encode()).hexdigest())
    return body if st == 200 else None


def text(env, name):
    with open(env.path(name), "rb") as f:
        return f.read().decode(errors="replace")


def run_tool(args, timeout=120, env=None):
    r = subprocess.run(args, capture_output=True, timeout=timeout, env=env)
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


# ---- nginx ------------------------------------------------------------------

NGINX_HEAD = """user root;
worker_processes 1;
daemon off;
pid {t}/nginx.pid;
error_log {t}/nginx-error.log;
events {{ worker_connections 256; }}
http {{
    access_log {t}/nginx-access.log;
    client_body_temp_path {t}/nginx-body;
    proxy_temp_path {t}/nginx-proxy;
    fastcgi_temp_path {t}/nginx-fastcgi;
    uwsgi_temp_path {t}/nginx-uwsgi;
    scgi_temp_path {t}/nginx-scgi;
"""


def start_nginx(env, servers):
    """nginx (one worker, in the foreground, as whoever runs the test) from a
    config of the given server blocks; waits for every port in ports."""
    t = env.path("nginx")
    os.makedirs(t, exist_ok=True)
    conf = os.path.join(t, "nginx.conf")
    with open(conf, "w") as f:
        f.write(NGINX_HEAD.format(t=t) + servers + "}\n")
    p = subprocess.Popen(["nginx", "-e", os.path.join(t, "nginx-error.log"), "-p", t, "-c", conf],
                         stdout=subprocess.DEVNULL, stderr=open(env.path("nginx.log"), "ab"))
    env.procs.append(p)
    return p


# ---- s3rver -------------------------------------------------------------------

def s3rver_bin():
    """The s3rver program, installed by tests/publish/s3rver_install.sh (which
    scripts/deps.sh test runs) in the test cache; installed now if it is
    missing. No registry, no s3rver: the caller's check fails."""
    d = os.environ.get("TL_S3RVER_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "tlogd-test", "s3rver")
    b = os.path.join(d, "node_modules", ".bin", "s3rver")
    if not os.path.exists(b):
        r = subprocess.run(["sh", os.path.join(HERE, "s3rver_install.sh"), d],
                           capture_output=True, timeout=300)
        if r.returncode != 0:
            print(r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace"))
    return b if os.path.exists(b) else None
