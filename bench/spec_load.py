"""Loading Experiment files: a big legal file, a file over the size limit, and an alias bomb, through
``pykatib validate`` against the bare work of parsing the same text with PyYAML (no checks).

    .venv/bin/python bench/spec_load.py [--values 150000] [--repeat 3]

1. A legal file of about 2.7 MB (Katib's random example with a categorical parameter of VALUES values):
   the whole ``pykatib validate`` command (load with bounds, defaults, validation) against
   ``yaml.safe_load`` of the same text in process (PyYAML's pure-Python loader, what pykatib used before)
   and ``yaml.load(..., CSafeLoader)`` (libyaml). Printed as seconds and ratios.
2. A 50 MB file (over the 3 MiB limit) and a 1.3 KB file with a 9-level alias bomb: the command's time to
   refuse each (before the bounds, the first took about 45 s and the second never finished).
Everything runs on this machine, one after the other; each figure is the best of REPEAT runs.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "katib" / "hp-tuning" / "random.yaml"


def with_list(values: int, width: int = 8) -> str:
    """Katib's random example with one more parameter: a categorical list of ``values`` strings."""
    doc = yaml.safe_load(EXAMPLE.read_text())
    values_list = [f"v{i:0{width}d}" for i in range(values)]
    doc["spec"]["parameters"].append(
        {"name": "opt", "parameterType": "categorical", "feasibleSpace": {"list": values_list}}
    )
    template = doc["spec"]["trialTemplate"]
    template["trialParameters"].append({"name": "opt", "reference": "opt"})
    template["trialSpec"]["spec"]["template"]["spec"]["containers"][0]["command"].append("--opt=${trialParameters.opt}")
    return yaml.safe_dump(doc, sort_keys=False)


def alias_bomb(levels: int = 9) -> str:
    """Katib's random example whose Job carries annotations of 10**levels strings, written with aliases."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, levels)]
    annotations = "\n".join("          " + line for line in lines)
    return EXAMPLE.read_text().replace(
        "      kind: Job\n", f"      kind: Job\n      metadata:\n        annotations:\n{annotations}\n"
    )


def best(repeat: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def validate(path: Path, timeout: float = 120) -> tuple[float, int, str]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pykatib.cli", "validate", "-o", "none", str(path)],
                          capture_output=True, text=True, timeout=timeout, check=False)  # fmt: skip
    return time.perf_counter() - start, proc.returncode, proc.stderr.strip().splitlines()[-1][:150]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--values", type=int, default=150_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pykatib-bench-") as tmp:
        big = Path(tmp) / "big.yaml"
        text = with_list(args.values)
        big.write_text(text)
        print(f"legal file: {len(text.encode()):,} bytes, {args.values:,} categorical values")
        pure = best(args.repeat, lambda: yaml.safe_load(text))
        fast = best(args.repeat, lambda: yaml.load(text, Loader=yaml.CSafeLoader))
        command = min(validate(big)[0] for _ in range(args.repeat))
        print(f"  yaml.safe_load (pure Python)      {pure:7.2f} s")
        print(f"  yaml.load, CSafeLoader (libyaml)  {fast:7.2f} s")
        print(f"  pykatib validate (whole command)  {command:7.2f} s   ratio to safe_load {command / pure:5.2f}, "
              f"to CSafeLoader {command / fast:5.2f}")  # fmt: skip
        huge = Path(tmp) / "huge.yaml"
        huge.write_text(with_list(2_700_000, 10))
        seconds, code, line = validate(huge)
        print(f"file of {huge.stat().st_size:,} bytes: refused in {seconds:.2f} s (exit {code}): {line}")
        bomb = Path(tmp) / "bomb.yaml"
        bomb.write_text(alias_bomb())
        seconds, code, line = validate(bomb)
        print(f"alias bomb of {bomb.stat().st_size:,} bytes: refused in {seconds:.2f} s (exit {code}): {line}")


if __name__ == "__main__":
    main()
