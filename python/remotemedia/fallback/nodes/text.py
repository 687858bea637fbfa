"""TextProcessorNode, TextCollectorNode and Responder (src/nodes/text/*.c), ported rule
for rule: case mapping covers exactly the scripts the C tables cover (ASCII,
Latin-1, Latin Extended-A, Greek, Cyrillic), and the collector works on UTF-8
bytes like its twin, so outputs match byte for byte."""
from __future__ import annotations

import time
from typing import Any, Dict, List, Optional

from ..params import BOOL, INT, RUNTIME, STRING, STRING_LIST, ParamDef
from . import EINVAL, EPARAM, FallbackNode, Frame, NodeFailure, register

# ------------------------------------------------------------------ utf8.c --


def _latin_a_upper(c: int) -> int:
    if 0x100 <= c <= 0x12F or 0x132 <= c <= 0x137 or 0x14A <= c <= 0x177:
        return 1 if c & 1 == 0 else 0
    if 0x139 <= c <= 0x148 or 0x179 <= c <= 0x17E:
        return 1 if c & 1 == 1 else 0
    return -1


def upper(c: int) -> int:
    if 0x61 <= c <= 0x7A or (0xE0 <= c <= 0xFE and c != 0xF7):
        return c - 32
    if c == 0xFF:
        return 0x178
    if _latin_a_upper(c) == 0:
        return c - 1
    if (0x3B1 <= c <= 0x3C9 and c != 0x3C2) or 0x430 <= c <= 0x44F:
        return c - 32
    if 0x450 <= c <= 0x45F:
        return c - 80
    return c


def lower(c: int) -> int:
    if 0x41 <= c <= 0x5A or (0xC0 <= c <= 0xDE and c != 0xD7):
        return c + 32
    if c == 0x178:
        return 0xFF
    if _latin_a_upper(c) == 1:
        return c + 1
    if (0x391 <= c <= 0x3A9 and c != 0x3A2) or 0x410 <= c <= 0x42F:
        return c + 32
    if 0x400 <= c <= 0x40F:
        return c + 80
    return c


def is_space(c: int) -> bool:
    return c == 0x20 or 0x09 <= c <= 0x0D or c in (0xA0, 0x2028, 0x2029, 0x3000) or 0x2000 <= c <= 0x200A


def is_alpha(c: int) -> bool:
    return 0x61 <= c <= 0x7A or 0x41 <= c <= 0x5A or c >= 0xC0


# --------------------------------------------------------- TextProcessorNode --

OPERATIONS = ["uppercase", "lowercase", "reverse", "word_count", "char_count", "title_case",
              "remove_spaces", "first_word", "last_word"]


def _title(s: str) -> str:
    out, prev = [], False
    for ch in s:
        c = ord(ch)
        a = is_alpha(c)
        out.append(chr((lower(c) if prev else upper(c)) if a else c))
        prev = a
    return "".join(out)


def _words(s: str) -> List[str]:
    words, cur = [], []
    for ch in s:
        if is_space(ord(ch)):
            if cur:
                words.append("".join(cur))
                cur = []
        else:
            cur.append(ch)
    if cur:
        words.append("".join(cur))
    return words


def run_op(op: str, s: str) -> Any:
    if op == "uppercase":
        return "".join(chr(upper(ord(c))) for c in s)
    if op == "lowercase":
        return "".join(chr(lower(ord(c))) for c in s)
    if op == "reverse":
        return s[::-1]
    if op == "title_case":
        return _title(s)
    if op == "remove_spaces":
        return s.replace(" ", "")
    if op == "char_count":
        return len(s)
    words = _words(s)
    if op == "word_count":
        return len(words)
    if op == "first_word":
        return words[0] if words else ""
    return words[-1] if words else ""


