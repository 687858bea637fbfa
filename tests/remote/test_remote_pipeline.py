"""The RemotePipeline node (src/transports/grpc/remote_pipeline_node.c)
through `rmedia run` / `rmedia validate` against real `rmedia serve`
processes: same results as the sub-graph run locally, ports checked by
validate, per-endpoint metrics, and every fault (unreachable endpoint, wrong
token, TLS mismatch, server error, deadline exceeded, breaker open) a clear
error naming the endpoint and the node.  Failover mid-stream (SIGKILL) is in
tests/scale/test_scale.py.

Servers: tests/grpc/rmgrpc.Server (ephemeral loopback port, health wait,
stopped by PID).  RMEDIA is the binary under test (client and server)."""
import json
import os
import socket
import sys
import threading

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "grpc"))
import rmgrpc as r  # noqa: E402
from test_remote import assert_fails_naming as base_assert_fails_naming  # noqa: E402
from test_remote import closed_port, rmedia, synth_wav  # noqa: E402

ROOT = r.ROOT
CALC = os.path.join(ROOT, "examples", "calculator.json")


@pytest.fixture(scope="module")
def server():
    s = r.Server()
    yield s
    s.close()


def offload(tmp_path, endpoints, sub=CALC, name="offload.json", **params):
    """pre (local) → calc (RemotePipeline running `sub`) → post (local)."""
    p = {"endpoints": endpoints, "manifest": sub}
    p.update(params)
    m = {"version": "v1",
         "nodes": [{"id": "pre", "node_type": "AddNode", "params": {"addend": 1}},
                   {"id": "calc", "node_type": "RemotePipeline", "params": p},
                   {"id": "post", "node_type": "MultiplyNode", "params": {"multiplier": 3}}],
         "connections": [{"from": "pre", "to": "calc"}, {"from": "calc.out", "to": "post"}]}
    path = str(tmp_path / name)
    with open(path, "w") as f:
        json.dump(m, f)
    return path


def local_equivalent(tmp_path):
    sub = json.load(open(CALC))
    m = {"version": "v1",
         "nodes": [{"id": "pre", "node_type": "AddNode", "params": {"addend": 1}}] + sub["nodes"] +
                  [{"id": "post", "node_type": "MultiplyNode", "params": {"multiplier": 3}}],
         "connections": [{"from": "pre", "to": "multiply"}] + sub["connections"] + [{"from": "add", "to": "post"}]}
    path = str(tmp_path / "local.json")
    with open(path, "w") as f:
        json.dump(m, f)
    return path


def assert_fails_naming(p, endpoint, *words):
    base_assert_fails_naming(p, endpoint, *words)
    assert "calc" in p.stderr.decode(), p.stderr  # the node


def test_same_as_local(server, tmp_path):
    inp = b"[1, 2, 3, 40]"
    remote = rmedia("run", offload(tmp_path, [server.address]), stdin=inp)
    local = rmedia("run", local_equivalent(tmp_path), stdin=inp)
    assert remote.returncode == 0, remote.stderr
    assert remote.stdout == local.stdout == b"[42,48,54,276]\n"
    # line input: the same values, and each output carries its input's seq
    lines = rmedia("run", offload(tmp_path, [server.address]), "-f", "jsonl", stdin=b"1\n2\n3\n")
    assert lines.returncode == 0, lines.stderr
    local = rmedia("run", local_equivalent(tmp_path), "-f", "jsonl", stdin=b"1\n2\n3\n")
    assert lines.stdout == local.stdout and len(local.stdout.splitlines()) == 3


def test_inline_manifest_relative_file_and_reply_wait(server, tmp_path):
    sub = json.load(open(CALC))
    inline = rmedia("run", offload(tmp_path, [server.address], sub=sub, reply_wait_ms=2000), stdin=b"[1, 2]")
    assert inline.returncode == 0 and inline.stdout == b"[42,48]\n", inline.stderr
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "calc.json").write_text(json.dumps(sub))
    rel = offload(tmp_path, [server.address], sub="sub/calc.json")
    p = rmedia("run", rel, stdin=b"[1]", env={})
    assert p.returncode == 0 and p.stdout == b"[42]\n", p.stderr


