"""`pykatib validate` driven as a user would: a real process, real files, exit codes and output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "examples" / "seed-experiment.yaml"


def pykatib(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pykatib.cli", *args], capture_output=True, text=True, timeout=60)


def test_valid_file_prints_defaulted_yaml() -> None:
    result = pykatib("validate", str(SEED))
    assert result.returncode == 0, result.stderr
    doc = yaml.safe_load(result.stdout)
    assert doc["apiVersion"] == "kubeflow.org/v1beta1"
    assert doc["spec"]["resumePolicy"] == "LongRunning"
    assert doc["spec"]["parameters"][0]["feasibleSpace"]["distribution"] == "uniform"
    assert "valid experiment 'tfjob-example'" in result.stderr


def test_json_output() -> None:
    result = pykatib("validate", "-o", "json", str(SEED))
    assert result.returncode == 0
    assert json.loads(result.stdout)["metadata"]["name"] == "tfjob-example"


def test_invalid_file_exits_1_with_paths(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(SEED.read_text().replace('min: "100"', 'min: "300"'))
    result = pykatib("validate", str(SEED), str(bad))
    assert result.returncode == 1
    assert "spec.parameters[1].feasibleSpace.min: min (300) must be less than max (200)" in result.stderr
    assert "Traceback" not in result.stderr
    assert yaml.safe_load(result.stdout)["metadata"]["name"] == "tfjob-example"  # the valid one is still printed


def test_unreadable_file_exits_2(tmp_path: Path) -> None:
    result = pykatib("validate", str(tmp_path / "nope.yaml"))
    assert result.returncode == 2
    assert "nope.yaml" in result.stderr and "Traceback" not in result.stderr


def test_bad_usage_exits_2() -> None:
    assert pykatib("validate").returncode == 2
    assert pykatib("validate", "-o", "xml", str(SEED)).returncode == 2


def test_katib_invalid_example_exits_1(tmp_path: Path) -> None:
    shared = ROOT.parent / "shared" / "katib-examples"
    if not shared.is_dir():
        pytest.skip(f"{shared} not present: Katib's examples live in the project's shared/ folder")
    result = pykatib("validate", str(shared / "invalid-experiment.yaml"))
    assert result.returncode == 1
    assert "invalid-algorithm" in result.stderr
    every = [str(p) for p in sorted(shared.rglob("*.yaml")) if p.name != "invalid-experiment.yaml"]
    result = pykatib("validate", "-o", "none", *every)
    assert result.returncode == 0, result.stderr
