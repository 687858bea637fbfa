#!/usr/bin/env python3
"""Soak test of `rmedia serve` (make soak; not part of make test or CI).

    python3 tests/soak/soak.py --build build/release [--seconds 3600]
                               [--clients 8] [--streams 10] [--sample 60] [--rest-every S]

One server, many concurrent real-time streams for --seconds (env
SOAK_SECONDS, default 3600):
  - --clients load processes (bench/grpc_load, gRPC core C API), each
    holding --streams streams of 48 kHz 20 ms audio chunks in real time
    through AudioResample -> VAD -> TestFaultNode;
  - a random client is SIGKILLed every 1-5 s (its streams vanish
    mid-call) and replaced; clients also end on their own after 5-20 s;
  - TestFaultNode (the test-only plugin tests/plugins/faults, loaded with
    --plugin-dir; never in the default registry) fails 45 % of frames, behind
    an on_error retry policy whose circuit breaker opens after 3 failed
    frames and closes again after 2 good ones in half-open;
  - every --sample seconds (default 60): server RSS, open fds, threads,
    open and live sessions, and from /metrics the heap in use (glibc
    mallinfo2: allocated and not freed), the freed heap glibc keeps, and the
    malloc arena count.
At the end the clients stop and the server must come back to rest: no live
session (remotemedia_grpc_live_sessions 0 within 60 s), health SERVING, fds
back to the start, the heap in use at rest back to its level at the start
(within --heap-slack-mb: a leak grows with the chunks, millions of them), RSS
from the end of warm-up (--warmup seconds, default 300 or a third of the
run) to the last sample grown less than max(8 MB, 10 %), the breaker seen both
opening and closing, and a clean SIGTERM exit.  Prints a summary (also as
JSON with --json FILE) and exits 1 if a check fails.

--arena-max N runs the server with MALLOC_ARENA_MAX=N (glibc's default is 8
per CPU): fewer arenas keep less freed heap but make threads share arena
locks (docs/benchmarks.md has both measured).
"""
import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "grpc"))

ap = argparse.ArgumentParser()
ap.add_argument("--build", default=os.path.join(ROOT, "build", "release"))
ap.add_argument("--seconds", type=float, default=float(os.environ.get("SOAK_SECONDS", 3600)))
ap.add_argument("--clients", type=int, default=int(os.environ.get("SOAK_CLIENTS", 8)))
ap.add_argument("--streams", type=int, default=int(os.environ.get("SOAK_STREAMS", 10)))
ap.add_argument("--sample", type=float, default=60.0)
ap.add_argument("--json", default="")
ap.add_argument("--warmup", type=float, default=-1, help="seconds (default min(300, a third of --seconds))")
ap.add_argument("--heap-slack-mb", type=float, default=1.0)
ap.add_argument("--rest-every", type=float, default=float(os.environ.get("SOAK_REST_EVERY", -1)),
                help="seconds: after warm-up, send the clients away this often too and record the heap at rest "
                     "against the clients served (0: only after warm-up and at the end; default: a quarter of "
                     "runs of 30 minutes or more, else 0)")
ap.add_argument("--arena-max", type=int, default=0, help="MALLOC_ARENA_MAX for the server (0: its default)")
args = ap.parse_args()
if args.rest_every < 0:
    args.rest_every = args.seconds / 4 if args.seconds >= 1800 else 0

RMEDIA = os.path.join(args.build, "rmedia")
LOAD = os.path.join(args.build, "bench", "grpc_load")
FAULTS = os.path.join(args.build, "tests", "fault-plugin")
for path, what in ((RMEDIA, "rmedia"), (LOAD, "bench/grpc_load"), (os.path.join(FAULTS, "faults.so"),
                                                                  "the test fault plugin")):
    if not os.path.exists(path):
        sys.exit("soak: %s not found at %s (make build)" % (what, path))


def log(msg):
    print("soak: " + msg, flush=True)


