#!/usr/bin/python3
"""rmedia run --allow-python X.rmpkg: a package's own Python node types, natively.

The declared types (metadata.json runtime_info.python_node_types) run as
PythonNode workers with the package's python/ files extracted to a private
temporary directory.  Checked here: the output of examples/packages/python-nodes
equals the committed expected.json (web/test/package.test.mjs checks the
Pyodide run against the same file); the refusal without --allow-python,
over `remote run`, for PythonNode in a package and for an unsafe member name;
errors naming node, type and member; the interpreter missing; and that the
temporary directory (mode 0700, files 0600) is gone after a normal run, an
error and SIGTERM, with no worker left.  Every run gets its own TMPDIR so
leftovers are seen.

  test_run_python.py RMEDIA SOURCE_DIR
"""
import fcntl
import hashlib
import json
import os
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import zipfile

RMEDIA, ROOT = sys.argv[1], sys.argv[2]
T = tempfile.mkdtemp(prefix="rm-pkgpy-")
EX = os.path.join(ROOT, "examples/packages/python-nodes")
failures = []
TINY_WASM = b"\0asm\x01\0\0\0"
open(os.path.join(T, "tiny.wasm"), "wb").write(TINY_WASM)
INPUT = open(os.path.join(EX, "input.json"), "rb").read()


def check(name, cond, detail=""):
    print(("ok   " if cond else "FAIL ") + name)
    if not cond:
        failures.append(name)
        if detail:
            print("     " + str(detail).replace("\n", "\n     "))


def env(**kw):
    """The environment of a run: its own TMPDIR, the source tree's remotemedia
    package importable by the workers (the package's files import it)."""
    e = dict(os.environ)
    e["PYTHONPATH"] = os.path.join(ROOT, "python")
    e.pop("PYTHONDONTWRITEBYTECODE", None)  # workers write __pycache__ into the directory: it must go too
    e.pop("REMOTEMEDIA_PYTHON", None)
    for k, v in kw.items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = v
    return e


def tmpdir(name):
    d = os.path.join(T, "tmp-" + name)
    os.mkdir(d)
    return d


def run(args, stdin=b"", name="run", **kw):
    """(exit code, stdout, stderr, leftovers in the run's TMPDIR)."""
    td = tmpdir(name)
    r = subprocess.run([RMEDIA, *args], input=stdin, capture_output=True, timeout=300, env=env(TMPDIR=td, **kw))
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace"), os.listdir(td)


def pack(name, manifest, pydir, metadata=None):
    out = os.path.join(T, name + ".rmpkg")
    args = ["pack", manifest, "-o", out, "--wasm", os.path.join(T, "tiny.wasm"), "--python", pydir]
    if metadata:
        args += ["--metadata", metadata]
    r = subprocess.run([RMEDIA, *args], capture_output=True, timeout=120)
    if r.returncode != 0:
        raise SystemExit(f"rmedia pack {name} failed: {r.stderr.decode()}")
    return out


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    return path


def craft(name, members):
    """A package from [(member, bytes)] with its checksums, names as given."""
    out = os.path.join(T, name + ".rmpkg")
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for n, d in members:
            z.writestr(zipfile.ZipInfo(n), d)
        z.writestr("checksums", "".join(f"{hashlib.sha256(d).hexdigest()}  {n}\n" for n, d in members))
    return out


# ------------------------------------------ the example, natively --
pkg = pack("python-nodes", os.path.join(EX, "manifest.json"), os.path.join(EX, "python"),
           os.path.join(EX, "metadata.json"))
expected = json.load(open(os.path.join(EX, "expected.json")))

rc, out, err, left = run(["run", pkg], INPUT, "noflag")
check("without --allow-python: refused (exit 2)", rc == 2, err)
check("the refusal names the package, the member, the type and the flag",
      all(s in err for s in (pkg + ": python/text_nodes.py: error:", "'Normalize'", "'Tagger'", "--allow-python")), err)
check("the refusal names the node and its place", "node 'clean' (manifest.json:9:" in err, err)
check("without --allow-python: nothing extracted", left == [], left)

rc, out, err, left = run(["run", "--allow-python", pkg], INPUT, "example")
check("--allow-python: the example runs", rc == 0, err)
try:
    got = json.loads(out)
except ValueError:
    got = None
check("output equals examples/packages/python-nodes/expected.json (the Pyodide run's reference)", got == expected,
      f"got {out}")
check("after the run: the temporary directory is gone", left == [], left)

# JSON lines in, --set reaches the Python class's own parameter
rc, out, err, left = run(["run", pkg, "--allow-python", "--set", "clean.lower=false", "--only", "tag"],
                         b'"  Hello    WASM  "\n', "set")
vals = [json.loads(x) for x in out.splitlines() if x.strip()]
check("--set NODE.PARAM passes to the class (lower=false keeps the case)",
      rc == 0 and len(vals) == 1 and vals[0]["original_text"] == "Hello WASM", out + err)

