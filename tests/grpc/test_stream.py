"""StreamPipeline through Python grpcio: VAD and speech-to-text on
synthesised speech (compared with `rmedia run`), sequences, metrics,
CANCEL/CLOSE, back-to-back clients, concurrent sessions and every stream
error of issue 12."""
import json
import os
import threading

import grpc
import numpy as np
import pytest

import rmgrpc as r

SENTENCE = "the quick brown fox jumps over the lazy dog"


def kinds(responses):
    return [x.WhichOneof("response") for x in responses]


def results(responses):
    return [x.result for x in responses if x.WhichOneof("response") == "result"]


def chunks_of(x, n):
    return [x[i:i + n] for i in range(0, len(x), n)]


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("speech") / "fox.wav")
    x, rate = r.flite_speech(SENTENCE, path)
    assert rate == 16000
    return path, x


def passthrough():
    return r.simple_manifest(("p", "PassThrough", {}))


# ------------------------------------------------------------ handshake --

def test_ready_then_results_then_closed(server, pb):
    reqs = [r.init_request(passthrough(), expected_chunk_size=1600)]
    reqs += [r.chunk_request("p", r.json_buffer(i), i) for i in range(5)]
    reqs += [r.control_request("close")]
    out = r.stream_all(server, reqs)
    k = kinds(out)
    assert k[0] == "ready", k
    assert out[0].ready.session_id
    assert out[0].ready.recommended_chunk_size == 1600
    assert k[-1] == "closed", k
    assert "error" not in k
    res = results(out)
    assert [x.sequence for x in res] == [0, 1, 2, 3, 4]
    assert [r.buffer_value(x.data_outputs["p"]) for x in res] == [0, 1, 2, 3, 4]
    assert out[-1].closed.session_id == out[0].ready.session_id
    assert out[-1].closed.final_metrics.wall_time_ms > 0


def test_back_to_back_without_waiting(server):
    # init, chunks, CLOSE and the half-close in one burst; every result comes
    # before StreamClosed and the call ends right after it
    m = r.load_manifest_file(os.path.join(r.ROOT, "examples", "calculator.json"))
    reqs = [r.init_request(m)] + [r.chunk_request("multiply", r.json_buffer(i), i) for i in range(20)]
    reqs.append(r.control_request("close"))
    for _ in range(5):
        out = r.stream_all(server, reqs)
        k = kinds(out)
        assert k[0] == "ready" and k[-1] == "closed", k
        assert [r.buffer_value(x.data_outputs["add"]) for x in results(out)] == [2 * i + 10 for i in range(20)]


def test_half_close_without_close_ends_the_call(server):
    reqs = [r.init_request(passthrough()), r.chunk_request("p", r.text_buffer("a"), 0)]
    out = r.stream_all(server, reqs)
    assert [r.buffer_value(x.data_outputs["p"]) for x in results(out)] == ["a"]


def test_metrics_every_ten_chunks(server):
    reqs = [r.init_request(passthrough())] + [r.chunk_request("p", r.json_buffer(i), i) for i in range(25)]
    reqs.append(r.control_request("close"))
    out = r.stream_all(server, reqs)
    metrics = [x.metrics for x in out if x.WhichOneof("response") == "metrics"]
    assert len(metrics) == 2, kinds(out)
    assert [m.chunks_processed for m in metrics] == [10, 20]
    assert all(m.session_id == out[0].ready.session_id for m in metrics)


def test_named_buffers(server):
    reqs = [r.init_request(passthrough()),
            r.chunk_request("p", None, 0, named={"in": r.json_buffer({"k": 1})}),
            r.control_request("close")]
    out = r.stream_all(server, reqs)
    assert [r.buffer_value(x.data_outputs["p"]) for x in results(out)] == [{"k": 1}]


def test_deprecated_audio_chunk(server, pb):
    m = r.simple_manifest(("conv", "FormatConverter", {"target_format": "s16"}))
    x = r.sine(440, 16000, 0.1, 0.5)
    ab = r.audio_buffer(x, fmt="f32").audio
    reqs = [r.init_request(m),
            pb.streaming.StreamRequest(audio_chunk=pb.streaming.AudioChunk(node_id="conv", buffer=ab, sequence=0)),
            r.control_request("close")]
    out = r.stream_all(server, reqs)
    res = results(out)
    assert len(res) == 1, kinds(out)
    a = res[0].data_outputs["conv"].audio
    assert a.format == pb.common.AUDIO_FORMAT_I16
    assert np.max(np.abs(r.audio_samples(a) - x)) <= 1.5 / 32768


# -------------------------------------------------------------------- VAD --

def _events(values):
    return [("start" if e.get("is_speech_start") else "end" if e.get("is_speech_end") else "other")
            for e in values]


