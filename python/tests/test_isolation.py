"""`isolation: process`: a Python node type in its own worker process (the
runtime's PythonNode), next to the default inline mode."""
import os

import numpy as np
import pytest

import remotemedia
from conftest import needs_native

pytestmark = needs_native


class _Pid:
    offset = remotemedia.Param(int, 0)

    def __init__(self, offset=0):
        self.offset = offset

    def process(self, x):
        if isinstance(x, remotemedia.Audio):
            return remotemedia.Audio(x.samples * np.float32(2), x.sample_rate)
        if isinstance(x, np.ndarray):
            return x + 1
        return {"pid": os.getpid(), "value": x + self.offset}


class _Boom:
    def process(self, x):
        os._exit(7)


def _manifest(node_type, isolation, **params):
    node = {"id": "n", "node_type": node_type, "params": params}
    if isolation:
        node["isolation"] = isolation
    return {"version": "v1", "nodes": [node], "connections": []}


@pytest.fixture
def pid_type(register):
    register("IsoPid")(_Pid)
    register("IsoBoom")(_Boom)
    return "IsoPid"


def test_inline_is_default_and_runs_in_this_process(pid_type):
    out = remotemedia.Pipeline.from_dict(_manifest(pid_type, None, offset=1)).run_sync(41)
    assert out == {"pid": os.getpid(), "value": 42}
    out = remotemedia.Pipeline.from_dict(_manifest(pid_type, "inline", offset=1)).run_sync(41)
    assert out["pid"] == os.getpid()


def test_process_runs_in_a_worker(pid_type):
    p = remotemedia.Pipeline.from_dict(_manifest(pid_type, "process", offset=1))
    out = p.run_sync(41)
    assert out["value"] == 42 and out["pid"] != os.getpid()


def test_process_audio_and_tensor_cross_shared_memory(pid_type):
    p = remotemedia.Pipeline.from_dict(_manifest(pid_type, "process"))
    x = np.linspace(-0.5, 0.5, 441, dtype=np.float32)
    a = p.run_sync(remotemedia.Audio(x, 44100))
    assert a.sample_rate == 44100 and np.array_equal(a.samples, x * 2)
    t = np.arange(1 << 18, dtype=np.float32).reshape(512, 512)  # 1 MiB
    assert np.array_equal(p.run_sync(t), t + 1)


def test_worker_crash_is_a_node_error(pid_type):
    p = remotemedia.Pipeline.from_dict(_manifest("IsoBoom", "process"))
    with pytest.raises(remotemedia.NodeError, match=r"PythonNode 'n'.*exited with status 7"):
        p.run_sync(1)


def test_bad_isolation_value(pid_type):
    with pytest.raises(ValueError, match="isolation must be 'inline' or 'process'"):
        remotemedia.Pipeline.from_dict(_manifest(pid_type, "thread"))


def test_eight_sessions_in_parallel_have_their_own_workers(pid_type):
    import asyncio

    # 8 interpreters importing numpy at once take long on a loaded machine:
    # a start-up guard, not a timing check
    p = remotemedia.Pipeline.from_dict(_manifest(pid_type, "process", offset=0, init_timeout_ms=600000))

    async def one(i):
        async with p.session() as s:
            it = s.outputs().__aiter__()
            got = []
            for k in range(5):
                await s.send(i * 100 + k)
                got.append(await it.__anext__())
            await s.end()
            return got

    async def main():
        return await asyncio.gather(*(one(i) for i in range(8)))

    results = asyncio.run(main())
    for i, got in enumerate(results):
        assert [g["value"] for g in got] == [i * 100 + k for k in range(5)]
        assert len({g["pid"] for g in got}) == 1  # one worker per (session, node)
    pids = {got[0]["pid"] for got in results}
    assert len(pids) == 8 and os.getpid() not in pids
    for pid in pids:  # cleaned up with their sessions
        for _ in range(100):
            if not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z":
                break
            import time
            time.sleep(0.02)
        else:
            raise AssertionError(f"worker {pid} still running after its session ended")


def test_worker_outlives_the_thread_that_started_it(pid_type):
    """Workers are forked by one process-lifetime thread (PR_SET_PDEATHSIG
    follows the forking thread): starting one from a short-lived thread works,
    and later sessions on other threads still get workers."""
    import threading

    p = remotemedia.Pipeline.from_dict(_manifest(pid_type, "process", offset=0))
    first = {}

    def start():
        first["out"] = p.run_sync(1)

    t = threading.Thread(target=start)
    t.start()
    t.join()
    assert p.run_sync(2)["value"] == 2  # a new session; and the spawner still works


def test_other_sessions_survive_a_crash(pid_type):
    bad = remotemedia.Pipeline.from_dict(_manifest("IsoBoom", "process"))
    good = remotemedia.Pipeline.from_dict(_manifest(pid_type, "process", offset=0))
    with pytest.raises(remotemedia.NodeError):
        bad.run_sync(1)
    assert good.run_sync(5)["value"] == 5


def test_frame_larger_than_the_ring_is_a_clear_error(pid_type):
    p = remotemedia.Pipeline.from_dict(_manifest(pid_type, "process", ring_mb=1))
    small = np.zeros(1000, dtype=np.float32)
    assert np.array_equal(p.run_sync(small), small + 1)
    with pytest.raises(remotemedia.NodeError, match=r"does not fit the 1048576-byte ring \(raise ring_mb\)"):
        p.run_sync(np.zeros(1 << 19, dtype=np.float32))  # 2 MiB


def test_worker_knobs_reach_the_runtime(pid_type):
    p = remotemedia.Pipeline.from_dict(_manifest(pid_type, "process", timeout_ms=0, offset=3))
    assert p.run_sync(1)["value"] == 4
