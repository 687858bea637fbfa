"""`rmedia remote` (the C client, include/remotemedia/client.h) against
`rmedia serve`: for the golden cases, the calculator and an audio example,
`rmedia run` and `rmedia remote run` print the same thing; bad endpoints,
tokens, TLS and deadlines give a clear error naming the endpoint.

Servers: tests/grpc/rmgrpc.Server (ephemeral loopback port, health wait,
stopped by PID).  RMEDIA is the binary under test (client and server)."""
import glob
import json
import math
import os
import socket
import struct
import subprocess
import sys
import wave

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "grpc"))
import rmgrpc as r  # noqa: E402

ROOT = r.ROOT
RMEDIA = r.RMEDIA


def rmedia(*args, stdin=None, env=None, timeout=120):
    e = dict(os.environ)
    e.pop("REMOTEMEDIA_TOKEN", None)
    e.update(env or {})
    p = subprocess.run([RMEDIA] + list(args), input=stdin, capture_output=True, env=e, timeout=timeout)
    for mark in (b"AddressSanitizer", b"LeakSanitizer", b"runtime error:"):  # the client under ASan
        assert mark not in p.stderr, p.stderr.decode(errors="replace")[-4000:]
    return p


@pytest.fixture(scope="module")
def server():
    s = r.Server()
    yield s
    s.close()


def both(server, args, stdin=None):
    local = rmedia("run", *args, stdin=stdin)
    remote = rmedia("remote", "run", "--server", server.address, *args, stdin=stdin)
    return local, remote


def assert_same(local, remote):
    assert local.returncode == 0, local.stderr.decode()
    assert remote.returncode == local.returncode, remote.stderr.decode()
    assert remote.stdout == local.stdout
    assert local.stdout.strip()  # something was compared


GOLDEN = sorted(d for d in glob.glob(os.path.join(ROOT, "tests", "golden", "*")) if glob.glob(d + "/manifest.*"))


@pytest.mark.parametrize("case", GOLDEN, ids=os.path.basename)
def test_golden_same_output(server, case):
    manifest = sorted(glob.glob(case + "/manifest.*"))[0]
    extra = open(case + "/args").read().split() if os.path.exists(case + "/args") else []
    local, remote = both(server, [manifest, "-i", case + "/input.json"] + extra)
    assert_same(local, remote)
    assert local.stdout.decode().strip() == open(case + "/expected.txt").read().strip()


CALC = os.path.join(ROOT, "examples", "calculator.json")


@pytest.mark.parametrize("fmt", ["auto", "jsonl", "values"])
@pytest.mark.parametrize("inp", [b"[5, 7, 3]\n", b"5\n7\n3\n", b"\"text\"\n1\n"])
def test_calculator_formats(server, fmt, inp):
    local, remote = both(server, [CALC, "-f", fmt], stdin=inp)
    assert remote.returncode == local.returncode
    assert remote.stdout == local.stdout
    if local.returncode:  # a node error: both name the node
        assert b"add" in remote.stderr or b"multiply" in remote.stderr, remote.stderr


def test_calculator_only_and_output_file(server, tmp_path):
    a, b = str(tmp_path / "a.json"), str(tmp_path / "b.json")
    local = rmedia("run", CALC, "--only", "add", "-o", a, stdin=b"[1, 2]")
    remote = rmedia("remote", "run", "--server", server.address, CALC, "--only", "add", "-o", b, stdin=b"[1, 2]")
    assert local.returncode == 0 and remote.returncode == 0, remote.stderr
    assert open(a).read() == open(b).read() == "[12,14]\n"


def synth_wav(path, seconds=3.0, rate=16000):
    """Silence, a 1 s tone burst (speech-like energy for the VAD), silence."""
    w = wave.open(path, "wb")
    w.setnchannels(1)
    w.setsampwidth(2)
    w.setframerate(rate)
    frames = bytearray()
    for i in range(int(seconds * rate)):
        t = i / rate
        a = 0.5 if 1.0 < t < 2.0 else 0.0
        frames += struct.pack("<h", int(32767 * a * math.sin(2 * math.pi * 220 * t) * (1 + 0.3 * math.sin(2 * math.pi * 3 * t)) / 1.3))
    w.writeframes(bytes(frames))
    w.close()


