"""The scoring service under load, beside a trivial FastAPI endpoint served the same way in the same run.

Each server is a separate `uvicorn` process (ours through `moderation serve`); the load generator is
another process: wrk with a Lua script when it is installed (`apt-get install -y wrk`), else a
small asyncio HTTP/1.1 client. Fixed concurrency, realistic 5–40-character segments, loopback only, bounded
in time. `python -m bench.run service`.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from fastapi import FastAPI
from pydantic import BaseModel

CONCURRENCY = 32
WARMUP_SECONDS = 2
SECONDS = int(os.environ.get("BENCH_SECONDS", "4"))  # per round and endpoint
ROUNDS = 3  # endpoints take turns, so a neighbour's load on the machine hits them alike
WORKERS = int(os.environ.get("BENCH_WORKERS", "1"))
TARGET_SHARE = 0.40
TARGET_P99_MS = 50.0

# What streamers say, as ASR hands it over: mostly clean, some with claims or contact handles.
SEGMENTS = [
    "家人们晚上好",
    "欢迎新进直播间的宝宝",
    "今天这款面霜给大家讲一下",
    "先点个关注不迷路",
    "这个颜色特别显白",
    "上身效果大家看一下",
    "质地很清爽，不油腻",
    "三号链接已经上架了",
    "库存不多了，手慢无",
    "这款保温杯可以保温十二个小时",
    "我们家的蜂蜜是山里的土蜂蜜",
    "今天直播间下单有赠品",
    "尺码偏小的建议拍大一码",
    "主播自己也一直在用",
    "这个价格真的很划算",
    "有问题可以在评论区问我",
    "发货是从杭州仓发的",
    "七天无理由退换货",
    "这件外套是羊毛的，很暖和",
    "小黄车里点进去就能看到",
    "今天给大家带来一款新品",
    "宝宝们想看哪个颜色扣一",
    "这个口红薄涂厚涂都好看",
    "米是今年的新米",
    "大家注意看一下成分表",
    "这个面霜是全网最好的",
    "用了能根治痘痘",
    "全网最低价，错过就没有了",
    "加我薇信，给你们发优惠",
    "三天美白，永不反弹",
    "医生都在用的牙膏",
    "这个茶喝了能降血压",
    "想要的私下交易更便宜",
    "我的电话是一三八零零一三八零零零",
    "国家级认证的产品",
    "一次见效，百分百有效",
    "扣扣号发在评论区了",
    "这个精华能祛斑祛痘",
    "吃了这个保健品再也不生病",
    "专家推荐的，放心买",
]
assert all(5 <= len(s) <= 40 for s in SEGMENTS), [s for s in SEGMENTS if not 5 <= len(s) <= 40]

STREAMS = 200  # stream ids the segment load is spread over


class EchoBody(BaseModel):
    text: str
    kind: str = "transcript"
    category: str = "other"


def trivial_app() -> FastAPI:
    """The baseline: the same JSON body parsed by the same kind of model, a constant answer."""
    app = FastAPI()

    @app.post("/v1/echo")
    async def echo(body: EchoBody) -> dict[str, object]:
        return {"id": None, "labels": [], "action": "pass", "length": len(body.text)}

    return app


@dataclass
class Figures:
    name: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, process: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early: {log.read_text()[-1500:]}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server did not start: {log.read_text()[-1500:]}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def _model_present() -> bool:
    from moderation.settings import DEFAULT_MODEL_DIR

    return (DEFAULT_MODEL_DIR / "model.onnx").exists()


def _bodies(kind: str) -> list[tuple[str, str]]:
    """(path, JSON body) pairs the load generator cycles through."""
    rng = random.Random(7)
    out = []
    for i in range(400):
        text = rng.choice(SEGMENTS)
        if kind == "moderate":
            out.append(
                ("/v1/moderate", json.dumps({"text": text, "category": "cosmetics"}, ensure_ascii=False))
            )
        elif kind == "segments":
            path = f"/v1/streams/bench-{i % STREAMS}/segments"
            out.append(
                (path, json.dumps({"text": text, "start": i * 2.0, "end": i * 2.0 + 1.8}, ensure_ascii=False))
            )
        else:
            out.append(("/v1/echo", json.dumps({"text": text}, ensure_ascii=False)))
    return out


# -- load generators -------------------------------------------------------------------------------


def _wrk(base: str, bodies: list[tuple[str, str]], seconds: int, tmp: Path) -> Figures:
    entries = ",\n".join(f"  {{[==[{path}]==], [==[{body}]==]}}" for path, body in bodies)
    script = tmp / "load.lua"
    script.write_text(
        textwrap.dedent(
            """\
            local bodies = {
            %s
            }
            local i = 0
            wrk.method = "POST"
            wrk.headers["Content-Type"] = "application/json"
            request = function()
              i = i %% #bodies + 1
              return wrk.format(nil, bodies[i][1], nil, bodies[i][2])
            end
            done = function(summary, latency, requests)
              local errors = summary.errors.status + summary.errors.connect + summary.errors.read
                + summary.errors.write + summary.errors.timeout
              io.write(string.format("RESULT %%d %%f %%f %%f %%d\\n", summary.requests, summary.duration / 1e6,
                latency:percentile(50) / 1000, latency:percentile(99) / 1000, errors))
            end
            """
        )
        % entries,
        encoding="utf-8",
    )
    out = subprocess.run(
        ["wrk", "-t1", f"-c{CONCURRENCY}", f"-d{seconds}s", "--timeout", "5s", "-s", str(script), base],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("RESULT"))
    n, secs, p50, p99, errors = line.split()[1:]
    return Figures("", int(n), float(secs), float(p50), float(p99), int(errors))


# Without wrk: a plain asyncio HTTP/1.1 client on keep-alive connections (an httpx client spent
# more CPU than the servers it was measuring on two cores).
_ASYNC_CLIENT = """
import asyncio, json, sys, time
host, port, seconds, concurrency = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
requests = [
    (f"POST {path} HTTP/1.1\\r\\nHost: {host}\\r\\nContent-Type: application/json\\r\\n"
     f"Content-Length: {len(body.encode())}\\r\\n\\r\\n").encode() + body.encode()
    for path, body in json.load(sys.stdin)
]
async def main():
    latencies, errors, counter = [], 0, [0]
    stop = time.perf_counter() + seconds
    async def worker():
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, port)
        while time.perf_counter() < stop:
            request = requests[counter[0] % len(requests)]
            counter[0] += 1
            began = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\\r\\n\\r\\n")
            length = next(int(line.split(b":")[1]) for line in head.split(b"\\r\\n")
                          if line.lower().startswith(b"content-length"))
            await reader.readexactly(length)
            if not head.startswith(b"HTTP/1.1 2"):
                errors += 1
            latencies.append(time.perf_counter() - began)
        writer.close()
    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    latencies.sort()
    pct = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000
    print("RESULT", len(latencies), elapsed, pct(0.50), pct(0.99), errors)
