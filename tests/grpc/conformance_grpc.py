"""The gRPC host for the conformance suite (tests/conformance/run.py).

    run_case_grpc(address, manifest_text, inputs, token=None, mode="stream") -> outputs

runs one conformance case through a running `rmedia serve` at `address`
("127.0.0.1:PORT") with Python grpcio (stubs generated from proto/ at first
use, see rmgrpc.load_stubs).  It is written for the runner's host
interface as `rmedia run` defines it, so that the same expected outputs hold:

Inputs (what the case's input file holds, already parsed):
  a list; each element is pushed, in order, into every source node (a node
  with no incoming connection), like `rmedia run`.  An element is
    - a JSON value: a str becomes a TextBuffer (UTF-8), anything else a
      JsonData (json.dumps, so numbers/objects/arrays keep their JSON form);
    - {"audio": {"samples": [floats in -1..1], "sample_rate": R,
      "channels": C, "format": "f32"|"i16"|"i32"}} for audio (interleaved;
      format defaults to f32).
  Each element is one DataChunk, sequence numbers from 0, then CLOSE.
  mode="unary" instead sends one ExecuteRequest with data_inputs
  {source id: element} (only for cases with one input element).

Outputs, normalised so that they compare with `rmedia run` output:
  {sink node id: [value, ...]} in the order produced, where
    - JsonData -> the parsed JSON value (bit-exact comparison is meaningful:
      the server re-serialises the runtime's value with jansson, as the CLI);
    - TextBuffer -> the str;
    - AudioBuffer -> {"sample_rate", "channels", "samples": [floats]} decoded
      from F32/I16/I32 to float (I16 /32768, I32 /2^31) — compare audio with
      a tolerance (1e-6 for F32, 1/32768 if either side is 16-bit);
    - BinaryBuffer -> {"binary": hex string}; VideoFrame -> {"video": {width,
      height, format, hex}}; TensorBuffer -> {"tensor": {shape, dtype, hex}}.
  In unary mode a sink's several json/text frames arrive as one JsonData
  array (issue 12); they are split back into a list here only when the sink
  produced a JSON array of that many values, so cases whose single output is
  itself an array should use the streaming mode (the default).
  StreamMetrics, the session id and timings are dropped.  A StreamResponse
  error raises ConformanceError(message, failing_node_id), which the runner
  compares with the CLI's error text (the server uses the validator's text).
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rmgrpc  # noqa: E402


class ConformanceError(Exception):
    def __init__(self, message, node_id=""):
        super().__init__(message)
        self.message = message
        self.node_id = node_id


def _buffer(value):
    p = rmgrpc.stubs()
    if isinstance(value, dict) and set(value) == {"audio"}:
        a = value["audio"]
        return rmgrpc.audio_buffer(a["samples"], a.get("sample_rate", 16000), a.get("channels", 1),
                                   a.get("format", "f32"))
    if isinstance(value, str):
        return rmgrpc.text_buffer(value)
    return p.common.DataBuffer(json=p.common.JsonData(json_payload=json.dumps(value)))


def _normalise(buf):
    kind = buf.WhichOneof("data_type")
    if kind == "json":
        return json.loads(buf.json.json_payload)
    if kind == "text":
        return buf.text.text_data.decode("utf-8")
    if kind == "audio":
        return {"sample_rate": buf.audio.sample_rate, "channels": buf.audio.channels,
                "samples": [float(x) for x in rmgrpc.audio_samples(buf.audio)]}
    if kind == "binary":
        return {"binary": buf.binary.data.hex()}
    if kind == "video":
        v = buf.video
        return {"video": {"width": v.width, "height": v.height, "format": v.format, "hex": v.pixel_data.hex()}}
    if kind == "tensor":
        t = buf.tensor
        return {"tensor": {"shape": list(t.shape), "dtype": t.dtype, "hex": t.data.hex()}}
    raise ConformanceError("empty DataBuffer in the server's output")


def _sources(manifest):
    targets = {c["to"].split(".")[0] for c in manifest.get("connections", []) or []}
    return [n["id"] for n in manifest["nodes"] if n["id"] not in targets]


def run_case_grpc(address, manifest_text, inputs, token=None, mode="stream", timeout=300):
    import grpc
    p = rmgrpc.stubs()
    manifest = rmgrpc.parse_manifest_text(manifest_text)
    proto = rmgrpc.manifest_proto(manifest)
    md = [("authorization", "Bearer " + token)] if token else []
    sources = _sources(manifest)
    outputs = {}
    with grpc.insecure_channel(address) as ch:
        if mode == "unary":
            if len(inputs) != 1:
                raise ValueError("unary mode takes exactly one input element")
            req = p.execution.ExecuteRequest(manifest=proto, client_version="conformance")
            for s in sources:
                req.data_inputs[s].CopyFrom(_buffer(inputs[0]))
            resp = p.execution_grpc.PipelineExecutionServiceStub(ch).ExecutePipeline(req, metadata=md,
                                                                                     timeout=timeout)
            if resp.WhichOneof("outcome") == "error":
                raise ConformanceError(resp.error.message, resp.error.failing_node_id)
            for sink, buf in resp.result.data_outputs.items():
                v = _normalise(buf)
                outputs[sink] = v if isinstance(v, list) else [v]
            return outputs
        reqs = [rmgrpc.init_request(proto, client_version="conformance")]
        seq = 0
        for value in inputs:
            for s in sources:
                reqs.append(rmgrpc.chunk_request(s, _buffer(value), seq))
            seq += 1
        reqs.append(rmgrpc.control_request("close"))
        call = p.streaming_grpc.StreamingPipelineServiceStub(ch).StreamPipeline(iter(reqs), metadata=md,
                                                                                timeout=timeout)
        for resp in call:
            kind = resp.WhichOneof("response")
            if kind == "error":
                raise ConformanceError(resp.error.message, resp.error.failing_node_id)
            if kind == "result":
                for sink, buf in resp.result.data_outputs.items():
                    outputs.setdefault(sink, []).append(_normalise(buf))
            if kind == "closed":
                break
    return outputs


if __name__ == "__main__":
    # python3 conformance_grpc.py ADDRESS MANIFEST [INPUT.json]  (a quick check by hand)
    with open(sys.argv[2]) as f:
        text = f.read()
    values = json.load(open(sys.argv[3])) if len(sys.argv) > 3 else []
    print(json.dumps(run_case_grpc(sys.argv[1], text, values), indent=1))
