"""WHIP with a client nobody here wrote, over TLS: aiortc (Debian
python3-aiortc, an independent Python WebRTC stack: aioice, its own DTLS and
SRTP) publishes a spoken sentence to `rmedia serve --webrtc-listen` with
--tls-cert/--tls-key, checking the server with the test CA.

Run by run.sh inside a network namespace with only lo (media and signalling
stay on 127.0.0.1).  Usage: whip_client.py RMEDIA SOURCE_DIR WORK_DIR

Cases:
  - https /health verified against the test CA; a client that does not
    trust the CA fails verification; plain HTTP to the TLS port gets no
    HTTP answer (the connection is closed) and the server keeps serving;
  - aiortc POSTs its offer (bearer token) over https → 201 with an answer
    and a Location; ICE/DTLS connect; the WAV's sentence comes back as a
    transcript on the data channel; JSON sent on the channel naming a node
    reaches it; DELETE → 200 frees the session (rmedia_webrtc_peers 0, the
    `deleted` counter 1).
"""
import asyncio
import http.client
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import time
import wave
from types import SimpleNamespace

import aioice.ice
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaPlayer

RMEDIA, SRC, WORK = sys.argv[1:4]
sys.path.insert(0, os.path.join(SRC, "tests", "grpc"))
from rmgrpc import make_test_certs  # noqa: E402  (openssl: CA, server cert with SAN 127.0.0.1)

TOKEN = "whip-client-token"
SENTENCE = "please open the front door"
failures = []

# aioice leaves out loopback addresses when it lists the host's; in a
# namespace that has only lo that is no candidate at all.  The same switch
# as Chromium's --allow-loopback-in-peer-connection: offer 127.0.0.1.
aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"] if use_ipv4 else []


def check(name, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else ": " + detail), flush=True)
    if not ok:
        failures.append(name)


def words(t):
    return re.sub(r"[^a-z' ]", " ", t.lower()).split()


def make_wav(path):
    """1 s of silence, the sentence, 2 s of silence (16 kHz mono)."""
    r = subprocess.run([RMEDIA, "run", os.path.join(SRC, "examples/speak.yaml"), "--set", 'tts.voice="rms"',
                        "--output-format", "s16le:16000:1", "-o", "-"], input=(json.dumps(SENTENCE) + "\n").encode(),
                       capture_output=True, check=True)
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\0\0" * 16000 + r.stdout + b"\0\0" * 32000)


def launch(args, env_extra=None, wait_s=120):
    """Starts `rmedia serve` on an ephemeral loopback WHIP port with ICE on
    127.0.0.1 and the test token, then `args` (options and the manifest);
    waits for its port file.  Returns (process, port); its log is
    WORK/server.log."""
    port_file = os.path.join(WORK, "port")
    tokens = os.path.join(WORK, "tokens")
    with open(tokens, "w") as f:
        f.write(TOKEN + "\n")
    if os.path.exists(port_file):
        os.unlink(port_file)
    env = dict(os.environ, **(env_extra or {}))
    env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":fast_unwind_on_malloc=0"
    log = open(os.path.join(WORK, "server.log"), "w")
    proc = subprocess.Popen([RMEDIA, "serve", "--webrtc-listen", "127.0.0.1:0", "--webrtc-port-file", port_file,
                             "--webrtc-ice-address", "127.0.0.1", "--auth-token-file", tokens, *args],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.time() + wait_s
    while time.time() < deadline and not (os.path.exists(port_file) and open(port_file).read().strip()):
        if proc.poll() is not None:
            raise RuntimeError("rmedia serve exited early: " + open(os.path.join(WORK, "server.log")).read())
        time.sleep(0.1)
    return proc, int(open(port_file).read())


def start_server(certs):
    # with gRPC beside it (its own ephemeral port): the gRPC loop then runs
    # the process's idle trim, and must see the WebRTC peer as busy
    return launch(["--listen", "127.0.0.1:0", "--port-file", os.path.join(WORK, "grpc-port"),
                   "--webrtc-peer-timeout", "60", "--tls-cert", os.path.join(certs, "server.pem"),
                   "--tls-key", os.path.join(certs, "server.key"), os.path.join(SRC, "examples/voice-agent.yaml")],
                  wait_s=60)


def request(ctx, port, method, path, body=None, headers=None, timeout=60):
    """One request to the WHIP port: HTTPS verified with `ctx`, plain HTTP if
    `ctx` is None.  Returns (status, headers, body text)."""
    c = (http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=timeout) if ctx is not None
         else http.client.HTTPConnection("127.0.0.1", port, timeout=timeout))
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read().decode("utf-8", "replace")
    finally:
        c.close()


