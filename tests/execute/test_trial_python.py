"""The Python a trial sees (``execute.trial_venv``): one virtual environment per experiment, on top of
pykatib's packages, created once however many trials start at once; python, pip and torchrun resolve there,
and what pip installs lands there, one pip at a time, never in the Python running pykatib."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import pykatib
from e2e_support import end_condition, make_experiment, run_pykatib, trial_dir, trials_of, write_experiment
from pykatib.control.launch import prepare_trial
from pykatib.execute.localize import ImageMap
from pykatib.execute.trial_venv import STAMP_FILE, TrialVenv
from pykatib.execute.venv_hook import LOCK_ENV, PIP_LOCK_FILE, runs_pip
from pykatib.spec.loader import parse_experiment
from pykatib.store import experiment_dir
from wheel_support import build_wheel, simple_index

PYKATIB_PYTHON = sys.executable


def venv_python(venv: TrialVenv, code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv.python), "-c", textwrap.dedent(code)],
        env={**venv.environ(os.environ), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> TrialVenv:
    return TrialVenv.of_experiment(tmp_path_factory.mktemp("experiment")).ensure()


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["python", "-m", "pip", "install", "x"], True),
        (["python3", "-u", "-m", "pip"], True),
        (["python", "-um", "pip"], True),
        (["python", "-mpip"], True),
        (["python", "-W", "ignore", "-m", "pip"], True),
        (["/venv/bin/python", "/venv/bin/pip", "install"], True),
        (["python", "/x/pip3.11", "list"], True),
        (["python", "-m", "pipx"], False),
        (["python", "-m", "json.tool", "pip"], False),
        (["python", "-c", "import pip", "-m", "pip"], False),
        (["python", "-uc", "x"], False),
        (["python", "train.py", "-m", "pip"], False),
        (["python", "/x/pip-compile"], False),
        (["python"], False),
    ],
)
def test_which_command_lines_run_pip(argv: list[str], expected: bool) -> None:
    assert runs_pip(argv) is expected


def test_created_once_however_many_trials_start_at_once(tmp_path: Path) -> None:
    venv = TrialVenv.of_experiment(tmp_path)
    # Threads of this process and other processes, all at once: one creates, the others wait and reuse it.
    # Each leaves a mark in the environment once it has it: making it again would wipe the earlier marks.
    code = "import sys; from pathlib import Path; from pykatib.execute.trial_venv import TrialVenv; "
    code += "v = TrialVenv(Path(sys.argv[1])).ensure(); (v.root / sys.argv[2]).touch()"
    processes = [subprocess.Popen([PYKATIB_PYTHON, "-c", code, str(venv.root), f"mark-p{i}"]) for i in range(4)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: (venv.ensure().root / f"mark-t{i}").touch(), range(8)))
    assert [process.wait(timeout=120) for process in processes] == [0] * 4
    marks = sorted(p.name for p in venv.root.glob("mark-*"))
    assert marks == sorted([*(f"mark-p{i}" for i in range(4)), *(f"mark-t{i}" for i in range(8))])
    assert venv.ready() and venv.python.exists()


def test_made_again_for_another_pykatib_python(tmp_path: Path) -> None:
    venv = TrialVenv.of_experiment(tmp_path).ensure()
    (venv.root / "mark").touch()
    assert (venv.ensure().root / "mark").exists()  # kept, and cheap, while it is current
    (venv.root / STAMP_FILE).write_text("another python\n")
    assert not venv.ready()
    assert not (venv.ensure().root / "mark").exists()
    assert venv.ready()


def test_pykatib_changed_but_not_its_python_keeps_what_trials_installed(tmp_path: Path) -> None:
    """Found in review: a pykatib upgrade followed by --resume removed the packages running trials import."""
    venv = TrialVenv.of_experiment(tmp_path).ensure()
    installed = venv.site_packages / "installed_by_a_trial.py"
    installed.write_text("VALUE = 1\n")
    stamp = venv.root / STAMP_FILE
    first, second, _ = stamp.read_text().split("\n", 2)
    stamp.write_text(f"{first}\n{second}\nan older pykatib's site directories\n")
    assert not venv.ready()
    assert venv.ensure().ready()
    assert installed.exists()
    done = subprocess.run([str(venv.python), "-c", "import installed_by_a_trial, yaml"], capture_output=True)
    assert done.returncode == 0, done.stderr


def test_its_python_is_the_environment_over_pykatibs_packages(venv: TrialVenv) -> None:
    shown = venv_python(
        venv,
        """
        import shutil, sys, pykatib, yaml
        print(sys.prefix)
        print(pykatib.__file__)
        print(*(shutil.which(n) for n in ("python", "python3", "pip", "pip3", "torchrun")))
        """,
    ).stdout.splitlines()
    assert shown[0] == str(venv.root)
    assert Path(shown[1]).resolve() == Path(pykatib.__file__).resolve()  # pykatib's own packages
    assert shown[2].split() == [str(venv.bin_dir / n) for n in ("python", "python3", "pip", "pip3", "torchrun")]
    pip = subprocess.run([str(venv.bin_dir / "pip"), "--version"], capture_output=True, text=True, check=True)
    assert "pip " in pip.stdout


def test_pip_installs_into_the_environment_first_in_line(venv: TrialVenv, tmp_path: Path) -> None:
    # A module named like one of pykatib's own (yaml): installed here, it comes before pykatib's copy.
    wheels = [build_wheel(tmp_path / "dist", "yaml", "99.0", "ORIGIN = 'trial environment'\n")]
    index = simple_index(tmp_path / "index", wheels)
    subprocess.run(
        [str(venv.bin_dir / "pip"), "install", "--quiet", "--index-url", index, "yaml"],
        env=venv.environ(os.environ),
        check=True,
        timeout=120,
    )
    shown = venv_python(venv, "import yaml; print(yaml.ORIGIN, yaml.__file__)").stdout.split()
    assert shown[:2] == ["trial", "environment"]
    assert Path(shown[2]).is_relative_to(venv.site_packages)
    mine = subprocess.run([PYKATIB_PYTHON, "-c", "import yaml; print(yaml.__file__)"], capture_output=True, text=True)
    assert not Path(mine.stdout.strip()).is_relative_to(venv.root)  # pykatib's PyYAML is untouched


def test_pip_runs_one_at_a_time(venv: TrialVenv, tmp_path: Path) -> None:
    # A stand-in pip (a script named pip, run by the environment's python) that waits while holding the lock;
    # its own child pip must not wait for it (pip starts pythons of its own).
    pip = tmp_path / "pip"
    pip.write_text(
        textwrap.dedent(
            f"""
            import os, subprocess, sys
            child = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True, text=True)
            print(os.environ.get({LOCK_ENV!r}), child.returncode, flush=True)
            sys.stdin.readline()
            """
        )
    )
    holder = subprocess.Popen([str(venv.python), str(pip)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdin is not None
    assert holder.stdout.readline().split() == [str(venv.root), "0"]
    with (venv.root / PIP_LOCK_FILE).open("a") as lock:
        with pytest.raises(BlockingIOError):
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        holder.communicate("done\n", timeout=60)
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free once that pip ended


def test_a_trials_python_program_and_path(venv: TrialVenv, tmp_path: Path) -> None:
    doc = make_experiment(["python3", "-c", "print('loss=1')"], name="py")
    launch = prepare_trial(parse_experiment(doc), "py-1", {"x": "1", "y": "a"}, tmp_path / "t", ImageMap(), venv=venv)
    (spec,) = launch.launches
    assert spec.argv[0] == str(venv.python)
    assert spec.env["PATH"].split(os.pathsep)[0] == str(venv.bin_dir)
    assert spec.env["VIRTUAL_ENV"] == str(venv.root)


TRIAL_SCRIPT = """
set -e
for program in python python3 pip pip3 torchrun; do command -v "$program"; done
python -c 'import sys; print("executable", sys.executable)'
if ! [ -x "$(command -v pip)" ]; then echo "no pip: Katib's SDK would run ensurepip here"; exit 3; fi
PIP_DISABLE_PIP_VERSION_CHECK=1 python3 -m pip install --prefer-binary --quiet --no-warn-script-location \
  --index-url "$1" trialprobe
