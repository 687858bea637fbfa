"""Bearer tokens on both services (env and file), the health service open,
unknown metadata ignored; TLS and mutual TLS with certificates made here
with openssl."""
import json
import os
import subprocess

import grpc
import pytest

import rmgrpc as r

CALC = os.path.join(r.ROOT, "examples", "calculator.json")


def calc(server, token):
    return r.execute(server, r.load_manifest_file(CALC), {"multiply": r.json_buffer(1)}, token=token)


def stream(server, token, extra=()):
    reqs = [r.init_request(r.simple_manifest(("p", "PassThrough", {}))),
            r.chunk_request("p", r.json_buffer(1), 0), r.control_request("close")]
    md = list(server.metadata(token)) + list(extra)
    return list(server.stream_stub().StreamPipeline(iter(reqs), metadata=md, timeout=60))


def expect_unauth(fn):
    with pytest.raises(grpc.RpcError) as e:
        fn()
    assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED, e.value


@pytest.fixture(scope="module", params=["env", "file"])
def authed(request, tmp_path_factory):
    if request.param == "env":
        s = r.Server(env={"REMOTEMEDIA_AUTH_TOKENS": "tok-one,tok-two"}, token="tok-two")
    else:
        path = str(tmp_path_factory.mktemp("auth") / "tokens")
        with open(path, "w") as f:
            f.write("tok-one\ntok-two\n")
        s = r.Server(args=["--auth-token-file", path], token="tok-one")
    yield s
    s.close()


def test_unary_missing_token(authed):
    expect_unauth(lambda: calc(authed, None))


def test_unary_wrong_token(authed):
    expect_unauth(lambda: calc(authed, "tok-three"))
    expect_unauth(lambda: authed.exec_stub().ExecutePipeline(
        r.stubs().execution.ExecuteRequest(), metadata=[("authorization", "tok-one")], timeout=30))  # no "Bearer"


def test_unary_right_token(authed):
    assert calc(authed, authed.token).WhichOneof("outcome") == "result"


def test_get_version_needs_token(authed, pb):
    stub = authed.exec_stub()
    expect_unauth(lambda: stub.GetVersion(pb.execution.VersionRequest(), timeout=30))
    v = stub.GetVersion(pb.execution.VersionRequest(), metadata=authed.metadata(), timeout=30)
    assert v.version_info.runtime_version


def test_stream_missing_and_wrong_token(authed):
    expect_unauth(lambda: stream(authed, None))
    expect_unauth(lambda: stream(authed, "nope"))


def test_stream_right_token_and_extra_metadata(authed):
    out = stream(authed, authed.token, extra=[("x-client", "legacy-client/1.0"), ("x-preview-features", "a,b")])
    assert [x.WhichOneof("response") for x in out][0] == "ready"
    assert out[-1].WhichOneof("response") == "closed"


def test_unary_extra_metadata_ignored(authed):
    resp = authed.exec_stub().ExecutePipeline(
        r.stubs().execution.ExecuteRequest(manifest=r.manifest_proto(r.load_manifest_file(CALC)),
                                           data_inputs={"multiply": r.json_buffer(2)}),
        metadata=authed.metadata() + [("x-client", "test")], timeout=30)
    assert resp.WhichOneof("outcome") == "result"


def test_health_needs_no_token(authed, pb):
    resp = authed.health_stub().Check(pb.health.HealthCheckRequest(), timeout=30)
    assert resp.status == pb.health.HealthCheckResponse.SERVING


def test_no_tokens_configured_means_open(server):
    assert calc(server, None).WhichOneof("outcome") == "result"


# -------------------------------------------------------------------- TLS --

@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = r.make_test_certs(str(tmp_path_factory.mktemp("certs")))

    def read(n):
        with open(os.path.join(d, n), "rb") as f:
            return f.read()
    return {"dir": d, "read": read}


def test_tls(certs):
    d = certs["dir"]
    s = r.Server(args=["--tls-cert", os.path.join(d, "server.pem"), "--tls-key", os.path.join(d, "server.key")],
                 tls={"ca": certs["read"]("ca.pem")})
    try:
        assert calc(s, None).WhichOneof("outcome") == "result"
        out = stream(s, None)
        assert out[-1].WhichOneof("response") == "closed"
        # plaintext to a TLS port fails
        ch = grpc.insecure_channel(s.address)
        with pytest.raises(grpc.RpcError) as e:
            r.stubs().health_grpc.HealthStub(ch).Check(r.stubs().health.HealthCheckRequest(), timeout=5)
        assert e.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
        ch.close()
    finally:
        s.close()


def test_mutual_tls(certs):
    d = certs["dir"]
    ca = certs["read"]("ca.pem")
    s = r.Server(args=["--tls-cert", os.path.join(d, "server.pem"), "--tls-key", os.path.join(d, "server.key"),
                       "--tls-client-ca", os.path.join(d, "ca.pem")],
                 tls={"ca": ca, "cert": certs["read"]("client.pem"), "key": certs["read"]("client.key")})
    try:
        assert calc(s, None).WhichOneof("outcome") == "result"
        for cert, key in ((None, None), ("rogue.pem", "rogue.key")):
            creds = grpc.ssl_channel_credentials(
                root_certificates=ca, private_key=certs["read"](key) if key else None,
                certificate_chain=certs["read"](cert) if cert else None)
            ch = grpc.secure_channel(s.address, creds)
            with pytest.raises(grpc.RpcError) as e:
                r.stubs().health_grpc.HealthStub(ch).Check(r.stubs().health.HealthCheckRequest(), timeout=5)
            assert e.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED), cert
            ch.close()
    finally:
        s.close()


