"""Run the benchmarks on one core where they say so and print a markdown record with date and machine.

`python -m bench.run [section …]`; sections: rules, model, service, audit (default: all).
"""

from __future__ import annotations

import datetime
import importlib
import os
import platform
import sys

SECTIONS = ("rules", "model", "service", "audit")


def machine() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


def main(argv: list[str]) -> int:
    wanted = argv or list(SECTIONS)
    unknown = [s for s in wanted if s not in SECTIONS]
    if unknown:
        print(f"unknown section(s) {unknown}; choose from {SECTIONS}", file=sys.stderr)
        return 2
    print(f"## Benchmarks {datetime.date.today().isoformat()} on {machine()}\n")
    for name in wanted:
        section = importlib.import_module(f"bench.{name}")
        print(section.run(), "\n", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
