"""PythonNode through `rmedia serve` (issue 16, "Python nodes in every
host"): refused without --allow-python, naming the node; with it, unary and
streaming calls run the class in a worker per session (audio at its own rate,
json), a crashing worker is an error naming the node, and no worker outlives
its call."""
import os
import time

import numpy as np
import pytest

import rmgrpc as r

NODES = '''
import os, numpy as np

class Tag:
    def __init__(self, tag="t"):
        self.tag = tag
    def process(self, x):
        if hasattr(x, "samples"):
            return (x.samples * np.float32(0.5)).astype(x.samples.dtype)
        return {"tag": self.tag, "x": x, "pid": os.getpid()}

class Die:
    def process(self, x):
        os._exit(4)
'''


@pytest.fixture(scope="module")
def node_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("pynodes")
    (d / "grpc_nodes.py").write_text(NODES)
    return str(d)


@pytest.fixture(scope="module")
def py_server():
    s = r.Server(args=["--allow-python"])
    yield s
    s.close()


def manifest(node_dir, cls="grpc_nodes:Tag", **params):
    return r.simple_manifest(("py", "PythonNode", dict(params, **{"class": cls, "python_path": [node_dir]})))


def workers_of(pid):
    """Live worker processes (a python3 mapping the ring) whose parent is `pid`."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
            with open(f"/proc/{d}/maps") as f:
                maps = f.read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[1]) == pid and "rmedia-pyworker" in maps:
            out.append(int(d))
    return out


def no_workers_left(server):
    for _ in range(100):
        if not workers_of(server.proc.pid):
            return True
        time.sleep(0.05)
    return False


def test_refused_without_allow_python(server, pb, node_dir):
    resp = r.execute(server, manifest(node_dir), {"py": r.json_buffer(1)})
    assert resp.WhichOneof("outcome") == "error"
    assert resp.error.failing_node_id == "py"
    assert "--allow-python" in resp.error.message and "'py'" in resp.error.message
    assert not workers_of(server.proc.pid)


def test_unary_runs_in_a_worker(py_server, node_dir):
    resp = r.execute(py_server, manifest(node_dir, tag="u"), {"py": r.json_buffer(41)})
    assert resp.WhichOneof("outcome") == "result", resp.error
    out = r.buffer_value(resp.result.data_outputs["py"])
    assert out["tag"] == "u" and out["x"] == 41
    assert out["pid"] not in (os.getpid(), py_server.proc.pid)
    assert no_workers_left(py_server)


def test_unary_audio_keeps_its_rate(py_server, node_dir):
    x = r.sine(rate=22050, seconds=0.05)
    resp = r.execute(py_server, manifest(node_dir), {"py": r.audio_buffer(x, rate=22050)})
    assert resp.WhichOneof("outcome") == "result", resp.error
    a = resp.result.data_outputs["py"].audio
    assert a.sample_rate == 22050 and a.channels == 1
    assert np.max(np.abs(r.audio_samples(a) - x * 0.5)) < 1e-6


def test_stream_one_worker_per_session(py_server, node_dir):
    pids = set()
    for session in range(2):
        reqs = [r.init_request(manifest(node_dir, tag=f"s{session}"))]
        reqs += [r.chunk_request("py", r.json_buffer(i), i) for i in range(5)]
        reqs += [r.control_request("close")]
        out = r.stream_all(py_server, reqs)
        res = [x.result for x in out if x.WhichOneof("response") == "result"]
        vals = [r.buffer_value(x.data_outputs["py"]) for x in res]
        assert [v["x"] for v in vals] == list(range(5))
        assert {v["tag"] for v in vals} == {f"s{session}"}
        assert len({v["pid"] for v in vals}) == 1  # reused for the whole session
        pids |= {v["pid"] for v in vals}
    assert len(pids) == 2
    assert no_workers_left(py_server)


def test_crash_is_an_error_naming_the_node(py_server, node_dir):
    resp = r.execute(py_server, manifest(node_dir, cls="grpc_nodes:Die"), {"py": r.json_buffer(1)})
    assert resp.WhichOneof("outcome") == "error"
    assert resp.error.failing_node_id == "py"
    assert "PythonNode 'py'" in resp.error.message and "exited with status 4" in resp.error.message
    assert no_workers_left(py_server)
    # the server goes on
    resp = r.execute(py_server, manifest(node_dir), {"py": r.json_buffer(2)})
    assert resp.WhichOneof("outcome") == "result", resp.error


def test_bad_class_is_an_error_naming_node_and_class(py_server, node_dir):
    resp = r.execute(py_server, manifest(node_dir, cls="grpc_nodes:Missing"), {"py": r.json_buffer(1)})
    assert resp.WhichOneof("outcome") == "error"
    assert resp.error.failing_node_id == "py"
    assert "has no class 'Missing'" in resp.error.message
