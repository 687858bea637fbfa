#!/usr/bin/env python3
"""Regenerates the seed corpora in tests/fuzz/corpus/ from the repository's
manifests, test inputs and a few tiny generated audio files.

    python3 tests/fuzz/make_seeds.py

Seeds are named by content hash, as libFuzzer names corpus entries, so
running it again only adds what is new.  Needs python3-yaml and libsndfile
(both installed by scripts/bootstrap)."""
import ctypes
import ctypes.util
import glob
import hashlib
import json
import math
import os
import struct
import sys
import tempfile

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")
MAX_SEED = 64 * 1024  # small files only


def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    if len(data) > MAX_SEED:
        return
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


def repo_files(*patterns):
    out = []
    for p in patterns:
        out += sorted(glob.glob(os.path.join(ROOT, p), recursive=True))
    return [f for f in out if "/build/" not in f]


def manifests():
    json_files = repo_files("examples/*.json", "tests/golden/*/manifest.json", "tests/wasm/*.json")
    yaml_files = repo_files("examples/*.yaml", "python/examples/*.yaml", "tests/golden/*/manifest.yaml",
                            "tests/wasm/*.yaml")
    docs = []
    for f in json_files:
        text = open(f, encoding="utf-8").read()
        put("manifest_json", text)
        docs.append(json.loads(text))
    for f in yaml_files:
        text = open(f, encoding="utf-8").read()
        put("manifest_yaml", text)
        docs.append(yaml.safe_load(text))
    # Features the files above do not show: ports, queues, on_error policies,
    # YAML anchors and merge keys, the original SDK's keys.
    put("manifest_yaml", """version: v1
metadata: {name: features}
defaults: &q {policy: drop_oldest, capacity: 4}
nodes:
  - {id: a, node_type: PassThrough, on_error: skip}
  - id: b
    node_type: MultiplyNode
    params: {factor: 1.5}
    on_error: {policy: retry, max_retries: 2, base_delay_ms: 1, max_delay_ms: 2, jitter: 0.1,
               circuit_breaker: {failure_threshold: 3, reset_timeout_ms: 10, success_threshold: 1}}
  - {id: c, node_type: AddNode, params: {<<: {addend: 2}}}
connections:
  - {from: a.out, to: b, queue: *q}
  - {from: b, to: c.in, queue: drop_newest}
""")
    put("manifest_json", json.dumps({
        "version": "v1", "metadata": {"name": "sdk"},
        "nodes": [{"id": "vad", "node_type": "VAD", "params": {"threshold": 0.5}},
                  {"id": "seg", "node_type": "SpeechSegmenter"},
                  {"id": "lvl", "node_type": "AudioLevel"}],
        "connections": [{"from": "vad", "from_port": "default", "to": "seg", "to_port": "default"},
                        {"from": "vad.events", "to": "lvl", "queue": {"policy": "block", "capacity": 8}}],
        "runtime": {"target": "native"}, "execution": {"mode": "stream"}}))
    for d in docs:  # each manifest in the other syntax too
        put("manifest_yaml", yaml.safe_dump(d, sort_keys=False))
        put("manifest_json", json.dumps(d, indent=1))
    return docs


def node_params(docs):
    seen = set()
    for d in docs:
        for n in (d or {}).get("nodes", []) or []:
            t = n.get("node_type")
            if not isinstance(t, str):
                continue
            p = n.get("params", {})
            put("node_params", t + "\n" + json.dumps(p))
            seen.add(t)
    extra = {
        "PassThrough": {}, "AudioChunker": {"chunk_ms": 20}, "FormatConverter": {"format": "s16"},
        "ChannelMixer": {"channels": 1, "mode": "average"}, "Gain": {"gain_db": -6, "normalize": False},
        "AudioLevel": {"window_ms": 50}, "AudioResample": {"target_rate": 16000, "quality": "high"},
        "CalculatorNode": {"operation": "add", "operand": 1},
        "TextCollectorNode": {"boundaries": ".!?", "min_sentence_length": 2, "abbreviations": ["Dr.", "Mr."]},
        "TextProcessorNode": {"operations": ["uppercase", "word_count"]},
        "TextToSpeech": {"rate": 1.0, "sample_format": "f32"},
        "SpeechToText": {"keyphrases": ["hello"]},
        "VAD": {"frame_ms": 20, "threshold": 0.5, "min_speech_ms": 100},
        "SpeechSegmenter": {}, "MultiplyNode": {"factor": 2}, "AddNode": {"addend": 1},
    }
    for t, p in extra.items():
        put("node_params", t + "\n" + json.dumps(p))
        put("node_params", t + "\n{}")