def test_metrics_per_endpoint(server, tmp_path):
    m = str(tmp_path / "m.json")
    p = rmedia("run", offload(tmp_path, [server.address]), "--metrics", m, stdin=b"[1, 2, 3]")
    assert p.returncode == 0, p.stderr
    stats = json.load(open(m))["node_metrics"]["calc"]["stats"]
    key = "endpoint %s " % server.address
    assert stats[key + "calls"] >= 4  # one stream open + three frames
    assert stats[key + "failures"] == 0 and stats[key + "breaker"] == 0
    assert 0 < stats[key + "rtt_p50_us"] <= stats[key + "rtt_p99_us"]


def test_validate_checks_ports_without_a_server(tmp_path):
    addr = "127.0.0.1:%d" % closed_port()
    ok = rmedia("validate", offload(tmp_path, [addr]))
    assert ok.returncode == 0, ok.stderr
    path = offload(tmp_path, [addr])
    m = json.load(open(path))
    m["connections"][1]["from"] = "calc.results"
    open(path, "w").write(json.dumps(m))
    bad = rmedia("validate", path)
    assert bad.returncode != 0 and b"no output port 'results'" in bad.stderr and b"calc" in bad.stderr, bad.stderr
    missing = rmedia("validate", offload(tmp_path, [addr], sub="nope.yaml"))
    assert missing.returncode != 0 and b"nope.yaml" in missing.stderr and b"calc" in missing.stderr, missing.stderr
    badep = rmedia("validate", offload(tmp_path, ["no-port-here"]))
    assert badep.returncode != 0 and b"not host:port" in badep.stderr and b"calc" in badep.stderr, badep.stderr
    many = rmedia("validate", offload(tmp_path, [addr] * 9))
    assert many.returncode != 0 and b"endpoints" in many.stderr, many.stderr


def test_unreachable_endpoint(tmp_path):
    addr = "127.0.0.1:%d" % closed_port()
    p = rmedia("run", offload(tmp_path, [addr], retries=1, backoff_ms=1), stdin=b"[1]")
    assert_fails_naming(p, addr, "unavailable")


def test_wrong_token(tmp_path):
    tokens = tmp_path / "tokens"
    tokens.write_text("right-token\n")
    s = r.Server(args=["--auth-token-file", str(tokens)], token="right-token")
    try:
        p = rmedia("run", offload(tmp_path, [s.address], token="wrong"), stdin=b"[1]")
        assert_fails_naming(p, s.address, "authentication")
        ok = rmedia("run", offload(tmp_path, [s.address], token="right-token"), stdin=b"[1]")
        assert ok.returncode == 0 and ok.stdout == b"[42]\n", ok.stderr
    finally:
        s.close()


def test_tls_mismatch_and_tls(server, tmp_path):
    d = r.make_test_certs(str(tmp_path))
    pem = lambda n: os.path.join(d, n)  # noqa: E731
    s = r.Server(args=["--tls-cert", pem("server.pem"), "--tls-key", pem("server.key")],
                 tls={"ca": open(pem("ca.pem"), "rb").read()})
    try:
        ok = rmedia("run", offload(tmp_path, [s.address], tls_ca=pem("ca.pem")), stdin=b"[1]")
        assert ok.returncode == 0 and ok.stdout == b"[42]\n", ok.stderr
        plain = rmedia("run", offload(tmp_path, [s.address], retries=0, timeout_ms=5000), stdin=b"[1]")
        assert_fails_naming(plain, s.address, "unavailable", "deadline")
        other = rmedia("run", offload(tmp_path, [s.address], retries=0, timeout_ms=5000, tls_ca=pem("other.pem")),
                       stdin=b"[1]")
        assert_fails_naming(other, s.address, "unavailable", "deadline")
    finally:
        s.close()
    tls_to_plain = rmedia("run", offload(tmp_path, [server.address], retries=0, timeout_ms=5000, tls_ca=pem("ca.pem")),
                          stdin=b"[1]")
    assert_fails_naming(tls_to_plain, server.address, "unavailable", "deadline")


def test_server_errors(server, tmp_path):
    # a node type this host does not know is left to the server, which refuses it
    sub = {"version": "v1", "nodes": [{"id": "x", "node_type": "NoSuchNode"}], "connections": []}
    p = rmedia("run", offload(tmp_path, [server.address], sub=sub), stdin=b"[1]")
    assert_fails_naming(p, server.address, "NoSuchNode")
    # a parameter the server rejects (validated there too)
    sub = {"version": "v1", "nodes": [{"id": "m", "node_type": "MultiplyNode", "params": {"nope": 1}}],
           "connections": []}
    p = rmedia("run", offload(tmp_path, [server.address], sub=sub), stdin=b"[1]")
    assert p.returncode != 0 and b"nope" in p.stderr, p.stderr