VAD = os.path.join(ROOT, "examples", "vad_events.yaml")


def test_audio_vad_events(server, tmp_path):
    wav = str(tmp_path / "burst.wav")
    synth_wav(wav)
    local, remote = both(server, [VAD, "-i", wav, "-f", "values"])
    assert_same(local, remote)
    events = [json.loads(x) for x in local.stdout.decode().splitlines()]
    assert any(e.get("is_speech_start") for e in events) and any(e.get("is_speech_end") for e in events)
    # the default format prints seq and the frame's timestamp: the server
    # carries them (ChunkResult.sequence, rm.timestamp_us) and the port (rm.port)
    local, remote = both(server, [VAD, "-i", wav])
    assert_same(local, remote)
    local, remote = both(server, [VAD, "-i", wav, "-f", "jsonl"])
    assert_same(local, remote)
    assert b'"timestamp_ms"' in local.stdout and b'"seq"' in local.stdout


def test_audio_output_file(server, tmp_path):
    wav = str(tmp_path / "burst.wav")
    synth_wav(wav, seconds=1.0)
    manifest = os.path.join(ROOT, "examples", "preprocess.yaml")
    if not os.path.exists(manifest):
        pytest.skip("no examples/preprocess.yaml")
    a, b = str(tmp_path / "a.wav"), str(tmp_path / "b.wav")
    local = rmedia("run", manifest, "-i", wav, "-o", a)
    remote = rmedia("remote", "run", "--server", server.address, manifest, "-i", wav, "-o", b)
    assert local.returncode == 0, local.stderr
    assert remote.returncode == 0, remote.stderr
    assert open(a, "rb").read() == open(b, "rb").read()


@pytest.mark.parametrize("extra", [["--set", "multiply.multiplier=5"], ["--strict"], ["--table"],
                                   ["-f", "jsonl", "--only", "add.out"], ["-i", "-", "-f", "values"]])
def test_calculator_more_options(server, extra):
    local, remote = both(server, [CALC] + extra, stdin=b"[1, 2, 30]\n")
    assert_same(local, remote)


@pytest.mark.parametrize("extra", [["--realtime", "-f", "values"], ["--chunk-ms", "50", "-f", "jsonl"],
                                   ["-i", "-", "--only", "vad.events"], ["--input-format", "s16le:16000:1"]])
def test_audio_more_options(server, tmp_path, extra):
    """Live (paced) input, chunk size, audio on stdin (a WAV, or raw PCM)."""
    wav = str(tmp_path / "burst.wav")
    synth_wav(wav, seconds=2.5)
    data = open(wav, "rb").read()
    if "--input-format" in extra:
        w = wave.open(wav)
        data = w.readframes(w.getnframes())
        w.close()
    args = [VAD] + ([] if "-" in extra or "--input-format" in extra else ["-i", wav]) + extra
    local, remote = both(server, args, stdin=data if "-" in extra or "--input-format" in extra else None)
    assert_same(local, remote)
    assert b"is_speech_start" in local.stdout


def test_audio_raw_output_on_stdout(server, tmp_path):
    wav = str(tmp_path / "burst.wav")
    synth_wav(wav, seconds=1.0)
    manifest = os.path.join(ROOT, "examples", "preprocess.yaml")
    local, remote = both(server, [manifest, "-i", wav, "--output-format", "s16le", "-o", "-"])
    assert_same(local, remote)


