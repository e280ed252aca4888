"""Train the char-level encoder: a vocabulary from the corpus, a small BERT, two heads, seeded.

Sequence head: two sigmoids (efficacy, diversion) on [CLS]. Token head: two sigmoids per character
marking the violating span of each label. Used by `models.build`; standalone:
`python -m models.train --data models/work/data --out models/work/run`.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers
from torch import nn
from transformers import BertConfig, BertModel

LABELS = ("efficacy", "diversion")
SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]")
# Invisible characters and emoji modifiers that evaders insert; dropped before lookup.
_INVISIBLE = "[\u200b\u200c\u200d\u2060\ufeff\u00ad\ufe0f\u20e3]"


@dataclass(frozen=True)
class TrainConfig:
    layers: int = 3
    hidden: int = 192
    heads: int = 4
    intermediate: int = 768
    max_len: int = 64
    batch: int = 32
    steps: int = 10500
    lr: float = 5e-4
    warmup: float = 0.06
    token_loss_weight: float = 0.5
    dropout: float = 0.1
    min_char_freq: int = 2
    seed: int = 13
    threads: int = 1
    # 0: no cap. A cap keeps `make model` inside its hour on a slow machine, at the cost of
    # stopping at a step that depends on the machine (train.json records it).
    max_minutes: float = 45.0
    # "e5": start from the first `layers` layers of multilingual-e5-small (models/pretrained.py; hidden,
    # heads and intermediate then come from e5); "scratch": random weights of the size above.
    init: str = "scratch"


def build_tokenizer(texts: list[str], *, min_freq: int) -> Tokenizer:
    """Char-level WordLevel tokenizer: NFKC + invisible-strip + lowercase, whitespace dropped."""
    tok = Tokenizer(models.WordLevel({s: i for i, s in enumerate(SPECIALS)}, unk_token="[UNK]"))
    tok.normalizer = normalizers.Sequence(
        [normalizers.NFKC(), normalizers.Replace(Regex(_INVISIBLE), ""), normalizers.Lowercase()]
    )
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Split(Regex("."), behavior="isolated")]
    )
    counts: Counter[str] = Counter()
    for text in texts:
        norm = tok.normalizer.normalize_str(text)
        counts.update(piece for piece, _ in tok.pre_tokenizer.pre_tokenize_str(norm))
    vocab = {s: i for i, s in enumerate(SPECIALS)}
    for ch, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if n >= min_freq and ch not in vocab:
            vocab[ch] = len(vocab)
    tok.model = models.WordLevel(vocab, unk_token="[UNK]")
    return tok


class Net(nn.Module):
    """BERT encoder + sequence head on [CLS] + per-token span head; outputs probabilities."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.bert = BertModel(config, add_pooling_layer=False)
        self.seq_head = nn.Linear(config.hidden_size, len(LABELS))
        self.tok_head = nn.Linear(config.hidden_size, len(LABELS))

    def logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.seq_head(hidden[:, 0]), self.tok_head(hidden)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        seq, tok = self.logits(input_ids, attention_mask)
        return torch.sigmoid(seq), torch.sigmoid(tok)


def _lr_factor(progress: float, warmup: float) -> float:
    """Linear warm-up, then cosine decay to 2% of the peak."""
    if progress < warmup:
        return max(0.01, progress / warmup)
    return max(0.02, 0.5 * (1 + math.cos(math.pi * (progress - warmup) / (1 - warmup))))


def bert_config(cfg: TrainConfig, vocab_size: int) -> BertConfig:
    if cfg.init == "e5" and (cfg.hidden, cfg.heads, cfg.intermediate) != E5_SHAPE:
        raise ValueError(f"init e5 needs hidden, heads, intermediate = {E5_SHAPE}")
    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=cfg.hidden,
        num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads,
        intermediate_size=cfg.intermediate,
        max_position_embeddings=cfg.max_len,
        type_vocab_size=1,
        hidden_dropout_prob=cfg.dropout,
        attention_probs_dropout_prob=cfg.dropout,
        pad_token_id=0,
        layer_norm_eps=1e-12,
    )
    config._attn_implementation = "eager"  # exports cleanly to ONNX opset 17
    return config


# multilingual-e5-small's hidden size, attention heads and feed-forward width.
E5_SHAPE = (384, 12, 1536)
_E5_SPECIALS = {"[PAD]": "<pad>", "[UNK]": "<unk>", "[CLS]": "<s>", "[SEP]": "</s>"}


