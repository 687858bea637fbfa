"""The WebRTC queue limits (docs/security.md, "Limited inputs"): a peer whose
audio arrives faster than its session can take it, and reply audio made
faster than it is paced back.

The served manifest is one TestFaultNode (the test-only plugin
tests/plugins/faults, loaded with --plugin-dir) that spends 500 ms on every
frame: 2 frames/s against the 50 frames/s of 20 ms Opus that aiortc
(Debian python3-aiortc) sends in real time.  The session's input queue holds
512 frames (server.c: queue_capacity); a push is made only while it is at
most half full (rm_stream_writable), so the rest of the peer's audio is
dropped, not queued, and counted.

Checks, after 15 s of audio and a DELETE:
  - frames were dropped, and the count in the peer's closing message equals
    rmedia_webrtc_audio_frames_dropped_total in /metrics and the server log;
  - every frame arrived was either pushed or dropped, and more were dropped
    than pushed (the queue did not grow to take them);
  - frames pushed minus frames the node finished (the backlog when the peer
    ended) reached the queue's half (the limit was hit) and stayed within
    its 512 frames (nothing grew past it);
  - the session is freed and the server exits 0 (no leak under ASan).

Then the reply side: a server with --webrtc-max-reply-seconds 0.1 (the
least) runs TextToSpeech on text sent over the data channel; a long text
makes ~20 s of speech in a fraction of that, and the reply audio queued for
the peer stays within 100 ms: the rest is dropped, the peer is told (once
per reply: on a loaded machine the speech can come slower than it plays
between sentences, and the queue empties), and the closing message,
/metrics and the log count the dropped milliseconds.

Run by run.sh inside a network namespace with only lo.
Usage: queue_limit.py RMEDIA SOURCE_DIR WORK_DIR FAULT_PLUGIN_DIR
"""
import asyncio
import functools
import json
import os
import re
import sys
import time
import wave


# whip_client.py's checks and aiortc fixes (offer 127.0.0.1 in a namespace
# with only lo; one ICE credential per BUNDLE); it reads the same argv
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import whip_client  # noqa: E402
from whip_client import TOKEN, check, connect, finish, launch, offer, stop_server  # noqa: E402

RMEDIA, SRC, WORK, FAULTS = sys.argv[1:5]
QUEUE = 512        # src/transports/webrtc/server.c: ho.queue_capacity
DELAY_MS = 500     # per frame in the node: 2 frames/s
SEND_S = 15
SLACK = 5          # frames that may arrive while teardown reads its counters (20 ms each)


request = functools.partial(whip_client.request, None)  # plain HTTP
metric = functools.partial(whip_client.metric, None)


def start_server(manifest):
    return launch(["--webrtc-peer-timeout", "120", "--plugin-dir", FAULTS, manifest], {"RMEDIA_PLUGIN_PATH": ""})


async def call(port, wav, act=None):
    """One peer: offer, connect, then `act(peer)` (default: send audio for
    SEND_S), DELETE; returns the closing message's metrics."""
    c = await offer(wav, lambda sdp: request(
        port, "POST", "/whip", sdp, {"Content-Type": "application/sdp", "Authorization": "Bearer " + TOKEN}, 600))
    pc, player, messages = c.pc, c.player, c.messages
    status, headers, answer = c.status, c.headers, c.answer
    loop = asyncio.get_running_loop()
    check("offer → 201", status == 201 and answer.startswith("v=0"), f"{status} {answer[:300]}")
    if status != 201:
        await pc.close()
        return None
    location = headers.get("Location", "")
    await connect(c, 120)
    await (act(c) if act else asyncio.sleep(SEND_S))
    status, _, body = await loop.run_in_executor(
        None, lambda: request(port, "DELETE", location, None, {"Authorization": "Bearer " + TOKEN}))
    check("DELETE → 200", status == 200, f"{status} {body}")
    deadline = time.time() + 120
    while time.time() < deadline and not any(m.get("type") == "closed" for m in messages):
        await asyncio.sleep(0.2)
    closed = [m for m in messages if m.get("type") == "closed"]
    check("the peer gets its closing message with the session's metrics", bool(closed),
          str([m.get("type") for m in messages][-10:]))
    while time.time() < deadline and metric(port, "rmedia_webrtc_peers") != 0:
        await asyncio.sleep(0.2)
    check("the session is freed", metric(port, "rmedia_webrtc_peers") == 0)
    await pc.close()
    player.audio.stop()
    return closed[0].get("metrics", {}) if closed else None


