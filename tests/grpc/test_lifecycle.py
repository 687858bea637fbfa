"""Server lifecycle: SIGTERM drain (in-flight unary calls finish, streams get
StreamClosed "server shutting down", exit 0), and clients that vanish
mid-stream: 1000 of them leave RSS and the fd count flat (/proc/PID)."""
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import grpc

import rmgrpc as r

HERE = os.path.dirname(os.path.abspath(__file__))


def vad():
    return r.example("vad_events.yaml")


def test_sigterm_drain(tmp):
    s = r.Server(args=["--drain-timeout", "20"])
    try:
        streams = []
        for _ in range(3):
            p = r.Pusher()
            call = s.stream_stub().StreamPipeline(p, timeout=120)
            p.put(r.init_request(vad()))
            assert next(call).WhichOneof("response") == "ready"
            p.put(r.chunk_request("vad", r.audio_buffer(r.sine(seconds=0.1)), 0))
            streams.append((p, call))
        # an in-flight unary call: speech to text on a few seconds of audio
        path = os.path.join(tmp, "s.wav")
        x, _ = r.flite_speech("one two three four five six seven eight nine ten", path)
        done = {}

        def unary():
            try:
                done["resp"] = r.execute(s, r.example("transcribe.yaml"),
                                         {"resample": r.audio_buffer(x, 16000, 1, "i16")}, timeout=120)
            except grpc.RpcError as e:
                done["err"] = e
        t = threading.Thread(target=unary)
        t.start()
        time.sleep(0.3)  # let the unary call reach the server (not a timing assertion)
        s.proc.send_signal(signal.SIGTERM)
        for p, call in streams:
            rest = list(call)
            p.end()
            assert rest and rest[-1].WhichOneof("response") == "closed", [x.WhichOneof("response") for x in rest]
            assert rest[-1].closed.reason == "server shutting down"
        t.join()
        rc = s.proc.wait(60)
        assert rc == 0, s.log_text()[-4000:]
        if "err" in done:
            # the call may have arrived after the listener closed; then it
            # must be refused cleanly, never cut off mid-way
            assert done["err"].code() == grpc.StatusCode.UNAVAILABLE, done["err"]
        else:
            assert done["resp"].WhichOneof("outcome") == "result", done["resp"]
    finally:
        s.kill()


def test_sigint_stops_idle_server():
    s = r.Server()
    rc = s.stop(signal.SIGINT)
    s.kill()
    assert rc == 0


def _vanishing_session(s, n_chunks):
    """A client that opens a stream, sends some audio and disappears: the
    channel (TCP connection) is closed with no CLOSE and no half-close."""
    # its own TCP connection (grpcio shares one per target otherwise), so
    # closing the channel drops the connection like a killed process
    ch = s.channel(options=[("grpc.use_local_subchannel_pool", 1)])
    p = r.Pusher()
    call = s.stream_stub(ch).StreamPipeline(p, timeout=60)
    p.put(r.init_request(vad()))
    try:
        next(call)
        for i in range(n_chunks):
            p.put(r.chunk_request("vad", r.audio_buffer(r.sine(seconds=0.02)), i))
    finally:
        ch.close()
        s._channels.remove(ch)
        p.end()


KILLED_CLIENT = textwrap.dedent("""
    import os, sys, time
    sys.path.insert(0, %r)
    import rmgrpc as r
    p = r.Pusher()
    import grpc
    ch = grpc.insecure_channel(sys.argv[1])
    call = r.stubs().streaming_grpc.StreamingPipelineServiceStub(ch).StreamPipeline(p)
    p.put(r.init_request(r.example("vad_events.yaml")))
    next(call)
    for i in range(5):
        p.put(r.chunk_request("vad", r.audio_buffer(r.sine(seconds=0.02)), i))
    print("streaming", flush=True)
    time.sleep(60)
""" % HERE)


def test_killed_clients_leave_nothing(tmp):
    s = r.Server(env={})
    try:
        # real processes killed with SIGKILL mid-stream
        script = os.path.join(tmp, "client.py")
        with open(script, "w") as f:
            f.write(KILLED_CLIENT)
        for _ in range(4):
            c = subprocess.Popen([sys.executable, script, s.address], stdout=subprocess.PIPE, text=True)
            assert c.stdout.readline().strip() == "streaming"
            c.kill()
            c.wait()
            c.stdout.close()

        def batch(n, width=16):
            errors = []

            def worker(k):
                for j in range(k, n, width):
                    if s.proc.poll() is not None:
                        errors.append("rmedia serve died (exit %s):\n%s" % (s.proc.returncode, r.sanitizer_report(s.log_text())))
                        return
                    try:
                        _vanishing_session(s, 1 + j % 5)
                    except Exception as e:  # noqa: BLE001
                        errors.append(repr(e))
            ts = [threading.Thread(target=worker, args=(k,)) for k in range(width)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            assert not errors, ([e for e in errors if "rmedia serve died" in e] or errors)[:2]

        def settle():
            # the server tears sessions down asynchronously: wait until the
            # fd count stops falling (no timing assertion, a bounded wait)
            last, stable = None, 0
            for _ in range(100):
                n = s.fd_count()
                stable = stable + 1 if n == last else 0
                if stable >= 5:
                    break
                last = n
                time.sleep(0.1)
            return s.fd_count(), s.rss_kb()

        batch(200)  # warm-up: pools, allocator arenas, ASan's quarantine
        fd0, rss0 = settle()
        batch(1000)
        fd1, rss1 = settle()
        assert fd1 <= fd0 + 2, "fds %d -> %d after 1000 vanished clients" % (fd0, fd1)
        # flat: less than 16 kB per session would be a leak of 16 MB over 1000
        assert rss1 - rss0 < 16 * 1024, "RSS %d kB -> %d kB after 1000 vanished clients" % (rss0, rss1)
        # and the server still answers
        m = r.load_manifest_file(os.path.join(r.ROOT, "examples", "calculator.json"))
        assert r.execute(s, m, {"multiply": r.json_buffer(1)}).WhichOneof("outcome") == "result"
    finally:
        s.close()


def test_cancelled_calls_on_one_connection():
    # the other way a client vanishes: calls cancelled mid-stream (client
    # cancel or deadline) on one shared HTTP/2 connection, many at once
    s = r.Server()
    try:
        stub = s.stream_stub()
        errors = []

        def worker(k):
            for j in range(k, 400, 16):
                if s.proc.poll() is not None:
                    errors.append("rmedia serve died (exit %s):\n%s" % (s.proc.returncode, r.sanitizer_report(s.log_text())))
                    return
                p = r.Pusher()
                call = stub.StreamPipeline(p, timeout=60)
                try:
                    p.put(r.init_request(vad()))
                    next(call)
                    for i in range(j % 4):
                        p.put(r.chunk_request("vad", r.audio_buffer(r.sine(seconds=0.02)), i))
                except grpc.RpcError as e:
                    errors.append(repr(e))
                finally:
                    call.cancel()
                    p.end()
        ts = [threading.Thread(target=worker, args=(k,)) for k in range(16)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert not errors, ([e for e in errors if "rmedia serve died" in e] or errors)[:2]
        m = r.load_manifest_file(os.path.join(r.ROOT, "examples", "calculator.json"))
        assert r.execute(s, m, {"multiply": r.json_buffer(1)}).WhichOneof("outcome") == "result"
    finally:
        s.close()