def test_tls_bad_files_fail_clearly(certs, tmp):
    d = certs["dir"]
    for args in (["--tls-cert", os.path.join(d, "server.pem")],  # no key
                 ["--tls-cert", os.path.join(tmp, "missing.pem"), "--tls-key", os.path.join(d, "server.key")]):
        p = subprocess.run([r.RMEDIA, "serve", "--listen", "127.0.0.1:0"] + args, capture_output=True, text=True,
                           timeout=60)
        assert p.returncode != 0
        assert "tls" in p.stderr.lower() or "missing.pem" in p.stderr


def test_file_params_refused_from_clients(tmp_path):
    # a client's manifest naming files on the server (SpeechToText grammar,
    # model_dir as camelCase, decoder_options) is refused, naming the node
    # and the parameter, on unary and streaming alike
    s = r.Server()
    try:
        for params, key in (({"grammar": "/etc/passwd"}, "grammar"), ({"modelDir": "/"}, "modelDir"),
                            ({"decoder_options": ["-dict", "/etc/shadow"]}, "decoder_options")):
            m = r.simple_manifest(("stt", "SpeechToText", params))
            res = r.execute(s, m, {"stt": r.audio_buffer(r.sine(seconds=0.1))})
            assert res.WhichOneof("outcome") == "error", res
            assert res.error.error_type == r.stubs().common.ERROR_TYPE_VALIDATION
            assert res.error.failing_node_id == "stt"
            assert "'%s'" % key in res.error.message and "--allow-file-params" in res.error.message, res.error
            out = r.stream_all(s, [r.init_request(m)])
            assert out[0].WhichOneof("response") == "error" and "--allow-file-params" in out[0].error.message, out
        # parameters that name no file stay allowed
        ok = r.simple_manifest(("stt", "SpeechToText", {"partial_results": False}))
        assert r.execute(s, ok, {"stt": r.audio_buffer(r.sine(seconds=0.1))}).WhichOneof("outcome") == "result"
    finally:
        s.close()
    # the operator may allow them: the grammar is then read (and is not JSGF)
    bad = tmp_path / "bad.gram"
    bad.write_text("this is not a grammar\n")
    s = r.Server(args=["--allow-file-params"])
    try:
        m = r.simple_manifest(("stt", "SpeechToText", {"grammar": str(bad)}))
        res = r.execute(s, m, {"stt": r.audio_buffer(r.sine(seconds=0.1))})
        assert res.WhichOneof("outcome") == "error" and "--allow-file-params" not in res.error.message, res
    finally:
        s.close()


def test_remote_pipeline_files_refused_before_compiling(tmp_path):
    # RemotePipeline (issue 13) names server files too: its sub-manifest as a
    # file name, and tls_ca / tls_cert / tls_key.  Refused from clients without
    # --allow-file-params, and before the manifest is compiled: compiling
    # opens the sub-manifest, whose errors told a client which files exist
    # (and a FIFO would block).  An inline sub-manifest stays allowed.
    calc = json.load(open(CALC))
    missing = str(tmp_path / "no-such-dir" / "sub.json")

    def rp(**params):
        p = {"endpoints": ["127.0.0.1:1"], "timeout_ms": 2000, "retries": 0}
        p.update(params)
        return r.simple_manifest(("remote", "RemotePipeline", p))

    def refused(s, m, *words):
        res = r.execute(s, m, {"remote": r.json_buffer(1)})
        assert res.WhichOneof("outcome") == "error", res
        assert res.error.error_type == r.stubs().common.ERROR_TYPE_VALIDATION, res.error
        assert res.error.failing_node_id == "remote", res.error
        for w in words:
            assert w in res.error.message, res.error
        assert "no-such-dir" not in res.error.message and "No such file" not in res.error.message, res.error
        out = r.stream_all(s, [r.init_request(m)])
        assert out[0].WhichOneof("response") == "error", out
        for w in words:
            assert w in out[0].error.message, out

    s = r.Server()
    try:  # without --allow-remote: refused by family, the file never opened
        refused(s, rp(manifest=missing), "--allow-remote")
    finally:
        s.close()
    s = r.Server(args=["--allow-remote"])
    try:
        refused(s, rp(manifest=missing), "'manifest'", "--allow-file-params")
        refused(s, rp(manifest="/etc/hostname"), "'manifest'", "--allow-file-params")
        for key in ("tls_ca", "tls_cert", "tls_key"):
            refused(s, rp(manifest=calc, **{key: missing}), "'%s'" % key, "--allow-file-params")
        # inline: validated and run; the endpoint is down, so it fails connecting
        res = r.execute(s, rp(manifest=calc), {"remote": r.json_buffer(1)})
        assert res.WhichOneof("outcome") == "error", res
        assert res.error.error_type != r.stubs().common.ERROR_TYPE_VALIDATION, res.error
        assert "127.0.0.1:1" in res.error.message and "--allow" not in res.error.message, res.error
    finally:
        s.close()
    s = r.Server(args=["--allow-remote", "--allow-file-params"])
    try:  # the operator allows it: the file is opened (and is missing)
        res = r.execute(s, rp(manifest=missing), {"remote": r.json_buffer(1)})
        assert res.WhichOneof("outcome") == "error" and "No such file" in res.error.message, res
    finally:
        s.close()


