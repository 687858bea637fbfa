"""ExecutePipeline and GetVersion through Python grpcio (stubs made from
proto/ at test time): results equal `rmedia run`, every AudioBuffer format in
and out, every DataBuffer kind, and every error of issue 12."""
import json
import os
import subprocess

import grpc
import numpy as np
import pytest

import rmgrpc as r

CALC = os.path.join(r.ROOT, "examples", "calculator.json")


def ok(resp):
    assert resp.WhichOneof("outcome") == "result", "expected a result, got error: %s" % resp.error
    return resp.result


def err(resp):
    assert resp.WhichOneof("outcome") == "error", "expected an error, got %s" % resp
    return resp.error


# ---------------------------------------------------------------- version --

def test_get_version(server, pb):
    v = server.exec_stub().GetVersion(pb.execution.VersionRequest(client_version=""), timeout=30)
    assert v.version_info.protocol_version == "v1"
    out = subprocess.run([r.RMEDIA, "version"], capture_output=True, text=True).stdout
    assert v.version_info.runtime_version and v.version_info.runtime_version in out
    assert "v1" in v.version_info.supported_protocols
    assert v.compatible
    listed = subprocess.run([r.RMEDIA, "nodes"], capture_output=True, text=True,
                            env=dict(os.environ, RMEDIA_PLUGIN_PATH="")).stdout
    names = [line.split()[0] for line in listed.splitlines() if line[:1].isalpha() and "node types" not in line]
    assert sorted(set(v.version_info.supported_node_types) & set(names)) == sorted(names)


# -------------------------------------------------------------- calculator --

def test_calculator_equals_rmedia_run(server):
    m = r.load_manifest_file(CALC)
    for value in (5, 7, 3, -2.5):
        res = ok(r.execute(server, m, {"multiply": r.json_buffer(value)}))
        assert list(res.data_outputs.keys()) == ["add"]
        got = r.buffer_value(res.data_outputs["add"])
        want = json.loads(r.rmedia_run(CALC, ["-f", "values"], input_text=json.dumps(value) + "\n"))
        assert got == want


def test_result_status_metrics_node_results(server, pb):
    res = ok(r.execute(server, r.load_manifest_file(CALC), {"multiply": r.json_buffer(5)}))
    assert res.status == pb.common.EXECUTION_STATUS_SUCCESS
    assert res.metrics.wall_time_ms > 0
    assert sorted(n.node_id for n in res.node_results) == ["add", "multiply"]
    assert all(n.status == pb.common.NODE_STATUS_SUCCESS for n in res.node_results)
    for nid in ("multiply", "add"):
        assert nid in res.metrics.node_metrics, res.metrics
        assert res.metrics.node_metrics[nid].items_processed >= 1


def test_one_output_frame_is_its_value(server):
    # one frame of a sink comes back as that value (an array input is one
    # frame here, so one array, not an array of arrays)
    m = r.simple_manifest(("times3", "MultiplyNode", {"factor": 3}))
    res = ok(r.execute(server, m, {"times3": r.json_buffer([1, 2])}))
    assert r.buffer_value(res.data_outputs["times3"]) == [3, 6]


def test_every_data_inputs_entry_is_pushed(server):
    # two sources into one sink: both inputs reach it (the original used only
    # the first entry), and the sink's two json frames come back as one array
    m = r.simple_manifest(("a", "MultiplyNode", {"factor": 2}), ("b", "MultiplyNode", {"factor": 3}),
                          ("sink", "PassThrough", {}), connections=[("a", "sink"), ("b", "sink")])
    res = ok(r.execute(server, m, {"a": r.json_buffer(1), "b": r.json_buffer(1)}))
    got = r.buffer_value(res.data_outputs["sink"])
    assert sorted(got) == [2, 3]


# ------------------------------------------------------------------ audio --

@pytest.mark.parametrize("fin", ["f32", "i16", "i32"])
@pytest.mark.parametrize("fout", ["f32", "i16", "i32"])
def test_audio_formats(server, pb, fin, fout):
    target = {"f32": "f32", "i16": "s16", "i32": "s32"}[fout]
    m = r.simple_manifest(("conv", "FormatConverter", {"target_format": target}))
    x = r.sine(440, 16000, 0.1, 0.5)
    res = ok(r.execute(server, m, {"conv": r.audio_buffer(x, 16000, 1, fin)}))
    a = res.data_outputs["conv"].audio
    assert a.format == r.FORMATS[fout][1]
    assert a.sample_rate == 16000 and a.channels == 1
    assert a.num_samples == len(x)
    width = 2 if fout == "i16" else 4
    assert len(a.samples) == len(x) * width
    tol = 1.5 / 32768 if "i16" in (fin, fout) else 1e-6
    assert np.max(np.abs(r.audio_samples(a) - x)) <= tol