def main():
    os.makedirs(WORK, exist_ok=True)
    wav = os.path.join(WORK, "tone.wav")
    with wave.open(wav, "wb") as w:  # 2 s of a 440 Hz square-ish tone, looped
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"".join((6000 if (i // 18) % 2 else -6000).to_bytes(2, "little", signed=True)
                               for i in range(32000)))
    manifest = os.path.join(WORK, "slow.yaml")
    with open(manifest, "w") as f:
        f.write("version: v1\nmetadata: {name: slow-sink}\nnodes:\n"
                "  - {id: slow, node_type: TestFaultNode, params: {delay_ms: %d, fail_rate: 0}}\n"
                "connections: []\n" % DELAY_MS)
    proc, port = start_server(manifest)
    m = None
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if request(port, "GET", "/health")[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        m = asyncio.run(call(port, wav))
        if m is not None:
            w = m.get("webrtc", {})
            pushed, dropped = w.get("audio_frames_in", -1), w.get("audio_frames_dropped", -1)
            done = m.get("node_metrics", {}).get("slow", {}).get("calls", -1)
            backlog = pushed - done
            print(f"     audio frames pushed {pushed}, dropped {dropped}, finished by the node {done}, "
                  f"backlog at the end {backlog} (queue {QUEUE})")
            check("peer audio was dropped once the queue filled", dropped > 0, str(w))
            check("more audio was dropped than pushed (15 s at 50 frames/s against 2 frames/s)",
                  dropped > pushed > 0, str(w))
            check(f"the backlog reached half the queue ({QUEUE // 2}: the limit was hit)",
                  backlog >= QUEUE // 2 - 2, f"backlog {backlog}")
            check(f"the backlog stayed within the queue's {QUEUE} frames", 0 <= backlog <= QUEUE,
                  f"backlog {backlog}")
            # teardown reads the counters for /metrics, then for the message
            # and the log, while the peer's audio still arrives (and is
            # dropped: the session is gone): a few frames apart at most
            md = metric(port, "rmedia_webrtc_audio_frames_dropped_total")
            check("/metrics counts the same drops (within the frames that arrive during teardown)",
                  dropped - SLACK <= md <= dropped and
                  pushed - SLACK <= metric(port, "rmedia_webrtc_audio_frames_in_total") <= pushed,
                  f"/metrics dropped {md}, pushed {metric(port, 'rmedia_webrtc_audio_frames_in_total')}")
            # a WebRTC-only server runs the process's idle trim itself
            deadline = time.time() + 30
            while time.time() < deadline and not metric(port, "remotemedia_malloc_trims_total") >= 1:
                time.sleep(0.5)
            check("idle after its peer: the freed heap given back once (malloc_trim)",
                  metric(port, "remotemedia_malloc_trims_total") == 1,
                  str(metric(port, "remotemedia_malloc_trims_total")))
    finally:
        log = stop_server(proc, WORK)
        if m is not None:
            w = m.get("webrtc", {})
            ended = re.search(r"ended: deleted .*; audio frames in (\d+), dropped (\d+),", log)
            check("the server log names the same counts",
                  ended is not None and w.get("audio_frames_in", 0) <= int(ended.group(1)) <= w.get("audio_frames_in", 0) + SLACK and
                  w.get("audio_frames_dropped", 0) <= int(ended.group(2)) <= w.get("audio_frames_dropped", 0) + SLACK,
                  "\n".join(l for l in log.splitlines() if "ended" in l))
    reply_limit()
    finish("WebRTC queue limits")


LONG_TEXT = ("The quick brown fox jumps over the lazy dog while the five boxing wizards jump quickly. " * 5).strip()


async def speak_long_text(c):
    c.dc.send(json.dumps({"node": "tts", "data": LONG_TEXT}))
    deadline = time.time() + 120
    while time.time() < deadline and not any(m.get("type") == "reply_audio_dropped" for m in c.messages):
        await asyncio.sleep(0.2)
    await asyncio.sleep(3)  # the rest of the speech comes and is dropped


def reply_limit():
    # the peer sends silence: the segmenter (the other sink) emits no audio,
    # so TextToSpeech's is the reply audio
    wav = os.path.join(WORK, "silence.wav")
    with wave.open(wav, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(bytes(64000))
    manifest = os.path.join(WORK, "long-reply.yaml")
    with open(manifest, "w") as f:
        f.write("version: v1\nmetadata: {name: long-reply, session: {audio_input: vad, data_input: tts}}\nnodes:\n"
                "  - {id: vad, node_type: VAD}\n  - {id: seg, node_type: SpeechSegmenter}\n"
                "  - {id: tts, node_type: TextToSpeech}\nconnections: [{from: vad, to: seg}]\n")
    proc, port = launch(["--webrtc-peer-timeout", "120", "--webrtc-max-reply-seconds", "0.1", manifest])
    m, msgs = None, []
    try:
        async def act(c):
            await speak_long_text(c)
            msgs.extend(c.messages)
        m = asyncio.run(call(port, wav, act))
        told = [x for x in msgs if x.get("type") == "reply_audio_dropped"]
        # once per reply, not per dropped chunk (hundreds of them)
        check("the peer is told that reply audio was dropped, with the limit (once per reply)",
              1 <= len(told) <= 20 and
              all(t.get("limit_ms") == 100 and 0 <= t.get("queued_ms", -1) <= 100 for t in told), str(told))
        w = (m or {}).get("webrtc", {})
        dropped_ms = w.get("reply_audio_dropped_ms", -1)
        print(f"     reply audio: {w.get('audio_chunks_out')} chunks of 20 ms sent, {dropped_ms:.0f} ms dropped")
        check("much of the ~20 s reply was dropped (the queue holds 100 ms)", dropped_ms > 2000, str(w))
        check("some reply audio still went out", w.get("audio_chunks_out", 0) > 0, str(w))
        check("/metrics counts the dropped seconds",
              abs(metric(port, "rmedia_webrtc_reply_audio_dropped_seconds_total") - dropped_ms / 1000) < 0.01,
              str(metric(port, "rmedia_webrtc_reply_audio_dropped_seconds_total")))
    finally:
        log = stop_server(proc, WORK)
    ended = re.search(r"ended: deleted .*; reply audio dropped (\d+) ms", log)
    check("the server log names the dropped milliseconds",
          ended is not None and m is not None and
          abs(int(ended.group(1)) - m.get("webrtc", {}).get("reply_audio_dropped_ms", -1)) <= 1,
          "\n".join(l for l in log.splitlines() if "ended" in l))


if __name__ == "__main__":
    main()
