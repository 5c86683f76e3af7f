"""darts: the three assignments every trial gets, exactly as Katib's darts suggestion service formats them.

Katib's pkg/suggestion/v1beta1/nas/darts/service.py builds them so:

    num_layers = str(nas_config.graph_config.num_layers)
    search_space = get_search_space(nas_config.operations)
    algorithm_settings = get_algorithm_settings(settings_raw)
    search_space_json = json.dumps(search_space)
    algorithm_settings_json = json.dumps(algorithm_settings)
    search_space_str = str(search_space_json).replace('\\"', '\\'')
    algorithm_settings_str = str(algorithm_settings_json).replace('\\"', '\\'')

with get_search_space appending ``opt_type+"_{}x{}".format(filter_size, filter_size)`` for every value of an
operation's first parameter (``skip_connection`` as is), and get_algorithm_settings overwriting its defaults
with ``None if setting.value == "None" else setting.value``. Each request gets ``current_request_number`` copies.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pykatib.spec.conditions import TrialPhase
from pykatib.spec.loader import load_experiment_document
from pykatib.spec.models import AlgorithmSetting, NasConfig
from pykatib.suggest.base import TrialResult
from pykatib.suggest.darts import DartsSuggester, NasConfigError, darts_assignments, search_space
from pykatib.suggest.registry import experiment_suggester

DARTS_CPU = Path(__file__).resolve().parents[2] / "examples" / "katib" / "nas" / "darts-cpu.yaml"

# What Katib's service hands each trial of examples/katib/nas/darts-cpu.yaml (its code above, run by hand).
KATIB_DARTS_CPU = {
    "algorithm-settings": "{'num_epochs': '1', 'w_lr': 0.025, 'w_lr_min': 0.001, 'w_momentum': 0.9, "
    "'w_weight_decay': 0.0003, 'w_grad_clip': 5.0, 'alpha_lr': 0.0003, 'alpha_weight_decay': 0.001, "
    "'batch_size': 128, 'num_workers': 4, 'init_channels': '1', 'print_step': 50, 'num_nodes': '1', "
    "'stem_multiplier': '1'}",
    "search-space": "['max_pooling_3x3']",
    "num-layers": "1",
}


def _nas(operations: list[dict[str, object]], num_layers: int | None = 8) -> NasConfig:
    return NasConfig.model_validate({"graphConfig": {"numLayers": num_layers}, "operations": operations})


def _op(kind: str, sizes: list[str]) -> dict[str, object]:
    parameter = {"name": "filter_size", "parameterType": "categorical", "feasibleSpace": {"list": sizes}}
    return {"operationType": kind, "parameters": [parameter]}


def test_darts_cpu_example_gets_katibs_strings() -> None:
    document = load_experiment_document(DARTS_CPU)
    assert document.experiment is not None
    suggester = experiment_suggester(document.experiment.spec)
    assert isinstance(suggester, DartsSuggester)
    suggestions = suggester.suggest(1, [])
    assert [s.assignment for s in suggestions] == [KATIB_DARTS_CPU]


def test_every_request_gets_the_same_assignments_as_katib_does() -> None:
    # Katib answers current_request_number with that many copies: maxTrialCount > 1 repeats the search.
    document = load_experiment_document(DARTS_CPU)
    assert document.experiment is not None
    suggester = experiment_suggester(document.experiment.spec)
    first = suggester.suggest(2, [])
    done = [TrialResult(f"t{i}", s.assignment, TrialPhase.SUCCEEDED) for i, s in enumerate(first)]
    again = suggester.suggest(3, done)
    assert [s.assignment for s in first + again] == [KATIB_DARTS_CPU] * 5
    assert suggester.state() == {}


def test_search_space_names_as_katib_derives_them() -> None:
    nas = _nas(
        [
            _op("separable_convolution", ["3", "5"]),
            _op("dilated_convolution", ["3"]),
            _op("avg_pooling", ["3"]),
            {"operationType": "skip_connection", "parameters": []},
        ]
    )
    assert search_space(nas) == [
        "separable_convolution_3x3",
        "separable_convolution_5x5",
        "dilated_convolution_3x3",
        "avg_pooling_3x3",
        "skip_connection",
    ]
    assert darts_assignments(nas, [])["search-space"] == (
        "['separable_convolution_3x3', 'separable_convolution_5x5', 'dilated_convolution_3x3', "
        "'avg_pooling_3x3', 'skip_connection']"
    )


def test_settings_keep_katibs_order_strings_and_none() -> None:
    nas = _nas([_op("max_pooling", ["3"])], num_layers=3)
    settings = [AlgorithmSetting(name="batch_size", value="None"), AlgorithmSetting(name="w_lr", value="0.01")]
    assignments = darts_assignments(nas, settings)
    # Defaults keep their place; a given value is the string as written; "None" becomes None, which
    # json.dumps writes as null (Katib's replace of quotes leaves it so).
    assert assignments["algorithm-settings"] == (
        "{'num_epochs': 50, 'w_lr': '0.01', 'w_lr_min': 0.001, 'w_momentum': 0.9, 'w_weight_decay': 0.0003, "
        "'w_grad_clip': 5.0, 'alpha_lr': 0.0003, 'alpha_weight_decay': 0.001, 'batch_size': null, "
        "'num_workers': 4, 'init_channels': 16, 'print_step': 50, 'num_nodes': 4, 'stem_multiplier': 3}"
    )
    assert assignments["num-layers"] == "3"


@pytest.mark.parametrize(
    ("operations", "num_layers", "problem"),
    [
        ([{"operationType": "max_pooling", "parameters": []}], 1, "spec.nasConfig.operations[0].parameters: Missing"),
        ([{"parameters": [{"name": "f", "parameterType": "categorical", "feasibleSpace": {"list": ["3"]}}]}], 1,
         "spec.nasConfig.operations[0].operationType: Missing operationType"),
        ([{"operationType": "convolution", "parameters": [{"name": "f", "parameterType": "int",
                                                            "feasibleSpace": {"min": "1", "max": "3"}}]}], 1,
         "spec.nasConfig.operations[0].parameters[0].feasibleSpace.list: darts names"),
        ([_op("max_pooling", ["3"])], None, "spec.nasConfig.graphConfig.numLayers: darts needs"),
        ([], 1, "spec.nasConfig.operations: darts needs at least one operation"),
    ],
)  # fmt: skip
def test_a_nas_config_katib_refuses_is_refused_naming_the_field(
    operations: list[dict[str, object]], num_layers: int | None, problem: str
) -> None:
    with pytest.raises(NasConfigError) as raised:
        darts_assignments(_nas(operations, num_layers), [])
    assert problem in str(raised.value)


def test_run_refuses_a_bad_nas_config_before_any_trial(tmp_path: Path) -> None:
    # max_pooling's filter sizes: an int range instead of a list (darts names operations by the list's values).
    bad = DARTS_CPU.read_text().replace("parameterType: categorical", "parameterType: int")
    bad = bad.replace('list:\n                - "3"', 'min: "1"\n              max: "3"')
    path = tmp_path / "darts-bad.yaml"
    path.write_text(bad)
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("pykatib")), "run", str(path), "--workdir", str(tmp_path / "work")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "spec.nasConfig.operations[0]" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "work" / "experiments").exists()