asyncio.run(main())
"""


def _asyncio_client(base: str, bodies: list[tuple[str, str]], seconds: int, tmp: Path) -> Figures:
    host, port = base.removeprefix("http://").split(":")
    out = subprocess.run(
        [sys.executable, "-c", _ASYNC_CLIENT, host, port, str(seconds), str(CONCURRENCY)],
        input=json.dumps(bodies, ensure_ascii=False),
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("RESULT"))
    n, secs, p50, p99, errors = line.split()[1:]
    return Figures("", int(n), float(secs), float(p50), float(p99), int(errors))


def _use_wrk() -> bool:
    return os.environ.get("BENCH_GENERATOR", "wrk") == "wrk" and shutil.which("wrk") is not None


def _generator():  # noqa: ANN202
    return _wrk if _use_wrk() else _asyncio_client


def _rounds(targets: list[tuple[str, str, str]], tmp: Path) -> list[Figures]:
    """Warm every target up, then run ROUNDS rounds in turn; sum the counts, take the median
    round's percentiles."""
    generate = _generator()
    bodies = {kind: _bodies(kind) for _, _, kind in targets}
    for _, base, kind in targets:
        generate(base, bodies[kind], WARMUP_SECONDS, tmp)  # caches, connections, the batcher's threads
    runs: dict[str, list[Figures]] = {name: [] for name, _, _ in targets}
    for _ in range(ROUNDS):
        for name, base, kind in targets:
            runs[name].append(generate(base, bodies[kind], SECONDS, tmp))
    out = []
    for name, _, _ in targets:
        rs = runs[name]
        out.append(
            Figures(
                name,
                sum(r.requests for r in rs),
                sum(r.seconds for r in rs),
                statistics.median(r.p50_ms for r in rs),
                statistics.median(r.p99_ms for r in rs),
                sum(r.errors for r in rs),
            )
        )
    return out