@register
class TextProcessorNode(FallbackNode):
    name = "TextProcessorNode"
    doc = "Runs text operations (uppercase, word_count, reverse, …) and returns every result"
    family = "text"
    inputs = [("in", ["json", "text"], "{\"text\", \"operations\"} request, or plain text")]
    outputs = [("out", ["json"], "{\"original_text\", \"operations\", \"results\", \"processed_by\"}")]
    params = [ParamDef("operations", STRING_LIST, "operations for inputs that do not list their own",
                       def_str="uppercase", min=1, max=64, enum=OPERATIONS, flags=RUNTIME)]
    example = ("- id: words\n  node_type: TextProcessorNode\n  params: { operations: [uppercase, "
               "word_count] }\n")

    def process(self, port: int, frame: Frame) -> None:
        if frame.kind == "text":
            text, ops = frame.value, None
        else:
            req = frame.value
            t = req.get("text") if isinstance(req, dict) else None
            if not isinstance(t, str):
                raise NodeFailure(EINVAL, "expects {\"text\": \"...\", \"operations\": [...]} or a text frame")
            text = t
            ops = req.get("operations")
            if "operations" in req and not isinstance(ops, list):
                raise NodeFailure(EINVAL, "\"operations\" must be a list of operation names")
        if ops is None:
            ops = list(self.config["operations"])
        for i, op in enumerate(ops):
            if not isinstance(op, str) or op not in OPERATIONS:
                shown = f"'{op}'" if isinstance(op, str) else "(not a string)"
                raise NodeFailure(EINVAL, f"operations[{i}]: unknown operation {shown} (valid: uppercase, "
                                          f"lowercase, reverse, word_count, char_count, title_case, "
                                          f"remove_spaces, first_word, last_word)")
        results: Dict[str, Any] = {}
        for op in ops:
            results[op] = run_op(op, text)
        self.emit(Frame("json", {"original_text": text, "operations": ops, "results": results,
                                 "processed_by": f"TextProcessorNode[{self.node_id}]"}))


# --------------------------------------------------------- TextCollectorNode --

MARKERS = [b"<|text_end|>", b"<|audio_end|>"]
_WS = b" \n\t\r"


def decode_boundaries(spec: str) -> bytearray:
    table = bytearray(128)
    b = spec.encode()
    p, end = 0, len(b)
    if len(b) >= 2 and b[0:1] == b"[":
        close = b.rfind(b"]")
        if close > 0:
            p, end = 1, close
    while p < end:
        ch = b[p]
        if ch == 0x5C and p + 1 < end:  # backslash escape
            p += 1
            ch = {0x6E: 0x0A, 0x74: 0x09, 0x72: 0x0D}.get(b[p], b[p])
        if ch < 128 and ch != 0x20:
            table[ch] = 1
        p += 1
    return table


def _closing(c: int) -> bool:
    return c in b"\"')]}"


