"""Score texts with the shipped char-level encoder: onnxruntime + a `tokenizers` tokenizer, no torch.

The model directory holds `model.onnx` (int8), `tokenizer.json` and `model.json` (version, labels,
max_len, thresholds, span threshold). Texts longer than the model's window are scored in
overlapping windows and each label takes the maximum; spans are offsets into the text as given.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from moderation.types import Label, RuleCategory, Scores

_LABELS = (Label.EFFICACY, Label.DIVERSION)  # the order of the model's outputs


class ModelLoadError(RuntimeError):
    """The model directory is missing, incomplete or unreadable; the message says which file and why."""


@dataclass(frozen=True, slots=True)
class ModelSpan:
    label: Label
    start: int
    end: int
    score: float


@dataclass(frozen=True, slots=True)
class ModelOutput:
    scores: Scores
    spans: tuple[ModelSpan, ...]
    # The token head's probability per character of the text as given, one column per label
    # (efficacy, diversion); None when built by hand without one. It is the model's verdict on a
    # phrase where the sentence score speaks for the whole text (see `verdict`).
    marks: np.ndarray | None = field(default=None, compare=False, repr=False)

    def verdict(self, label: Label, start: int, end: int) -> float:
        """How sure the model is that text[start:end] makes a violation of `label`: the higher of its
        sentence score and its token head's marks over those characters. The token head alone marks
        too few real claims (on real seller copy it leaves a third of them below 0.05); the sentence
        score alone cannot tell a mention from the claim beside it. Without marks, the sentence score."""
        score = self.scores.get(label) or 0.0
        if self.marks is None or end <= start:
            return score
        column = self.marks[start:end, _LABELS.index(label)]
        return max(score, float(column.max())) if len(column) else score


@dataclass(frozen=True, slots=True)
class _Window:
    text_index: int
    first_token: int
    ids: tuple[int, ...]  # with [CLS] and [SEP]


class Classifier:
    """Load once, then `predict` from any thread (onnxruntime sessions are thread-safe)."""

    def __init__(self, model_dir: Path, *, threads: int = 1, batch_size: int = 32) -> None:
        model_dir = Path(model_dir)
        meta = _read_meta(model_dir / "model.json")
        self.version: str = meta["version"]
        self.max_len: int = int(meta["max_len"])
        self.thresholds: dict[Label, float] = {lab: float(meta["thresholds"][lab.value]) for lab in _LABELS}
        self.span_threshold: float = float(meta["span_threshold"])
        # The least probability for a finding of the model alone, chosen by the build on the held-out
        # split; None for a model built before the build chose it (the engine's default applies).
        self.model_only_min: dict[Label, float] | None = _per_label(meta.get("model_only_min"))
        # The least probability at which the model confirms a rule's term heard in other characters,
        # chosen by the build the same way; None: the labels' thresholds apply.
        self.heard_min: float | None = meta.get("heard_min")
        # Per rule family (absolute_term, contact_wechat, …), the verdict below which the model vetoes
        # a rule's bare word (decide._apply_vetoes); chosen by the build on the held-out split.
        self.veto_below: dict[RuleCategory, float] = {
            RuleCategory(k): float(v) for k, v in meta.get("veto_below", {}).items()
        }
        self.batch_size = batch_size
        self._tokenizer = _load_tokenizer(model_dir / "tokenizer.json")
        self._cls = self._tokenizer.token_to_id("[CLS]")
        self._sep = self._tokenizer.token_to_id("[SEP]")
        if self._cls is None or self._sep is None:
            raise ModelLoadError(f"{model_dir / 'tokenizer.json'}: vocabulary lacks [CLS] or [SEP]")
        self._session = _load_session(model_dir / "model.onnx", threads)
        self._char_ids: dict[str, tuple[int, ...]] = {}  # see _encode

    def predict(self, texts: Sequence[str]) -> list[ModelOutput]:
        encoded = [self._encode(text) for text in texts]
        windows = [w for i, (ids, _) in enumerate(encoded) for w in self._windows(i, ids)]
        seq: list[np.ndarray | None] = [None] * len(encoded)
        tok: list[np.ndarray | None] = [None] * len(encoded)
        # Similar lengths share a batch, so padding stays small.
        order = sorted(range(len(windows)), key=lambda k: len(windows[k].ids))
        for b in range(0, len(order), self.batch_size):
            chunk = [windows[k] for k in order[b : b + self.batch_size]]
            seq_probs, tok_probs = self._run(chunk)
            for w, s, t in zip(chunk, seq_probs, tok_probs, strict=True):
                i, n = w.text_index, len(w.ids) - 2
                if n == len(encoded[i][0]):  # the text's only window: most texts
                    seq[i], tok[i] = s, t[1 : 1 + n]
                    continue
                if tok[i] is None:
                    seq[i], tok[i] = s, np.zeros((len(encoded[i][0]), len(_LABELS)), dtype=np.float32)
                seq[i] = np.maximum(seq[i], s)
                span = tok[i][w.first_token : w.first_token + n]  # type: ignore[index]
                np.maximum(span, t[1 : 1 + n], out=span)
        outputs = []
        for text, (_, offsets), s, t in zip(texts, encoded, seq, tok, strict=True):
            assert s is not None and t is not None  # every text has a window, an empty one too
            outputs.append(ModelOutput(Scores(efficacy=float(s[0]), diversion=float(s[1])), self._spans(s, t, offsets),
                                       _per_char(t, offsets, len(text))))
        return outputs

    def _encode(self, text: str) -> tuple[list[int], list[tuple[int, int]] | None]:
        """Token ids and, where a character gave other than one token, offsets into `text`
        (None: token k is text[k]). The vocabulary is characters and the tokenizer's
        normalization (NFKC, invisible characters dropped, lowercase) works character by
        character on the scripts of this domain, so each character's tokens are asked of the
        tokenizer once and remembered: a tenth of the cost of encoding every text anew. A text
        with a character whose normalization may join its neighbour (combining marks, jamo,
        anything outside those scripts) goes to the tokenizer whole."""
        memo = self._char_ids
        ids: list[int] = []
        one_each = True
        for ch in text:
            got = memo.get(ch)
            if got is None:
                if not _keeps_to_itself(ch):
                    enc = self._tokenizer.encode(text, add_special_tokens=False)
                    return enc.ids, enc.offsets
                got = memo[ch] = tuple(self._tokenizer.encode(ch, add_special_tokens=False).ids)
            if len(got) == 1:
                ids.append(got[0])
            else:
                ids.extend(got)
                one_each = False
        if one_each:
            return ids, None
        offsets = [(i, i + 1) for i, ch in enumerate(text) for _ in memo[ch]]
        return ids, offsets

    def _windows(self, index: int, ids: list[int]) -> list[_Window]:
        body = self.max_len - 2
        stride = max(1, body // 2)
        starts = [0] if len(ids) <= body else list(range(0, len(ids) - body, stride)) + [len(ids) - body]
        return [_Window(index, s, (self._cls, *ids[s : s + body], self._sep)) for s in starts]

    def _run(self, chunk: list[_Window]) -> tuple[np.ndarray, np.ndarray]:
        width = max(len(w.ids) for w in chunk)
        ids = np.zeros((len(chunk), width), dtype=np.int64)
        mask = np.zeros((len(chunk), width), dtype=np.int64)
        for row, w in enumerate(chunk):
            ids[row, : len(w.ids)] = w.ids
            mask[row, : len(w.ids)] = 1
        seq, tok = self._session.run(None, {"input_ids": ids, "attention_mask": mask})
        return seq, tok

    def _spans(
        self, seq: np.ndarray, tok: np.ndarray, offsets: list[tuple[int, int]] | None
    ) -> tuple[ModelSpan, ...]:
        peaks = tok.max(axis=0).tolist() if len(tok) else [0.0] * len(_LABELS)
        # Most texts have nothing to point at: no label and no character passed its threshold.
        marked = [
            (li, label) for li, label in enumerate(_LABELS)
            if seq[li] >= self.thresholds[label] or peaks[li] >= self.span_threshold
        ]
        if not marked:
            return ()
        if offsets is None:
            offsets = [(k, k + 1) for k in range(len(tok))]
        spans: list[ModelSpan] = []
        for li, label in marked:
            probs = tok[:, li]
            runs = _runs(probs >= self.span_threshold)
            if not runs and len(probs) and seq[li] >= self.thresholds[label]:
                # The sentence is flagged but no character passed the span threshold: give the best
                # run around the strongest character, so a model-only finding still has a place.
                peak = int(probs.argmax())
                runs = [r for r in _runs(probs >= probs[peak] * 0.5) if r[0] <= peak < r[1]]
            for a, b in runs:
                spans.append(ModelSpan(label, offsets[a][0], offsets[b - 1][1], float(probs[a:b].max())))
        return tuple(spans)


def _per_char(tok: np.ndarray, offsets: list[tuple[int, int]] | None, length: int) -> np.ndarray:
    """Token probabilities as one row per character of the text as given (a character with no
    token, a space, gets zeros; one with several takes their maximum)."""
    if offsets is None and len(tok) == length:
        return tok
    marks = np.zeros((length, len(_LABELS)), dtype=np.float32)
    if offsets:
        # Tokens are characters here: each offset starts on the one character it came from.
        starts = np.fromiter((a for a, _ in offsets), dtype=np.intp, count=len(offsets))
        np.maximum.at(marks, starts, tok[: len(offsets)])
    return marks


def _keeps_to_itself(ch: str) -> bool:
    """True for characters whose NFKC form cannot depend on a neighbour: ASCII, CJK ideographs,
    CJK and full-width punctuation and forms, general punctuation and symbols, emoji. Combining
    marks, Hangul jamo and other scripts' vowel signs are left to the tokenizer."""
    code = ord(ch)
    return (
        code < 0x80
        or 0x2000 <= code <= 0x2BFF  # punctuation, letterlike and number forms, arrows, symbols
        or 0x3000 <= code <= 0x303F  # CJK punctuation
        or 0x3400 <= code <= 0x4DBF  # CJK extension A
        or 0x4E00 <= code <= 0x9FFF  # CJK ideographs
        or 0xFF01 <= code <= 0xFF5E  # full-width ASCII
        or 0x1F300 <= code <= 0x1FAFF  # emoji and pictographs
    ) and not (0x20D0 <= code <= 0x20FF or 0x302A <= code <= 0x302F)  # combining marks (keycap ⃣, tone marks)