def test_vad_stream_equals_rmedia_run(server, speech):
    path, x = speech
    m = r.example("vad_events.yaml")
    reqs = [r.init_request(m, expected_chunk_size=1600)]
    for i, c in enumerate(chunks_of(x, 1600)):  # 100 ms of F32, like existing clients
        reqs.append(r.chunk_request("vad", r.audio_buffer(c, 16000, 1, "f32"), i))
    reqs.append(r.control_request("close"))
    out = r.stream_all(server, reqs)
    assert kinds(out)[-1] == "closed"
    got = []
    audio_samples = 0
    for res in results(out):
        buf = res.data_outputs["vad"]
        if buf.WhichOneof("data_type") == "json":
            got.append(json.loads(buf.json.json_payload))
        elif buf.WhichOneof("data_type") == "audio":
            audio_samples += buf.audio.num_samples
    assert audio_samples == len(x)  # the audio passes through on `out`
    ran = r.rmedia_run(os.path.join(r.ROOT, "examples", "vad_events.yaml"),
                       ["-i", path, "--chunk-ms", "100", "-f", "jsonl"])
    want = [json.loads(line)["value"] for line in ran.splitlines()
            if line.strip() and json.loads(line).get("port") == "events"]
    assert _events(got) == _events(want)
    assert _events(got)[:1] == ["start"] and "end" in _events(got)


def test_chunk_results_carry_the_causing_sequence(server, speech):
    _, x = speech
    reqs = [r.init_request(r.example("vad_events.yaml"))]
    seqs = list(range(len(chunks_of(x, 1600))))
    for i, c in zip(seqs, chunks_of(x, 1600)):
        reqs.append(r.chunk_request("vad", r.audio_buffer(c), i))
    reqs.append(r.control_request("close"))
    out = r.stream_all(server, reqs)
    audio = [res for res in results(out) if res.data_outputs["vad"].WhichOneof("data_type") == "audio"]
    audio_seqs = [res.sequence for res in audio]
    # The VAD passes a chunk on whole, or split where it decided an event (so
    # the event sits between the two parts): every part carries the sequence
    # of the chunk it came from, in order, and no sample is lost.
    assert audio_seqs == sorted(audio_seqs)
    assert sorted(set(audio_seqs)) == seqs
    assert sum(res.data_outputs["vad"].audio.num_samples for res in audio) == len(x)


# --------------------------------------------------------- speech to text --

def _transcript(values):
    return " ".join(v["text"] if isinstance(v, dict) else v for v in values).strip()


def test_speech_to_text_equals_rmedia_run(server, speech):
    path, x = speech
    m = r.example("transcribe.yaml")
    reqs = [r.init_request(m)]
    for i, c in enumerate(chunks_of(x, 1600)):
        reqs.append(r.chunk_request("resample", r.audio_buffer(c, 16000, 1, "f32"), i))
    reqs.append(r.control_request("close"))
    out = r.stream_all(server, reqs, timeout=300)
    assert kinds(out)[-1] == "closed", kinds(out)
    texts = []
    for res in results(out):
        buf = res.data_outputs.get("stt")
        if buf is not None and buf.WhichOneof("data_type") == "text":
            texts.append(buf.text.text_data.decode())
    ran = r.rmedia_run(os.path.join(r.ROOT, "examples", "transcribe.yaml"),
                       ["-i", path, "--chunk-ms", "100", "-f", "jsonl", "--only", "stt.out"])
    want = [json.loads(line)["value"] for line in ran.splitlines() if line.strip()]
    assert texts, "no transcript"
    assert _transcript(texts) == _transcript(want)
    # a sanity check on the recogniser, not on the server: most words heard
    heard = set(_transcript(texts).split())
    assert len(heard & set(SENTENCE.split())) >= 4, texts


