"""Pre-serialises the benchmark's requests (grpc_load sends them as raw
bytes).  Files hold length-prefixed messages (u32 LE + bytes).

    python3 make_requests.py SOURCE_DIR OUT_DIR
writes unary_calc.bin, echo.bin, echo_raw.bin, unary_raw.bin, realtime.bin, cancel.bin
"""
import os
import struct
import subprocess
import sys
import tempfile

root, out = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(root, "tests", "grpc"))
import numpy as np  # noqa: E402
import rmgrpc as r  # noqa: E402

p = r.stubs()


def write(name, msgs):
    with open(os.path.join(out, name), "wb") as f:
        for m in msgs:
            b = m.SerializeToString() if hasattr(m, "SerializeToString") else m
            f.write(struct.pack("<I", len(b)))
            f.write(b)


os.makedirs(out, exist_ok=True)

# unary calculator round trip
calc = r.load_manifest_file(os.path.join(root, "examples", "calculator.json"))
req = p.execution.ExecuteRequest(manifest=r.manifest_proto(calc), client_version="bench")
req.data_inputs["multiply"].CopyFrom(r.json_buffer(5))
write("unary_calc.bin", [req])
write("unary_raw.bin", [req])  # the baselines echo the same bytes

# 640-byte echo through PassThrough
payload = bytes(range(256)) * 2 + bytes(128)
chunk = p.streaming.StreamRequest(data_chunk=p.streaming.DataChunk(
    node_id="p", buffer=p.common.DataBuffer(binary=p.common.BinaryBuffer(data=payload))))
write("echo.bin", [r.init_request(r.simple_manifest(("p", "PassThrough", {}))), chunk, r.control_request("close")])
write("echo_raw.bin", [chunk, chunk])

# real-time streams: 48 kHz F32 20 ms chunks -> AudioResample 16 kHz -> VAD
# (10 s: speech-like bursts and silence so the VAD works through both)
rate, n = 48000, 960
t = np.arange(rate * 12) / rate
env = (np.sin(2 * np.pi * 0.4 * t) > 0).astype(float)
rng = np.random.default_rng(1)
x = 0.3 * env * np.sin(2 * np.pi * 180 * t) * (1 + 0.5 * np.sin(2 * np.pi * 4 * t)) + 0.003 * rng.standard_normal(len(t))
rt = r.simple_manifest(("resample", "AudioResample", {"target_rate": 16000}),
                       ("vad", "VAD", {"frame_ms": 20}))
msgs = [r.init_request(rt, expected_chunk_size=n)]
for i in range(len(x) // n):
    msgs.append(r.chunk_request("resample", r.audio_buffer(x[i * n:(i + 1) * n], rate, 1, "f32"), i))
msgs.append(r.control_request("close"))
write("realtime.bin", msgs)

# CANCEL with a slow pipeline: 3 s of synthesised speech through transcribe.yaml
with tempfile.TemporaryDirectory() as d:
    s, srate = r.flite_speech("please turn off the lights in the kitchen and the hall", os.path.join(d, "s.wav"),
                              lead_s=0.3, tail_s=0.0)
msgs = [r.init_request(r.example("transcribe.yaml"))]
for i in range(0, len(s), 1600):
    msgs.append(r.chunk_request("resample", r.audio_buffer(s[i:i + 1600], srate, 1, "f32"), i // 1600))
msgs.append(r.control_request("cancel"))
write("cancel.bin", msgs)
