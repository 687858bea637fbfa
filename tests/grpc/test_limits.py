"""Limits: --max-message-bytes, --max-sessions, --session-idle-timeout,
client deadlines; /metrics; one log line per request (--log-format json)."""
import json
import os
import time
import urllib.request

import grpc
import pytest

import rmgrpc as r

CALC = os.path.join(r.ROOT, "examples", "calculator.json")


def passthrough():
    return r.simple_manifest(("p", "PassThrough", {}))


def test_max_message_bytes():
    s = r.Server(args=["--max-message-bytes", "65536"])
    try:
        pb = r.stubs()
        big = pb.common.DataBuffer(binary=pb.common.BinaryBuffer(data=b"z" * 100000))
        with pytest.raises(grpc.RpcError) as e:
            r.execute(s, passthrough(), {"p": big})
        assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        with pytest.raises(grpc.RpcError) as e:
            r.stream_all(s, [r.init_request(passthrough()), r.chunk_request("p", big, 0)])
        assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        small = pb.common.DataBuffer(binary=pb.common.BinaryBuffer(data=b"z" * 1000))
        assert r.execute(s, passthrough(), {"p": small}).WhichOneof("outcome") == "result"
    finally:
        s.close()


def _open_ready(s):
    p = r.Pusher()
    call = s.stream_stub().StreamPipeline(p, timeout=120)
    p.put(r.init_request(passthrough()))
    first = next(call)
    return p, call, first


def test_max_sessions():
    s = r.Server(args=["--max-sessions", "2"])
    try:
        a = _open_ready(s)
        b = _open_ready(s)
        assert a[2].WhichOneof("response") == "ready" and b[2].WhichOneof("response") == "ready"
        # the third is refused: a RESOURCE_EXHAUSTED status, or an error
        # message of type RESOURCE_LIMIT
        try:
            p, call, first = _open_ready(s)
            assert first.WhichOneof("response") == "error", first
            assert first.error.error_type == r.stubs().common.ERROR_TYPE_RESOURCE_LIMIT
            p.end()
            list(call)
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, e
        # closing one makes room again
        a[0].put(r.control_request("close"))
        a[0].end()
        assert list(a[1])[-1].WhichOneof("response") == "closed"
        deadline = time.time() + 30
        while True:
            try:
                c = _open_ready(s)
                if c[2].WhichOneof("response") == "ready":
                    break
            except grpc.RpcError:
                pass
            assert time.time() < deadline, "no session slot freed after CLOSE"
            time.sleep(0.2)
        for x in (b, c):
            x[0].put(r.control_request("close"))
            x[0].end()
            list(x[1])
    finally:
        s.close()


def test_session_idle_timeout():
    s = r.Server(args=["--session-idle-timeout", "1"])
    try:
        p, call, first = _open_ready(s)
        assert first.WhichOneof("response") == "ready"
        p.put(r.chunk_request("p", r.json_buffer(1), 0))
        # no more input: the server closes the session with a reason
        try:
            rest = list(call)
            assert rest[-1].WhichOneof("response") == "closed", rest
            assert "idle" in rest[-1].closed.reason.lower()
        except grpc.RpcError as e:
            assert e.code() in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED,
                                grpc.StatusCode.CANCELLED), e
            assert "idle" in (e.details() or "").lower()
        p.end()
    finally:
        s.close()


def test_client_deadline(server):
    # a stream that never closes, with a short deadline: the call ends with
    # DEADLINE_EXCEEDED and the server keeps serving
    p = r.Pusher()
    call = server.stream_stub().StreamPipeline(p, timeout=1.0)
    p.put(r.init_request(passthrough()))
    with pytest.raises(grpc.RpcError) as e:
        list(call)
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    p.end()
    res = r.execute(server, r.load_manifest_file(CALC), {"multiply": r.json_buffer(1)})
    assert res.WhichOneof("outcome") == "result"


def test_metrics_endpoint_and_json_log():
    s = r.Server(args=["--log-format", "json"], metrics=True)
    try:
        for i in range(3):
            r.execute(s, r.load_manifest_file(CALC), {"multiply": r.json_buffer(i)})
        r.stream_all(s, [r.init_request(passthrough()), r.chunk_request("p", r.json_buffer(1), 0),
                         r.control_request("close")])
        text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % s.metrics_port(), timeout=30).read().decode()
        for name in ("remotemedia_grpc_requests_total", "remotemedia_grpc_request_duration_seconds_bucket",
                     "remotemedia_grpc_active_streams", "remotemedia_stream_chunks_total"):
            assert name in text, name
        lines = [line for line in text.splitlines() if line.startswith("remotemedia_grpc_requests_total{")]
        assert any("ExecutePipeline" in line and line.split()[-1] in ("3", "3.0") for line in lines), lines
    finally:
        rc = s.stop()
        log = s.log_text()
        s.kill()
    assert rc == 0
    records = []
    for line in log.splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            pass
    assert sum(1 for x in records if "ExecutePipeline" in json.dumps(x)) >= 3, log[-3000:]