@register
class TextCollectorNode(FallbackNode):
    name = "TextCollectorNode"
    doc = "Collects streamed text into whole sentences (chunking-independent)"
    family = "text"
    inputs = [("in", None, "text pieces; other frames pass through")]
    outputs = [("out", None, "one text frame per sentence")]
    params = [
        ParamDef("boundaries", STRING, "characters that end a sentence (a regex class like \"[.!?]+\" is accepted)",
                 def_str=".!?;\n", aliases=["split_pattern"]),
        ParamDef("min_sentence_length", INT, "shorter sentences are merged into the next one", 3, min=0,
                 max=100000, flags=RUNTIME),
        ParamDef("yield_partial_on_end", BOOL, "emit unfinished text at end of stream and at <|text_end|>", 1,
                 flags=RUNTIME),
        ParamDef("abbreviations", STRING_LIST, "lower-case words whose trailing period does not end a sentence",
                 def_str="mr,mrs,ms,dr,prof,sr,jr,st,vs,e.g,i.e,approx,fig,inc,ltd,dept,est"),
    ]
    example = "- id: sentences\n  node_type: TextCollectorNode\n  params: { min_sentence_length: 3 }\n"

    def init(self) -> None:
        self.buf = bytearray()
        self.props: Optional[Frame] = None  # the last text frame: props of emitted sentences
        self.set = decode_boundaries(self.config["boundaries"])
        if not any(self.set):
            raise NodeFailure(EPARAM, f"boundaries '{self.config['boundaries']}' names no boundary character")

    def _is_boundary(self, c: int) -> bool:
        return c < 128 and self.set[c] == 1

    def _is_abbreviation(self, dot: int) -> bool:
        b = self.buf
        start = dot
        while start > 0 and b[start - 1] not in b" \n\t(\"":
            start -= 1
        word = b[start:dot]
        if not word:
            return False
        if len(word) == 1 and 0x41 <= word[0] <= 0x5A:
            return True  # an initial: "J. K."
        lowered = bytes(lower(c) & 0xFF for c in word)  # C lowers byte by byte
        return any(lowered == a.encode() for a in self.config["abbreviations"])

    def _sentence_end(self, n: int, i: int) -> int:
        """Position just past a sentence ending at boundary byte i, 0 if it is
        not (or not yet known to be) one; only buf[:n] is known text."""
        b = self.buf
        if b[i] == 0x0A:
            return i + 1
        j = i + 1
        while j < n and ((self._is_boundary(b[j]) and b[j] != 0x0A) or _closing(b[j])):
            j += 1
        if j >= n:
            return 0  # undecided until more text arrives
        if b[j] not in _WS:
            return 0
        if b[i] == 0x2E or b[j - 1] == 0x2E:
            k = j
            while k < n and b[k] in b" \t\r":
                k += 1
            if k >= n:
                return 0  # need the next word
            if 0x61 <= b[k] <= 0x7A:
                return 0
            if b[i] == 0x2E and self._is_abbreviation(i):
                return 0
        return j

    def _emit_text(self, s: bytes) -> None:
        s = s.strip(_WS)
        if s:
            self.emit(Frame("text", s.decode("utf-8", "replace"), self.props))

    def _drain(self, n: int) -> None:
        """Emits every complete sentence in buf[:n] and removes it."""
        start = i = 0
        minlen = self.config["min_sentence_length"]
        while i < n:
            end = self._sentence_end(n, i) if self._is_boundary(self.buf[i]) else 0
            if not end:
                i += 1
                continue
            piece = self.buf[start:end]
            if sum(1 for c in piece if c & 0xC0 != 0x80) >= minlen:
                self._emit_text(bytes(piece))
                start = end
            i = end
        del self.buf[:start]

    def _emit_rest(self, n: int) -> None:
        """Emits the unfinished text buf[:n] (if yield_partial_on_end) and
        removes it."""
        if self.config["yield_partial_on_end"]:
            self._emit_text(bytes(self.buf[:n]))
        del self.buf[:n]

    def _find_marker(self) -> "tuple[int, int]":
        """The earliest marker in the buffer (searched like strstr: up to a
        NUL byte): (position, which), position -1 if none."""
        nul = self.buf.find(b"\0")
        stop = nul if nul >= 0 else len(self.buf)
        hit, which = -1, 0
        for m, marker in enumerate(MARKERS):
            h = self.buf.find(marker, 0, stop)
            if h >= 0 and (hit < 0 or h < hit):
                hit, which = h, m
        return hit, which

    def _marker_prefix(self) -> int:
        """Length of the longest end of the buffer that could be the start of
        a marker split across pieces ("…<|text_" + "end|>…")."""
        best = 0
        for marker in MARKERS:
            for k in range(len(marker) - 1, best, -1):
                if k <= len(self.buf) and self.buf.endswith(marker[:k]):
                    best = k
                    break
        return best

    def _collect(self, final: bool) -> None:
        while True:
            hit, which = self._find_marker()
            if hit < 0:
                self._drain(len(self.buf) if final else len(self.buf) - self._marker_prefix())
                if final:
                    self._emit_rest(len(self.buf))
                return
            self._drain(hit)
            at = self._find_marker()[0]  # _drain moved the buffer
            self._emit_rest(at)
            self._emit_text(MARKERS[which])
            del self.buf[:len(MARKERS[which])]

    def process(self, port: int, frame: Frame) -> None:
        if frame.kind != "text":
            return self.emit(frame)
        self.props = frame
        self.buf += frame.value.encode("utf-8")
        self._collect(False)

    def flush(self) -> None:
        self._collect(True)
        self.props = None

    def reset(self) -> None:
        self.buf.clear()
        self.props = None