def make_requests(path):
    """AudioResample -> VAD -> TestFaultNode (retry + breaker), 12 s of audio."""
    import struct
    import numpy as np
    import rmgrpc as r
    rate, n = 48000, 960
    t = np.arange(rate * 12) / rate
    env = (np.sin(2 * np.pi * 0.4 * t) > 0).astype(float)
    x = 0.3 * env * np.sin(2 * np.pi * 180 * t) + 0.003 * np.random.default_rng(1).standard_normal(len(t))
    m = r.simple_manifest(("resample", "AudioResample", {"target_rate": 16000}),
                          ("vad", "VAD", {"frame_ms": 20}),
                          ("fault", "TestFaultNode", {"fail_rate": 0.45}))
    # remotemedia.v1 has no on_error field: params.on_error (docs/grpc.md)
    m["nodes"][2]["params"]["on_error"] = {
        "policy": "retry", "max_retries": 1, "base_delay_ms": 1, "max_delay_ms": 2,
        "circuit_breaker": {"failure_threshold": 3, "reset_timeout_ms": 300, "success_threshold": 2}}
    msgs = [r.init_request(m, expected_chunk_size=n)]
    for i in range(len(x) // n):
        msgs.append(r.chunk_request("resample", r.audio_buffer(x[i * n:(i + 1) * n], rate, 1, "f32"), i))
    msgs.append(r.control_request("close"))
    with open(path, "wb") as f:
        for msg in msgs:
            b = msg.SerializeToString()
            f.write(struct.pack("<I", len(b)) + b)


def proc_stats(pid):
    st = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                st["rss_mb"] = int(line.split()[1]) / 1024.0
            elif line.startswith("Threads:"):
                st["threads"] = int(line.split()[1])
    st["fds"] = len(os.listdir("/proc/%d/fd" % pid))
    return st


def metrics(port):
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=30).read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith(("remotemedia_grpc_active_streams ", "remotemedia_grpc_live_sessions ",
                            "remotemedia_stream_chunks_total ", "remotemedia_malloc_")):
            k, v = line.split()
            out[k] = float(v)
        elif line.startswith("remotemedia_node_latency_seconds{"):  # mean per call, finished sessions
            k, v = line.split()
            out["node_mean_us_" + k.split('"')[1]] = round(float(v) * 1e6, 2)
    for k in ("heap_inuse", "heap_free", "mmap"):  # bytes -> MB, as rss_mb
        if "remotemedia_malloc_%s_bytes" % k in out:
            out["%s_mb" % k] = round(out.pop("remotemedia_malloc_%s_bytes" % k) / 1048576.0, 2)
    return out


def wait_file(path, proc, what, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit("soak: the server exited (%s) before writing its %s" % (proc.returncode, what))
        try:
            t = open(path).read().strip()
            if t:
                return int(t)
        except FileNotFoundError:
            pass
        time.sleep(0.05)
    sys.exit("soak: no %s after %d s" % (what, timeout))


def health(addr):
    import grpc
    import rmgrpc as r
    with grpc.insecure_channel(addr) as ch:
        return r.stubs().health_grpc.HealthStub(ch).Check(r.stubs().health.HealthCheckRequest(service=""),
                                                          timeout=10).status == 1


tmp = tempfile.mkdtemp(prefix="rm-soak-")
reqs = os.path.join(tmp, "soak.bin")
make_requests(reqs)
serve_log = os.path.join(tmp, "serve.log")
cmd = [RMEDIA, "serve", "--listen", "127.0.0.1:0", "--port-file", os.path.join(tmp, "port"),
       "--metrics-listen", "127.0.0.1:0", "--metrics-port-file", os.path.join(tmp, "mport"),
       "--plugin-dir", FAULTS, "--session-idle-timeout", "30", "--log-level", "info"]
senv = dict(os.environ, RMEDIA_PLUGIN_PATH="", REMOTEMEDIA_AUTH_TOKENS="")
senv.pop("MALLOC_ARENA_MAX", None)
if args.arena_max:
    senv["MALLOC_ARENA_MAX"] = str(args.arena_max)
server = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(serve_log, "w"),
                          env=senv)
port = wait_file(os.path.join(tmp, "port"), server, "port file")
mport = wait_file(os.path.join(tmp, "mport"), server, "metrics port file")
addr = "127.0.0.1:%d" % port
deadline = time.time() + 60
while True:
    try:
        if health(addr):
            break
    except Exception:
        pass
    if time.time() > deadline:
        sys.exit("soak: the server never reported SERVING")
    time.sleep(0.2)

rng = random.Random(int(os.environ.get("SOAK_SEED", "17")))
clients = []
killed = spawned = 0


