"""The WebRTC peer audio queue limit (docs/security.md, "Limited inputs"):
a peer whose audio arrives faster than its session can take it.

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

Run by run.sh inside a network namespace with only lo.
Usage: queue_limit.py RMEDIA SOURCE_DIR WORK_DIR FAULT_PLUGIN_DIR
"""
import asyncio
import functools
import os
import re
import sys
import time
import wave

from aiortc import RTCSessionDescription

# whip_client.py's checks and aiortc fixes (offer 127.0.0.1 in a namespace
# with only lo; one ICE credential per BUNDLE); it reads the same argv
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import whip_client  # noqa: E402
from whip_client import TOKEN, check, finish, launch, offer, stop_server  # noqa: E402

RMEDIA, SRC, WORK, FAULTS = sys.argv[1:5]
QUEUE = 512        # src/transports/webrtc/server.c: ho.queue_capacity
DELAY_MS = 500     # per frame in the node: 2 frames/s
SEND_S = 15
SLACK = 5          # frames that may arrive while teardown reads its counters (20 ms each)


request = functools.partial(whip_client.request, None)  # plain HTTP
metric = functools.partial(whip_client.metric, None)


def start_server(manifest):
    return launch(["--webrtc-peer-timeout", "120", "--plugin-dir", FAULTS, manifest], {"RMEDIA_PLUGIN_PATH": ""})


async def call(port, wav):
    c = await offer(wav, lambda sdp: request(
        port, "POST", "/whip", sdp, {"Content-Type": "application/sdp", "Authorization": "Bearer " + TOKEN}, 600))
    pc, player, messages, opened = c.pc, c.player, c.messages, c.opened
    status, headers, answer = c.status, c.headers, c.answer
    loop = asyncio.get_running_loop()
    check("offer → 201", status == 201 and answer.startswith("v=0"), f"{status} {answer[:300]}")
    if status != 201:
        await pc.close()
        return None
    location = headers.get("Location", "")
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    try:
        await asyncio.wait_for(opened.wait(), 120)
    except asyncio.TimeoutError:
        pass
    check("ICE + DTLS connected, data channel open", opened.is_set(), f"connection state {pc.connectionState}")
    await asyncio.sleep(SEND_S)
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
    finally:
        log = stop_server(proc, WORK)
        if m is not None:
            w = m.get("webrtc", {})
            ended = re.search(r"ended: deleted .*; audio frames in (\d+), dropped (\d+),", log)
            check("the server log names the same counts",
                  ended is not None and w.get("audio_frames_in", 0) <= int(ended.group(1)) <= w.get("audio_frames_in", 0) + SLACK and
                  w.get("audio_frames_dropped", 0) <= int(ended.group(2)) <= w.get("audio_frames_dropped", 0) + SLACK,
                  "\n".join(l for l in log.splitlines() if "ended" in l))
    finish("peer audio queue")


if __name__ == "__main__":
    main()