def test_deadline_exceeded(tmp_path):
    """A server that accepts connections and never answers."""
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)
    addr = "127.0.0.1:%d" % ls.getsockname()[1]
    conns = []
    stop = threading.Event()

    def accept():
        ls.settimeout(0.2)
        while not stop.is_set():
            try:
                conns.append(ls.accept()[0])
            except OSError:
                pass
    t = threading.Thread(target=accept)
    t.start()
    try:
        p = rmedia("run", offload(tmp_path, [addr], retries=0, timeout_ms=1000), stdin=b"[1]", timeout=60)
        assert_fails_naming(p, addr, "deadline exceeded")
    finally:
        stop.set()
        t.join()
        for c in conns:
            c.close()
        ls.close()


def test_breaker_open(tmp_path):
    a, b = "127.0.0.1:%d" % closed_port(), "127.0.0.1:%d" % closed_port()
    p = rmedia("run", offload(tmp_path, [a, b], retries=4, backoff_ms=1, breaker_failures=1,
                              breaker_reset_ms=60000), stdin=b"[1]")
    assert_fails_naming(p, a, "circuit breaker open")
    assert b in p.stderr.decode()


def test_least_loaded_prefers_the_idle_server(tmp_path):
    """Two servers; one holds an open stream.  least_loaded picks the other."""
    busy, idle = r.Server(), r.Server()
    try:
        hold = r.Pusher()
        call = busy.stream_stub().StreamPipeline(hold, metadata=busy.metadata(), timeout=60)
        hold.put(r.init_request(json.load(open(CALC))))
        next(call)  # StreamReady: the busy server has one open stream
        m = str(tmp_path / "m.json")
        out = rmedia("run", offload(tmp_path, [busy.address, idle.address], balance="least_loaded"), "--metrics", m,
                     stdin=b"[1, 2]")
        assert out.returncode == 0 and out.stdout == b"[42,48]\n", out.stderr
        stats = json.load(open(m))["node_metrics"]["calc"]["stats"]
        assert stats["endpoint %s calls" % idle.address] >= 3
        assert stats["endpoint %s calls" % busy.address] == 0
        hold.end()
        call.cancel()
    finally:
        busy.close()
        idle.close()


def test_audio_offload_same_as_local(server, tmp_path):
    """examples/offload.yaml's shape with the VAD remote: same events as local."""
    wav = str(tmp_path / "burst.wav")
    synth_wav(wav)
    sub = {"version": "v1", "nodes": [{"id": "vad", "node_type": "VAD", "params": {"frame_ms": 20}}],
           "connections": []}
    m = {"version": "v1",
         "nodes": [{"id": "resample", "node_type": "AudioResample", "params": {"target_rate": 16000}},
                   {"id": "calc", "node_type": "RemotePipeline", "params": {"endpoints": [server.address],
                                                                            "manifest": sub}}],
         "connections": [{"from": "resample", "to": "calc"}]}
    path = str(tmp_path / "a.json")
    open(path, "w").write(json.dumps(m))
    remote = rmedia("run", path, "-i", wav, "--only", "calc.events", "-f", "values")
    m["nodes"][1] = dict(sub["nodes"][0], id="calc")
    open(path, "w").write(json.dumps(m))
    local = rmedia("run", path, "-i", wav, "--only", "calc.events", "-f", "values")
    assert local.returncode == 0 and remote.returncode == 0, remote.stderr
    assert remote.stdout == local.stdout and b"is_speech_start" in local.stdout


