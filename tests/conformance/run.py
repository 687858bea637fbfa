#!/usr/bin/python3
"""Host conformance suite: runs every case under tests/conformance/ through a
host (the rmedia CLI, the Python package, ...) and compares what it returns
with the case's expected.jsonl.  See README.md for the layout and for how to
add a host.

  run.py --host cli --rmedia build/release/rmedia [--framing all|20ms,whole,...]
  run.py --host python --build-dir build/release
  run.py --host cli --rmedia ... --update     # rewrite expected.jsonl (20 ms)

Exit status: 0 when every case matches on every framing, 1 otherwise, 2 on
a usage or set-up error.
"""
import argparse
import atexit
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import wave

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# name -> chunk length in ms (0 = the whole input as one frame)
FRAMINGS = {"20ms": 20, "10ms": 10, "37ms": 37, "1s": 1000, "5s": 5000, "whole": 0}

FLOAT_REL = 1e-9    # json numbers: the CLI prints 15 significant digits
AUDIO_RMS_ABS = 1e-6  # per-100 ms RMS of audio outputs (hosts may hand out s32/f32)


# ------------------------------------------------------------------ cases --

class Case:
    """A directory with manifest.yaml|json, case.json and expected.jsonl.

    case.json: {"input": {"type": "jsonl", "file": "input.jsonl"}} or
               {"input": {"type": "flite", "voice": "slt", "text": "...",
                          "silence_ms": [500, 500]}}
    """

    def __init__(self, path):
        self.name = os.path.basename(path)
        self.dir = path
        self.manifest = None
        for m in ("manifest.yaml", "manifest.json"):
            if os.path.exists(os.path.join(path, m)):
                self.manifest = os.path.join(path, m)
        if not self.manifest:
            raise SystemExit(f"{path}: no manifest.yaml or manifest.json")
        with open(os.path.join(path, "case.json")) as f:
            self.spec = json.load(f)
        self.input_type = self.spec["input"]["type"]
        self.expected_path = os.path.join(path, "expected.jsonl")
        self.values = None      # json inputs: list of JSON values
        self.wav = None         # audio inputs: path of a 16-bit PCM WAV
        self.audio = None       # ... and its samples (frames x channels, int16)
        self.rate = 0

    @property
    def is_audio(self):
        return self.input_type != "jsonl"

    def prepare(self, tmp):
        """Makes the input (audio is synthesised here, at test time)."""
        inp = self.spec["input"]
        if inp["type"] == "jsonl":
            with open(os.path.join(self.dir, inp["file"])) as f:
                self.values = [json.loads(line) for line in f if line.strip()]
            return
        if inp["type"] != "flite":
            raise SystemExit(f"{self.name}: unknown input type {inp['type']!r}")
        flite = shutil.which("flite")
        if not flite:
            raise SystemExit("flite not found (scripts/bootstrap installs it)")
        raw = os.path.join(tmp, self.name + "-tts.wav")
        subprocess.run([flite, "-voice", inp["voice"], "-t", inp["text"], "-o", raw], check=True)
        with wave.open(raw) as w:
            assert w.getsampwidth() == 2, "flite writes 16-bit PCM"
            self.rate, ch = w.getframerate(), w.getnchannels()
            x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, ch)
        lead, tail = inp.get("silence_ms", [0, 0])
        pad = lambda ms: np.zeros((self.rate * ms // 1000, ch), dtype=np.int16)  # noqa: E731
        self.audio = np.concatenate([pad(lead), x, pad(tail)])
        self.wav = os.path.join(tmp, self.name + ".wav")
        with wave.open(self.wav, "wb") as w:
            w.setnchannels(ch)
            w.setsampwidth(2)
            w.setframerate(self.rate)
            w.writeframes(self.audio.astype("<i2").tobytes())

    def chunks(self, ms):
        """(start frame, samples) per chunk of `ms` (0 = one chunk)."""
        n = len(self.audio)
        step = n if ms == 0 else self.rate * ms // 1000
        return [(a, self.audio[a:a + step]) for a in range(0, n, step)]


def load_cases(only):
    cases = []
    for d in sorted(os.listdir(HERE)):
        p = os.path.join(HERE, d)
        if os.path.isdir(p) and os.path.exists(os.path.join(p, "case.json")) and (not only or d in only):
            cases.append(Case(p))
    return cases


# ------------------------------------------------------------------ hosts --
#
# A host is one function  run(case, ms) -> list of outputs, in the order the
# host delivered them, each a dict:
#   {"node": sink id, "port": port name or None if the host does not say,
#    "value": a JSON value (json frames) or a str (text frames)}          or
#   {"node": ..., "port": ..., "audio": numpy array (frames x channels,
#    float64, full scale 1.0), "rate": Hz}
# `ms` is the chunk length for audio inputs (0 = the whole input as one
# frame); json inputs are pushed one value at a time.  The runner normalises
# (audio of a sink port is concatenated and summarised) and compares.

def host_cli(args):
    rmedia = os.path.abspath(args.rmedia)

    def run(case, ms, tmp):
        cmd = [rmedia, "run", case.manifest, "-f", "jsonl", "--no-progress"]
        out_wav = None
        if case.is_audio:
            # --chunk-ms is at most 10 s: "whole" needs a shorter input
            if ms == 0:
                assert len(case.audio) <= 10 * case.rate, f"{case.name}: input longer than 10 s"
            cmd += ["-i", case.wav, "--chunk-ms", str(ms or 10000)]
            for node in case.audio_sinks:  # at most one audio sink per case (the CLI writes one)
                out_wav = os.path.join(tmp, f"{case.name}-out.wav")
                cmd += ["--output-node", node, "-o", out_wav, "--output-subtype", "s32"]
        else:
            src = os.path.join(tmp, case.name + "-in.jsonl")
            with open(src, "w") as f:
                for v in case.values:
                    f.write(json.dumps(v) + "\n")
            cmd += ["-i", src]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"rmedia exited {p.returncode}: {p.stderr.strip()}")
        outs = []
        for line in p.stdout.splitlines():
            if line.strip():
                o = json.loads(line)
                # transcript metadata prints with the types of the results (issue 11)
                for k in ("start_ms", "end_ms"):
                    if k in o.get("meta", {}) and not isinstance(o["meta"][k], float):
                        raise RuntimeError(f"meta.{k} is {o['meta'][k]!r}, not a number like results.{k}")
                outs.append({"node": o["node"], "port": o["port"], "value": o["value"]})
        if out_wav:
            with wave.open(out_wav) as w:
                x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i4").reshape(-1, w.getnchannels())
                outs.append({"node": case.audio_sinks[0], "port": "out", "audio": x / 2147483648.0,
                             "rate": w.getframerate()})
        return outs

    return run


def host_python(args):
    if args.build_dir:
        os.environ.setdefault("RMEDIA_LIB_DIR", os.path.abspath(args.build_dir))
    sys.path.insert(0, os.path.join(ROOT, "python"))
    import remotemedia as rm  # noqa: E402

    if not rm.is_native_runtime_available():
        raise SystemExit(f"python host: native runtime not available: {rm.runtime_info()}")

    def convert(node, v):
        if isinstance(v, rm.Audio):
            x = np.asarray(v.samples)
            x = x.reshape(x.shape[0], -1)
            scale = {np.dtype("int16"): 32768.0, np.dtype("int32"): 2147483648.0}.get(x.dtype, 1.0)
            return {"node": node, "port": None, "audio": x.astype(np.float64) / scale, "rate": v.sample_rate}
        return {"node": node, "port": None, "value": v}

    def run(case, ms, tmp):
        # a unary call, as a gRPC client would make: every input at once
        p = rm.Pipeline.from_yaml(case.manifest) if case.manifest.endswith(".yaml") else \
            rm.Pipeline.from_json(case.manifest)
        if case.is_audio:
            inputs = [rm.Audio(np.ascontiguousarray(c[:, 0] if c.shape[1] == 1 else c), case.rate,
                               timestamp_us=round(a * 1e6 / case.rate)) for a, c in case.chunks(ms)]
        else:
            inputs = list(case.values)
        res = p.run_sync(inputs, as_list=True)
        sinks = p.sinks
        per = res if isinstance(res, dict) else {sinks[0]: res}
        return [convert(node, v) for node in sinks for v in per.get(node) or []]

    return run


def host_grpc(args):
    """`rmedia serve` on an ephemeral loopback port, driven by Python grpcio
    (tests/grpc/conformance_grpc.py): the whole input as one frame goes as a
    unary ExecutePipeline call (what a unary client sends), every other
    framing as a StreamPipeline stream of chunks."""
    os.environ["RMEDIA"] = os.path.abspath(args.rmedia)
    sys.path.insert(0, os.path.join(ROOT, "tests", "grpc"))
    import conformance_grpc  # noqa: E402
    import rmgrpc  # noqa: E402

    server = rmgrpc.Server()
    atexit.register(server.stop)

    def convert(node, v):
        if isinstance(v, dict) and set(v) == {"sample_rate", "channels", "samples"}:
            x = np.asarray(v["samples"], dtype=np.float64).reshape(-1, v["channels"])
            return {"node": node, "port": None, "audio": x, "rate": v["sample_rate"]}
        return {"node": node, "port": None, "value": v}

    def run(case, ms, tmp):
        with open(case.manifest) as f:
            text = f.read()
        if case.is_audio:
            inputs = [{"audio": {"samples": (c.astype(np.float64) / 32768.0).ravel().tolist(),
                                 "sample_rate": case.rate, "channels": c.shape[1], "format": "f32"}}
                      for _, c in case.chunks(ms)]
            # case.json "grpc_unary": a reason why a unary reply cannot carry
            # this case's outputs (then the whole file goes as one stream chunk)
            mode = "unary" if ms == 0 and "grpc_unary" not in case.spec else "stream"
        else:
            inputs, mode = list(case.values), "stream"
        outs = conformance_grpc.run_case_grpc(server.address, text, inputs, mode=mode)
        return [convert(node, v) for node, values in outs.items() for v in values]

    return run


def host_wasm(args):
    """build/wasm/remotemedia.wasm through the TypeScript package web/ in
    Node (wasm_host.mjs, one process per run).  Node types of families the
    wasm build leaves out (speech) make a case "not in the wasm build"."""
    wasm = os.path.abspath(args.wasm or os.path.join(ROOT, "build", "wasm", "remotemedia.wasm"))
    if not os.path.exists(wasm):
        raise SystemExit(f"wasm host: {wasm} missing (make wasm)")
    if not os.path.exists(os.path.join(ROOT, "web", "dist", "index.js")):
        raise SystemExit("wasm host: web/dist missing (cd web && npm run build)")
    scale = {"f32": 1.0, "s16": 32768.0, "s32": 2147483648.0}

    def run(case, ms, tmp):
        spec = {"manifest": case.manifest}
        if case.is_audio:
            raw = os.path.join(tmp, case.name + ".s16")
            case.audio.astype("<i2").tofile(raw)
            spec.update(audio=raw, rate=case.rate, channels=int(case.audio.shape[1]),
                        chunk_frames=case.rate * ms // 1000)
        else:
            spec["values"] = case.values
        sp = os.path.join(tmp, case.name + "-wasm.json")
        with open(sp, "w") as f:
            json.dump(spec, f)
        p = subprocess.run(["node", os.path.join(HERE, "wasm_host.mjs"), wasm, sp], capture_output=True, text=True)
        if p.returncode != 0:
            if "unknown node type" in p.stderr and "SpeechToText" in p.stderr:
                raise NotInBuild("SpeechToText: speech nodes are native only")
            raise RuntimeError(f"wasm host exited {p.returncode}: {p.stderr.strip()[-2000:]}")
        outs = []
        for line in p.stdout.splitlines():
            o = json.loads(line)
            if "samples" in o:
                x = np.asarray(o["samples"], dtype=np.float64).reshape(-1, o["channels"]) / scale[o["format"]]
                outs.append({"node": o["node"], "port": o["port"], "audio": x, "rate": o["rate"]})
            else:
                outs.append(o)
        return outs

    return run


class NotInBuild(Exception):
    """The case uses a node family this host's build does not have."""


HOSTS = {"cli": host_cli, "python": host_python, "grpc": host_grpc, "wasm": host_wasm}


# -------------------------------------------------------------- normalise --

def summarise(x, rate):
    block = max(1, rate // 10)
    rms = []
    for a in range(0, len(x), block):
        b = x[a:a + block]
        rms.append(round(float(np.sqrt(np.mean(b * b))), 9))
    return {"rate": rate, "channels": int(x.shape[1]), "frames": int(x.shape[0]), "rms_100ms": rms}


def normalise(outs):
    """Groups by sink node in a stable order; audio of one node/port becomes
    one summary record.  Returns a list of records."""
    recs, audio = [], {}
    for o in outs:
        if "audio" in o:
            key = o["node"]
            if key in audio:
                x, r = audio[key]
                audio[key] = (np.concatenate([x, o["audio"]]), r)
            else:
                audio[key] = (o["audio"], o["rate"])
        else:
            recs.append({"node": o["node"], "port": o["port"], "value": o["value"]})
    recs = sorted(recs, key=lambda r: r["node"])  # stable: keeps each node's order
    for node in sorted(audio):
        x, r = audio[node]
        recs.append({"node": node, "port": "out", "audio": summarise(x, r)})
    return recs


def close(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=FLOAT_REL, abs_tol=1e-9)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b))
    return a == b


def same_printed(a, b):
    """Identical as the native CLI prints them: numbers to 15 significant
    digits (JSON through JavaScript does not keep 670 and 670.0 apart),
    everything else equal."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float("%.15g" % a) == float("%.15g" % b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_printed(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_printed(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def compare(expected, got, exact=False):
    """Returns a list of differences (empty = conformant)."""
    diffs = []
    if len(expected) != len(got):
        diffs.append(f"{len(got)} outputs, expected {len(expected)}")
    for i, (e, g) in enumerate(zip(expected, got)):
        where = f"output {i} ({e['node']}.{e['port']})"
        if e["node"] != g["node"]:
            diffs.append(f"{where}: from node {g['node']}")
        elif g.get("port") is not None and e["port"] != g["port"]:
            diffs.append(f"{where}: on port {g['port']}")
        elif "audio" in e or "audio" in g:
            ea, ga = e.get("audio"), g.get("audio")
            if not ea or not ga or any(ea[k] != ga[k] for k in ("rate", "channels", "frames")):
                diffs.append(f"{where}: audio {ga and {k: ga[k] for k in ('rate', 'channels', 'frames')}}, "
                             f"expected {ea and {k: ea[k] for k in ('rate', 'channels', 'frames')}}")
            else:
                d = max((abs(x - y) for x, y in zip(ea["rms_100ms"], ga["rms_100ms"])), default=0.0)
                if d > AUDIO_RMS_ABS:
                    diffs.append(f"{where}: audio level differs by up to {d:.3g} RMS")
        elif not (same_printed(e["value"], g["value"]) if exact else close(e["value"], g["value"])):
            diffs.append(f"{where}: {json.dumps(g['value'])[:300]}\n      expected {json.dumps(e['value'])[:300]}")
        if len(diffs) > 5:
            break
    return diffs


# ------------------------------------------------------------------- main --

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", required=True, choices=sorted(HOSTS))
    ap.add_argument("--rmedia", help="the rmedia binary (cli and grpc hosts)")
    ap.add_argument("--build-dir", help="the CMake build holding libremotemedia (python host)")
    ap.add_argument("--wasm", help="remotemedia.wasm (wasm host; default build/wasm/remotemedia.wasm)")
    ap.add_argument("--exact", action="store_true",
                    help="outputs of JSON-input (math/text) cases must be identical as the CLI prints "
                         "them, not within 1e-9; audio cases keep their tolerance")
    ap.add_argument("--framing", default="all",
                    help="comma-separated: " + ", ".join(FRAMINGS) + " (default: all)")
    ap.add_argument("--case", action="append", help="run only this case (repeatable)")
    ap.add_argument("--update", action="store_true", help="write expected.jsonl from this host's 20 ms run")
    args = ap.parse_args()
    if args.host in ("cli", "grpc") and not args.rmedia:
        ap.error(f"--host {args.host} needs --rmedia")
    names = list(FRAMINGS) if args.framing == "all" else args.framing.split(",")
    for n in names:
        if n not in FRAMINGS:
            ap.error(f"unknown framing {n!r} (one of {', '.join(FRAMINGS)})")
    run = HOSTS[args.host](args)
    cases = load_cases(args.case)
    if not cases:
        ap.error("no cases")
    failures = 0
    with tempfile.TemporaryDirectory(prefix="rm-conformance-") as tmp:
        for case in cases:
            case.prepare(tmp)
            expected = []
            if os.path.exists(case.expected_path):
                with open(case.expected_path) as f:
                    expected = [json.loads(line) for line in f if line.strip()]
            case.audio_sinks = sorted({e["node"] for e in expected if "audio" in e}) or \
                case.spec.get("audio_sinks", [])
            if args.update:
                got = normalise(run(case, 20, tmp))
                with open(case.expected_path, "w") as f:
                    for r in got:
                        f.write(json.dumps(r, sort_keys=True) + "\n")
                print(f"{case.name}: wrote {len(got)} expected outputs")
                continue
            if not expected:
                print(f"{case.name}: no expected.jsonl (run with --update)")
                failures += 1
                continue
            for n in names if case.is_audio else ["20ms"]:
                try:
                    diffs = compare(expected, normalise(run(case, FRAMINGS[n], tmp)),
                                    exact=args.exact and not case.is_audio)
                except NotInBuild as e:
                    print(f"{args.host:7} {case.name:14} {'':10} skipped: not in this build ({e})")
                    break
                except Exception as e:  # a host failure is a failed case, not a crash of the suite
                    diffs = [f"host failed: {e}"]
                label = n if case.is_audio else "json input"
                print(f"{args.host:7} {case.name:14} {label:10} {'ok' if not diffs else 'DIFFERENT'}")
                for d in diffs:
                    print(f"    {d}")
                failures += bool(diffs)
    print(f"{failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