# -- the run ---------------------------------------------------------------------------------------


def measure() -> tuple[list[Figures], dict[str, str]]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-service-"))
    rules_only = not _model_present() or os.environ.get("BENCH_RULES_ONLY") == "1"
    env = {**os.environ, "MODERATION_DATA_DIR": str(tmp)}
    env.pop("MODERATION_REDIS_URL", None)
    servers: list[subprocess.Popen] = []
    try:
        trivial_port, our_port = _free_port(), _free_port()
        common = ["--host", "127.0.0.1", "--workers", str(WORKERS)]
        trivial_log, our_log = tmp / "trivial.log", tmp / "ours.log"
        trivial = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "bench.service:trivial_app",
                "--factory",
                "--port",
                str(trivial_port),
            ]
            + common
            + ["--no-access-log", "--log-level", "warning"],
            stdout=subprocess.DEVNULL,
            stderr=trivial_log.open("wb"),
            env=env,
        )
        servers.append(trivial)
        ours = subprocess.Popen(
            [sys.executable, "-m", "moderation", "serve", "--port", str(our_port), "--log-level", "warning"]
            + common
            + (["--rules-only"] if rules_only else []),
            stdout=subprocess.DEVNULL,
            stderr=our_log.open("wb"),
            env=env,
        )
        servers.append(ours)
        _wait(f"http://127.0.0.1:{trivial_port}/docs", trivial, trivial_log)
        _wait(f"http://127.0.0.1:{our_port}/readyz", ours, our_log)
        status = httpx.get(f"http://127.0.0.1:{our_port}/readyz").json()
        figures = _rounds(
            [
                ("trivial FastAPI endpoint", f"http://127.0.0.1:{trivial_port}", "trivial"),
                ("`POST /v1/moderate`", f"http://127.0.0.1:{our_port}", "moderate"),
                ("`POST /v1/streams/{id}/segments`", f"http://127.0.0.1:{our_port}", "segments"),
            ],
            tmp,
        )
    finally:
        for process in servers:
            _stop(process)
        shutil.rmtree(tmp, ignore_errors=True)
    info = {
        "layers": ", ".join(status["layers"]),
        "model_version": str(status["model_version"]),
        "generator": "wrk -t1 (Lua script)"
        if _use_wrk()
        else "a Python asyncio HTTP/1.1 client (wrk not installed)",
    }
    return figures, info


def run() -> str:
    figures, info = measure()
    trivial = figures[0]
    lines = [
        "### Service under load",
        "",
        f"{CONCURRENCY} concurrent clients; {ROUNDS} rounds of {SECONDS} s per endpoint, taking turns, "
        f"after {WARMUP_SECONDS} s of warm-up each (p50/p99: the median round's); "
        f"load from {info['generator']} in its own process; each server one uvicorn process "
        f"with {WORKERS} worker(s), logs at warning; {len(SEGMENTS)} segments of 5–40 characters, "
        f"stream segments spread over {STREAMS} streams. Layers: {info['layers']} "
        f"(model {info['model_version']}).",
        "",
        "| endpoint | requests/s | share of trivial | p50 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for f in figures:
        lines.append(
            f"| {f.name} | {f.rps:,.0f} | {f.rps / trivial.rps:.0%} | {f.p50_ms:.1f} | {f.p99_ms:.1f} | {f.errors} |"
        )
    moderate = figures[1]
    met = moderate.rps >= TARGET_SHARE * trivial.rps and moderate.p99_ms <= TARGET_P99_MS
    lines += [
        "",
        f"Target for `/v1/moderate`: ≥ {TARGET_SHARE:.0%} of the trivial endpoint's throughput with "
        f"p99 ≤ {TARGET_P99_MS:.0f} ms: **{'met' if met else 'NOT met'}** "
        f"({moderate.rps / trivial.rps:.0%}, p99 {moderate.p99_ms:.1f} ms).",
    ]
    if "model" not in info["layers"]:
        lines.append("Rule layer only (no shipped model, or BENCH_RULES_ONLY=1).")
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())