def test_served_pipeline_with_remote_node_and_prometheus(server, tmp_path):
    """`rmedia serve` knows RemotePipeline too: a pipeline sent to one server
    offloads to another, and the first server's /metrics has the endpoint."""
    import urllib.request
    path = offload(tmp_path, [server.address], sub=json.load(open(CALC)))
    # not without --allow-remote: the client would choose where the server connects
    p = rmedia("remote", "run", "--server", server.address, path, stdin=b"[1, 2]")
    assert p.returncode != 0 and b"--allow-remote" in p.stderr and b"calc" in p.stderr, p.stderr
    front = r.Server(args=["--allow-remote"], metrics=True)
    try:
        p = rmedia("remote", "run", "--server", front.address, path, stdin=b"[1, 2]")
        assert p.returncode == 0 and p.stdout == b"[42,48]\n", p.stderr
        text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % front.metrics_port(), timeout=30).read().decode()
        calls = [line for line in text.splitlines()
                 if line.startswith('remotemedia_remote_endpoint_calls_total{endpoint="%s"}' % server.address)]
        assert calls and float(calls[0].split()[-1]) >= 3, text[-3000:]
        assert 'remotemedia_remote_endpoint_rtt_seconds{endpoint="%s",quantile="0.99"}' % server.address in text
    finally:
        front.close()


def test_breaker_shared_between_sessions(server, tmp_path):
    """The sessions of one process share each endpoint's breaker.  A server
    with --allow-remote runs the sessions of a RemotePipeline with endpoints
    [dead, live] whose breaker opens after one failure.
    A (reset 10 min): session 1 trips the dead endpoint; session 2 goes to the
    live one at once, without a call to the dead one.
    B (reset 1 s, M = 5, another policy so another breaker): after the reset
    time the endpoint, now up, gets the probe in the next session (3
    successes: still half-open) and the session after that closes it.
    C: with one endpoint, down, the session after the one that tripped it
    fails at once: breaker open, naming the endpoint and the node."""
    import time
    dead = "127.0.0.1:%d" % closed_port()
    front = r.Server(args=["--allow-remote"])
    revived = None

    def session(path, n):
        m = str(tmp_path / ("m%d.json" % n))
        p = rmedia("remote", "run", "--server", front.address, path, "--metrics", m, stdin=b"[1, 2]")
        assert p.returncode == 0 and p.stdout == b"[42,48]\n", p.stderr
        stats = json.load(open(m))["node_metrics"]["calc"]["stats"]
        return lambda ep, k: stats["endpoint %s %s" % (ep, k)]

    def manifest(name, **breaker):
        return offload(tmp_path, [dead, server.address], sub=json.load(open(CALC)), name=name, retries=2,
                       backoff_ms=1, breaker_failures=1, **breaker)

    try:
        a = manifest("a.json", breaker_reset_ms=600000)
        s1 = session(a, 1)
        assert s1(dead, "calls") == 1 and s1(dead, "failures") == 1 and s1(dead, "breaker") == 1  # open
        s2 = session(a, 2)
        assert s2(dead, "calls") == 0 and s2(dead, "breaker") == 1  # skipped: open since session 1
        assert s2(server.address, "calls") >= 3 and s2(server.address, "failures") == 0

        b = manifest("b.json", breaker_reset_ms=1000, breaker_successes=5)
        s3 = session(b, 3)
        assert s3(dead, "failures") >= 1 and s3(dead, "breaker") == 1
        revived = r.Server(args=["--listen", dead])  # the endpoint comes back
        time.sleep(1.5)  # past the reset time
        s4 = session(b, 4)  # half-open: the probe (stream open) and two frames go to it
        assert s4(dead, "calls") == 3 and s4(dead, "failures") == 0 and s4(dead, "breaker") == 2  # half-open
        s5 = session(b, 5)  # success 4 (open) and 5 (first frame): closed
        assert s5(dead, "calls") == 3 and s5(dead, "breaker") == 0
        # breaker A is a different breaker: still open, the dead port still skipped
        s6 = session(a, 6)
        assert s6(dead, "calls") == 0 and s6(dead, "breaker") == 1
        # one endpoint, down: the next session fails at once on the open
        # breaker, naming the endpoint and the node
        down = "127.0.0.1:%d" % closed_port()
        c = offload(tmp_path, [down], sub=json.load(open(CALC)), name="c.json", retries=0, breaker_failures=1,
                    breaker_reset_ms=600000)
        first = rmedia("remote", "run", "--server", front.address, c, stdin=b"[1]")
        assert_fails_naming(first, down, "unavailable")
        second = rmedia("remote", "run", "--server", front.address, c, stdin=b"[1]")
        assert_fails_naming(second, down, "circuit breaker open")
    finally:
        front.close()
        if revived:
            revived.close()