def test_stream_live_audio(server, tmp_path):
    wav = str(tmp_path / "burst.wav")
    synth_wav(wav)
    p = rmedia("remote", "stream", "--server", server.address, VAD, "-i", wav, "-f", "values")
    assert p.returncode == 0, p.stderr
    local = rmedia("run", VAD, "-i", wav, "-f", "values")
    assert p.stdout == local.stdout
    assert b"realtime:" in p.stderr  # paced, with the per-chunk report
    # raw PCM on stdin
    w = wave.open(wav)
    raw = w.readframes(w.getnframes())
    w.close()
    p = rmedia("remote", "stream", "--server", server.address, VAD, "--input-format", "s16le:16000:1", "-f", "values",
               stdin=raw)
    assert p.returncode == 0, p.stderr
    assert p.stdout == local.stdout


def test_c_client_api(server):
    """tests/remote/test_client.c: the library itself (unary, streams, cancel)."""
    exe = os.environ.get("RM_TEST_CLIENT") or os.path.join(os.path.dirname(RMEDIA), "tests", "test_client")
    if not os.path.exists(exe):
        pytest.skip("test_client not built")
    p = subprocess.run([exe, server.address], capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr.decode(errors="replace")[-4000:]
    assert b"all checks passed" in p.stdout


def test_version_and_health(server):
    v = rmedia("remote", "version", "--server", server.address)
    assert v.returncode == 0, v.stderr
    info = json.loads(v.stdout)
    assert info["server"] == server.address and "AddNode" in info["node_types"]
    h = rmedia("remote", "health", "--server", server.address)
    assert h.returncode == 0 and b"SERVING" in h.stdout


# ------------------------------------------------------------- bad input --

def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def assert_fails_naming(p, endpoint, *words):
    err = p.stderr.decode()
    assert p.returncode != 0, err
    assert endpoint in err, err
    assert any(w in err for w in words), err
    assert "AddressSanitizer" not in err and "LeakSanitizer" not in err, err


@pytest.mark.parametrize("cmd", [["health"], ["version"], ["run", CALC]])
def test_unreachable(cmd):
    addr = "127.0.0.1:%d" % closed_port()
    p = rmedia("remote", cmd[0], "--server", addr, *cmd[1:], stdin=b"[1]")
    assert_fails_naming(p, addr, "unavailable")


def test_wrong_token(tmp_path):
    tokens = tmp_path / "tokens"
    tokens.write_text("right-token\n")
    s = r.Server(args=["--auth-token-file", str(tokens)], token="right-token")
    try:
        p = rmedia("remote", "run", "--server", s.address, "--token", "wrong", CALC, stdin=b"[1]")
        assert_fails_naming(p, s.address, "authentication")
        p = rmedia("remote", "run", "--server", s.address, CALC, stdin=b"[1]")
        assert_fails_naming(p, s.address, "authentication")
        ok = rmedia("remote", "run", "--server", s.address, CALC, stdin=b"[1]", env={"REMOTEMEDIA_TOKEN": "right-token"})
        assert ok.returncode == 0 and ok.stdout == b"[12]\n", ok.stderr
        ok = rmedia("remote", "version", "--server", s.address, "--token", "right-token")
        assert ok.returncode == 0, ok.stderr
    finally:
        s.close()


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return r.make_test_certs(str(tmp_path_factory.mktemp("certs")))


def test_tls_and_mismatch(server, certs):
    d = certs
    pem = lambda n: os.path.join(d, n)  # noqa: E731
    s = r.Server(args=["--tls-cert", pem("server.pem"), "--tls-key", pem("server.key")],
                 tls={"ca": open(pem("ca.pem"), "rb").read()})
    try:
        ok = rmedia("remote", "run", "--server", s.address, "--tls-ca", pem("ca.pem"), CALC, stdin=b"[1, 2]")
        assert ok.returncode == 0 and ok.stdout == b"[12,14]\n", ok.stderr
        # plaintext client to a TLS server
        assert_fails_naming(rmedia("remote", "health", "--server", s.address, "--deadline", "5"), s.address,
                            "unavailable", "deadline")
        # a CA that did not sign the server's certificate
        assert_fails_naming(rmedia("remote", "health", "--server", s.address, "--tls-ca", pem("other.pem"),
                                   "--deadline", "5"), s.address, "unavailable", "deadline")
    finally:
        s.close()
    # TLS client to a plaintext server
    assert_fails_naming(rmedia("remote", "run", "--server", server.address, "--tls-ca", pem("ca.pem"),
                               "--deadline", "5", CALC, stdin=b"[1]"), server.address, "unavailable", "deadline")
    m = r.Server(args=["--tls-cert", pem("server.pem"), "--tls-key", pem("server.key"), "--tls-client-ca", pem("ca.pem")],
                 tls={"ca": open(pem("ca.pem"), "rb").read(), "cert": open(pem("client.pem"), "rb").read(),
                      "key": open(pem("client.key"), "rb").read()})
    try:
        ok = rmedia("remote", "run", "--server", m.address, "--tls-ca", pem("ca.pem"), "--tls-cert", pem("client.pem"),
                    "--tls-key", pem("client.key"), CALC, stdin=b"[3]")
        assert ok.returncode == 0 and ok.stdout == b"[16]\n", ok.stderr
        assert_fails_naming(rmedia("remote", "health", "--server", m.address, "--tls-ca", pem("ca.pem"),
                                   "--deadline", "5"), m.address, "unavailable", "deadline")
        bad = rmedia("remote", "health", "--server", m.address, "--tls-cert", pem("client.pem"))
        assert bad.returncode != 0 and b"both a certificate and a key" in bad.stderr
    finally:
        m.close()


def test_deadline_exceeded():
    """A gRPC server (Python grpcio) that answers every method after 10 s."""
    import threading
    from concurrent import futures

    import grpc

    release = threading.Event()

    def slow(request, context):
        release.wait(10)
        context.abort(grpc.StatusCode.INTERNAL, "too late")

    def slow_stream(requests, context):
        release.wait(10)
        context.abort(grpc.StatusCode.INTERNAL, "too late")
        yield b""

    class Handler(grpc.GenericRpcHandler):
        def service(self, details):
            if details.method.endswith("StreamPipeline"):
                return grpc.stream_stream_rpc_method_handler(slow_stream)
            return grpc.unary_unary_rpc_method_handler(slow)

    srv = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    srv.add_generic_rpc_handlers((Handler(),))
    port = srv.add_insecure_port("127.0.0.1:0")
    srv.start()
    addr = "127.0.0.1:%d" % port
    try:
        for cmd in (["health"], ["version"], ["run", CALC]):
            p = rmedia("remote", cmd[0], "--server", addr, "--deadline", "1", *cmd[1:], stdin=b"[1]", timeout=60)
            assert_fails_naming(p, addr, "deadline exceeded")
    finally:
        release.set()
        srv.stop(0)


def test_silent_listener():
    """Accepts TCP and never speaks HTTP/2: fails, does not hang."""
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(16)
    addr = "127.0.0.1:%d" % lst.getsockname()[1]
    try:
        p = rmedia("remote", "health", "--server", addr, "--deadline", "2", timeout=60)
        assert_fails_naming(p, addr, "deadline exceeded", "unavailable")
    finally:
        lst.close()


def test_help():
    for args in (["--help"], ["run", "--help"], ["stream", "-h"]):
        p = rmedia("remote", *args)
        assert p.returncode == 0 and b"--server" in p.stdout and b"--tls-ca" in p.stdout, p


def test_usage_errors():
    p = rmedia("remote", "run", CALC)
    assert p.returncode == 2 and b"--server" in p.stderr
    p = rmedia("remote", "rn", "--server", "127.0.0.1:1")
    assert p.returncode == 2 and b"did you mean 'run'" in p.stderr
    p = rmedia("remote", "health", "--server", "127.0.0.1:1", "--deadline", "-3")
    assert p.returncode == 2 and b"--deadline" in p.stderr