def spawn():
    global spawned
    secs = rng.uniform(5, 20)
    p = subprocess.Popen([LOAD, "--target", addr, "--method", "/remotemedia.v1.StreamingPipelineService/StreamPipeline",
                          "--requests", reqs, "--mode", "realtime", "--streams", str(args.streams),
                          "--seconds", "%.1f" % secs], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    spawned += 1
    return p


log_pos, opened, closed = 0, 0, 0


def count_breaker():
    """Breaker transitions logged since the last call (the log is read incrementally)."""
    global log_pos, opened, closed
    with open(serve_log, "rb") as f:
        f.seek(log_pos)
        chunk = f.read()
    cut = chunk.rfind(b"\n") + 1  # a half-written last line is read next time
    log_pos += cut
    text = chunk[:cut].decode(errors="replace")
    opened += text.count("circuit breaker open")
    closed += text.count("circuit breaker closed")


def stop_clients():
    for c in clients:
        if c.poll() is None:
            c.kill()
            c.wait()


def come_to_rest():
    """Waits (after the clients left) for no live session, then for the
    server's idle trim; returns the stats at rest, or None if a session stayed."""
    deadline = time.time() + 60
    m = metrics(mport)
    while (m.get("remotemedia_grpc_live_sessions", 1) or m.get("remotemedia_grpc_active_streams", 1)) \
            and time.time() < deadline:
        time.sleep(0.5)
        m = metrics(mport)
    if m.get("remotemedia_grpc_live_sessions") != 0 or m.get("remotemedia_grpc_active_streams") != 0:
        fails.append("sessions stuck after the clients left: %s" % m)
        return None
    at = time.time()
    # the server gives freed heap back once idle for RMT_TRIM_IDLE_S (2 s)
    trims = m.get("remotemedia_malloc_trims_total", 0)
    deadline = time.time() + 15
    while m.get("remotemedia_malloc_trims_total", 0) <= trims and time.time() < deadline:
        time.sleep(0.5)
        m = metrics(mport)
    time.sleep(1)
    st = proc_stats(server.pid)
    st.update(metrics(mport))
    st["reached_s"] = at
    return st


fails = []
base = proc_stats(server.pid)
base.update(metrics(mport))
samples = []
# warm-up fills the allocator's arenas and caches to the load's level; then
# the clients leave once (rest1): heap in use there is the reference for the end
warmup = args.warmup if args.warmup >= 0 else min(300.0, args.seconds / 3)
rest1 = None
rests = []  # [t, clients spawned so far, heap in use at rest, rss at rest]
next_rest = None
t0 = time.time()
log("server pid %d on %s; %d clients x %d streams for %.0f s; sample every %.0f s" %
    (server.pid, addr, args.clients, args.streams, args.seconds, args.sample))
log("start: rss %.1f MB, heap in use %.2f MB, %d fds, %d threads, %d arenas" %
    (base["rss_mb"], base.get("heap_inuse_mb", -1), base["fds"], base["threads"],
     base.get("remotemedia_malloc_arenas", -1)))
next_kill = time.time() + rng.uniform(1, 5)
next_sample = time.time() + args.sample
try:
    while time.time() - t0 < args.seconds:
        if rest1 is None and time.time() - t0 >= warmup:
            stop_clients()
            rest1 = come_to_rest() or {}
            rest1["t"] = round(time.time() - t0)
            log("t=%4ds rest after warm-up: rss %.1f MB, heap in use %.2f / free %.2f MB, %d fds" %
                (rest1["t"], rest1.get("rss_mb", -1), rest1.get("heap_inuse_mb", -1), rest1.get("heap_free_mb", -1),
                 rest1.get("fds", -1)))
            rests.append([rest1["t"], spawned, rest1.get("heap_inuse_mb", -1), rest1.get("rss_mb", -1)])
            next_sample = time.time() + args.sample
            next_rest = time.time() + args.rest_every if args.rest_every > 0 else None
        elif next_rest is not None and time.time() >= next_rest and args.seconds - (time.time() - t0) > 60:
            stop_clients()
            r = come_to_rest() or {}
            rests.append([round(time.time() - t0), spawned, r.get("heap_inuse_mb", -1), r.get("rss_mb", -1)])
            log("t=%4ds rest: %d clients so far; rss %.1f MB, heap in use %.2f / free %.2f MB, %d fds" %
                (rests[-1][0], spawned, r.get("rss_mb", -1), r.get("heap_inuse_mb", -1), r.get("heap_free_mb", -1),
                 r.get("fds", -1)))
            next_rest = time.time() + args.rest_every
        clients = [c for c in clients if c.poll() is None]
        while len(clients) < args.clients:
            clients.append(spawn())
        now = time.time()
        if now >= next_kill and clients:
            victim = rng.choice(clients)
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            killed += 1
            next_kill = now + rng.uniform(1, 5)
        if now >= next_sample:
            st = proc_stats(server.pid)
            st.update(metrics(mport))
            st["t"] = round(now - t0)
            st["load"] = float(open("/proc/loadavg").read().split()[0])
            count_breaker()
            st["breaker_opened"], st["breaker_closed"] = opened, closed
            st["clients_killed"] = killed
            samples.append(st)
            log("t=%4ds rss %.1f MB, heap in use %.2f / free %.2f MB, %d arenas, %d fds, %d threads, "
                "%d open / %d live sessions, %d chunks, breaker opened %d / closed %d, %d clients killed; load %.2f" %
                (st["t"], st["rss_mb"], st.get("heap_inuse_mb", -1), st.get("heap_free_mb", -1),
                 st.get("remotemedia_malloc_arenas", -1), st["fds"], st["threads"],
                 st.get("remotemedia_grpc_active_streams", -1),
                 st.get("remotemedia_grpc_live_sessions", -1), st.get("remotemedia_stream_chunks_total", 0),
                 opened, closed, killed, st["load"]))
            next_sample += args.sample
        if server.poll() is not None:
            break
        time.sleep(0.1)
finally:
    stop_clients()

end, rest = None, None
if server.poll() is not None:
    fails.append("the server died during the soak (exit %s)" % server.returncode)
else:
    end = come_to_rest()
    rest = end["reached_s"] if end else None
    if not health(addr):
        fails.append("health is not SERVING at the end")
    if end and end["fds"] > base["fds"] + 2:
        fails.append("fd leak: %d fds at the start, %d at rest" % (base["fds"], end["fds"]))

rss = [s["rss_mb"] for s in samples]
warm = [s["rss_mb"] for s in samples if rest1 is not None and s["t"] > rest1.get("t", 0)]
growth = (warm[-1] - warm[0]) if len(warm) >= 2 else 0.0
if len(warm) >= 2 and growth > max(8.0, 0.10 * warm[0]):
    fails.append("RSS under load grew %.1f MB after warm-up (%.1f -> %.1f MB)" % (growth, warm[0], warm[-1]))
heap_growth = rss_rest_growth = None
if end:
    rests.append([round(time.time() - t0), spawned, end.get("heap_inuse_mb", -1), end.get("rss_mb", -1)])


def per_client(a, b):
    """Heap in use at rest gained per client served between two rests (bytes)."""
    return (b[2] - a[2]) * 1048576 / max(1, b[1] - a[1])


if end and rest1 and "heap_inuse_mb" in rest1 and "heap_inuse_mb" in end:
    # a leak grows with the chunks (millions) and sessions (thousands) after
    # rest1, at a steady rate; the long-lived threads' tcaches (chunks glibc's
    # mallinfo counts as in use) fill toward a cap, ever slower
    heap_growth = end["heap_inuse_mb"] - rest1["heap_inuse_mb"]
    if heap_growth > args.heap_slack_mb:
        pts = [r for r in rests if r[2] >= 0]
        first = per_client(pts[0], pts[1]) if len(pts) >= 3 else 0
        last = per_client(pts[-2], pts[-1]) if len(pts) >= 3 else 0
        if first > 0 and last < 0.75 * first:
            log("heap in use at rest %.2f MB above the rest after warm-up, but slowing: %.0f bytes per client "
                "after warm-up, %.0f in the last stretch (caches filling; a leak keeps its rate)" %
                (heap_growth, first, last))
        else:
            fails.append("heap in use at rest %.2f MB above the rest after warm-up (%.2f -> %.2f MB)%s: a leak" %
                         (heap_growth, rest1["heap_inuse_mb"], end["heap_inuse_mb"],
                          ", at a steady %.0f then %.0f bytes per client" % (first, last) if len(pts) >= 3 else ""))
    rss_rest_growth = end["rss_mb"] - rest1["rss_mb"]
    if rss_rest_growth > max(4.0, 0.10 * rest1["rss_mb"]):
        fails.append("RSS at rest grew %.1f MB since the rest after warm-up (%.1f -> %.1f MB)" %
                     (rss_rest_growth, rest1["rss_mb"], end["rss_mb"]))
count_breaker()
if not opened or not closed:
    fails.append("the breaker was not seen both opening (%d) and closing (%d)" % (opened, closed))

rc = None
if server.poll() is None:
    server.send_signal(signal.SIGTERM)
    try:
        rc = server.wait(60)
    except subprocess.TimeoutExpired:
        server.kill()
        rc = server.wait()
        fails.append("no exit within 60 s of SIGTERM")
    if rc != 0:
        fails.append("exit code %s after SIGTERM" % rc)

# heap in use at rest against the clients served: a least-squares slope, in
# bytes per client (a per-connection leak shows as a steady slope)
per_client = None
pts = [(r[1], r[2]) for r in rests if r[2] >= 0]
if len(pts) >= 3:
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    den = sum((x - mx) ** 2 for x, _ in pts)
    if den > 0:
        per_client = round(sum((x - mx) * (y - my) for x, y in pts) / den * 1048576)
summary = {
    "seconds": round(time.time() - t0), "clients": args.clients, "streams_per_client": args.streams,
    "clients_spawned": spawned, "clients_killed": killed,
    "chunks": int(samples[-1].get("remotemedia_stream_chunks_total", 0)) if samples else 0,
    "rss_mb": [round(x, 1) for x in rss], "warmup_s": warmup, "rss_growth_after_warmup_mb": round(growth, 1),
    "heap_inuse_mb": [s.get("heap_inuse_mb") for s in samples],
    "heap_free_mb": [s.get("heap_free_mb") for s in samples],
    "arenas": [s.get("remotemedia_malloc_arenas") for s in samples],
    "heap_inuse_start_mb": base.get("heap_inuse_mb"),
    "rest_after_warmup": {k: rest1.get(k) for k in ("t", "rss_mb", "heap_inuse_mb", "heap_free_mb", "fds")}
    if rest1 else None,
    "heap_inuse_at_rest_mb": end.get("heap_inuse_mb") if end else None,
    "heap_free_at_rest_mb": end.get("heap_free_mb") if end else None,
    "heap_growth_at_rest_mb": round(heap_growth, 2) if heap_growth is not None else None,
    "rests": [{"t": r[0], "clients_spawned": r[1], "heap_inuse_mb": r[2], "rss_mb": round(r[3], 1)} for r in rests],
    "heap_at_rest_bytes_per_client": per_client,
    "rss_at_rest_growth_mb": round(rss_rest_growth, 1) if rss_rest_growth is not None else None,
    "node_mean_us": {k[len("node_mean_us_"):]: v for k, v in (end or {}).items() if k.startswith("node_mean_us_")},
    "trims": end.get("remotemedia_malloc_trims_total") if end else None,
    "trim_seconds_total": end.get("remotemedia_malloc_trim_seconds_total") if end else None,
    "trim_seconds_max": end.get("remotemedia_malloc_trim_seconds_max") if end else None,
    "arena_max_env": args.arena_max or None, "rss_start_mb": round(base["rss_mb"], 1),
    "fds_start": base["fds"], "fds_peak": max([s["fds"] for s in samples] or [0]),
    "fds_at_rest": end["fds"] if end else None,
    "rss_at_rest_mb": round(end["rss_mb"], 1) if end else None,
    "seconds_to_rest": round(rest - (t0 + args.seconds), 1) if rest else None,
    "threads_peak": max([s["threads"] for s in samples] or [0]),
    "breaker_opened": opened, "breaker_closed": closed,
    "load_average_end": open("/proc/loadavg").read().split()[0], "failures": fails,
    "samples": samples}
log("summary: " + json.dumps(summary))
if args.json:
    with open(args.json, "w") as f:
        json.dump(summary, f, indent=1)
if fails:
    log("FAILED:\n  " + "\n  ".join(fails) + "\nserver log: " + serve_log)
    sys.exit(1)
shutil.rmtree(tmp, True)
log("passed")
