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


def _fault_plugin_args():
    d = os.environ.get("RM_FAULT_PLUGIN_DIR") or os.path.join(r.ROOT, "build", "release", "tests", "fault-plugin")
    assert os.path.exists(os.path.join(d, "faults.so")), "the test-only fault plugin is not built in " + d
    return ["--plugin-dir", d]


def _unary_refused(e):
    assert e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, e
    assert "too many sessions" in e.details() and "--max-sessions" in e.details() and "unary call" in e.details(), \
        e.details()


def test_max_sessions_counts_unary_calls():
    # the only slot is held by a stream: a unary call is refused, naming the limit
    s = r.Server(args=["--max-sessions", "1"])
    try:
        a = _open_ready(s)
        assert a[2].WhichOneof("response") == "ready"
        with pytest.raises(grpc.RpcError) as e:
            r.execute(s, r.load_manifest_file(CALC), {"multiply": r.json_buffer(2)})
        _unary_refused(e.value)
        a[0].put(r.control_request("close"))
        a[0].end()
        list(a[1])
        deadline = time.time() + 30
        while True:  # the slot comes back once the stream has ended
            try:
                res = r.execute(s, r.load_manifest_file(CALC), {"multiply": r.json_buffer(2)})
                break
            except grpc.RpcError as e:
                _unary_refused(e)
                assert time.time() < deadline, "no session slot freed after CLOSE"
                time.sleep(0.2)
        assert res.WhichOneof("outcome") == "result"
    finally:
        s.close()


def test_concurrent_unary_calls_hit_max_sessions():
    # 6 unary calls of 1.5 s each at once against 2 slots: some run, the
    # others are refused with RESOURCE_EXHAUSTED; nothing else happens
    import threading
    s = r.Server(args=["--max-sessions", "2"] + _fault_plugin_args())
    slow = r.simple_manifest(("slow", "TestFaultNode", {"delay_ms": 1500}))
    outcomes = []
    lock = threading.Lock()

    def call():
        try:
            res = r.execute(s, slow, {"slow": r.json_buffer(1)})
            out = res.WhichOneof("outcome")
        except grpc.RpcError as e:
            _unary_refused(e)
            out = "refused"
        with lock:
            outcomes.append(out)
    try:
        threads = [threading.Thread(target=call) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert len(outcomes) == 6, outcomes
        assert outcomes.count("refused") >= 1 and outcomes.count("result") >= 1, outcomes
        assert outcomes.count("refused") + outcomes.count("result") == 6, outcomes
        # every slot is free again
        assert r.execute(s, slow, {"slow": r.json_buffer(1)}).WhichOneof("outcome") == "result"
    finally:
        s.close()


def _live_sessions(s):
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % s.metrics_port(), timeout=30).read().decode()
    for line in text.splitlines():
        if line.startswith("remotemedia_grpc_live_sessions "):
            return int(float(line.split()[1]))
    raise AssertionError("no remotemedia_grpc_live_sessions in /metrics")


def test_cancel_stops_a_long_decode(tmp_path):
    # One chunk of 400 s of speech with no pause, one utterance (no
    # max_utterance_ms cut), keeps SpeechToText busy in a single call for
    # minutes without emitting anything.  After CANCEL the decode must stop
    # at its next block and the session be torn down: asserted by state (the
    # live-session gauge back to 0), within a bound far below the decode's
    # own length.
    import numpy as np
    x, rate = r.flite_speech("please turn on the lights in the kitchen", str(tmp_path / "s.wav"), lead_s=0, tail_s=0)
    long = np.tile(x, int(400 * rate / len(x)) + 1)
    s = r.Server(args=["--max-message-bytes", str(32 << 20)], metrics=True)
    try:
        p = r.Pusher()
        call = s.stream_stub().StreamPipeline(p, timeout=600)
        p.put(r.init_request(r.simple_manifest(("stt", "SpeechToText", {"max_utterance_ms": 600000}))))
        assert next(call).WhichOneof("response") == "ready"
        assert _live_sessions(s) == 1
        p.put(r.chunk_request("stt", r.audio_buffer(long, rate=rate, fmt="i16"), 0))
        time.sleep(3)  # the worker has taken the chunk and is decoding (not an assertion)
        p.put(r.control_request("cancel"))
        kinds = [m.WhichOneof("response") for m in call]
        assert kinds[-1] == "closed", kinds
        p.end()
        deadline = time.time() + 60
        while _live_sessions(s) != 0:
            if time.time() > deadline:
                s.kill()  # it would drain for the whole decode
                raise AssertionError("the cancelled session was not torn down in 60 s: the decode did not stop")
            time.sleep(0.2)
    except BaseException:
        s.kill()
        raise
    s.close()