def metric(ctx, port, name):
    _, _, text = request(ctx, port, "GET", "/metrics")
    m = re.search(r"^" + re.escape(name) + r" (\S+)$", text, re.M)
    return float(m.group(1)) if m else float("nan")


def tls_cases(ctx, port):
    status, _, body = request(ctx, port, "GET", "/health")
    check("https /health verified with the test CA", status == 200, f"{status} {body}")
    stranger = ssl.create_default_context()  # the system CAs only
    try:
        request(stranger, port, "GET", "/health")
        check("a client without the test CA refuses the server", False, "the handshake succeeded")
    except ssl.SSLCertVerificationError as e:
        check("a client without the test CA refuses the server", "certificate verify failed" in str(e), str(e))
    plain = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        plain.request("GET", "/health")
        r = plain.getresponse()
        check("plain HTTP to the TLS port gets no HTTP answer", False, f"answered {r.status}")
    except (http.client.HTTPException, ConnectionError, OSError) as e:
        check("plain HTTP to the TLS port gets no HTTP answer", True)
        print(f"     plain HTTP: {type(e).__name__}: {e}")
    finally:
        plain.close()
    status, _, _ = request(ctx, port, "GET", "/health")
    check("the server still serves https after the plain request", status == 200, str(status))


def one_ice_credential(sdp):
    """aiortc 1.4 offers a BUNDLE group whose m-lines carry each its own ICE
    credentials (RFC 8843 allows it in an initial offer); webrtcbin 1.22
    refuses that ("different ice-ufrag values in bundle").  Once the answer
    accepts the bundle aiortc uses only the first m-line's transport, so its
    credentials are given to every m-line (docs/webrtc.md, "Clients")."""
    ufrag = re.search(r"^a=ice-ufrag:(\S+)", sdp, re.M).group(1)
    pwd = re.search(r"^a=ice-pwd:(\S+)", sdp, re.M).group(1)
    sdp = re.sub(r"^a=ice-ufrag:\S+", "a=ice-ufrag:" + ufrag, sdp, flags=re.M)
    return re.sub(r"^a=ice-pwd:\S+", "a=ice-pwd:" + pwd, sdp, flags=re.M)