def json_inputs():
    inputs = repo_files("tests/golden/*/input.json")
    lines = ['5', '"plain text"', '{"text": "Hello", "operations": ["uppercase"]}',
             '{"operation": "add", "operands": [1, 2]}', '[1, 2, 3]', 'null', '1e308', '"\\u00e9\\ud83d\\ude00"']
    for f in inputs:
        text = open(f, encoding="utf-8").read()
        put("json_input", text)
        for i in range(5):  # the run target: one byte picks the graph
            put("run", bytes([i]) + text.encode())
            v = json.loads(text) if text.lstrip().startswith("[") else None
            if isinstance(v, list):
                put("run", bytes([i]) + "\n".join(json.dumps(x) for x in v).encode())
    put("json_input", "\n".join(lines))
    for i in range(5):
        put("run", bytes([i]) + "\n".join(lines).encode())


def audio():
    lib = ctypes.CDLL(ctypes.util.find_library("sndfile") or "libsndfile.so.1")

    class Info(ctypes.Structure):
        _fields_ = [("frames", ctypes.c_int64), ("samplerate", ctypes.c_int), ("channels", ctypes.c_int),
                    ("format", ctypes.c_int), ("sections", ctypes.c_int), ("seekable", ctypes.c_int)]

    lib.sf_open.restype = ctypes.c_void_p
    lib.sf_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(Info)]
    lib.sf_writef_float.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_float), ctypes.c_int64]
    lib.sf_close.argtypes = [ctypes.c_void_p]
    SFM_WRITE = 0x20
    WAV, AIFF, AU, W64, CAF, RF64, FLAC, OGG = 0x10000, 0x20000, 0x30000, 0xB0000, 0x180000, 0x220000, 0x170000, 0x200000
    PCM16, PCM24, FLOAT, ULAW, VORBIS, PCM_U8, IMA = 0x2, 0x3, 0x6, 0x10, 0x60, 0x5, 0x12
    kinds = [(WAV, PCM16, 8000, 1), (WAV, FLOAT, 16000, 2), (WAV, PCM_U8, 8000, 1), (WAV, IMA, 8000, 1),
             (AIFF, PCM24, 8000, 1), (AU, ULAW, 8000, 1), (W64, PCM16, 8000, 1), (CAF, PCM16, 8000, 2),
             (RF64, PCM16, 8000, 1), (FLAC, PCM16, 8000, 1), (FLAC, PCM24, 16000, 2), (OGG, VORBIS, 8000, 1)]
    with tempfile.TemporaryDirectory() as tmp:
        for i, (major, sub, rate, ch) in enumerate(kinds):
            n = rate // 50  # 20 ms
            buf = (ctypes.c_float * (n * ch))(*[0.5 * math.sin(2 * math.pi * 440 * (k // ch) / rate)
                                                for k in range(n * ch)])
            info = Info(0, rate, ch, major | sub, 0, 0)
            path = os.path.join(tmp, "a%d" % i).encode()
            sf = lib.sf_open(path, SFM_WRITE, ctypes.byref(info))
            if not sf:
                print("make_seeds: libsndfile cannot write format %#x" % (major | sub), file=sys.stderr)
                continue
            lib.sf_writef_float(sf, buf, n)
            lib.sf_close(sf)
            data = open(path, "rb").read()
            put("audio_file", data)
            if major == WAV and sub == PCM16:  # a truncated copy: the CLI's truncation check
                put("audio_file", data[: len(data) // 2])
            put("audio_file", data[:100])  # cut inside the headers: libsndfile's error paths
    # Raw PCM: "PCM", a spec byte (format, rate, channels), samples.
    put("audio_file", b"PCM\x00" + b"".join(struct.pack("<h", int(8000 * math.sin(k / 5))) for k in range(160)))
    put("audio_file", b"PCM\x01" + b"".join(struct.pack("<i", k << 20) for k in range(80)))
    put("audio_file", b"PCM\x0e" + b"".join(struct.pack("<f", math.sin(k / 3)) for k in range(64)) + b"\x01")


def run_audio():
    # graph byte, then frames: [format | (channels-1) << 4][rate index][frames lo][frames hi] samples
    def frame(fmt, ch, rate_i, n, amp=0.3, freq=300.0):
        rate = [8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000][rate_i]
        out = bytes([fmt | (ch - 1) << 4, rate_i, n & 0xFF, n >> 8])
        for k in range(n):
            x = amp * math.sin(2 * math.pi * freq * k / rate)
            for _ in range(ch):
                out += struct.pack("<f", x) if fmt == 0 else struct.pack("<h", int(x * 32767)) if fmt == 1 \
                    else struct.pack("<i", int(x * 2147483647))
        return out
    for g in range(4):
        put("run_audio", bytes([g]) + frame(0, 1, 2, 320) + frame(0, 1, 2, 320, 0.0))
        put("run_audio", bytes([g]) + frame(1, 2, 0, 160) + frame(1, 2, 0, 160, 0.8, 1000))
        put("run_audio", bytes([g]) + frame(2, 1, 7, 480) + frame(0, 1, 2, 100))


def packages():
    # Small packages: valid ones (runtime.wasm is only the 8-byte wasm header, all the validator reads of it)
    # and one of each kind of refusal, so the fuzzer starts past the zip layer.
    import hashlib, io, zipfile
    calc = open(os.path.join(ROOT, "examples/packages/calculator/manifest.json"), "rb").read()
    text = open(os.path.join(ROOT, "examples/packages/text-processor/manifest.json"), "rb").read()
    wasm = b"\0asm\x01\0\0\0"

    def pkg(members, checksums=True, method=zipfile.ZIP_DEFLATED):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", method) as z:
            for n, d in members:
                zi = zipfile.ZipInfo(n, (2024, 1, 1, 0, 0, 0))
                zi.compress_type = method
                z.writestr(zi, d)
            if checksums:
                zi = zipfile.ZipInfo("checksums", (2024, 1, 1, 0, 0, 0))
                zi.compress_type = method
                z.writestr(zi, "".join("%s  %s\n" % (hashlib.sha256(d).hexdigest(), n) for n, d in members))
        put("package", buf.getvalue())
    md = b'{"package_name": "calc", "format_version": "1.0.0"}'
    pkg([("manifest.json", calc), ("runtime.wasm", wasm), ("metadata.json", md)])
    pkg([("manifest.json", text), ("runtime.wasm", wasm), ("python/node.py", b"x = 1\n")], method=zipfile.ZIP_STORED)
    pkg([("manifest.json", calc), ("runtime.wasm", wasm)], checksums=False)
    pkg([("manifest.json", calc.replace(b"10", b'"ten"')), ("runtime.wasm", b"\0asm\x02\0\0\0")])
    pkg([("manifest.json", b"{\n ,}"), ("runtime.wasm", wasm), ("../evil", b""), ("python/", b"")])


def proto_requests():
    """proto_request: a selector byte (0 ExecuteRequest, 1 StreamRequest,
    2 VersionRequest, 3 HealthCheckRequest) + the message's encoding, as the
    gRPC tests send them (stubs made from proto/ by tests/grpc/rmgrpc.py,
    which needs protoc and python3-grpcio), plus a few hand-made encodings."""
    sys.path.insert(0, os.path.join(ROOT, "tests", "grpc"))
    import rmgrpc as r
    p = r.stubs()
    sel = {"execute": b"\0", "stream": b"\1", "version": b"\2", "health": b"\3"}
    calc = r.load_manifest_file(os.path.join(ROOT, "examples", "calculator.json"))
    vad = r.load_manifest_file(os.path.join(ROOT, "examples", "vad_events.yaml"))
    tone = [0.5 * math.sin(i / 8.0) for i in range(160)]
    bufs = [r.json_buffer({"value": 1.5}), r.json_buffer([1, 2, 3]), r.text_buffer("héllo wörld"),
            p.common.DataBuffer(binary=p.common.BinaryBuffer(data=b"\x00\x01\xff", mime_type="x/y")),
            p.common.DataBuffer(tensor=p.common.TensorBuffer(data=struct.pack("<4f", 1, 2, 3, 4), shape=[2, 2],
                                                             dtype=1, layout="NC")),
            p.common.DataBuffer(video=p.common.VideoFrame(pixel_data=bytes(12), width=2, height=2, format=1,
                                                          frame_number=3)),
            p.common.DataBuffer(json=p.common.JsonData(json_payload="{}"), metadata={"k": "v"})]
    for fmt in ("f32", "i16", "i32"):
        bufs.append(r.audio_buffer(tone, fmt=fmt))
    bufs.append(r.audio_buffer(tone, fmt="i16", num_samples=999))  # disagrees with the byte count
    for b in bufs:
        req = p.execution.ExecuteRequest(manifest=r.manifest_proto(calc), client_version="seed")
        req.data_inputs["multiply"].CopyFrom(b)
        put("proto_request", sel["execute"] + req.SerializeToString())
        put("proto_request", sel["stream"] + r.chunk_request("vad", b, 7).SerializeToString())
        put("proto_request", sel["stream"] + r.chunk_request("n", None, 1, named={"in": b, "x": b}).SerializeToString())
    bad = r.manifest_proto(calc, params_override={"multiply": "not json"})
    put("proto_request", sel["execute"] + p.execution.ExecuteRequest(manifest=bad).SerializeToString())
    put("proto_request", sel["stream"] + r.init_request(vad, expected_chunk_size=1600).SerializeToString())
    put("proto_request", sel["stream"] + r.init_request(calc).SerializeToString())
    put("proto_request", sel["stream"] + r.control_request("close").SerializeToString())
    put("proto_request", sel["stream"] + r.control_request("cancel").SerializeToString())
    ac = p.streaming.AudioChunk(node_id="vad", buffer=r.audio_buffer(tone).audio, sequence=2)
    put("proto_request", sel["stream"] + p.streaming.StreamRequest(audio_chunk=ac).SerializeToString())
    put("proto_request", sel["version"] + p.execution.VersionRequest(client_version="1.0").SerializeToString())
    put("proto_request", sel["health"] + p.health.HealthCheckRequest(service="").SerializeToString())
    put("proto_request", sel["health"] + p.health.HealthCheckRequest(service="grpc.health.v1.Health")
        .SerializeToString())
    # unknown field 99 (varint), a truncated varint, and TensorBuffer.shape
    # unpacked (one tag per element) instead of packed
    put("proto_request", sel["version"] + b"\x98\x06\x01" + b"\x0a\x01x")
    put("proto_request", sel["execute"] + b"\x0a\x05\x0a\x03\x80\x80")
    tensor = b"\x0a\x04" + bytes(4) + b"\x10\x02\x10\x02\x18\x01"
    put("proto_request", sel["stream"] + _ld(2, b"\x0a\x01n" + _ld(2, _ld(3, tensor))))
    put("proto_request", sel["stream"] + _ld(2, b"\x0a\x01n" + _ld(3, b"\x0a\x01k" + _ld(2, _ld(3, tensor)))))
    put("proto_request", sel["stream"] + _ld(2, _ld(2, b"\x08\x01")))  # audio (a message) sent as a varint


def whip_offers():
    """HTTP-like requests around real offers (offers/: Chromium's from
    dump_offers.js, webrtcbin's from test_whip_offer --dump) and broken ones."""
    head = "POST /whip\r\nAuthorization: Bearer s3cret-token\r\nContent-Type: application/sdp\r\n"
    offers = {os.path.basename(f): open(f, "rb").read().decode()
              for f in repo_files("tests/fuzz/offers/*.sdp")}
    for body in offers.values():
        put("whip_offer", head + "\r\n" + body)
    voice = offers["chromium-voice.sdp"]
    for h in ("POST /whip\nContent-Type: application/sdp\n",
              "POST /whip\nAuthorization: Bearer wrong\nContent-Type: application/sdp\n",
              "POST /whip\nAuthorization: Basic czNjcmV0LXRva2Vu\nContent-Type: application/sdp\n",
              "POST /whip\nAuthorization: Bearer s3cret-token\nContent-Type: text/plain\n",
              head + "Repeat: 40\r\n"):
        put("whip_offer", h + "\n" + voice)
    for line in ("DELETE /whip/peer-1-0123abcd", "PATCH /whip/peer-1", "DELETE /whip/", "OPTIONS /whip",
                 "GET /health", "GET /metrics", "GET /whip", "PUT /whip", "GET /nope"):
        put("whip_offer", line + "\nAuthorization: Bearer another\n\n")
    broken = [voice.replace("opus/48000/2", "speex/48000/2"), voice.replace("a=rtpmap:111", "a=rtpmap:128"),
              voice.replace("a=rtpmap:111", "a=rtpmap:-5"), voice.replace("m=audio", "m=video"),
              voice.replace("v=0", "v=1", 1), voice[:len(voice) // 2], voice.replace("m=audio", "\0m=audio"),
              "v=0\r\n", "", "v=0\r\nm=audio 9 RTP/AVP 96\r\na=rtpmap:96 opus/48000/2\r\n"]
    for body in broken:
        put("whip_offer", head + "\r\n" + body)


def rmw():
    """Call programs for the wasm library (fuzz_rmw.c): a built-in manifest
    (byte 1-5) or manifest text, NUL, then op bytes."""
    def s(b):
        b = b.encode() if isinstance(b, str) else b
        return bytes([len(b)]) + b
    ANY = b"\xff"
    push_json = lambda node, text: b"\x00" + (s(node) if node else ANY) + s(text)
    push_text = lambda node, text: b"\x01" + (s(node) if node else ANY) + s(text)
    flush, cancel, metrics, summary, reopen = b"\x03", b"\x04", b"\x05", b"\x09", b"\x0a"
    drain_all = b"\x06" + ANY + ANY + b"\x01"

    def push_audio(fmt, rate_i, ch, frames, stamp=20):
        width = 2 if fmt == 2 else 4
        data = bytes((i * 37) & 0xff for i in range(frames * ch * width))
        return b"\x02" + ANY + bytes([fmt, rate_i, ch, frames, 0]) + data + bytes([stamp])

    put("rmw", b"\x01\x00" + push_json(None, "5") + push_json("sq", "[1,2]") + metrics + flush + drain_all)
    put("rmw", b"\x01\x00" + push_json("mul", "{\"a\":1}") + push_text(None, "x") + cancel + summary + reopen +
        push_json(None, "2.5") + flush + push_json(None, "1") + drain_all)
    put("rmw", b"\x02\x00" + push_text(None, "Hello wor") + push_text("sentences", "ld. Dr. Smith met Mrs. Ng. Y") +
        b"\x07" + s("words") + ANY + b"\x00" + flush + drain_all)
    put("rmw", b"\x03\x00" + push_audio(1, 4, 1, 240) + push_audio(1, 4, 1, 240, stamp=2) + flush + drain_all)
    put("rmw", b"\x04\x00" + push_audio(2, 4, 2, 200) + push_audio(3, 1, 2, 100, stamp=7) + flush +
        b"\x06" + s("s16") + s("out") + b"\x01" + drain_all)
    put("rmw", b"\x05\x00" + b"\x01\x01" + push_text(None, "hi") + b"\x00" + push_json("h1", "[1]") +
        b"\x01" + s("emitted") + b"\x09" + flush + b"\x00\x00" + drain_all)
    put("rmw", b"\x05\x00" + b"\x01\x01" + push_text(None, "x") + b"\x04" + s("host says no") + b"\x03" +
        cancel + push_text(None, "y") + b"\x05\x0b" + drain_all)
    put("rmw", b"\x08\x00" + s("VAD") + b"\x08" + s("Calculator"))  # inspect, no graph: manifest text fails
    for f in repo_files("tests/wasm/*.yaml", "tests/wasm/*.json"):
        put("rmw", open(f, "rb").read() + b"\x00" + push_json(None, "3") + push_text(None, "a b") + flush + drain_all)


def _ld(field, payload):
    """A length-delimited protobuf field (payloads here are < 128 bytes)."""
    return bytes([field << 3 | 2, len(payload)]) + payload


if __name__ == "__main__":
    # make_seeds.py [GENERATOR...]: only those (e.g. whip_offers rmw)
    gens = {"packages": packages, "node_params": lambda: node_params(manifests()), "json_inputs": json_inputs,
            "audio": audio, "run_audio": run_audio, "proto_requests": proto_requests,
            "whip_offers": whip_offers, "rmw": rmw}
    for name in sys.argv[1:] or list(gens):
        gens[name]()
    for t in sorted(os.listdir(CORPUS)):
        files = os.listdir(os.path.join(CORPUS, t))
        size = sum(os.path.getsize(os.path.join(CORPUS, t, f)) for f in files)
        print("%-14s %3d seeds, %6d bytes" % (t, len(files), size))
