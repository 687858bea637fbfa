"""Test of the JSON-lines custom transport (jsonl_server.c):

    python3 test_jsonl.py JSONL_SERVER SOURCE_DIR

unary run equals the calculator's known behaviour (2x + 10), a stream gives
its outputs with the input sequence then "closed", cancel ends at once, bad
input names the node, a client that vanishes mid-stream leaves the server
serving, SIGTERM exits 0 (under ASan also: no leak)."""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

server_bin, root = sys.argv[1], sys.argv[2]
d = tempfile.mkdtemp(prefix="rm-jsonl-")
path = os.path.join(d, "s.sock")
proc = subprocess.Popen([server_bin, path], stderr=subprocess.PIPE, text=True,
                        env=dict(os.environ, RMEDIA_PLUGIN_PATH=""))
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


class Client:
    def __init__(self):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect(path)
        self.s.settimeout(60)  # a missing reply fails the test instead of hanging it
        self.f = self.s.makefile("rw")

    def send(self, **msg):
        self.f.write(json.dumps(msg) + "\n")
        self.f.flush()

    def recv(self):
        line = self.f.readline()
        assert line, "connection closed"
        return json.loads(line)

    def close(self):
        self.f.close()
        self.s.close()


try:
    for _ in range(300):
        if os.path.exists(path):
            break
        time.sleep(0.05)
    calc = json.load(open(os.path.join(root, "examples", "calculator.json")))

    c = Client()
    c.send(op="run", manifest=calc, inputs={"multiply": 5})
    r = c.recv()
    check(r.get("outputs") == {"add": [20]}, "run: %s" % r)
    with open(os.path.join(root, "examples", "vad_events.yaml")) as f:
        c.send(op="run", manifest=f.read(), inputs={"nosuch": 1})  # YAML text, unknown node
    r = c.recv()
    check("error" in r and r.get("node") == "nosuch", "unknown input node: %s" % r)
    c.send(op="run", manifest={"version": "v1", "nodes": [{"id": "x", "node_type": "Nope"}]}, inputs={})
    r = c.recv()
    check("error" in r and r.get("node") == "x" and "Nope" in r["error"], "unknown type: %s" % r)
    c.send(op="push", node="p", value=1)
    check("error" in c.recv(), "push before open")

    c.send(op="open", manifest=calc)
    r = c.recv()
    check("ready" in r, "open: %s" % r)
    for i in range(5):
        c.send(op="push", node="multiply", value=i, seq=i)
    c.send(op="push", node="nosuch", value=1, seq=9)
    c.send(op="close")
    outs, errors = [], []
    while True:
        r = c.recv()
        if "output" in r:
            outs.append((r["output"]["seq"], r["output"]["node"], r["output"]["value"]))
        elif "error" in r:
            errors.append(r)
        elif "closed" in r:
            check(r["closed"] == "closed" and "metrics" in r, "closed: %s" % r)
            break
    check(outs == [(i, "add", 2 * i + 10) for i in range(5)], "stream outputs: %s" % outs)
    check(len(errors) == 1 and errors[0].get("node") == "nosuch", "push to unknown node: %s" % errors)

    c.send(op="open", manifest={"version": "v1", "nodes": [{"id": "p", "node_type": "PassThrough"}]})
    check("ready" in c.recv(), "reopen")
    c.send(op="push", node="p", value="hello", seq=0)
    check(c.recv().get("output", {}).get("value") == "hello", "text through PassThrough")
    c.send(op="cancel")
    r = c.recv()
    check(r.get("closed") == "canceled", "cancel: %s" % r)
    c.close()

    # clients that vanish mid-stream
    for _ in range(20):
        v = Client()
        v.send(op="open", manifest=calc)
        v.recv()
        v.send(op="push", node="multiply", value=1, seq=0)
        v.close()
    c = Client()
    c.send(op="run", manifest=calc, inputs={"multiply": 1})
    check(c.recv().get("outputs") == {"add": [12]}, "serving after vanished clients")
    c.close()
finally:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = "timeout"
    err = proc.stderr.read()
    if os.path.exists(path):
        os.unlink(path)
    os.rmdir(d)
check(rc == 0, "exit status %s: %s" % (rc, err[-3000:]))
print("custom transport: %d failures" % len(failures))
sys.exit(1 if failures else 0)
