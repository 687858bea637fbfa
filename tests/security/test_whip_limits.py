#!/usr/bin/env python3
"""The limits of `rmedia serve --webrtc-listen` (docs/security.md) over real
HTTP, each hit at and past its bound, without a browser: a WHIP client that
posts offers and never connects.

  - the offer size: 64 KiB is read (then refused as SDP: 400), one byte more
    is 413; the content type (415), the token (401), routes (404, 405);
  - --webrtc-peer-timeout: a peer that never completes ICE is ended with
    reason "timeout" and its slot freed;
  - --max-sessions (shared with gRPC): the second offer is refused with 503
    naming the limit, and accepted again after DELETE frees the first;
  - --webrtc-max-connections-per-ip: with 3 connections held open from one
    address (a request never finished, as a slow client does) a 4th from it
    is closed unanswered, while one from another address is answered;
  - --webrtc-max-connections: with 4 held, libmicrohttpd accepts no 5th
    (no thread for it): it waits in the listen backlog, unanswered, and is
    answered as soon as a held one closes; once all close an offer → 201.

    test_whip_limits.py RMEDIA SOURCE_DIR WORK_DIR

The server runs on an ephemeral 127.0.0.1 port (ICE on 127.0.0.1 only),
waited for on /health, stopped by PID with SIGTERM and must exit 0 (under
ASan: no leak).  The offers are the real Chromium ones in tests/fuzz/offers.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

RMEDIA, SRC, WORK = sys.argv[1:4]
TOKEN = "whip-limits-token"
OFFER = open(os.path.join(SRC, "tests", "fuzz", "offers", "chromium-voice.sdp"), "rb").read()
DATA_ONLY = open(os.path.join(SRC, "tests", "fuzz", "offers", "chromium-data.sdp"), "rb").read()
MANIFEST = os.path.join(SRC, "tests", "wasm", "resample_vad.yaml")  # an audio source, no models
failures = []


def check(name, cond, detail=""):
    print("%s %s%s" % ("ok  " if cond else "FAIL", name, "" if cond else ": " + str(detail)[:2000]), flush=True)
    if not cond:
        failures.append(name)


def request(base, method, path, body=None, token=TOKEN, ctype="application/sdp"):
    """(status, body text, headers) of one HTTP request."""
    req = urllib.request.Request(base + path, data=body, method=method)
    if token is not None:
        req.add_header("Authorization", "Bearer " + token)
    if ctype is not None and body is not None:
        req.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read().decode(errors="replace"), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace"), e.headers


def metric(base, name):
    text = urllib.request.urlopen(base + "/metrics", timeout=30).read().decode()
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.split()[-1])
    return None


def until(what, fn, seconds):
    end = time.time() + seconds
    while time.time() < end:
        v = fn()
        if v:
            return v
        time.sleep(0.2)
    check("in time: " + what, False, "not within %g s" % seconds)
    return None


class Server:
    def __init__(self, *extra):
        os.makedirs(WORK, exist_ok=True)
        self.port_file = os.path.join(WORK, "port-%d" % time.monotonic_ns())
        tokens = os.path.join(WORK, "tokens")
        with open(tokens, "w") as f:
            f.write(TOKEN + "\n")
        self.log_path = self.port_file + ".log"
        env = dict(os.environ, RMEDIA_PLUGIN_PATH="")
        # GLib's allocations need full stacks for tests/webrtc/lsan.supp
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":fast_unwind_on_malloc=0"
        env["LSAN_OPTIONS"] = "suppressions=" + os.path.join(SRC, "tests", "webrtc", "lsan.supp")
        self.proc = subprocess.Popen(
            [RMEDIA, "serve", "--webrtc-listen", "127.0.0.1:0", "--webrtc-port-file", self.port_file,
             "--webrtc-ice-address", "127.0.0.1", "--auth-token-file", tokens] + list(extra) + [MANIFEST],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(self.log_path, "w"), env=env)
        port = until("the port file", lambda: self._port(), 60)
        self.base = "http://127.0.0.1:%s" % port
        until("the health check", lambda: self._healthy(), 60)

    def _port(self):
        if self.proc.poll() is not None:
            sys.exit("rmedia serve exited early (%s):\n%s" % (self.proc.returncode, self.log()))
        try:
            return open(self.port_file).read().strip()
        except FileNotFoundError:
            return None

    def _healthy(self):
        try:
            return request(self.base, "GET", "/health", token=None)[0] == 200
        except OSError:
            return False

    def log(self):
        return open(self.log_path, errors="replace").read()[-6000:]

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)  # by PID
        try:
            rc = self.proc.wait(90)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        check("server exits 0 after SIGTERM (no leak under ASan)", rc == 0, "exit %s; log:\n%s" % (rc, self.log()))


def hold(port, source):
    """A connection from `source` (any 127/8 address is lo) with a request
    that is never finished: the server keeps it open."""
    c = socket.create_connection(("127.0.0.1", port), timeout=30, source_address=(source, 0))
    c.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    return c


def probe(port, source):
    """A connection from `source` that sends a whole GET /health."""
    c = socket.create_connection(("127.0.0.1", port), timeout=30, source_address=(source, 0))
    c.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    return c


def reply(c, timeout=30):
    """"answered", "closed" (no answer: closed or reset) or "waiting" (no
    answer within `timeout`); closes `c` unless it is waiting."""
    c.settimeout(timeout)
    data = b""
    try:
        while True:
            part = c.recv(4096)
            if not part:
                break
            data += part
    except socket.timeout:
        return "waiting"
    except (ConnectionResetError, BrokenPipeError):
        pass
    c.close()
    return "answered" if data.startswith(b"HTTP/1.1 200") else "closed"


def answered(port, source):
    return reply(probe(port, source)) == "answered"


def connection_limits():
    s = Server("--webrtc-max-connections", "4", "--webrtc-max-connections-per-ip", "3")
    held = []
    try:
        port = int(s.base.rsplit(":", 1)[1])
        check("a request is answered under the limits", answered(port, "127.0.0.1"))
        # connections are accepted in order: the held ones count before a probe
        held = [hold(port, "127.0.0.1") for _ in range(3)]
        r = reply(probe(port, "127.0.0.1"))
        check("a 4th connection from an address holding 3 (--webrtc-max-connections-per-ip 3) is closed "
              "unanswered", r == "closed", r)
        check("... while one from another address is answered (4 of --webrtc-max-connections 4)",
              answered(port, "127.0.0.2"))
        held.append(hold(port, "127.0.0.2"))
        # all 4 held: the 5th is not accepted (no thread); it waits in the backlog
        waiting = probe(port, "127.0.0.3")
        r = reply(waiting, 5)
        check("a 5th connection past --webrtc-max-connections 4 is not served while 4 are held", r == "waiting", r)
        held.pop().close()
        r = reply(waiting, 30)
        check("... and is answered once a held one closes", r == "answered", r)
        for c in held:
            c.close()
        held = []
        # the server sees the closes in its connection threads: allow it a moment
        until("the held connections to be released", lambda: answered(port, "127.0.0.1"), 30)
        st, text, hdr = request(s.base, "POST", "/whip", OFFER)
        check("after they close, an offer → 201", st == 201 and text.startswith("v=0"), (st, text[:300]))
        if st == 201:
            request(s.base, "DELETE", hdr.get("Location", ""))
        check("the server still answers /metrics", metric(s.base, "rmedia_webrtc_peers") is not None)
    finally:
        for c in held:
            c.close()
        s.stop()


shutil.rmtree(WORK, True)
connection_limits()
# --- the WebRTC options' own bounds: refused at start, naming the option
for args, says in ((["--webrtc-max-reply-seconds", "0"], "--webrtc-max-reply-seconds: between 0.1 and 3600"),
                   (["--webrtc-max-reply-seconds", "3601"], "--webrtc-max-reply-seconds: between 0.1 and 3600"),
                   (["--webrtc-max-reply-seconds", "a"], "--webrtc-max-reply-seconds: 'a' is not a number"),
                   (["--webrtc-max-connections", "0"], "--webrtc-max-connections: between 1 and 10000"),
                   (["--webrtc-max-connections-per-ip", "10001"], "--webrtc-max-connections-per-ip: between 0 and 10000")):
    r = subprocess.run([RMEDIA, "serve", "--webrtc-listen", "127.0.0.1:0", *args, MANIFEST],
                       capture_output=True, text=True, timeout=60)
    check("serve %s → exit 2 naming the bound" % " ".join(args), r.returncode == 2 and says in r.stderr,
          (r.returncode, r.stderr))

s = Server("--webrtc-peer-timeout", "3", "--max-sessions", "1")
try:
    b = s.base
    # --- the offer size, at and past 64 KiB
    st, text, _ = request(b, "POST", "/whip", b"v" * (64 * 1024))
    check("64 KiB offer is read (then refused as SDP: 400)", st == 400 and "not an SDP offer" in text, (st, text))
    st, text, _ = request(b, "POST", "/whip", b"v" * (64 * 1024 + 1))
    check("64 KiB + 1 → 413", st == 413 and "larger than 64 KiB" in text, (st, text))
    st, text, _ = request(b, "POST", "/whip", OFFER + b" " * (1 << 20))
    check("a 1 MiB offer → 413, without reading it all into memory", st == 413, (st, text))
    # --- content type, token, routes
    st, text, _ = request(b, "POST", "/whip", OFFER, ctype="text/plain")
    check("text/plain → 415", st == 415 and "application/sdp" in text, (st, text))
    st, text, _ = request(b, "POST", "/whip", OFFER, ctype=None)
    check("no Content-Type → 415", st == 415, (st, text))
    st, text, _ = request(b, "POST", "/whip", OFFER, token=None)
    check("no token → 401", st == 401 and "Authorization" in text, (st, text))
    st, text, _ = request(b, "POST", "/whip", OFFER, token="wrong")
    check("wrong token → 401", st == 401 and "invalid bearer token" in text, (st, text))
    st, text, _ = request(b, "DELETE", "/whip/peer-1-x", token="wrong")
    check("DELETE with a wrong token → 401", st == 401, (st, text))
    st, text, _ = request(b, "GET", "/nowhere")
    check("unknown path → 404", st == 404, (st, text))
    st, text, _ = request(b, "PATCH", "/whip/peer-1-x", b"a=candidate", ctype="application/trickle-ice-sdpfrag")
    check("PATCH (trickle ICE) → 405", st == 405 and "trickle" in text, (st, text))
    st, text, _ = request(b, "POST", "/whip", DATA_ONLY)
    check("an offer without audio → 400 naming it", st == 400 and "no audio m-line" in text, (st, text))
    check("no session was opened by any refused request", metric(b, "rmedia_webrtc_peers") == 0)

    # --- --max-sessions 1: the second peer is refused, DELETE frees the slot
    st, text, hdr = request(b, "POST", "/whip", OFFER)
    check("a real Chromium offer → 201 with an SDP answer", st == 201 and text.startswith("v=0"), (st, text[:300]))
    loc = hdr.get("Location", "") if st == 201 else ""
    check("... and a Location /whip/<id>", re.fullmatch(r"/whip/peer-[0-9a-z-]+", loc or "") is not None, loc)
    st2, text2, _ = request(b, "POST", "/whip", OFFER)
    check("a second peer over --max-sessions 1 → 503 naming the limit",
          st2 == 503 and "--max-sessions" in text2, (st2, text2))
    if loc:
        st, text, _ = request(b, "DELETE", loc)
        check("DELETE ends it → 200", st == 200, (st, text))
        until("the slot to be freed", lambda: metric(b, "rmedia_webrtc_peers") == 0, 30)
        st, text, _ = request(b, "DELETE", loc)
        check("DELETE again → 404", st == 404, (st, text))

    # --- --webrtc-peer-timeout 3: a peer that never connects is ended
    st, text, hdr = request(b, "POST", "/whip", OFFER)
    check("after DELETE the slot takes a new peer → 201", st == 201, (st, text[:300]))
    t0 = time.time()
    gone = until("the never-connected peer to time out", lambda: metric(b, "rmedia_webrtc_peers") == 0, 60)
    check("the peer ended by --webrtc-peer-timeout (reason timeout)",
          gone and metric(b, 'rmedia_webrtc_peers_ended_total{reason="timeout"}') == 1,
          "after %.1f s; metrics reason timeout = %s" %
          (time.time() - t0, metric(b, 'rmedia_webrtc_peers_ended_total{reason="timeout"}')))
    st, text, _ = request(b, "POST", "/whip", OFFER)
    check("its slot was freed: a new peer → 201", st == 201, (st, text[:300]))
finally:
    s.stop()

if failures:
    print("FAILED: %d check(s): %s" % (len(failures), ", ".join(failures)))
    sys.exit(1)
shutil.rmtree(WORK, True)
print("all WHIP limit checks passed")
