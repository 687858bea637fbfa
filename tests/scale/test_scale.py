"""Scale-out behind Debian's nginx (deploy/nginx/remotemedia.conf.template):
three `rmedia serve` on ephemeral loopback ports, nginx (grpc_pass to an
upstream group) as a test-owned process (own prefix, pid and temp dirs,
daemon off, stopped by its PID).  A load of unary calls and streams runs
through nginx while one server is SIGKILLed and later restarted on its port:

- every unary call is answered exactly once with the right result (the
  client retries UNAVAILABLE on another attempt; nginx sends a refused
  connection to the next server itself);
- every stream either completes with all its results or reports a failure
  to its client — none ends quietly short;
- the restarted server takes load again (its request log)."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import grpc
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "grpc"))
import rmgrpc as r  # noqa: E402

ROOT = r.ROOT
TEMPLATE = os.path.join(ROOT, "deploy", "nginx", "remotemedia.conf.template")
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Nginx:
    """nginx as a child of the test; a port taken between picking and binding
    (another process) is retried with another."""

    def __init__(self, upstreams):
        self.prefix = tempfile.mkdtemp(prefix="rm-nginx-")
        for d in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            os.makedirs(os.path.join(self.prefix, d))
        template = open(TEMPLATE).read()
        for attempt in range(5):
            self.port = free_port()
            conf = (template.replace("@PREFIX@", self.prefix)
                    .replace("@LISTEN@", "127.0.0.1:%d" % self.port)
                    .replace("@UPSTREAMS@", "\n        ".join(
                        "server %s max_fails=1 fail_timeout=1s;" % u for u in upstreams))
                    .replace("@USER@", "user root;" if os.geteuid() == 0 else ""))
            self.conf = os.path.join(self.prefix, "nginx.conf")
            with open(self.conf, "w") as f:
                f.write(conf)
            self.log = open(os.path.join(self.prefix, "stderr.log"), "w")
            self.proc = subprocess.Popen([NGINX, "-p", self.prefix, "-c", self.conf, "-e",
                                          os.path.join(self.prefix, "error.log")],
                                         stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
            self.address = "127.0.0.1:%d" % self.port
            if self.wait_ready():
                return
            self.stop()
        raise RuntimeError("nginx did not start:\n" + self.error_log())

    def wait_ready(self, timeout=30):
        p = r.stubs()
        deadline = time.time() + timeout
        ch = grpc.insecure_channel(self.address)
        try:
            while time.time() < deadline:
                if self.proc.poll() is not None:
                    return False
                try:
                    resp = p.health_grpc.HealthStub(ch).Check(p.health.HealthCheckRequest(), timeout=2)
                    if resp.status == p.health.HealthCheckResponse.SERVING:
                        return True
                except grpc.RpcError:
                    pass
                time.sleep(0.1)
        finally:
            ch.close()
        return False

    def error_log(self):
        try:
            return open(os.path.join(self.prefix, "error.log")).read()[-4000:]
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: the master stops its workers
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def close(self):
        self.stop()
        shutil.rmtree(self.prefix, True)


CALC = r.example("calculator.json")
CALC_FILE = os.path.join(ROOT, "examples", "calculator.json")


def calc_request(x):
    p = r.stubs()
    req = p.execution.ExecuteRequest(manifest=r.manifest_proto(CALC), client_version="scale")
    req.data_inputs["multiply"].CopyFrom(p.common.DataBuffer(json=p.common.JsonData(json_payload=str(x))))
    return req


def served(server):
    """ExecutePipeline requests the server has logged."""
    return sum(1 for line in server.log_text().splitlines() if "ExecutePipeline" in line)


@pytest.fixture
def cluster():
    servers = [r.Server() for _ in range(3)]
    ngx = Nginx([s.address for s in servers])
    state = {"servers": servers, "nginx": ngx}
    yield state
    ngx.close()
    for s in state["servers"]:
        if s.proc.poll() is None:
            s.close()
        else:
            s.kill()


def test_kill_and_restart_under_load(cluster):
    p = r.stubs()
    ngx = cluster["nginx"]
    servers = cluster["servers"]
    n_calls, n_threads, n_streams, n_chunks = 600, 6, 6, 30
    answers = {}           # call id -> results received (must be exactly one)
    attempts = {"total": 0, "unavailable": 0}
    errors = []
    lock = threading.Lock()
    next_id = [0]
    done_calls = [0]

    def unary_worker():
        ch = grpc.insecure_channel(ngx.address)
        stub = p.execution_grpc.PipelineExecutionServiceStub(ch)
        while True:
            with lock:
                if next_id[0] >= n_calls:
                    break
                i = next_id[0]
                next_id[0] += 1
            for attempt in range(50):
                with lock:
                    attempts["total"] += 1
                try:
                    resp = stub.ExecutePipeline(calc_request(i), timeout=30)
                except grpc.RpcError as e:
                    if e.code() == grpc.StatusCode.UNAVAILABLE:
                        with lock:
                            attempts["unavailable"] += 1
                        time.sleep(0.05)
                        continue
                    with lock:
                        errors.append("call %d: %s %s" % (i, e.code(), e.details()))
                    break
                with lock:
                    answers.setdefault(i, []).append(resp.result.data_outputs["add"].json.json_payload)
                    done_calls[0] += 1
                break
            else:
                with lock:
                    errors.append("call %d: still UNAVAILABLE after 50 attempts" % i)
        ch.close()

    stream_outcomes = []

    def stream_worker(k):
        ch = grpc.insecure_channel(ngx.address)
        stub = p.streaming_grpc.StreamingPipelineServiceStub(ch)

        def requests():
            yield r.init_request(r.manifest_proto(CALC))
            for s in range(n_chunks):
                yield r.chunk_request("multiply", p.common.DataBuffer(json=p.common.JsonData(json_payload=str(s))), s)
                time.sleep(0.05)

        got, closed = {}, False
        try:
            for resp in stub.StreamPipeline(requests(), timeout=120):
                kind = resp.WhichOneof("response")
                if kind == "result":
                    got[resp.result.sequence] = resp.result.data_outputs["add"].json.json_payload
                elif kind == "closed":
                    closed = True
                elif kind == "error":
                    stream_outcomes.append(("error", k, resp.error.message))
                    return
            stream_outcomes.append(("completed" if closed else "ended-without-close", k, got))
        except grpc.RpcError as e:
            stream_outcomes.append(("failed", k, str(e.code())))
        finally:
            ch.close()

    threads = [threading.Thread(target=unary_worker) for _ in range(n_threads)]
    threads += [threading.Thread(target=stream_worker, args=(k,)) for k in range(n_streams)]
    for t in threads:
        t.start()

    victim = servers[1]
    # SIGKILL one server once a quarter of the calls are answered
    while done_calls[0] < n_calls // 4 and any(t.is_alive() for t in threads):
        time.sleep(0.01)
    address = victim.address
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait()
    victim.kill()
    # restart it on the same port at half way
    while done_calls[0] < n_calls // 2 and any(t.is_alive() for t in threads):
        time.sleep(0.01)
    restarted = r.Server(args=["--listen", address])
    assert restarted.address == address
    servers[1] = restarted
    for t in threads:
        t.join(300)
    assert not any(t.is_alive() for t in threads), "load did not finish"

    assert not errors, errors[:10]
    assert sorted(answers) == list(range(n_calls))
    for i, results in answers.items():
        assert results == [str(i * 2 + 10)], (i, results)  # exactly once, right value

    # streams: complete with every result, or a failure the client saw
    assert len(stream_outcomes) == n_streams
    for kind, k, detail in stream_outcomes:
        assert kind in ("completed", "failed", "error"), (kind, k, detail)
        if kind == "completed":
            assert detail == {s: str(s * 2 + 10) for s in range(n_chunks)}, (k, detail)

    # the restarted server takes load again (nginx retries it after fail_timeout)
    ch = grpc.insecure_channel(ngx.address)
    stub = p.execution_grpc.PipelineExecutionServiceStub(ch)
    deadline = time.time() + 60
    before = served(restarted)
    extra = 0
    while served(restarted) == 0 and time.time() < deadline:
        try:
            resp = stub.ExecutePipeline(calc_request(extra), timeout=30)
            assert resp.result.data_outputs["add"].json.json_payload == str(extra * 2 + 10)
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.UNAVAILABLE, e
        extra += 1
    assert served(restarted) > 0, "the restarted server got no requests (%d before, %d extra calls)" % (before, extra)
    # and a fair share of what follows (round robin over three: about a third)
    first = served(restarted)
    for i in range(90):
        resp = stub.ExecutePipeline(calc_request(i), timeout=30)
        assert resp.result.data_outputs["add"].json.json_payload == str(i * 2 + 10)
    ch.close()
    share = served(restarted) - first
    assert share >= 15, "the restarted server took %d of 90 calls" % share
    others = [served(s) for s in (servers[0], servers[2])]
    assert all(n > 0 for n in others), others
    print("\nscale: %d calls, %d attempts (%d UNAVAILABLE retried), streams %s, restarted server took %d of 90 "
          "calls after the load" % (n_calls, attempts["total"], attempts["unavailable"],
                                    {o: sum(1 for x in stream_outcomes if x[0] == o) for o in ("completed", "failed", "error")},
                                    share))


# ------------------------------------------- RemotePipeline, no nginx --

def test_remote_pipeline_failover(tmp_path):
    """The same through a RemotePipeline node with its own endpoint list: a
    stream of values runs through `rmedia run`; the server holding the stream
    is SIGKILLed part way.  The node reopens the stream on another endpoint,
    resends what was not answered and says so in a remote_events event: every
    input is answered (a resent one possibly twice, never more than the event
    says), nothing is lost, and a new session after the restart uses the
    restarted server again."""
    servers = [r.Server() for _ in range(3)]
    try:
        _failover(tmp_path, servers)
    finally:
        for s in servers:
            if s.proc.poll() is None:
                s.close()
            else:
                s.kill()


def open_streams(server):
    p = r.stubs()
    _, call = server.health_stub().Check.with_call(p.health.HealthCheckRequest(), timeout=10)
    md = dict(call.initial_metadata())
    return int(md.get("x-rm-active-sessions", "0"))


def _failover(tmp_path, servers):
    n = 300
    m = {"version": "v1",
         "nodes": [{"id": "calc", "node_type": "RemotePipeline",
                    "params": {"endpoints": [s.address for s in servers], "manifest": CALC_FILE,
                               "retries": 3, "backoff_ms": 20, "timeout_ms": 10000}}],
         "connections": []}
    path = str(tmp_path / "failover.json")
    with open(path, "w") as f:
        json.dump(m, f)
    metrics = str(tmp_path / "metrics.json")
    proc = subprocess.Popen([r.RMEDIA, "run", path, "-f", "jsonl", "--metrics", metrics], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=dict(os.environ, RMEDIA_PLUGIN_PATH=""))
    lines = []

    def read_lines():
        for line in proc.stdout:
            lines.append(line.decode())
    reader = threading.Thread(target=read_lines)
    errs = []
    err_reader = threading.Thread(target=lambda: errs.append(proc.stderr.read().decode()))
    reader.start()
    err_reader.start()
    victim = servers[0]  # round robin starts at the first endpoint
    address = victim.address
    for i in range(n):
        proc.stdin.write(b"%d\n" % i)
        proc.stdin.flush()
        time.sleep(0.005)
        if i == n // 3:
            # the stream must be open on the first endpoint before the kill
            # (a slow start under ASan or load must not see the kill first):
            # its health reply counts open streams (x-rm-active-sessions)
            deadline = time.time() + 120
            while open_streams(victim) < 1 and time.time() < deadline and proc.poll() is None:
                time.sleep(0.05)
            assert open_streams(victim) >= 1, "the stream did not open on %s" % address
            victim.proc.send_signal(signal.SIGKILL)
            victim.proc.wait()
            victim.kill()
    proc.stdin.close()
    assert proc.wait(120) == 0, errs
    reader.join()
    err_reader.join()
    outs = [json.loads(x) for x in lines]
    events = [o["value"] for o in outs if o["port"] == "remote_events"]
    values = [o["value"] for o in outs if o["port"] == "out"]
    assert len(events) == 1, (events, errs)
    ev = events[0]
    assert ev["event"] == "failover" and ev["node"] == "calc" and ev["from"] == address, ev
    assert ev["to"] in (servers[1].address, servers[2].address) and ev["lost"] == 0, ev
    assert "failed" in errs[0] and address in errs[0], errs  # the warning names the endpoint
    counts = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    assert sorted(counts) == sorted(i * 2 + 10 for i in range(n)), "an input was not answered"
    assert sum(c - 1 for c in counts.values()) <= ev["resent"], (counts, ev)
    print("failover event:", ev, "duplicates:", sum(c - 1 for c in counts.values()))
    stats = json.load(open(metrics))["node_metrics"]["calc"]["stats"]
    assert stats["endpoint %s failures" % address] >= 1
    # every frame was sent somewhere (resent ones twice), plus two stream opens
    assert stats["endpoint %s calls" % address] + stats["endpoint %s calls" % ev["to"]] >= n + 2, stats

    # the killed server comes back on its port: a new session takes it again
    restarted = r.Server(args=["--listen", address])
    servers[0] = restarted
    p = subprocess.run([r.RMEDIA, "run", path, "--metrics", metrics], input=b"[1, 2, 3]", capture_output=True,
                       env=dict(os.environ, RMEDIA_PLUGIN_PATH=""), timeout=120)
    assert p.returncode == 0 and p.stdout == b"[12,14,16]\n", p.stderr
    stats = json.load(open(metrics))["node_metrics"]["calc"]["stats"]
    assert stats["endpoint %s calls" % address] >= 4, stats
