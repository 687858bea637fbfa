#!/usr/bin/python3
"""rmedia pack / pack --check / run PACKAGE: the .rmpkg format from the C side.

Every validation case is a package crafted here with Python's zipfile (nothing
binary is committed) and must be refused with a message naming the member and
the problem.  Packing must leave nothing behind when it fails.

  test_pack.py RMEDIA SOURCE_DIR
"""
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

RMEDIA, ROOT = sys.argv[1], sys.argv[2]
TMP = tempfile.mkdtemp(prefix="rm-pack-")
MIB = 1 << 20
failures = []
# The smallest valid WebAssembly 1 module: the C side only checks the header.
TINY_WASM = b"\0asm\x01\0\0\0"
CALC = open(os.path.join(ROOT, "examples/calculator.json"), "rb").read()


def run(*args, stdin=None):
    r = subprocess.run([RMEDIA, *args], input=stdin, capture_output=True, timeout=120)
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


def check(name, cond, detail=""):
    print(("ok   " if cond else "FAIL ") + name)
    if not cond:
        failures.append(name)
        if detail:
            print("     " + detail.replace("\n", "\n     "))


def path(name):
    return os.path.join(TMP, name)


def sums(members):
    return "".join(f"{hashlib.sha256(d).hexdigest()}  {n}\n" for n, d in members if not n.endswith("/")).encode()


def make(name, members, checksums=True, compression=zipfile.ZIP_DEFLATED, raw=None):
    """Writes a package from [(member, bytes)]; a checksums member is added
    (over the given members) unless one is given or checksums is False."""
    p = path(name)
    with zipfile.ZipFile(p, "w", compression) as z:
        for n, d in members:
            z.writestr(zipfile.ZipInfo(n) if raw else n, d, compress_type=compression)
        if checksums and not any(n == "checksums" for n, _ in members):
            z.writestr("checksums", sums(members))
    return p


def base(manifest=CALC, wasm=TINY_WASM, metadata=b'{"package_name": "calc"}'):
    m = [("manifest.json", manifest), ("runtime.wasm", wasm)]
    if metadata is not None:
        m.append(("metadata.json", metadata))
    return m


def expect_bad(name, pkg, *needles, code=1):
    rc, out, err = run("pack", "--check", pkg)
    ok = rc == code and all(n in err for n in needles)
    check(name, ok, f"exit {rc} (want {code}); stderr:\n{err}\nwanted: {needles}")


# ------------------------------------------------------------- packing --
pkg = path("calc.rmpkg")
open(path("tiny.wasm"), "wb").write(TINY_WASM)
rc, out, err = run("pack", os.path.join(ROOT, "examples/calculator.json"), "-o", pkg, "--wasm", path("tiny.wasm"))
check("pack writes a package", rc == 0 and os.path.exists(pkg), err)
with zipfile.ZipFile(pkg) as z:
    names = z.namelist()
    check("members in order", names == ["manifest.json", "runtime.wasm", "metadata.json", "checksums"], str(names))
    check("manifest stored as written", z.read("manifest.json") == CALC)
    lines = z.read("checksums").decode().splitlines()
    want = [f"{hashlib.sha256(z.read(n)).hexdigest()}  {n}" for n in names[:-1]]
    check("checksums: sha256 of every other member", lines == want, "\n".join(lines))
    md = json.loads(z.read("metadata.json"))
    check("metadata generated", md["package_name"] == "calculator" and md["format_version"] == "1.0.0"
          and md["runtime_info"]["node_types"] == ["AddNode", "MultiplyNode"]
          and md["runtime_info"]["node_count"] == 2 and md["runtime_info"]["connection_count"] == 1
          and md["runtime_info"]["wasm_size_bytes"] == len(TINY_WASM), json.dumps(md))
    check("deflate", all(i.compress_type == zipfile.ZIP_DEFLATED for i in z.infolist()))
rc, out, err = run("pack", "--check", pkg)
check("pack --check accepts it", rc == 0 and "ok (4 members" in out, out + err)