def test_audio_stereo_resample(server):
    m = r.simple_manifest(("rs", "AudioResample", {"target_rate": 8000}))
    x = r.sine(300, 16000, 0.5, 0.3, channels=2)
    res = ok(r.execute(server, m, {"rs": r.audio_buffer(x, 16000, 2, "i16")}))
    a = res.data_outputs["rs"].audio
    assert a.sample_rate == 8000 and a.channels == 2
    assert a.num_samples == len(r.audio_samples(a))
    assert abs(a.num_samples - len(x) // 2) <= 64


# -------------------------------------------------------- DataBuffer kinds --

def _pass(server, buf):
    res = ok(r.execute(server, r.simple_manifest(("p", "PassThrough", {})), {"p": buf}))
    return res.data_outputs["p"]


def test_kind_audio(server):
    x = r.sine(1000, 48000, 0.02, 0.25, channels=2)
    buf = r.audio_buffer(x, 48000, 2, "f32")
    out = _pass(server, buf)
    assert out.audio == buf.audio


def test_kind_video(server, pb):
    for fmt, w, h, size in ((pb.common.PIXEL_FORMAT_RGB24, 4, 2, 24), (pb.common.PIXEL_FORMAT_RGBA32, 2, 2, 16),
                            (pb.common.PIXEL_FORMAT_GRAY8, 3, 3, 9), (pb.common.PIXEL_FORMAT_YUV420P, 4, 4, 24)):
        v = pb.common.VideoFrame(pixel_data=bytes(range(size)), width=w, height=h, format=fmt, frame_number=7)
        out = _pass(server, pb.common.DataBuffer(video=v))
        assert out.WhichOneof("data_type") == "video"
        assert (out.video.pixel_data, out.video.width, out.video.height, out.video.format) == \
            (v.pixel_data, w, h, fmt)


def test_kind_tensor(server, pb):
    for dtype, item in ((pb.common.TENSOR_DTYPE_F32, 4), (pb.common.TENSOR_DTYPE_F16, 2), (pb.common.TENSOR_DTYPE_I32, 4),
                        (pb.common.TENSOR_DTYPE_I8, 1), (pb.common.TENSOR_DTYPE_U8, 1)):
        t = pb.common.TensorBuffer(data=bytes(range(2 * 3 * item)), shape=[2, 3], dtype=dtype, layout="NCHW")
        out = _pass(server, pb.common.DataBuffer(tensor=t))
        assert out.WhichOneof("data_type") == "tensor"
        assert (out.tensor.data, list(out.tensor.shape), out.tensor.dtype) == (t.data, [2, 3], dtype)


def test_kind_json(server):
    value = {"a": [1, 2.5, None, True], "b": {"c": "ü"}}
    assert r.buffer_value(_pass(server, r.json_buffer(value))) == value


def test_kind_text(server):
    assert r.buffer_value(_pass(server, r.text_buffer("héllo wörld"))) == "héllo wörld"


def test_kind_binary(server, pb):
    data = bytes(range(256)) * 3
    out = _pass(server, pb.common.DataBuffer(binary=pb.common.BinaryBuffer(data=data, mime_type="application/x-test")))
    assert out.WhichOneof("data_type") == "binary"
    assert out.binary.data == data


def test_kind_metadata(server, pb):
    buf = r.text_buffer("tagged")
    buf.metadata["speaker"] = "alice"
    buf.metadata["lang"] = "en"
    out = _pass(server, buf)
    assert out.metadata["speaker"] == "alice" and out.metadata["lang"] == "en"


def test_large_result_beyond_client_receive_limit_is_a_clear_error(server, pb):
    # the client keeps grpc's default 4 MiB receive limit; a 6 MiB result
    # must fail with a clear status, never hang or crash the server
    data = b"x" * (6 * 1024 * 1024)
    buf = pb.common.DataBuffer(binary=pb.common.BinaryBuffer(data=data))
    with pytest.raises(grpc.RpcError) as e:
        r.execute(server, r.simple_manifest(("p", "PassThrough", {})), {"p": buf})
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert e.value.details()
    # the server is still fine
    assert ok(r.execute(server, r.load_manifest_file(CALC), {"multiply": r.json_buffer(1)}))


# ----------------------------------------------------------------- errors --

def test_missing_manifest_is_invalid_argument(server, pb):
    req = pb.execution.ExecuteRequest(client_version="test")
    req.data_inputs["x"].CopyFrom(r.json_buffer(1))
    with pytest.raises(grpc.RpcError) as e:
        server.exec_stub().ExecutePipeline(req, timeout=30)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_params_not_json_names_the_node(server, pb):
    m = r.manifest_proto(r.load_manifest_file(CALC), params_override={"add": "addend=10"})
    e = err(r.execute(server, m, {"multiply": r.json_buffer(1)}))
    assert e.error_type == pb.common.ERROR_TYPE_VALIDATION
    assert e.failing_node_id == "add"
    assert "add" in e.message and "JSON" in e.message.upper()


def test_unknown_data_inputs_key(server, pb):
    e = err(r.execute(server, r.load_manifest_file(CALC), {"nosuchnode": r.json_buffer(1)}))
    assert e.error_type == pb.common.ERROR_TYPE_VALIDATION
    assert "nosuchnode" in e.message


def test_unknown_node_type_same_text_as_validate(server, pb, tmp):
    m = r.simple_manifest(("x", "NoSuchNodeType", {}))
    e = err(r.execute(server, m, {"x": r.json_buffer(1)}))
    assert e.error_type == pb.common.ERROR_TYPE_VALIDATION
    assert e.failing_node_id == "x"
    path = os.path.join(tmp, "m.json")
    with open(path, "w") as f:
        json.dump(m, f)
    v = subprocess.run([r.RMEDIA, "validate", path], capture_output=True, text=True)
    assert v.returncode != 0
    assert "NoSuchNodeType" in e.message and "NoSuchNodeType" in v.stderr + v.stdout


def test_bad_param_value_names_node(server, pb):
    m = r.simple_manifest(("conv", "FormatConverter", {"target_format": "f64"}))
    e = err(r.execute(server, m, {"conv": r.audio_buffer(r.sine(), fmt="f32")}))
    assert e.error_type == pb.common.ERROR_TYPE_VALIDATION
    assert e.failing_node_id == "conv"


def test_audio_format_unspecified(server, pb):
    buf = r.audio_buffer(r.sine(), fmt="f32")
    buf.audio.format = pb.common.AUDIO_FORMAT_UNSPECIFIED
    e = err(r.execute(server, r.simple_manifest(("p", "PassThrough", {})), {"p": buf}))
    assert e.error_type == pb.common.ERROR_TYPE_VALIDATION
    assert "format" in e.message.lower()


def test_audio_num_samples_mismatch(server, pb):
    buf = r.audio_buffer(r.sine(), fmt="i16", num_samples=1599)
    e = err(r.execute(server, r.simple_manifest(("p", "PassThrough", {})), {"p": buf}))
    assert e.error_type == pb.common.ERROR_TYPE_VALIDATION
    assert "num_samples" in e.message or "1599" in e.message


def test_audio_bytes_not_whole_samples(server, pb):
    buf = r.audio_buffer(r.sine(), fmt="f32")
    buf.audio.samples = buf.audio.samples[:-1]
    buf.audio.num_samples = 0
    e = err(r.execute(server, r.simple_manifest(("p", "PassThrough", {})), {"p": buf}))
    assert e.error_type == pb.common.ERROR_TYPE_VALIDATION


def test_audio_zero_rate_or_channels(server, pb):
    for field in ("sample_rate", "channels"):
        buf = r.audio_buffer(r.sine(), fmt="f32")
        setattr(buf.audio, field, 0)
        e = err(r.execute(server, r.simple_manifest(("p", "PassThrough", {})), {"p": buf}))
        assert e.error_type == pb.common.ERROR_TYPE_VALIDATION, field


def test_tensor_shape_disagrees_with_bytes(server, pb):
    t = pb.common.TensorBuffer(data=bytes(10), shape=[2, 3], dtype=pb.common.TENSOR_DTYPE_F32)
    e = err(r.execute(server, r.simple_manifest(("p", "PassThrough", {})), {"p": pb.common.DataBuffer(tensor=t)}))
    assert e.error_type == pb.common.ERROR_TYPE_VALIDATION


def test_empty_data_buffer(server, pb):
    e = err(r.execute(server, r.simple_manifest(("p", "PassThrough", {})), {"p": pb.common.DataBuffer()}))
    assert e.error_type == pb.common.ERROR_TYPE_VALIDATION


def test_invalid_json_payload(server, pb):
    buf = pb.common.DataBuffer(json=pb.common.JsonData(json_payload="{not json"))
    e = err(r.execute(server, r.load_manifest_file(CALC), {"multiply": buf}))
    assert e.error_type == pb.common.ERROR_TYPE_VALIDATION
    assert e.failing_node_id == "multiply" or "multiply" in e.message


def test_node_execution_error(server, pb):
    # a failure at run time (rmedia run: "node 'c': division by zero"):
    # NODE_EXECUTION naming the node
    m = r.simple_manifest(("c", "CalculatorNode", {}))
    e = err(r.execute(server, m, {"c": r.json_buffer({"operation": "divide", "operands": [1, 0]})}))
    assert e.error_type == pb.common.ERROR_TYPE_NODE_EXECUTION
    assert e.failing_node_id == "c"
    assert "division by zero" in e.message


def test_server_survives_every_error(server):
    assert ok(r.execute(server, r.load_manifest_file(CALC), {"multiply": r.json_buffer(2)}))