def start_from_e5(net: Net, tok: Tokenizer, *, layers: int, log=print) -> None:
    """Copy multilingual-e5-small's first `layers` layers into `net`, and give each character of our
    vocabulary e5's embedding of that character (its piece when e5 has one, else the mean of the
    pieces e5 cuts it into). The model keeps reading one character per token, so spans stay exact,
    while starting from what e5 learnt of Chinese from real text."""
    from models.pretrained import load_e5

    e5, e5_tok = load_e5(layers=layers)
    state = e5.state_dict()
    words = state.pop("embeddings.word_embeddings.weight")
    max_len = net.bert.config.max_position_embeddings
    state["embeddings.position_embeddings.weight"] = state["embeddings.position_embeddings.weight"][:max_len]
    state["embeddings.token_type_embeddings.weight"] = state["embeddings.token_type_embeddings.weight"][:1]
    space = e5_tok.token_to_id("\u2581")
    whole = 0
    with torch.no_grad():
        table = net.bert.embeddings.word_embeddings.weight
        for piece, i in tok.get_vocab().items():
            own = e5_tok.token_to_id(_E5_SPECIALS.get(piece, piece))
            ids = [own] if own is not None else [j for j in e5_tok.encode(piece, add_special_tokens=False).ids
                                                 if j != space]
            whole += own is not None
            if ids:
                table[i] = words[ids].mean(0)
    missing, unexpected = net.bert.load_state_dict(state, strict=False)
    if unexpected or any(not k.endswith(("word_embeddings.weight", "position_ids", "token_type_ids"))
                         for k in missing):
        raise RuntimeError(f"e5 weights do not fit: missing {missing}, unexpected {unexpected}")
    log(f"started from e5 ({layers} layers); {whole} of {tok.get_vocab_size()} characters are e5 pieces")


def encode(tok: Tokenizer, rows: list[dict], max_len: int) -> list[tuple[list[int], list[list[float]], list[float]]]:
    """Rows → (ids with [CLS]/[SEP], per-token span targets, sequence targets); long texts truncated.
    A row without `labels` (the distillation pool) gets sequence targets of -1: only the teacher speaks."""
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    out = []
    encs = tok.encode_batch([r["text"] for r in rows])
    for row, enc in zip(rows, encs, strict=True):
        ids = enc.ids[: max_len - 2]
        offsets = enc.offsets[: max_len - 2]
        tags = [[0.0, 0.0] for _ in ids]
        for span in row["spans"]:
            li = LABELS.index(span["label"])
            for i, (s, e) in enumerate(offsets):
                if s < span["end"] and e > span["start"]:
                    tags[i][li] = 1.0
        seq = [1.0 if lab in row["labels"] else 0.0 for lab in LABELS] if "labels" in row else [-1.0, -1.0]
        out.append(([cls_id, *ids, sep_id], [[0.0, 0.0], *tags, [0.0, 0.0]], seq))
    return out


def batches(data: list, batch: int, rng: random.Random) -> list[list[int]]:
    """Length-bucketed batches in a shuffled order: padding stays small, order stays random."""
    idx = list(range(len(data)))
    rng.shuffle(idx)
    chunk = batch * 50
    out: list[list[int]] = []
    for c in range(0, len(idx), chunk):
        part = sorted(idx[c : c + chunk], key=lambda i: len(data[i][0]))
        out.extend(part[b : b + batch] for b in range(0, len(part), batch))
    rng.shuffle(out)
    return out


def collate(data: list, index: list[int]) -> tuple[torch.Tensor, ...]:
    width = max(len(data[i][0]) for i in index)
    ids = torch.zeros(len(index), width, dtype=torch.long)
    mask = torch.zeros(len(index), width, dtype=torch.long)
    tags = torch.zeros(len(index), width, len(LABELS))
    seq = torch.tensor([data[i][2] for i in index])
    for row, i in enumerate(index):
        n = len(data[i][0])
        ids[row, :n] = torch.tensor(data[i][0])
        mask[row, :n] = 1
        tags[row, :n] = torch.tensor(data[i][1])
    return ids, mask, tags, seq