# ----------------------------------------------------------------- Responder --

_ONES = ["", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
         "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
_TENS = ["", "", "twenty", "thirty", "forty", "fifty"]


def time_words(hour: int, minute: int) -> str:
    """"three fifteen p m", "twelve o'clock a m", "nine oh five p m"."""
    h = hour % 12
    ampm = "a m" if hour < 12 else "p m"
    word = _ONES[h if h else 12]
    if minute == 0:
        return f"the time is {word} o'clock {ampm}"
    if minute < 10:
        return f"the time is {word} oh {_ONES[minute]} {ampm}"
    if minute < 20:
        return f"the time is {word} {_ONES[minute]} {ampm}"
    sep = " " if minute % 10 else ""
    return f"the time is {word} {_TENS[minute // 10]}{sep}{_ONES[minute % 10]} {ampm}"


def _ascii_alpha(c: int) -> bool:
    return 0x41 <= c <= 0x5A or 0x61 <= c <= 0x7A


def has_word(text: bytes, word: bytes) -> bool:
    """`word` (lower case) appears in `text` as a whole word: ASCII, any case,
    on bytes like the C twin."""
    wl = len(word)
    for p in range(len(text)):
        if p and _ascii_alpha(text[p - 1]):
            continue
        seg = text[p:p + wl]
        if len(seg) == wl and bytes(c | 0x20 if 0x41 <= c <= 0x5A else c for c in seg) == word:
            if p + wl >= len(text) or not _ascii_alpha(text[p + wl]):
                return True
    return False


def count_words(text: bytes) -> int:
    n, inside = 0, False
    for c in text:
        w = _ascii_alpha(c) or 0x30 <= c <= 0x39 or c == 0x27
        if w and not inside:
            n += 1
        inside = w
    return n


@register
class Responder(FallbackNode):
    """src/nodes/text/responder.c, rule for rule."""
    name = "Responder"
    doc = "Rule-based voice-agent reply: tells the time, greets, echoes what it heard"
    family = "text"
    inputs = [("in", ["json", "text"], "an utterance: text, or json with \"text\"")]
    outputs = [("out", ["text"], "one reply per utterance")]
    params = [
        ParamDef("echo_prefix", STRING, "said before an echoed utterance (\"\" = echo only)", def_str="you said",
                 flags=RUNTIME),
        ParamDef("greeting", STRING, "reply to \"hello\" or \"hi\" (\"\" = echo greetings too)",
                 def_str="hello, how can I help", flags=RUNTIME),
        ParamDef("answer_time", BOOL, "answer an utterance with the word \"time\" with the time of day, in words", 1,
                 flags=RUNTIME),
        ParamDef("utc", BOOL, "tell the time in UTC instead of the server's local time", 0, flags=RUNTIME),
        ParamDef("min_words", INT, "utterances with fewer words get no reply", 1, min=0, max=1000, flags=RUNTIME),
    ]
    example = "- id: reply\n  node_type: Responder\n  params: { echo_prefix: \"you said\" }\n"

    def process(self, port: int, frame: Frame) -> None:
        text = None
        if frame.kind == "text":
            text = frame.value
        elif frame.kind == "json" and isinstance(frame.value, dict) and isinstance(frame.value.get("text"), str):
            text = frame.value["text"]
        if text is None:
            return
        raw = text.encode("utf-8", "surrogatepass")
        if count_words(raw) < self.config["min_words"]:
            return
        cfg = self.config
        if cfg["answer_time"] and has_word(raw, b"time"):
            t = time.gmtime() if cfg["utc"] else time.localtime()
            reply = time_words(t.tm_hour, t.tm_min)
        elif cfg["greeting"] and (has_word(raw, b"hello") or has_word(raw, b"hi")):
            reply = cfg["greeting"]
        else:
            prefix = cfg["echo_prefix"]
            heard = raw[:900].decode("utf-8", "ignore")  # the C twin's %.900s
            reply = prefix + (" " if prefix else "") + heard
        self.emit(Frame("text", reply, frame))
