"""`pykatib validate` driven as a user would: a real process, real files, exit codes and output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from e2e_support import KATIB_EXAMPLES, KATIB_REJECTED, SEED
from tests_support import base_experiment


def pykatib(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pykatib.cli", *args], capture_output=True, text=True, timeout=timeout)


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


def test_katib_examples_validate_or_exit_1_with_their_listed_errors() -> None:
    examples = sorted(p.relative_to(KATIB_EXAMPLES).as_posix() for p in KATIB_EXAMPLES.rglob("*.yaml"))
    valid = [str(KATIB_EXAMPLES / e) for e in examples if e not in KATIB_REJECTED]
    assert len(valid) == len(examples) - len(KATIB_REJECTED) > 0
    result = pykatib("validate", "-o", "none", *valid)
    assert result.returncode == 0, result.stderr
    result = pykatib("validate", "-o", "none", *(str(KATIB_EXAMPLES / e) for e in KATIB_REJECTED))
    assert result.returncode == 1
    for example, errors in KATIB_REJECTED.items():
        count = f"{len(errors)} error" + ("s" if len(errors) > 1 else "")
        block = f"{KATIB_EXAMPLES / example}: invalid experiment ({count}):\n" + "".join(f"  - {e}\n" for e in errors)
        assert block in result.stderr
    assert "Traceback" not in result.stderr


def laughs_file(path: Path, levels: int = 9) -> Path:
    """A valid experiment with a 'billion laughs' in its trial's annotations: a file under 2 KB whose aliases
    stand for 10**levels strings (a trialSpec is any Kubernetes object, walked whole for placeholders)."""
    chain = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    chain += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, levels)]
    bomb = "      metadata:\n        annotations:\n" + "".join(f"          {line}\n" for line in chain)
    text = yaml.safe_dump(base_experiment(), sort_keys=False)
    path.write_text(text.replace("      kind: Job\n", "      kind: Job\n" + bomb, 1))
    return path


def test_alias_bomb_is_refused_at_once(tmp_path: Path) -> None:
    """It used to expand without bound (hundreds of MB, still growing after a minute)."""
    path = laughs_file(tmp_path / "laughs.yaml")
    assert "&l8" in path.read_text() and path.stat().st_size < 2000
    result = pykatib("validate", str(path), timeout=30)
    assert result.returncode == 1, result.stderr
    assert "YAML aliases expand the document too far" in result.stderr
    assert "Traceback" not in result.stderr
    assert pykatib("validate", str(laughs_file(path, levels=3))).returncode == 0  # a few aliases are fine


def test_oversized_file_is_refused_with_its_size_and_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(SEED.read_text() + "# padding\n" * 400_000)  # 4,000,000 bytes more
    size = path.stat().st_size
    result = pykatib("validate", str(path), timeout=30)
    assert result.returncode == 1
    assert f"file is {size:,} bytes: an Experiment file may have at most 3,145,728 bytes (3 MiB" in result.stderr


def test_an_endless_file_is_not_read_to_its_end() -> None:
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero here")
    result = pykatib("validate", "/dev/zero", timeout=30)
    assert result.returncode == 1
    assert "file is more than 3,145,728 bytes" in result.stderr and "Traceback" not in result.stderr