# The package's manifest runs natively, with the manifest's results.
rc1, out1, err1 = run("run", pkg, "--input", "-", stdin=b"[5, 7, 3]")
rc2, out2, err2 = run("run", os.path.join(ROOT, "examples/calculator.json"), "--input", "-", stdin=b"[5, 7, 3]")
check("rmedia run PACKAGE = rmedia run MANIFEST", rc1 == 0 and out1 == out2 and out1.strip(), out1 + err1 + out2)

# Reproducible with SOURCE_DATE_EPOCH.
env = dict(os.environ, SOURCE_DATE_EPOCH="1700000000")
a, b = path("r1.rmpkg"), path("r2.rmpkg")
for p in (a, b):
    subprocess.run([RMEDIA, "pack", os.path.join(ROOT, "examples/calculator.json"), "-o", p, "--wasm",
                    path("tiny.wasm")], env=env, capture_output=True, check=True)
check("SOURCE_DATE_EPOCH: byte-identical packages", open(a, "rb").read() == open(b, "rb").read())
with zipfile.ZipFile(a) as z:
    check("created_at from SOURCE_DATE_EPOCH",
          json.loads(z.read("metadata.json"))["created_at"] == "2023-11-14T22:13:20Z")

# YAML is converted; --metadata is merged; --python is stored and checksummed.
os.makedirs(path("py/sub"))
open(path("py/node.py"), "w").write("class Node: pass\n")
open(path("py/sub/util.py"), "w").write("X = 1\n")
open(path("extra.json"), "w").write('{"author": "me", "tags": ["t"]}')
rc, out, err = run("pack", os.path.join(ROOT, "tests/wasm/calculator.yaml"), "-o", path("y.rmpkg"), "--wasm",
                   path("tiny.wasm"), "--metadata", path("extra.json"), "--python", path("py"))
check("pack YAML + --metadata + --python", rc == 0, err)
with zipfile.ZipFile(path("y.rmpkg")) as z:
    n = z.namelist()
    md = json.loads(z.read("metadata.json"))
    check("python/ members", "python/node.py" in n and "python/sub/util.py" in n, str(n))
    check("--metadata merged", md["author"] == "me" and md["tags"] == ["t"] and md["runtime_info"]["has_python_nodes"])
    check("YAML stored as JSON", json.loads(z.read("manifest.json"))["nodes"])
rc, out, err = run("pack", "--check", path("y.rmpkg"))
check("YAML package checks", rc == 0, err)

# Failures leave nothing behind and keep an existing output.
open(path("keep.rmpkg"), "wb").write(b"old")
bad = path("bad.json")
open(bad, "w").write('{"version": "v1",\n "nodes": [{"id": "a", "node_type": "MultiplyNode", "params": {"factor": "x"}}],\n'
                     ' "connections": []}')
rc, out, err = run("pack", bad, "-o", path("keep.rmpkg"), "--wasm", path("tiny.wasm"))
check("pack: invalid manifest refused with file:line:col", rc == 1 and "bad.json:2:" in err, err)
check("pack: failure keeps the old file, no temporary left",
      open(path("keep.rmpkg"), "rb").read() == b"old" and not [f for f in os.listdir(TMP) if ".tmp-" in f],
      str(os.listdir(TMP)))
open(path("notwasm"), "wb").write(b"hello")
rc, out, err = run("pack", os.path.join(ROOT, "examples/calculator.json"), "-o", path("nw.rmpkg"), "--wasm",
                   path("notwasm"))
check("pack: runtime not wasm refused", rc == 1 and "runtime.wasm" in err and not os.path.exists(path("nw.rmpkg")), err)
rc, out, err = run("pack", os.path.join(ROOT, "examples/calculator.json"), "-o", path("nodir/x.rmpkg"), "--wasm",
                   path("tiny.wasm"))
check("pack: unwritable output is an I/O error", rc == 4 and "nodir" in err, err)
os.symlink("/etc/passwd", path("py/link.py"))
rc, out, err = run("pack", os.path.join(ROOT, "examples/calculator.json"), "-o", path("ln.rmpkg"), "--wasm",
                   path("tiny.wasm"), "--python", path("py"))
