"""Remote execution benchmark (make bench -> scripts/bench), issue 13:

  - RemotePipeline hop: bench_remote_hop against one `rmedia serve` on
    loopback (added p50/p99 per 20 ms chunk against the same sub-graph run
    locally in the same process; goal <= 150 µs p50);
  - unary throughput: K concurrent clients (bench/grpc_load, one connection
    each) of calculator ExecutePipeline calls through nginx (deploy/nginx
    template) to 3 servers, against the same clients to 1 server direct.

    python3 run_bench.py --rmedia RMEDIA --bindir DIR --source SRC [--quick]

Prints scripts/bench ROW lines.  nginx missing: the throughput rows are
skipped.  A second row compares nginx -> 3 servers with nginx -> 1 server,
so the proxy's own cost is the same on both sides.  On a machine with fewer
cores than servers + nginx + a client (5) the 3-server figures measure
contention, not scale-out: the rows say how many CPUs there were and the
verdict says so."""
import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ap = argparse.ArgumentParser()
ap.add_argument("--rmedia", required=True)
ap.add_argument("--bindir", required=True)
ap.add_argument("--source", required=True)
ap.add_argument("--quick", action="store_true")
args = ap.parse_args()
QUICK = args.quick
PY = "/usr/bin/python3"
tmp = tempfile.mkdtemp(prefix="rm-remote-bench-")
procs = []


def log(msg):
    print("bench_remote: " + msg, file=sys.stderr, flush=True)


def row(*cols):
    print("ROW\t" + "\t".join(cols), flush=True)


def start(cmd, name):
    pf = os.path.join(tmp, name + ".port")
    logf = open(os.path.join(tmp, name + ".log"), "w")
    proc = subprocess.Popen([c.replace("{PORT_FILE}", pf) for c in cmd], stdout=logf, stderr=logf,
                            stdin=subprocess.DEVNULL, env=dict(os.environ, RMEDIA_PLUGIN_PATH="",
                                                               REMOTEMEDIA_AUTH_TOKENS=""))
    procs.append(proc)
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit("bench_remote: %s exited: %s" % (name, open(logf.name).read()[-2000:]))
        if os.path.exists(pf) and open(pf).read().strip():
            addr = "127.0.0.1:" + open(pf).read().strip()
            while subprocess.run([args.rmedia, "remote", "health", "--server", addr, "--deadline", "2"],
                                 capture_output=True).returncode != 0:
                if time.time() > deadline:
                    raise SystemExit("bench_remote: %s is not SERVING" % name)
                time.sleep(0.05)
            return proc, addr
        time.sleep(0.05)
    raise SystemExit("bench_remote: %s did not start" % name)


def stop(proc, sig=signal.SIGTERM):
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def nginx(upstreams):
    exe = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(exe):
        return None, None
    prefix = os.path.join(tmp, "nginx")
    for d in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        os.makedirs(os.path.join(prefix, d), exist_ok=True)
    port = free_port()
    conf = (open(os.path.join(args.source, "deploy", "nginx", "remotemedia.conf.template")).read()
            .replace("@PREFIX@", prefix).replace("@LISTEN@", "127.0.0.1:%d" % port)
            .replace("@UPSTREAMS@", "\n        ".join("server %s;" % u for u in upstreams))
            .replace("@USER@", "user root;" if os.geteuid() == 0 else ""))
    path = os.path.join(prefix, "nginx.conf")
    open(path, "w").write(conf)
    proc = subprocess.Popen([exe, "-p", prefix, "-c", path, "-e", os.path.join(prefix, "error.log")],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(proc)
    addr = "127.0.0.1:%d" % port
    deadline = time.time() + 30
    while subprocess.run([args.rmedia, "remote", "health", "--server", addr, "--deadline", "2"],
                         capture_output=True).returncode != 0:
        if proc.poll() is not None or time.time() > deadline:
            return None, None
        time.sleep(0.1)
    return proc, addr


EXEC = "/remotemedia.v1.PipelineExecutionService/ExecutePipeline"


def throughput(target, clients, count):
    """Calls per second of `clients` concurrent grpc_load unary clients."""
    cmd = [os.path.join(args.bindir, "grpc_load"), "--target", target, "--method", EXEC, "--requests",
           os.path.join(tmp, "unary_calc.bin"), "--mode", "unary", "--count", str(count)]
    t0 = time.time()
    ps = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(clients)]
    for p in ps:
        out, err = p.communicate(timeout=900)
        if p.returncode != 0:
            raise RuntimeError("grpc_load failed: " + err[-1500:])
    return clients * count / (time.time() - t0)