def read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def train(data_dir: Path, out: Path, cfg: TrainConfig, *, init_from: Path | None = None,
          teacher: Path | None = None, pool: list[dict] | None = None, log=print) -> dict:
    """Train on `data_dir/train.jsonl`; write tokenizer.json, weights.pt, config.json, train.json to `out`.

    `init_from`, a previous run's directory, continues from its weights and vocabulary. `teacher`, a
    run's directory (models/teacher), distils it: the student learns the teacher's probabilities, blended
    with the labels (TEACHER_WEIGHT), on the training rows and on `pool`, unlabelled real text, where
    the teacher's reading is all there is. The student then uses the teacher's vocabulary.
    """
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    out.mkdir(parents=True, exist_ok=True)
    rows = read_jsonl(data_dir / "train.jsonl") + list(pool or ())
    teacher_net = load_net(teacher) if teacher is not None else None
    if init_from is not None or teacher is not None:
        tok = Tokenizer.from_file(str((init_from or teacher) / "tokenizer.json"))
    else:
        tok = build_tokenizer([r["text"] for r in rows], min_freq=cfg.min_char_freq)
    data = encode(tok, rows, cfg.max_len)
    config = bert_config(cfg, tok.get_vocab_size())
    net = Net(config)
    if init_from is not None:
        net.load_state_dict(torch.load(init_from / "weights.pt", weights_only=True))
    elif cfg.init == "e5":
        start_from_e5(net, tok, layers=cfg.layers, log=log)
    tok.save(str(out / "tokenizer.json"))
    params = sum(p.numel() for p in net.parameters())
    log(f"vocab {tok.get_vocab_size()}, {len(data)} examples, {params / 1e6:.2f} M parameters")

    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=0.01)
    bce = nn.BCEWithLogitsLoss(reduction="none")
    rng = random.Random(cfg.seed)
    order: list[list[int]] = []
    net.train()
    t0 = time.monotonic()
    seen = 0
    step = 0
    running = 0.0
    while True:
        # Progress is steps done, or wall-clock time used when a cap is set and the machine is slow,
        # whichever is further: the learning-rate schedule then always completes.
        elapsed = time.monotonic() - t0
        progress = step / cfg.steps
        if cfg.max_minutes:
            by_time = elapsed / (cfg.max_minutes * 60)
            progress = max(progress, by_time)
        if progress >= 1.0:
            break
        for group in opt.param_groups:
            group["lr"] = cfg.lr * _lr_factor(progress, cfg.warmup)
        if not order:
            order = batches(data, cfg.batch, rng)
        ids, mask, tags, seq = collate(data, order.pop())
        if teacher_net is not None:
            seq, tags = _blend(teacher_net, ids, mask, seq, tags)
        seq_logits, tok_logits = net.logits(ids, mask)
        loss_seq = bce(seq_logits, seq).mean()
        tok_loss = (bce(tok_logits, tags).mean(-1) * mask).sum() / mask.sum()
        loss = loss_seq + cfg.token_loss_weight * tok_loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        step += 1
        seen += len(ids)
        running = 0.98 * running + 0.02 * loss.item() if step > 1 else loss.item()
        if step % 100 == 0:
            log(f"step {step}/{cfg.steps} loss {running:.4f} lr {opt.param_groups[0]['lr']:.2e} "
                f"{seen / elapsed:.0f} ex/s {elapsed / 60:.1f} min progress {progress:.3f}")
    stopped_early = step < cfg.steps  # the wall-clock cap, not the step count, ended the schedule
    if stopped_early:
        log(f"wall-clock cap of {cfg.max_minutes} min set the schedule; stopped at step {step}")
    net.eval()
    torch.save(net.state_dict(), out / "weights.pt")
    config.to_json_file(out / "bert_config.json")
    figures = {
        "train_config": asdict(cfg),
        "steps_done": step,
        "examples_seen": seen,
        "train_examples": len(data),
        "train_seconds": round(time.monotonic() - t0, 1),
        "parameters": params,
        "vocab_size": tok.get_vocab_size(),
        "stopped_early": stopped_early,
        "final_loss": round(running, 4),
    }
    (out / "train.json").write_text(json.dumps(figures, indent=1), encoding="utf-8")
    return figures


# In distillation, the teacher's share of a labelled row's target; the rest is the row's label.
TEACHER_WEIGHT = 0.5


def _blend(teacher: Net, ids: torch.Tensor, mask: torch.Tensor, seq: torch.Tensor,
           tags: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Targets for the student: label and teacher blended on labelled rows, the teacher alone on the
    pool (sequence targets of -1)."""
    with torch.no_grad():
        t_seq, t_tok = teacher(ids, mask)
    labelled = (seq[:, :1] >= 0).float()
    own = (1 - TEACHER_WEIGHT) * labelled
    return own * seq.clamp(min=0) + (1 - own) * t_seq, own[:, :, None] * tags + (1 - own[:, :, None]) * t_tok


def load_net(run_dir: Path) -> Net:
    config = BertConfig.from_json_file(run_dir / "bert_config.json")
    config._attn_implementation = "eager"
    net = Net(config)
    # A committed teacher keeps its weights in half precision; load_state_dict widens them.
    net.load_state_dict(torch.load(run_dir / "weights.pt", weights_only=True))
    return net.eval()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=Path("models/work/data"))
    ap.add_argument("--out", type=Path, default=Path("models/work/run"))
    ap.add_argument("--init-from", type=Path, default=None)
    for name, value in asdict(TrainConfig()).items():
        ap.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    args = vars(ap.parse_args())
    data, out, init_from = args.pop("data"), args.pop("out"), args.pop("init_from")
    cfg = TrainConfig(**args)
    figures = train(data, out, cfg, init_from=init_from, log=lambda m: print(m, flush=True))
    if init_from is not None:
        figures["continued_from"] = json.loads((init_from / "train.json").read_text(encoding="utf-8"))
        (out / "train.json").write_text(json.dumps(figures, indent=1), encoding="utf-8")
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