async def offer(wav, post):
    """An aiortc peer sending `wav` (looped, paced in real time) with the
    `rmedia` data channel; its offer goes through `post(sdp)`, which returns
    (status, headers, body).  Returns the peer's parts and that reply."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    dc = pc.createDataChannel("rmedia")
    messages, opened = [], asyncio.Event()
    dc.on("open", opened.set)
    dc.on("message", lambda m: messages.append(json.loads(m)))
    player = MediaPlayer(wav, loop=True)
    pc.addTrack(player.audio)
    await pc.setLocalDescription(await pc.createOffer())  # aiortc gathers before it returns: no trickle
    status, headers, answer = await asyncio.get_running_loop().run_in_executor(
        None, lambda: post(one_ice_credential(pc.localDescription.sdp)))
    return SimpleNamespace(pc=pc, dc=dc, player=player, messages=messages, opened=opened, status=status,
                           headers=headers, answer=answer)


async def connect(c, timeout):
    """Gives the peer `c` (from offer) the server's answer and waits up to
    `timeout` s for ICE + DTLS and the data channel; checks it opened."""
    await c.pc.setRemoteDescription(RTCSessionDescription(sdp=c.answer, type="answer"))
    try:
        await asyncio.wait_for(c.opened.wait(), timeout)
    except asyncio.TimeoutError:
        pass
    check("ICE + DTLS connected, data channel open", c.opened.is_set(), f"connection state {c.pc.connectionState}")


async def call(ctx, port, wav):
    c = await offer(wav, lambda sdp: request(
        ctx, port, "POST", "/whip", sdp, {"Content-Type": "application/sdp", "Authorization": "Bearer " + TOKEN},
        timeout=600))  # the answer waits for the session's models (slow under ASan)
    pc, dc, player, messages = c.pc, c.dc, c.player, c.messages
    status, headers, answer = c.status, c.headers, c.answer
    loop = asyncio.get_running_loop()
    check("aiortc's offer over https → 201 with an SDP answer", status == 201 and answer.startswith("v=0"),
          f"{status} {answer[:300]}")
    if status != 201:
        await pc.close()
        return
    location = headers.get("Location", "")
    check("201 carries a Location for the session", location.startswith("/whip/"), location)
    await connect(c, 60)
    dc.send(json.dumps({"node": "said", "data": "hello from aiortc"}))
    dc.send(json.dumps({"text": "no node named"}))  # voice-agent.yaml declares no data input

    def transcripts():
        return [m["data"]["text"] for m in messages if m.get("type") == "output" and m.get("node") == "transcript"]

    # wait while the server shows progress (VAD events, transcripts), up to
    # a generous cap: an ASan server on a busy machine is slow, not stuck
    last, last_change, cap = -1, time.time(), time.time() + 300
    while not transcripts() and time.time() < cap and time.time() - last_change < 90:
        if len(messages) != last:
            last, last_change = len(messages), time.time()
        await asyncio.sleep(0.2)
    heard = transcripts()
    print(f"     transcripts: {heard}")
    check("the sentence comes back as a transcript on the data channel",
          any(words(h) == words(SENTENCE) for h in heard) or
          any(len(set(words(h)) & set(words(SENTENCE))) >= 4 for h in heard), str(heard))
    check("JSON naming a node reaches it",
          any(m.get("node") == "said" and m.get("data") == "hello from aiortc" for m in messages),
          str([m for m in messages if m.get("type") != "output"][:5]))
    check("JSON naming no node, with no data input declared → an error message naming the rule",
          any(m.get("type") == "error" and "declares no input node" in m.get("message", "") for m in messages),
          str([m for m in messages if m.get("type") == "error"]))
    check("no trim while the peer was connected (seconds, with gRPC idle)",
          metric(ctx, port, "remotemedia_malloc_trims_total") == 0,
          str(metric(ctx, port, "remotemedia_malloc_trims_total")))
    status, _, body = await loop.run_in_executor(
        None, lambda: request(ctx, port, "DELETE", location, None, {"Authorization": "Bearer " + TOKEN}))
    check("DELETE → 200", status == 200, f"{status} {body}")
    deadline = time.time() + 60
    while time.time() < deadline and metric(ctx, port, "rmedia_webrtc_peers") != 0:
        await asyncio.sleep(0.2)
    check("DELETE frees the session", metric(ctx, port, "rmedia_webrtc_peers") == 0)
    _, _, text = request(ctx, port, "GET", "/metrics")
    check("ended as deleted", 'rmedia_webrtc_peers_ended_total{reason="deleted"} 1' in text,
          "\n".join(l for l in text.splitlines() if "ended" in l))
    # /metrics shows the process's memory; freed heap goes back once every
    # server in it is idle (2 s after the last peer; here the gRPC loop
    # decides, and only the WebRTC peer made the process busy)
    # (its value: 0 under ASan, whose allocator mallinfo2 does not see)
    check("/metrics shows heap in use", metric(ctx, port, "remotemedia_malloc_heap_inuse_bytes") >= 0, text[-400:])
    deadline = time.time() + 30
    while time.time() < deadline and not metric(ctx, port, "remotemedia_malloc_trims_total") >= 1:
        await asyncio.sleep(0.5)
    check("idle after its peer: one trim", metric(ctx, port, "remotemedia_malloc_trims_total") == 1,
          str(metric(ctx, port, "remotemedia_malloc_trims_total")))
    await pc.close()
    player.audio.stop()


def stop_server(proc, work):
    """Stops the server by its PID and checks it exits cleanly; returns its log."""
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = proc.wait()
    log = open(os.path.join(work, "server.log")).read()
    check("rmedia serve exits cleanly (0, no leak under ASan)", code == 0, f"exit {code}; log:\n" + log[-3000:])
    return log


def finish(what):
    """Exits 1 naming the failed cases, or says all `what` cases passed."""
    if failures:
        print(f"{len(failures)} case(s) failed: {'; '.join(failures)}")
        sys.exit(1)
    print(f"all {what} cases passed")


def main():
    os.makedirs(WORK, exist_ok=True)
    certs = make_test_certs(WORK)
    wav = os.path.join(WORK, "sentence.wav")
    make_wav(wav)
    ctx = ssl.create_default_context(cafile=os.path.join(certs, "ca.pem"))
    proc, port = start_server(certs)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if request(ctx, port, "GET", "/health")[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        tls_cases(ctx, port)
        asyncio.run(call(ctx, port, wav))
    finally:
        stop_server(proc, WORK)
    finish("WHIP client")


if __name__ == "__main__":
    main()
