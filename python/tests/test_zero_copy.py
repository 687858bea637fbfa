"""Zero copy both ways, lifetimes, refcounts, and the conversion rules for
arrays that cannot be wrapped (they raise; nothing is copied silently)."""
import gc
import sys
import tracemalloc
import weakref

import numpy as np
import pytest

import remotemedia as rm
from conftest import NATIVE, manifest, needs_native


def ptr(a):
    return a.__array_interface__["data"][0]


def tap(hint="auto"):
    return rm.Pipeline.from_dict(manifest(("tap", "PassThrough", None)), runtime_hint=hint)


@pytest.mark.parametrize("dtype", [np.float32, np.int16, np.int32])
@pytest.mark.parametrize("shape", [(960,), (480, 2), (160, 6)])
def test_same_memory_back(hint, dtype, shape):
    x = np.arange(np.prod(shape), dtype=dtype).reshape(shape)
    out = tap(hint).run_sync(rm.Audio(x, 48000))
    assert ptr(out.samples) == ptr(x)  # the very same memory, through the runtime and back
    assert out.samples.shape == shape and out.samples.dtype == dtype and out.sample_rate == 48000
    assert not out.samples.flags.writeable  # shared frames are immutable
    assert (x, 48000) and rm.Audio(x, 48000) == out


@needs_native
def test_no_copy_under_tracemalloc():
    x = np.ones(48000 * 10, dtype=np.float32)  # 1.9 MB: a copy would show
    p = tap("native")
    p.run_sync(rm.Audio(x, 48000))  # warm up
    tracemalloc.start()
    out = p.run_sync(rm.Audio(x, 48000))
    size, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert ptr(out.samples) == ptr(x)
    assert peak < x.nbytes // 20, f"peak {peak} bytes for a {x.nbytes}-byte chunk"


@needs_native
def test_output_array_holds_the_frame():
    x = np.arange(16, dtype=np.float32)
    out = tap("native").run_sync(rm.Audio(x, 16000))
    from remotemedia import _native

    assert isinstance(out.samples.base, _native.FrameRef)
    assert out.samples.base.frame_refcount == 1  # only the array holds it now


def test_array_deleted_while_the_pipeline_holds_it(hint):
    import asyncio

    async def main():
        x = np.arange(1000, dtype=np.float32) * 0.5
        expect = x.copy()
        ref = weakref.ref(x)
        async with tap(hint).session() as s:
            await s.send(rm.Audio(x, 8000))
            del x
            gc.collect()
            assert ref() is not None  # the runtime's frame keeps the caller's array alive
            await s.end()
            outs = [o async for o in s.outputs()]
        assert np.array_equal(outs[0].samples, expect)
        assert ref() is not None  # the output views it
        del outs
        gc.collect()
        assert ref() is None  # and nothing else holds it

    asyncio.run(main())


def test_frame_outlives_the_pipeline(hint):
    x = np.linspace(-1, 1, 4800, dtype=np.float32)
    p = tap(hint)
    out = p.run_sync(rm.Audio(x, 48000))
    del p
    gc.collect()
    assert np.array_equal(out.samples, np.linspace(-1, 1, 4800, dtype=np.float32))


def test_no_leaked_references(hint):
    x = np.zeros(960, dtype=np.float32)
    p = tap(hint)
    p.run_sync(rm.Audio(x, 48000))
    gc.collect()
    before = sys.getrefcount(x)
    for _ in range(200):
        p.run_sync(rm.Audio(x, 48000))
    gc.collect()
    assert sys.getrefcount(x) == before
    out = p.run_sync(rm.Audio(x, 48000))
    assert sys.getrefcount(x) == before + 1  # held by the output's frame
    del out
    gc.collect()
    assert sys.getrefcount(x) == before


def test_tuple_form_and_int_rate(hint):
    x = np.arange(10, dtype=np.int16)
    out = tap(hint).run_sync([(x, 16000)])
    assert ptr(out.samples) == ptr(x) and out.sample_rate == 16000