def test_on_error_policy_in_params():
    # remotemedia.v1 has no on_error field: params.on_error sets the node's
    # error policy.  A node failing every frame fails the call by default and
    # is skipped with on_error: skip.
    s = r.Server(args=_fault_plugin_args())
    try:
        failing = r.simple_manifest(("f", "TestFaultNode", {"fail_rate": 1}))
        res = r.execute(s, failing, {"f": r.json_buffer(1)})
        assert res.WhichOneof("outcome") == "error" and "injected fault" in res.error.message, res
        skipping = r.simple_manifest(("f", "TestFaultNode", {"fail_rate": 1, "on_error": "skip"}))
        res = r.execute(s, skipping, {"f": r.json_buffer(1)})
        assert res.WhichOneof("outcome") == "result", res
        assert "f" not in res.result.data_outputs
    finally:
        s.close()


def test_stream_output_over_client_receive_limit():
    # an output above the 4 MiB gRPC clients accept by default is dropped
    # with a StreamResponse.error saying so; the stream goes on
    s = r.Server(args=["--max-message-bytes", str(8 << 20)])
    try:
        pb = r.stubs()
        big = pb.common.DataBuffer(binary=pb.common.BinaryBuffer(data=b"z" * (5 << 20)))
        small = pb.common.DataBuffer(binary=pb.common.BinaryBuffer(data=b"z" * 10))
        out = r.stream_all(s, [r.init_request(passthrough()), r.chunk_request("p", big, 0),
                               r.chunk_request("p", small, 1), r.control_request("close")])
        kinds = [m.WhichOneof("response") for m in out]
        errs = [m.error for m in out if m.WhichOneof("response") == "error"]
        assert len(errs) == 1 and "4194304 bytes" in errs[0].message, out
        assert errs[0].error_type == pb.common.ERROR_TYPE_RESOURCE_LIMIT
        assert [m.result.sequence for m in out if m.WhichOneof("response") == "result"] == [1], kinds
        assert kinds[-1] == "closed", kinds
    finally:
        s.close()


def test_stream_input_back_pressure():
    # 300 chunks sent back to back into a node taking 2 ms each: the per-stream
    # input queue (64 frames) fills, the server stops reading until there is
    # room, and every chunk is processed — none refused, none dropped
    s = r.Server(args=_fault_plugin_args())
    try:
        m = r.simple_manifest(("slow", "TestFaultNode", {"delay_ms": 2}))
        reqs = [r.init_request(m)] + [r.chunk_request("slow", r.json_buffer(i), i) for i in range(300)]
        out = r.stream_all(s, reqs + [r.control_request("close")], timeout=300)
        assert not [x for x in out if x.WhichOneof("response") == "error"], out[:5]
        seqs = [x.result.sequence for x in out if x.WhichOneof("response") == "result"]
        assert seqs == list(range(300)), seqs[:10]
    finally:
        s.close()


def test_unary_client_gone_stops_a_long_decode(tmp_path):
    # a unary call with 400 s of speech in one input (minutes of decoding)
    # whose client gives up after 3 s: the server cancels the run, the decode
    # stops and the only session slot is free again — asserted by state (a
    # new call is served) within a bound far below the decode's length
    import numpy as np
    x, rate = r.flite_speech("please turn on the lights in the kitchen", str(tmp_path / "s.wav"), lead_s=0, tail_s=0)
    long = np.tile(x, int(400 * rate / len(x)) + 1)
    s = r.Server(args=["--max-message-bytes", str(32 << 20), "--max-sessions", "1"])
    try:
        m = r.simple_manifest(("stt", "SpeechToText", {"max_utterance_ms": 600000}))
        with pytest.raises(grpc.RpcError) as e:
            r.execute(s, m, {"stt": r.audio_buffer(long, rate=rate, fmt="i16")}, timeout=3)
        assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED, e.value
        deadline = time.time() + 60
        while True:
            try:
                res = r.execute(s, r.load_manifest_file(CALC), {"multiply": r.json_buffer(2)})
                break
            except grpc.RpcError as e2:
                _unary_refused(e2)  # the slot is still held by the decode
                if time.time() > deadline:
                    s.kill()  # it would drain for the whole decode
                    raise AssertionError("the abandoned unary run still holds its session after 60 s")
                time.sleep(0.2)
        assert res.WhichOneof("outcome") == "result"
    except BaseException:
        s.kill()
        raise
    s.close()