# Runs of flagged characters this close are one phrase (the token head dips inside `皮肤白了好几个度`).
_MAX_GAP = 2


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    start = None
    for i, on in enumerate(flags):
        if on and start is None:
            start = i
        elif not on and start is not None:
            runs.append((start, i))
            start = None
    if start is not None:
        runs.append((start, len(flags)))
    merged: list[tuple[int, int]] = []
    for a, b in runs:
        if merged and a - merged[-1][1] <= _MAX_GAP:
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    return merged


def _read_meta(path: Path) -> dict:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelLoadError(f"model description not found: {path}") from None
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{path}: not readable JSON ({exc})") from None
    missing = [k for k in ("version", "labels", "max_len", "thresholds", "span_threshold") if k not in meta]
    if missing:
        raise ModelLoadError(f"{path}: missing {', '.join(missing)}")
    if list(meta["labels"]) != [lab.value for lab in _LABELS]:
        raise ModelLoadError(f"{path}: labels {meta['labels']!r}, expected {[lab.value for lab in _LABELS]!r}")
    if any(lab.value not in meta["thresholds"] for lab in _LABELS):
        raise ModelLoadError(f"{path}: thresholds must name every label")
    for key in ("model_only_min", "heard_min"):
        value = meta.get(key)
        values = value.values() if key == "model_only_min" and isinstance(value, dict) else [value]
        if value is not None and not all(_probability(v) for v in values):
            raise ModelLoadError(f"{path}: {key} must be a probability, not {value!r}")
    floors = meta.get("model_only_min")
    if isinstance(floors, dict) and set(floors) != {lab.value for lab in _LABELS}:
        raise ModelLoadError(f"{path}: model_only_min must name every label, not {sorted(floors)}")
    families = {c.value for c in RuleCategory}
    for key, value in meta.get("veto_below", {}).items():
        if key not in families or not _probability(value):
            raise ModelLoadError(f"{path}: veto_below[{key!r}] must name a rule category and a probability")
    return meta


def _per_label(value: float | dict | None) -> dict[Label, float] | None:
    """A floor for every label, or one per label (the card may give either)."""
    if value is None:
        return None
    if isinstance(value, dict):
        return {lab: float(value[lab.value]) for lab in _LABELS}
    return dict.fromkeys(_LABELS, float(value))


def _probability(value: object) -> bool:
    return isinstance(value, (int, float)) and 0.0 <= value <= 1.0


def _load_tokenizer(path: Path):
    from tokenizers import Tokenizer

    if not path.is_file():
        raise ModelLoadError(f"tokenizer not found: {path}")
    try:
        return Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises a bare Exception on a bad file
        raise ModelLoadError(f"{path}: not a valid tokenizer ({exc})") from None


def _load_session(path: Path, threads: int):
    import onnxruntime as ort

    if not path.is_file():
        raise ModelLoadError(f"model not found: {path}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidProtobuf types
        raise ModelLoadError(f"{path}: onnxruntime cannot load it ({exc})") from None
    names = {i.name for i in session.get_inputs()}
    if names != {"input_ids", "attention_mask"}:
        raise ModelLoadError(f"{path}: inputs {sorted(names)}, expected attention_mask and input_ids")
    return session