@pytest.mark.parametrize("bad,exc,msg", [
    (np.arange(20, dtype=np.float32)[::2], ValueError, "not C-contiguous"),
    (np.zeros((4, 2), dtype=np.float32).T, ValueError, "not C-contiguous"),
    (np.zeros(8, dtype=np.float64), TypeError, "dtype float64 is not supported"),
    (np.zeros(8, dtype=np.uint8), TypeError, "dtype uint8 is not supported"),
    (np.zeros(8, dtype=">f4"), TypeError, "native byte order"),
    (np.zeros((2, 2, 2), dtype=np.float32), ValueError, "shape"),
    (np.zeros((8, 0), dtype=np.float32), ValueError, "1 to 1024 channels"),
])
def test_unwrappable_arrays_raise(hint, bad, exc, msg):
    with pytest.raises(exc, match=msg):
        tap(hint).run_sync(rm.Audio(bad, 16000))


@pytest.mark.parametrize("rate,exc", [(0, ValueError), (-5, ValueError), (10**8, ValueError), ("16k", TypeError)])
def test_bad_sample_rates(hint, rate, exc):
    with pytest.raises(exc, match="sample_rate"):
        tap(hint).run_sync(rm.Audio(np.zeros(4, np.float32), rate))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.int32, np.int16, np.int8, np.uint8,
                                   np.float16, np.bool_])
def test_bare_array_is_a_tensor_zero_copy(hint, dtype):
    x = np.arange(24).reshape(2, 3, 4).astype(dtype)
    out = tap(hint).run_sync(x)
    assert isinstance(out, np.ndarray) and not isinstance(out, rm.Audio)
    assert out.dtype == x.dtype and out.shape == (2, 3, 4) and np.array_equal(out, x)
    assert out.ctypes.data == x.ctypes.data and not out.flags.writeable  # the same memory, read-only


def test_tensor_outlives_pipeline_and_input(hint):
    x = np.arange(1000, dtype=np.float64)
    addr = x.ctypes.data
    out = tap(hint).run_sync(x)
    del x
    gc.collect()
    assert out.ctypes.data == addr and out[999] == 999.0


@pytest.mark.parametrize("bad,exc,msg", [
    (np.zeros(4, dtype=np.complex64), TypeError, "cannot be a tensor frame"),
    (np.zeros(4, dtype=np.uint16), TypeError, "cannot be a tensor frame"),
    (np.zeros(4, dtype=">f8"), TypeError, "native byte order"),
    (np.zeros((4, 4), dtype=np.float32).T, ValueError, "not C-contiguous"),
    (np.zeros((1,) * 9, dtype=np.float32), ValueError, "at most 8 dimensions"),
])
def test_bad_tensors_raise(hint, bad, exc, msg):
    with pytest.raises(exc, match=msg):
        tap(hint).run_sync(bad)


def test_tensor_into_an_audio_node_is_a_frame_kind_error(hint):
    with pytest.raises(rm.NodeError, match="accepts audio, got a tensor frame"):
        rm.Pipeline("g", runtime_hint=hint).add("Gain", gain=2.0).run_sync(np.zeros(4, np.float32))


def test_failed_conversion_leaks_nothing(hint):
    x = np.zeros(8, dtype=np.float64)
    before = sys.getrefcount(x)
    for _ in range(50):
        with pytest.raises(TypeError):
            tap(hint).run_sync(rm.Audio(x, 8000))
    gc.collect()
    assert sys.getrefcount(x) == before


def test_other_kinds(hint):
    p = tap(hint)
    assert p.run_sync("héllo") == "héllo"
    assert p.run_sync(b"\x00\x01") == b"\x00\x01"
    assert p.run_sync(bytearray(b"ab")) == b"ab"
    assert p.run_sync(memoryview(b"cd")) == b"cd"
    assert p.run_sync([{"a": [1, 2.5, None, True]}]) == {"a": [1, 2.5, None, True]}
    assert p.run_sync([None]) is None  # json null; run_sync([None]) is one input
    with pytest.raises(ValueError, match="cannot send a float"):
        p.run_sync(float("nan"))
    with pytest.raises(TypeError, match="cannot send a set"):
        p.run_sync({1, 2})