python -u -c 'import trialprobe; print("loss=" + str(trialprobe.LOSS))'
"""


def test_parallel_trials_install_into_their_experiments_environment(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    index = simple_index(tmp_path / "index", [build_wheel(tmp_path / "dist", "trialprobe", "1.0", "LOSS = 0.25\n")])
    doc = make_experiment(["bash", "-c", TRIAL_SCRIPT, "trial", index], name="pip", parallelTrialCount=2,
                          maxTrialCount=2)  # fmt: skip
    rc, status, stderr = run_pykatib(write_experiment(tmp_path, doc), "--workdir", str(workdir))
    assert rc == 0, stderr
    assert status is not None and end_condition(status)[0] == "Succeeded", status
    venv = TrialVenv.of_experiment(experiment_dir(workdir, "default", "pip"))
    trials = trials_of(workdir, "pip")
    assert [t.phase for t in trials] == ["Succeeded", "Succeeded"]
    for trial in trials:
        log = (trial_dir(workdir, "pip", trial.name) / "trial.log").read_text()
        lines = log.splitlines()
        assert lines[:5] == [str(venv.bin_dir / n) for n in ("python", "python3", "pip", "pip3", "torchrun")], log
        assert f"executable {venv.python}" in lines, log
        assert "loss=0.25" in lines, log
    assert (venv.site_packages / "trialprobe.py").is_file()
    mine = subprocess.run([PYKATIB_PYTHON, "-c", "import trialprobe"], capture_output=True, text=True)
    assert mine.returncode != 0  # not in the Python running pykatib