def test_cancel_closes_at_once(server, speech):
    # CANCEL in the middle of an utterance of a slow pipeline: StreamClosed
    # comes back, with a reason naming the cancel, and nothing after it
    _, x = speech
    p = r.Pusher()
    call = server.stream_stub().StreamPipeline(p, metadata=server.metadata(), timeout=120)
    p.put(r.init_request(r.example("transcribe.yaml")))
    first = next(call)
    assert first.WhichOneof("response") == "ready", first
    for i, c in enumerate(chunks_of(x[: len(x) * 2 // 3], 1600)):
        p.put(r.chunk_request("resample", r.audio_buffer(c), i))
    p.put(r.control_request("cancel"))
    rest = list(call)
    p.end()
    k = kinds(rest)
    assert k and k[-1] == "closed", k
    assert "cancel" in rest[-1].closed.reason.lower()


# ----------------------------------------------------------------- errors --

def _first_error(out):
    errs = [x.error for x in out if x.WhichOneof("response") == "error"]
    assert errs, "no StreamResponse.error in %s" % kinds(out)
    return errs[0]


def test_chunk_before_init(server, pb):
    e = _first_error(r.stream_all(server, [r.chunk_request("p", r.json_buffer(1), 0)]))
    assert "init" in e.message.lower()


def test_control_before_init(server):
    e = _first_error(r.stream_all(server, [r.control_request("close")]))
    assert "init" in e.message.lower()


def test_second_init(server):
    out = r.stream_all(server, [r.init_request(passthrough()), r.init_request(passthrough()),
                                r.control_request("close")])
    assert kinds(out)[0] == "ready"
    assert "init" in _first_error(out).message.lower()


def test_unknown_node_id(server):
    out = r.stream_all(server, [r.init_request(passthrough()), r.chunk_request("nosuch", r.json_buffer(1), 0),
                                r.control_request("close")])
    assert "nosuch" in _first_error(out).message


def test_bad_buffer(server, pb):
    out = r.stream_all(server, [r.init_request(passthrough()), r.chunk_request("p", pb.common.DataBuffer(), 0),
                                r.control_request("close")])
    assert _first_error(out).message


def test_unspecified_audio_format(server, pb):
    buf = r.audio_buffer(r.sine())
    buf.audio.format = pb.common.AUDIO_FORMAT_UNSPECIFIED
    out = r.stream_all(server, [r.init_request(passthrough()), r.chunk_request("p", buf, 0),
                                r.control_request("close")])
    assert "format" in _first_error(out).message.lower()


def test_num_samples_mismatch(server):
    buf = r.audio_buffer(r.sine(), num_samples=17)
    out = r.stream_all(server, [r.init_request(passthrough()), r.chunk_request("p", buf, 0),
                                r.control_request("close")])
    e = _first_error(out)
    assert "num_samples" in e.message or "17" in e.message


def test_bad_manifest_in_init(server, pb):
    out = r.stream_all(server, [r.init_request(r.simple_manifest(("x", "NoSuchNodeType", {})))])
    e = _first_error(out)
    assert e.error_type == pb.common.ERROR_TYPE_VALIDATION
    assert e.failing_node_id == "x" and "NoSuchNodeType" in e.message


def test_init_without_manifest(server, pb):
    req = pb.streaming.StreamRequest(init=pb.streaming.StreamInit(client_version="t"))
    try:
        out = r.stream_all(server, [req])
        assert "manifest" in _first_error(out).message.lower()
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_params_not_json_in_init(server):
    m = r.manifest_proto(passthrough(), params_override={"p": "{oops"})
    out = r.stream_all(server, [r.init_request(m)])
    e = _first_error(out)
    assert e.failing_node_id == "p"


# ------------------------------------------------------------ concurrency --

def test_many_concurrent_sessions(server):
    n = 32
    failures = []
    m = r.load_manifest_file(os.path.join(r.ROOT, "examples", "calculator.json"))

    def one(k):
        try:
            reqs = [r.init_request(m)] + [r.chunk_request("multiply", r.json_buffer(k * 1000 + i), i) for i in range(30)]
            reqs.append(r.control_request("close"))
            out = r.stream_all(server, reqs)
            got = [r.buffer_value(x.data_outputs["add"]) for x in results(out)]
            if got != [2 * (k * 1000 + i) + 10 for i in range(30)] or kinds(out)[-1] != "closed":
                failures.append((k, got[:5], kinds(out)[-3:]))
        except Exception as e:  # noqa: BLE001 - reported below
            failures.append((k, repr(e)))

    threads = [threading.Thread(target=one, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures[:3]


def test_slow_session_does_not_block_others(server, speech):
    # a speech-to-text session busy decoding while short calculator calls
    # complete (no timing: they must simply all finish while it runs)
    _, x = speech
    p = r.Pusher()
    call = server.stream_stub().StreamPipeline(p, metadata=server.metadata(), timeout=300)
    p.put(r.init_request(r.example("transcribe.yaml")))
    assert next(call).WhichOneof("response") == "ready"
    for i, c in enumerate(chunks_of(np.concatenate([x, x, x]), 1600)):
        p.put(r.chunk_request("resample", r.audio_buffer(c), i))
    m = r.load_manifest_file(os.path.join(r.ROOT, "examples", "calculator.json"))
    for i in range(10):
        res = r.execute(server, m, {"multiply": r.json_buffer(i)})
        assert r.buffer_value(res.result.data_outputs["add"]) == 2 * i + 10
    p.put(r.control_request("close"))
    p.end()
    assert kinds(list(call))[-1] == "closed"