# ------------------------------ type -> module:Class, as the packers read it --
src = os.path.join(T, "src-sub")
write(os.path.join(src, "py/sub/__init__.py"), '''import remotemedia


@remotemedia.node(name="Tail")
class TailNode:
    def process(self, x):
        return {**x, "tail": True}
''')
write(os.path.join(src, "py/sub/loud.py"), '''import remotemedia


@remotemedia.node("Shout")
class LoudNode:
    """the type is named by the decorator, the class differently"""
    suffix = remotemedia.Param(str, "!", doc="appended")

    def process(self, text):
        return text.upper() + self.suffix


@remotemedia.node(doc="named by its class")
class Whisper:
    def process(self, text):
        return {"whisper": text.lower()}
''')
write(os.path.join(src, "manifest.json"), json.dumps({
    "version": "v1", "nodes": [{"id": "s", "node_type": "Shout", "params": {"suffix": "!!"}},
                               {"id": "w", "node_type": "Whisper"}, {"id": "t", "node_type": "Tail"}],
    "connections": [{"from": "s", "to": "w"}, {"from": "w", "to": "t"}], "runtime": {"target": "wasm32-wasi"}}))
sub = pack("sub", os.path.join(src, "manifest.json"), os.path.join(src, "py"))
with zipfile.ZipFile(sub) as z:
    decl = json.loads(z.read("metadata.json"))["runtime_info"]["python_node_types"]
check("pack declares the types of python/sub/", decl == {"Shout": "python/sub/loud.py", "Whisper": "python/sub/loud.py",
                                                         "Tail": "python/sub/__init__.py"}, decl)
rc, out, err, left = run(["run", "--allow-python", sub], b'["Hey"]', "sub")
check("python/sub/loud.py -> module sub.loud, python/sub/__init__.py -> sub; @node(\"Shout\") class LoudNode, "
      "@node() class Whisper, @node(name=\"Tail\") class TailNode",
      rc == 0 and json.loads(out or "null") == [{"whisper": "hey!!", "tail": True}], out + err)

# ------------------------------------------- errors name node, type, member --
bad = os.path.join(T, "src-bad")
write(os.path.join(bad, "py/broken.py"), '''import remotemedia
import no_such_dependency_xyz  # fails at import


@remotemedia.node("Broken")
class Broken:
    def process(self, x):
        return x
''')
write(os.path.join(bad, "py/raises.py"), '''import remotemedia


@remotemedia.node("Raises")
class Raises:
    def process(self, x):
        if x == "boom":
            raise ValueError("bad input boom")
        return x
''')
man = lambda t: json.dumps({"version": "v1", "nodes": [{"id": "b", "node_type": t}], "runtime": {"target": "wasm32-wasi"}})
write(os.path.join(bad, "broken.json"), man("Broken"))
write(os.path.join(bad, "raises.json"), man("Raises"))
broken = pack("broken", os.path.join(bad, "broken.json"), os.path.join(bad, "py"))
raises = pack("raises", os.path.join(bad, "raises.json"), os.path.join(bad, "py"))
rc, out, err, left = run(["run", "--allow-python", broken], b'"x"', "broken")
check("a class that fails at import: exit 1", rc == 1, err)
check("... naming the node, the type, the member and the cause",
      all(s in err for s in ("node 'b'", "Python node type Broken", "python/broken.py", "no_such_dependency_xyz")), err)
check("... and the temporary directory is gone", left == [], left)
rc, out, err, left = run(["run", "--allow-python", raises], b'"ok"\n"boom"\n', "raises")
check("an exception in process(): exit 3 naming the node and type", rc == 3 and "node 'b'" in err and
      "Python node type Raises" in err and "ValueError: bad input boom" in err, err)
check("... and the temporary directory is gone", left == [], left)

probe = subprocess.run(["/usr/bin/python3", "-c", "import remotemedia"], capture_output=True, env=env(PYTHONPATH=None))
if probe.returncode != 0:
    rc, out, err, left = run(["run", "--allow-python", pkg], INPUT, "nopkg", PYTHONPATH=None)
    check("without the remotemedia Python package: exit 1, saying what is missing",
          rc == 1 and "No module named 'remotemedia'" in err and "pip install ./python" in err, err)
    check("... and the temporary directory is gone", left == [], left)
else:
    print("skip the remotemedia-missing case: the package is installed for /usr/bin/python3")

rc, out, err, left = run(["run", "--allow-python", pkg], INPUT, "nointerp", REMOTEMEDIA_PYTHON="/nonexistent/python3")
check("no interpreter: exit 5 naming REMOTEMEDIA_PYTHON, the type and member",
      rc == 5 and "/nonexistent/python3 (REMOTEMEDIA_PYTHON) cannot be executed" in err and
      "python/text_nodes.py: error: Python node type 'Normalize'" in err, err)
check("... nothing extracted", left == [], left)

# ------------------------------------------------------------ refusals --
manifest = open(os.path.join(EX, "manifest.json"), "rb").read()
text_nodes = open(os.path.join(EX, "python/text_nodes.py"), "rb").read()
meta = json.dumps({"runtime_info": {"python_node_types": {"Normalize": "python/text_nodes.py",
                                                          "Tagger": "python/text_nodes.py"}}}).encode()
