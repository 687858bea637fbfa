"""remotemedia.RemotePipeline against a real `rmedia serve` on an ephemeral
loopback port (the server binary: $RMEDIA, else the build's rmedia next to
the library), through the C client in the native extension (no grpcio)."""
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

import remotemedia as rm
from remotemedia.errors import RemoteMediaError

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
CALC = os.path.join(ROOT, "examples", "calculator.json")


def _rmedia():
    cands = [os.environ.get("RMEDIA"), os.path.join(os.environ.get("RMEDIA_LIB_DIR", ""), "rmedia"),
             os.path.join(ROOT, "build", "release", "rmedia")]
    return next((c for c in cands if c and os.path.isfile(c) and os.access(c, os.X_OK)), None)


def _has_remote():
    if not rm.is_native_runtime_available() or os.environ.get("REMOTEMEDIA_FORCE_PYTHON") == "1":
        return False
    try:
        return "RemotePipeline" in rm.nodes()
    except Exception:  # noqa: BLE001
        return False


pytestmark = pytest.mark.skipif(not _has_remote() or not _rmedia(),
                                reason="needs the native runtime built with gRPC and an rmedia binary")


class Server:
    def __init__(self, *args, health=()):
        self.dir = tempfile.mkdtemp(prefix="rm-py-remote-")
        port_file = os.path.join(self.dir, "port")
        self.log = open(os.path.join(self.dir, "log"), "w")
        self.proc = subprocess.Popen([_rmedia(), "serve", "--listen", "127.0.0.1:0", "--port-file", port_file]
                                     + list(args), stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL,
                                     env=dict(os.environ, RMEDIA_PLUGIN_PATH=""))
        deadline = time.time() + 60
        while not (os.path.exists(port_file) and open(port_file).read().strip()):
            assert self.proc.poll() is None and time.time() < deadline, "rmedia serve did not start"
            time.sleep(0.05)
        self.address = "127.0.0.1:" + open(port_file).read().strip()
        while subprocess.run([_rmedia(), "remote", "health", "--server", self.address, "--deadline", "2"] + list(health),
                             capture_output=True).returncode != 0:
            assert time.time() < deadline, "rmedia serve is not SERVING"
            time.sleep(0.05)

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(60)
        self.log.close()
        shutil.rmtree(self.dir, True)


@pytest.fixture(scope="module")
def server():
    s = Server()
    yield s
    s.close()


def test_run_sync_same_as_local(server):
    local = rm.Pipeline.from_json(CALC)
    remote = rm.RemotePipeline(server.address, CALC)
    assert remote.sinks == ["add"]
    for x in ([5, 7, 3], 4):
        assert remote.run_sync(x) == local.run_sync(x)
    assert remote.run_sync([1, 2], as_list=True) == [12, 14]


def test_async_run_and_manifest_forms(server):
    m = json.load(open(CALC))
    for manifest in (m, json.dumps(m), rm.Pipeline.from_dict(m), CALC):
        p = rm.RemotePipeline(server.address, manifest)
        assert asyncio.run(p.run([1, 2, 3])) == [12, 14, 16]


def test_streaming_session(server):
    async def go():
        p = rm.RemotePipeline(server.address, CALC)
        got = []
        async with p.session() as s:
            for i in range(20):
                await s.send(i)
            await s.end()
            async for v in s.outputs():
                got.append(v)
        return got
    assert asyncio.run(go()) == [i * 2 + 10 for i in range(20)]


def test_several_sinks_keyed_by_sink_id(server):
    m = {"version": "v1", "nodes": [{"id": "a", "node_type": "AddNode", "params": {"addend": 1}},
                                    {"id": "b", "node_type": "MultiplyNode", "params": {"multiplier": 3}}],
         "connections": []}
    local = rm.Pipeline.from_dict(m).run_sync([1, 2])
    remote = rm.RemotePipeline(server.address, m).run_sync([1, 2])
    assert remote == local == {"a": [2, 3], "b": [3, 6]}


def test_token_and_errors_name_the_server(tmp_path):
    tokens = tmp_path / "tokens"
    tokens.write_text("secret\n")
    s = Server("--auth-token-file", str(tokens))
    try:
        assert rm.RemotePipeline(s.address, CALC, token="secret").run_sync(1) == 12
        with pytest.raises(RemoteMediaError) as e:
            rm.RemotePipeline(s.address, CALC, token="wrong").run_sync(1)
        assert s.address in str(e.value) and "authentication" in str(e.value)
    finally:
        s.close()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    dead = "127.0.0.1:%d" % sock.getsockname()[1]
    sock.close()
    with pytest.raises(RemoteMediaError) as e:
        rm.RemotePipeline(dead, CALC, retries=0).run_sync(1)
    assert dead in str(e.value) and "unavailable" in str(e.value)
    with pytest.raises(TypeError):
        rm.RemotePipeline(dead, CALC, tls=42)


def test_tls_and_mtls(tmp_path):
    """tls= as a CA path, and as {"ca", "cert", "key"} against a server that
    requires client certificates; the wrong CA fails naming the server."""
    import sys
    sys.path.insert(0, os.path.join(ROOT, "tests", "grpc"))
    import rmgrpc  # TLS material made with openssl at test time

    d = rmgrpc.make_test_certs(str(tmp_path))
    pem = lambda n: os.path.join(d, n)  # noqa: E731
    client = ["--tls-ca", pem("ca.pem"), "--tls-cert", pem("client.pem"), "--tls-key", pem("client.key")]
    s = Server("--tls-cert", pem("server.pem"), "--tls-key", pem("server.key"), "--tls-client-ca", pem("ca.pem"),
               health=client)
    try:
        mtls = {"ca": pem("ca.pem"), "cert": pem("client.pem"), "key": pem("client.key")}
        assert rm.RemotePipeline(s.address, CALC, tls=mtls).run_sync([1, 2]) == [12, 14]
        with pytest.raises(RemoteMediaError) as e:  # no client certificate
            rm.RemotePipeline(s.address, CALC, tls=pem("ca.pem"), retries=0, timeout=5).run_sync(1)
        assert s.address in str(e.value)
        with pytest.raises(RemoteMediaError) as e:  # a CA that did not sign the server's certificate
            rm.RemotePipeline(s.address, CALC, tls={"ca": pem("other.pem"), "cert": pem("client.pem"),
                                                    "key": pem("client.key")}, retries=0, timeout=5).run_sync(1)
        assert s.address in str(e.value)
    finally:
        s.close()