check("pack: symlink in --python refused", rc == 1 and "python/link.py" in err and "symbolic" in err, err)
os.unlink(path("py/link.py"))
rc, out, err = run("pack", os.path.join(ROOT, "examples/calculator.json"))
check("pack without -o: usage", rc == 2, err)
rc, out, err = run("pakc")
check("did you mean 'pack'", rc == 2 and "did you mean 'pack'" in err, err)
speech = path("speech.json")
open(speech, "w").write('{"version": "v1", "nodes": [\n  {"id": "stt", "node_type": "SpeechToText"}], "connections": []}')
rc, out, err = run("pack", speech, "-o", path("sp.rmpkg"), "--wasm", path("tiny.wasm"))
check("pack: node type the wasm runtime lacks", rc == 1 and "speech.json:2:" in err and "SpeechToText" in err, err)

# ------------------------------------------------- validation, crafted --
open(path("random.rmpkg"), "wb").write(os.urandom(3000))
expect_bad("not a zip", path("random.rmpkg"), "not a zip archive")
open(path("empty.rmpkg"), "wb").close()
expect_bad("empty file", path("empty.rmpkg"), "not a zip archive")
good = open(pkg, "rb").read()
open(path("trunc.rmpkg"), "wb").write(good[: len(good) // 2])
expect_bad("truncated zip", path("trunc.rmpkg"), "error:")
rc, out, err = run("pack", "--check", path("missing.rmpkg"))
check("missing file: I/O error", rc == 4 and "missing.rmpkg" in err, err)

for gone in ("manifest.json", "runtime.wasm"):
    expect_bad(f"missing {gone}", make(f"no-{gone}.rmpkg", [m for m in base() if m[0] != gone]),
               f"{gone}: error: missing")
expect_bad("missing checksums", make("nocs.rmpkg", base(), checksums=False), "checksums: error: missing")
expect_bad("wasm magic wrong", make("magic.rmpkg", base(wasm=b"\0elf\1\0\0\0")),
           "runtime.wasm: error: not a WebAssembly module")
expect_bad("wasm version wrong", make("ver.rmpkg", base(wasm=b"\0asm\x0d\0\1\0")),
           "runtime.wasm: error: WebAssembly binary version 0x0001000d")
expect_bad("manifest not JSON (line:column)",
           make("mjson.rmpkg", base(manifest=b'{\n  "version": "v1",\n  "nodes": [,]\n}')), "manifest.json:3:")
expect_bad("manifest YAML refused (must be JSON)",
           make("myaml.rmpkg", base(manifest=b"version: v1\nnodes: []\n")), "manifest.json:1:")
badparam = CALC.replace(b'"addend": 10', b'"addend": "ten"')
line = CALC[: CALC.index(b'"addend": 10')].count(b"\n") + 1
expect_bad("manifest invalid parameter (line:column)", make("mparam.rmpkg", base(manifest=badparam)),
           f"manifest.json:{line}:", "addend")
target = CALC.replace(b'"wasm32-wasi"', b'"x86_64-linux"')
tline = CALC[: CALC.index(b'"wasm32-wasi"')].count(b"\n") + 1
expect_bad("runtime.target wrong", make("target.rmpkg", base(manifest=target)), f"manifest.json:{tline}:",
           "runtime.target must be")
rc, out, err = run("pack", "--check", make("nort.rmpkg", base(manifest=CALC.replace(
    b',\n  "runtime": { "target": "wasm32-wasi" }', b""))))
check("no runtime key: warning only", rc == 0 and "warning: no 'runtime'" in err, err)
stt = b'{"version": "v1", "runtime": {"target": "wasm32-wasi"},\n "nodes": [{"id": "s", "node_type": "SpeechToText"}]}'
expect_bad("node type the runtime lacks", make("stt.rmpkg", base(manifest=stt)), "manifest.json:2:",
           "unknown node type 'SpeechToText'")
expect_bad("metadata not JSON", make("md.rmpkg", base(metadata=b'{"a": 1,\n "b": }')), "metadata.json:2:")

m = base()
cs = sums(m)
m2 = [(n, d + b" " if n == "manifest.json" else d) for n, d in m]
expect_bad("checksum mismatch", make("cs.rmpkg", m2 + [("checksums", cs)]), "manifest.json: error: checksum mismatch")
m3 = m + [("python/a.py", b"x = 1\n")]
expect_bad("member without checksum", make("cs2.rmpkg", m3 + [("checksums", cs)]),
           "python/a.py: error: has no line in checksums")
expect_bad("checksums lists a missing member",
           make("cs3.rmpkg", m + [("checksums", cs + b"0" * 64 + b"  python/gone.py\n")]),
           "checksums:4:67: error: lists 'python/gone.py'")
expect_bad("checksums malformed line", make("cs4.rmpkg", m + [("checksums", cs + b"junk\n")]),
           "checksums:4:1: error: expected")

for i, (bad, why) in enumerate([("../evil.py", "path traversal"), ("python/../../evil.py", "path traversal"),
                                ("/etc/evil", "absolute path"), ("python\\evil.py", "backslash"),
                                ("C:/evil.py", "':'"), ("python/./a.py", "'.' component"),
                                ("python//a.py", "empty path component")]):
    mm = base() + [(bad, b"x")]
    expect_bad(f"unsafe name {bad!r}", make(f"trav{i}.rmpkg", mm), "unsafe member name", why)
expect_bad("unexpected member", make("deps.rmpkg", base() + [("deps/lib.so", b"x")]),
           "deps/lib.so: error: not part of the format")
import warnings
warnings.simplefilter("ignore")
expect_bad("duplicate member", make("dup.rmpkg", base() + [("manifest.json", CALC)]),
           "error: two members have the same name")

# Damaged data: flip a byte inside a stored member (the zip CRC catches it).
p = make("crc.rmpkg", base(manifest=CALC), compression=zipfile.ZIP_STORED)
data = bytearray(open(p, "rb").read())
at = data.index(b'"multiplier"')
data[at + 1] ^= 0x20
open(p, "wb").write(data)
expect_bad("damaged member data (CRC)", p, "manifest.json: error: damaged data")

# ------------------------------------------------------------- limits --
expect_bad("manifest.json over 4 MiB", make("big-m.rmpkg", base(manifest=os.urandom(4 * MIB + 1)),
                                            compression=zipfile.ZIP_STORED),
           "manifest.json: error: 4194305 bytes uncompressed, over the limit of 4 MiB")
expect_bad("metadata.json over 1 MiB", make("big-md.rmpkg", base(metadata=os.urandom(MIB + 1)),
                                            compression=zipfile.ZIP_STORED),
           "metadata.json: error: 1048577 bytes uncompressed, over the limit of 1 MiB")
expect_bad("checksums over 1 MiB", make("big-cs.rmpkg", base() + [("checksums", os.urandom(MIB + 1))],
                                        compression=zipfile.ZIP_STORED),
           "checksums: error: 1048577 bytes uncompressed, over the limit of 1 MiB")
expect_bad("python file over 8 MiB", make("big-py.rmpkg", base() + [("python/big.py", os.urandom(8 * MIB + 1))],
                                          compression=zipfile.ZIP_STORED),
           "python/big.py: error: 8388609 bytes uncompressed, over the limit of 8 MiB")
expect_bad("runtime.wasm over 64 MiB", make("big-w.rmpkg", base(wasm=TINY_WASM + os.urandom(64 * MIB - 7)),
                                            compression=zipfile.ZIP_STORED),
           "runtime.wasm: error: 67108865 bytes uncompressed, over the limit of 64 MiB")
expect_bad("zip bomb: ratio", make("bomb.rmpkg", base(wasm=TINY_WASM + bytes(50 * MIB))),
           "runtime.wasm: error: compression ratio", "zip bomb")
expect_bad("zip bomb: total uncompressed", make("bomb2.rmpkg", base() + [(f"python/z{i}.py", bytes(MIB))
                                                                           for i in range(130)]),
           "over the limit of 128 MiB (zip bomb)")
expect_bad("too many members", make("many.rmpkg", base() + [(f"python/m{i}.py", b"") for i in range(1000)]),
           "entries, over the limit of 1000")
with open(path("huge.rmpkg"), "wb") as f:  # sparse: costs no disk
    f.truncate(100 * MIB + 1)
expect_bad("package over 100 MiB", path("huge.rmpkg"), "over the limit of 100 MiB")

# -------------------------------------------- Python node types (--python) --
# examples/packages/python-nodes: its manifest uses Normalize and Tagger,
# defined in its python/text_nodes.py; rmedia pack declares them in
# metadata.json (runtime_info.python_node_types) and --check accepts them.
ex = os.path.join(ROOT, "examples/packages/python-nodes")
pyman = open(os.path.join(ex, "manifest.json"), "rb").read()
pysrc = open(os.path.join(ex, "python/text_nodes.py"), "rb").read()
rc, out, err = run("pack", os.path.join(ex, "manifest.json"), "-o", path("pyn.rmpkg"), "--wasm", path("tiny.wasm"),
                   "--python", os.path.join(ex, "python"))
check("pack: node types from python/ are declared", rc == 0, err)
if rc == 0:
    with zipfile.ZipFile(path("pyn.rmpkg")) as z:
        decl = json.loads(z.read("metadata.json"))["runtime_info"].get("python_node_types")
    check("pack: python_node_types", decl == {"Normalize": "python/text_nodes.py", "Tagger": "python/text_nodes.py"},
          str(decl))
    rc, out, err = run("pack", "--check", path("pyn.rmpkg"))
    check("--check: a package's own Python node types", rc == 0, err)
os.makedirs(path("pyundef"), exist_ok=True)
open(path("pyundef/text_nodes.py"), "wb").write(pysrc.replace(b'"Normalize"', b'"Normalise"'))
rc, out, err = run("pack", os.path.join(ex, "manifest.json"), "-o", path("pyundef.rmpkg"), "--wasm",
                   path("tiny.wasm"), "--python", path("pyundef"))
check("pack: a type in neither the runtime nor python/ is a located error",
      rc == 1 and "manifest.json:9:" in err and "unknown node type 'Normalize'" in err and
      not os.path.exists(path("pyundef.rmpkg")), err)
decl = b'{"runtime_info": {"python_node_types": {"Normalize": "python/text_nodes.py", "Tagger": "python/text_nodes.py"}}}'
pym = lambda src=pysrc, md=decl: base(manifest=pyman, metadata=md) + [("python/text_nodes.py", src)]
expect_bad("declared type missing from its python/ file",
           make("pymiss.rmpkg", pym(src=pysrc.replace(b'"Normalize"', b'"Normalise"'))),
           "python/text_nodes.py: error: does not define Python node type 'Normalize'")
expect_bad("declared in a member that is not there",
           make("pygone.rmpkg", pym(md=decl.replace(b'"Tagger": "python/text_nodes.py"', b'"Tagger": "python/x.py"'))),
           "metadata.json: error: runtime_info.python_node_types: 'Tagger' is declared in 'python/x.py'")
expect_bad("declared type that the runtime has", make("pyadd.rmpkg", pym(
    src=pysrc.replace(b'"Normalize"', b'"AddNode"'), md=decl.replace(b'"Normalize"', b'"AddNode"'))),
           "'AddNode' is a node type of the runtime already")
expect_bad("declaration not an object", make("pyarr.rmpkg", pym(md=b'{"runtime_info": {"python_node_types": []}}')),
           "python_node_types: expected an object")

shutil.rmtree(TMP)
print(f"\n{len(failures)} failure(s)" if failures else "\nall package tests passed")
sys.exit(1 if failures else 0)