def test_audio_sample_rate_limit(server):
    # RM_AUDIO_MAX_RATE (768 kHz) at and past its bound: a claimed 4 GHz rate
    # made a 25 ms chunk 100 million frames (found by fuzz target rmw)
    m = r.simple_manifest(("p", "PassThrough", {}))
    ok = r.execute(server, m, {"p": r.audio_buffer(r.sine(seconds=0.01), rate=768000)})
    assert ok.WhichOneof("outcome") == "result", ok
    for rate in (768001, 4000000000):
        res = r.execute(server, m, {"p": r.audio_buffer(r.sine(seconds=0.01), rate=rate)})
        assert res.WhichOneof("outcome") == "error", res
        assert "sample_rate %d is over the limit of 768000 Hz" % rate in res.error.message, res.error


def test_stream_output_over_client_receive_limit(server, pb):
    # a ChunkResult over 4 MiB (gRPC clients' default receive limit) is not
    # sent: a StreamResponse.error RESOURCE_LIMIT names the node and says the
    # output was dropped, and the stream goes on; 3 MiB arrives
    import numpy as np
    m = r.simple_manifest(("p", "PassThrough", {}))
    small = r.audio_buffer(np.zeros(3 * 1024 * 1024 // 4), 48000, 1, "f32")
    big = r.audio_buffer(np.zeros(5 * 1024 * 1024 // 4), 48000, 1, "f32")
    reqs = [r.init_request(m), r.chunk_request("p", small, 0), r.chunk_request("p", big, 1),
            r.chunk_request("p", small, 2), r.control_request("close")]
    out = list(server.stream_stub().StreamPipeline(iter(reqs), metadata=server.metadata(), timeout=120))
    results = [x.result.sequence for x in out if x.WhichOneof("response") == "result"]
    errors = [x.error for x in out if x.WhichOneof("response") == "error"]
    assert results == [0, 2], [x.WhichOneof("response") for x in out]
    assert len(errors) == 1, errors
    assert errors[0].error_type == pb.common.ERROR_TYPE_RESOURCE_LIMIT, errors[0]
    assert "output of node 'p' for sequence 1" in errors[0].message and "it was dropped" in errors[0].message, \
        errors[0]
    assert out[-1].WhichOneof("response") == "closed", out[-1]


def test_stream_input_back_pressure():
    # the per-stream input queue (64 frames): a client sending faster than a
    # slow node is held back by the server (it stops reading, HTTP/2 flow
    # control does the rest) instead of being refused or queued without end
    import threading
    import time
    import numpy as np
    d = os.environ.get("RM_FAULT_PLUGIN_DIR") or os.path.join(r.ROOT, "build", "release", "tests", "fault-plugin")
    s = r.Server(args=["--plugin-dir", d])
    total, chunk = 1000, r.audio_buffer(np.zeros(32768), 48000, 1, "f32")  # 128 KiB each, 125 MiB in all
    sent = [0]
    stop = threading.Event()

    def requests():
        yield r.init_request(r.simple_manifest(("slow", "TestFaultNode", {"delay_ms": 100})))
        for i in range(total):
            if stop.is_set():
                return
            sent[0] += 1
            yield r.chunk_request("slow", chunk, i)
        yield r.control_request("close")

    kinds, seqs = [], []
    try:
        call = s.stream_stub().StreamPipeline(requests(), metadata=s.metadata(), timeout=300)

        def read():
            try:
                for x in call:
                    kinds.append(x.WhichOneof("response"))
                    if kinds[-1] == "result":
                        seqs.append(x.result.sequence)
            except grpc.RpcError:
                pass
        t = threading.Thread(target=read)
        t.start()
        time.sleep(8)  # 10 frames/s through the node: ~80 done, the rest waits
        held_sent, held_done = sent[0], len(seqs)
        stop.set()
        call.cancel()
        t.join(60)
        print("sent %d chunks, %d results after 8 s" % (held_sent, held_done))
        assert "error" not in kinds, kinds
        assert held_done > 0 and seqs == sorted(seqs), seqs[:20]
        # 64 queued + what the HTTP/2 windows and socket buffers hold (up to
        # ~30 MiB seen here); without back-pressure the server would refuse
        # pushes to the full queue (an error) or read all 125 MiB
        assert held_sent < total, "the client was never held back (sent %d)" % held_sent
        assert held_sent - held_done >= 32, "the queue never filled (sent %d, done %d)" % (held_sent, held_done)
    finally:
        stop.set()
        s.close()
