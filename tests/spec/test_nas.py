"""spec.nasConfig is checked when the experiment is validated (``pykatib validate``, the server's create), as
Katib's enas and darts services check it when they start; and a good one still validates.

Katib's enas service (ValidateAlgorithmSettings):

    if not graph_config.input_sizes:
        return self.SetValidateContextError(context, "Missing InputSizes in GraphConfig:\\n{}".format(graph_config))
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from e2e_support import KATIB_EXAMPLES
from pykatib.spec.loader import load_document
from pykatib.spec.models import NasConfig, ParameterSpec
from pykatib.spec.nas import MAX_ENAS_OPERATIONS, darts_errors, enas_errors, nas_errors, parameter_values

ENAS_CPU = KATIB_EXAMPLES / "nas" / "enas-cpu.yaml"
DARTS_CPU = KATIB_EXAMPLES / "nas" / "darts-cpu.yaml"


def _doc(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(path.read_text())
    return doc


def _errors(doc: dict[str, Any]) -> list[str]:
    return [str(e) for e in load_document(doc, source="test", index=0, config_maps={}).errors]


def _pykatib(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pykatib.cli", *args], capture_output=True, text=True, timeout=60)


def _int_parameter(low: str, high: str, step: str | None = None) -> dict[str, Any]:
    space = {"min": low, "max": high} | ({"step": step} if step else {})
    return {"name": "filter_size", "parameterType": "int", "feasibleSpace": space}


def _enas(*parameters: dict[str, Any], num_layers: int = 1) -> NasConfig:
    return NasConfig.model_validate(
        {
            "graphConfig": {"numLayers": num_layers, "inputSizes": [32], "outputSizes": [10]},
            "operations": [{"operationType": "convolution", "parameters": list(parameters)}],
        }
    )


def test_the_katib_nas_examples_validate() -> None:
    for example in ("enas-cpu.yaml", "enas-gpu.yaml", "darts-cpu.yaml", "darts-gpu.yaml"):
        assert _errors(_doc(KATIB_EXAMPLES / "nas" / example)) == [], example


def test_a_bad_enas_nas_config_is_refused_with_the_other_errors() -> None:
    doc = _doc(ENAS_CPU)
    del doc["spec"]["nasConfig"]["graphConfig"]["inputSizes"]
    pool_size = doc["spec"]["nasConfig"]["operations"][3]["parameters"][1]
    pool_size.update(parameterType="double", feasibleSpace={"min": "2", "max": "3"})  # a double needs a step
    doc["spec"]["maxFailedTrialCount"] = 100  # more than maxTrialCount: errors accumulate
    assert _errors(doc) == [
        "spec.maxFailedTrialCount: should be less than or equal to spec.maxTrialCount (100 > 3)",
        "spec.nasConfig.graphConfig.inputSizes: Missing InputSizes in GraphConfig",
        "spec.nasConfig.operations[3].parameters[1].feasibleSpace: "
        "Step parameter should be > 0 in ParameterConfig.feasibleSpace",
    ]


def test_a_bad_darts_nas_config_is_refused_naming_the_field() -> None:
    doc = _doc(DARTS_CPU)
    doc["spec"]["nasConfig"]["operations"][0]["parameters"][0]["feasibleSpace"] = {"min": "1", "max": "3"}
    doc["spec"]["nasConfig"]["operations"][0]["parameters"][0]["parameterType"] = "int"
    del doc["spec"]["nasConfig"]["graphConfig"]["numLayers"]
    assert _errors(doc) == [
        "spec.nasConfig.graphConfig.numLayers: darts needs the number of layers",
        "spec.nasConfig.operations[0].parameters[0].feasibleSpace.list: darts names the operation by the values "
        "of its first parameter's list (the filter sizes)",
    ]


def test_each_nas_algorithm_has_its_own_checks() -> None:
    # An int range of filter sizes: fine for ENAS, not for DARTS (it names the operation by a list's values).
    config = _enas(_int_parameter("1", "3"))
    assert enas_errors(config) == nas_errors("enas", config) == []
    assert [e.path for e in nas_errors("darts", config)] == [
        "spec.nasConfig.operations[0].parameters[0].feasibleSpace.list"
    ]
    assert nas_errors("random", config) == []
    assert darts_errors(NasConfig.model_validate(_doc(DARTS_CPU)["spec"]["nasConfig"])) == []


@pytest.mark.parametrize(
    ("parameter", "problem"),
    [
        (_int_parameter("1", "x"), "feasibleSpace: max 'x' is not an integer"),
        (_int_parameter("1", "3", "0"), "feasibleSpace: step must be > 0"),
        ({"name": "rate", "parameterType": "double", "feasibleSpace": {"min": "0", "max": "inf", "step": "1"}},
         "feasibleSpace: max 'inf' is not a finite number"),
        ({"name": "rate", "parameterType": "double", "feasibleSpace": {"min": "0", "max": "1", "step": "1e-9"}},
         f"feasibleSpace: the range holds more than {MAX_ENAS_OPERATIONS} values"),
        ({"name": "size", "parameterType": "categorical"}, "feasibleSpace.list: Missing List in"),
        ({"name": "", "parameterType": "categorical", "feasibleSpace": {"list": ["3"]}},
         "name: Missing Name in ParameterConfig"),
    ],
)  # fmt: skip
def test_a_parameter_without_values_is_named(parameter: dict[str, Any], problem: str) -> None:
    errors = [str(e) for e in enas_errors(_enas(parameter))]
    assert len(errors) == 1 and errors[0].startswith(f"spec.nasConfig.operations[0].parameters[0].{problem}"), errors


def test_a_search_space_the_controller_cannot_take_is_refused_without_being_built() -> None:
    # A trillion candidates: counted, not listed (listing them would not end).
    huge = _enas(_int_parameter("1", "1000000"), _int_parameter("1", "1000000"))
    assert [str(e) for e in enas_errors(huge)] == [
        f"spec.nasConfig.operations: expands into {10**12} candidate operations; at most {MAX_ENAS_OPERATIONS}"
    ]
    assert [str(e) for e in enas_errors(_enas(_int_parameter("5", "3")))] == [
        "spec.nasConfig.operations: no operation has any value to choose"
    ]
    # A double range whose only np.arange value overshoots max has no value either.
    empty = {"name": "rate", "parameterType": "double", "feasibleSpace": {"min": "1", "max": "0.5", "step": "1"}}
    assert parameter_values(ParameterSpec.model_validate(empty)) == []
    assert [e.message for e in enas_errors(_enas(empty))] == ["no operation has any value to choose"]
    assert [str(e) for e in enas_errors(_enas(_int_parameter("1", "3"), num_layers=-1))] == [
        "spec.nasConfig.graphConfig.numLayers: must be between 1 and 1000"
    ]


def test_pykatib_validate_names_the_field_of_a_bad_nas_config(tmp_path: Path) -> None:
    doc = _doc(ENAS_CPU)
    del doc["spec"]["nasConfig"]["graphConfig"]["inputSizes"]
    bad = tmp_path / "enas-bad.yaml"
    bad.write_text(yaml.safe_dump(doc))
    result = _pykatib("validate", "-o", "none", str(bad))
    assert result.returncode == 1, result.stderr
    assert "spec.nasConfig.graphConfig.inputSizes: Missing InputSizes in GraphConfig" in result.stderr
    assert "Traceback" not in result.stderr
    good = _pykatib("validate", "-o", "none", str(ENAS_CPU), str(DARTS_CPU))
    assert good.returncode == 0, good.stderr
    assert "valid experiment 'enas-cpu'" in good.stderr and "valid experiment 'darts-cpu'" in good.stderr