evil = craft("evil", [("manifest.json", manifest), ("runtime.wasm", TINY_WASM), ("metadata.json", meta),
                      ("python/text_nodes.py", text_nodes), ("python/../../evil.py", b"print('escaped')\n")])
rc, out, err, left = run(["run", "--allow-python", evil], INPUT, "evil")
check("path traversal in a member name: refused by the validator",
      rc == 1 and "python/../../evil.py: error: unsafe member name: '..' in the path (path traversal)" in err, err)
check("... nothing written", left == [] and not os.path.exists(os.path.join(T, "evil.py")), left)

pyn = json.dumps({"version": "v1", "nodes": [{"id": "p", "node_type": "PythonNode",
                                               "params": {"class": "os:getcwd"}}], "runtime": {"target": "wasm32-wasi"}})
pnpkg = craft("pythonnode", [("manifest.json", pyn.encode()), ("runtime.wasm", TINY_WASM)])
rc, out, err, left = run(["run", "--allow-python", pnpkg], b'"x"', "pythonnode")
check("PythonNode in a package: refused (it could import any module of the host)",
      rc == 1 and "node 'p': PythonNode is not available to packages" in err, err)

rc, out, err, left = run(["remote", "run", "--server", "127.0.0.1:1", "--allow-python", pkg], INPUT, "remote")
if "unknown command" not in err and "without" not in err:
    check("remote run: refused, the server does not have the python/ files",
          rc == 1 and "a server does not have them" in err, err)

def start_streaming(name):
    """A run of the example fed JSON lines, its stdin kept open; returns
    (process, its TMPDIR) once the first output has arrived."""
    td = tmpdir(name)
    p = subprocess.Popen([RMEDIA, "run", "--allow-python", pkg, "--only", "tag"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env(TMPDIR=td))
    p.stdin.write(b'"first   line"\n')
    p.stdin.flush()
    ready, _, _ = select.select([p.stdout], [], [], 240)
    first = p.stdout.readline() if ready else b""
    check(f"{name}: the first output arrives while the run goes on", b'"n":1' in first.replace(b" ", b""), first)
    return p, td


# --------------------------------------- SIGTERM mid-run: nothing left --
p, td = start_streaming("sigterm")
dirs = os.listdir(td)
check("one temporary directory while running", len(dirs) == 1 and dirs[0].startswith("rmedia-pkg-"), dirs)
if len(dirs) == 1:
    d = os.path.join(td, dirs[0])
    st = os.stat(d)
    check("it is private: mode 0700, ours", stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == os.getuid(),
          oct(st.st_mode))
    f = os.path.join(d, "text_nodes.py")
    check("python/text_nodes.py extracted as text_nodes.py, mode 0600",
          os.path.exists(f) and stat.S_IMODE(os.stat(f).st_mode) == 0o600 and open(f, "rb").read() == text_nodes)
    check("the worker wrote __pycache__ there (removed with the rest below)",
          os.path.isdir(os.path.join(d, "__pycache__")), os.listdir(d))


def parent_of(pid):
    try:
        return int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


children = [int(x) for x in os.listdir("/proc") if x.isdigit() and parent_of(x) == p.pid]
check("workers are running", len(children) >= 1, children)
p.send_signal(signal.SIGTERM)
try:
    p.communicate(timeout=60)
except subprocess.TimeoutExpired:
    p.kill()
    p.communicate()
check("SIGTERM ends rmedia by the signal", p.returncode == -signal.SIGTERM, p.returncode)
check("after SIGTERM: the temporary directory is gone", os.listdir(td) == [], os.listdir(td))
deadline = time.time() + 10
while time.time() < deadline and any(os.path.exists(f"/proc/{c}") for c in children):
    time.sleep(0.1)
alive = [c for c in children if os.path.exists(f"/proc/{c}")]
check("after SIGTERM: no worker left", alive == [], alive)
for c in alive:
    os.kill(c, signal.SIGKILL)

# ---------------- SIGKILL: the directory stays, the next package run removes it --
p, td = start_streaming("sigkill")
p.kill()
p.communicate()
stale = os.listdir(td)
check("after SIGKILL the directory stays (nothing can run at SIGKILL)", len(stale) == 1, stale)
foreign = os.path.join(td, "rmedia-pkg-keepme")  # one that looks stale but is held by a live process
os.mkdir(foreign, 0o700)
held = os.open(foreign, os.O_RDONLY)
fcntl.flock(held, fcntl.LOCK_EX)
time.sleep(5.5)  # a directory younger than 5 s is never taken for stale (mkdtemp to flock)
r = subprocess.run([RMEDIA, "run", "--allow-python", pkg], input=INPUT, capture_output=True, timeout=300,
                   env=env(TMPDIR=td))
check("the next package run removes the killed run's directory, not a locked one",
      r.returncode == 0 and os.listdir(td) == ["rmedia-pkg-keepme"], (r.returncode, os.listdir(td), r.stderr))
os.close(held)

shutil.rmtree(T)
print(f"\n{len(failures)} failure(s)" if failures else "\nall package Python tests passed")
sys.exit(1 if failures else 0)