try:
    rm, addr = start([args.rmedia, "serve", "--listen", "127.0.0.1:0", "--port-file", "{PORT_FILE}"], "hop")
    log("RemotePipeline hop against %s" % addr)
    r = subprocess.run([os.path.join(args.bindir, "bench_remote_hop"), "--server", addr] +
                       (["--quick"] if QUICK else []), capture_output=True, text=True, timeout=900)
    sys.stderr.write(r.stderr)
    if r.returncode != 0:
        raise SystemExit("bench_remote_hop failed")
    sys.stdout.write(r.stdout)
    stop(rm)

    if not os.path.exists(os.path.join(args.bindir, "grpc_load")):
        log("no grpc_load: throughput skipped")
        raise SystemExit(0)
    subprocess.run([PY, os.path.join(args.source, "bench", "grpc", "make_requests.py"), args.source, tmp],
                   check=True, stdout=subprocess.DEVNULL)
    servers = [start([args.rmedia, "serve", "--listen", "127.0.0.1:0", "--port-file", "{PORT_FILE}"], "s%d" % i)
               for i in range(3)]
    ngx, ngx_addr = nginx([a for _, a in servers])
    ngx1, ngx1_addr = nginx([servers[0][1]]) if ngx else (None, None)
    if not ngx or not ngx1:
        log("nginx not available: throughput through nginx skipped")
        raise SystemExit(0)
    clients, count = (4, 200) if QUICK else (8, 1000)
    reps = 1 if QUICK else 3
    direct, via, via1 = [], [], []
    for _ in range(reps):  # interleaved
        direct.append(throughput(servers[0][1], clients, count))
        via.append(throughput(ngx_addr, clients, count))
        via1.append(throughput(ngx1_addr, clients, count))
    med = lambda v: sorted(v)[len(v) // 2]  # noqa: E731
    d, v, v1 = med(direct), med(via), med(via1)
    log("unary calls/s: 1 server direct %s; nginx -> 3 servers %s; nginx -> 1 server %s" % (
        ", ".join("%.0f" % x for x in direct), ", ".join("%.0f" % x for x in via),
        ", ".join("%.0f" % x for x in via1)))
    # Scale-out needs a core per server plus nginx and the clients; with
    # fewer, the three servers only share the same cores (and nginx, one
    # worker, is one more process on them): the figure is contention.
    cpus = os.cpu_count() or 1
    need = 3 + 1 + 1
    verdict = ("measured" if cpus >= need else
               "contention: %d CPUs for 3 servers + nginx + %d clients (scale-out needs >= %d)" % (cpus, clients, need))
    row("unary calculator calls/s, %d clients: nginx -> 3 servers vs 1 server direct" % clients, "%.0f/s" % v,
        "1 server direct %.0f/s (%d CPUs)" % (d, cpus), "%.2fx" % (v / d), verdict)
    row("unary calculator calls/s, %d clients: nginx -> 3 servers vs nginx -> 1 server (proxy cost held constant)"
        % clients, "%.0f/s" % v, "nginx -> 1 server %.0f/s (%d CPUs)" % (v1, cpus), "%.2fx" % (v / v1), verdict)
finally:
    for p in procs:
        stop(p, signal.SIGQUIT if "nginx" in str(p.args) else signal.SIGTERM)
    shutil.rmtree(tmp, True)
