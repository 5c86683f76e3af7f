"""ENAS's search space and assignment strings against Katib's enas suggestion service (no torch needed).

Katib's Operation.py (pkg/suggestion/v1beta1/nas/enas/) expands each operation into every combination:

    for ispec in opt_spec:
        if ispec.parameter_type == api_pb2.CATEGORICAL:
            avail_space[spec_name] = list(ispec.feasible_space.list)
        elif ispec.parameter_type == api_pb2.INT:
            avail_space[spec_name] = range(spec_min, spec_max+1, spec_step)
        elif ispec.parameter_type == api_pb2.DOUBLE:
            double_list = np.arange(spec_min, spec_max+spec_step, spec_step)
    ...
    for this_opt_vector in itertools.product(*val_avail_space):
        ...
        this_opt_class = Operation(operation_id, opt_type, opt_params)
        operation_id += 1

and its service.py formats each trial's assignments as

    organized_arc_str = str(json.dumps(organized_arc)).replace('\\"', '\\'')
    nn_config_str = str(json.dumps(nn_config)).replace('\\"', '\\'')
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pykatib.spec.loader import load_experiment_document
from pykatib.spec.models import NasConfig
from pykatib.suggest.enas_space import (
    assignment,
    describe_assignment,
    graph,
    nas_config_errors,
    operations,
    organize,
)

ENAS_CPU = Path(__file__).resolve().parents[2] / "examples" / "katib" / "nas" / "enas-cpu.yaml"


def nas(operations_: list[dict[str, Any]], num_layers: int = 1) -> NasConfig:
    return NasConfig.model_validate(
        {
            "graphConfig": {"numLayers": num_layers, "inputSizes": [32, 32, 3], "outputSizes": [10]},
            "operations": operations_,
        }
    )


def categorical(name: str, *values: str) -> dict[str, Any]:
    return {"name": name, "parameterType": "categorical", "feasibleSpace": {"list": list(values)}}


def enas_cpu() -> NasConfig:
    experiment = load_experiment_document(ENAS_CPU).experiment
    assert experiment is not None and experiment.spec.nas_config is not None
    return experiment.spec.nas_config


def test_enas_cpu_expands_into_katibs_106_operations_in_order() -> None:
    ops = operations(enas_cpu())
    # convolution 3*5*2, separable 3*5*2*2, depthwise 3*2*2, reduction 2*2 (pool_size: int 2..3 step 1).
    assert len(ops) == 30 + 60 + 12 + 4
    assert [op.opt_id for op in ops] == list(range(106))
    # itertools.product: the last parameter varies fastest.
    assert ops[0].as_dict() == {
        "opt_id": 0,
        "opt_type": "convolution",
        "opt_params": {"filter_size": "3", "num_filter": "32", "stride": "1"},
    }
    assert ops[1].opt_params == {"filter_size": "3", "num_filter": "32", "stride": "2"}
    assert ops[29].opt_params == {"filter_size": "7", "num_filter": "128", "stride": "2"}
    assert ops[30].opt_type == "separable_convolution"
    assert ops[30].opt_params == {"filter_size": "3", "num_filter": "32", "stride": "1", "depth_multiplier": "1"}
    assert ops[90].opt_type == "depthwise_convolution"
    # Int ranges give ints (unquoted in the JSON), categorical values stay strings.
    assert [op.opt_params for op in ops[102:]] == [
        {"reduction_type": "max_pooling", "pool_size": 2},
        {"reduction_type": "max_pooling", "pool_size": 3},
        {"reduction_type": "avg_pooling", "pool_size": 2},
        {"reduction_type": "avg_pooling", "pool_size": 3},
    ]


def test_assignment_strings_are_katibs_json_with_single_quotes() -> None:
    space = graph(enas_cpu())
    values = assignment(space, [103])
    assert values == {
        "architecture": "[[103]]",
        "nn_config": "{'num_layers': 1, 'input_sizes': [32, 32, 3], 'output_sizes': [10], 'embedding': "
        "{'103': {'opt_id': 103, 'opt_type': 'reduction', 'opt_params': {'reduction_type': 'max_pooling', "
        "'pool_size': 3}}}}",
    }


def test_layers_carry_their_skip_bits_and_embedding_lists_each_used_operation_once() -> None:
    config = nas([{"operationType": "convolution", "parameters": [categorical("filter_size", "3", "5")]}], 3)
    space = graph(config)
    # Katib's sample_arc for 3 layers: op, op + 1 skip bit, op + 2 skip bits.
    arc = [1, 0, 1, 1, 0, 1]
    assert organize(arc, 3) == [[1], [0, 1], [1, 0, 1]]
    values = assignment(space, arc)
    assert values["architecture"] == "[[1], [0, 1], [1, 0, 1]]"
    # The embedding in the order of first use (a dict keyed by the operation id, as Katib's).
    assert values["nn_config"] == (
        "{'num_layers': 3, 'input_sizes': [32, 32, 3], 'output_sizes': [10], 'embedding': "
        "{'1': {'opt_id': 1, 'opt_type': 'convolution', 'opt_params': {'filter_size': '5'}}, "
        "'0': {'opt_id': 0, 'opt_type': 'convolution', 'opt_params': {'filter_size': '3'}}}}"
    )


def test_double_ranges_are_numpys_arange_and_discrete_lists_count_as_categorical() -> None:
    config = nas(
        [
            {
                "operationType": "dropout",
                "parameters": [
                    {
                        "name": "rate",
                        "parameterType": "double",
                        "feasibleSpace": {"min": "0.1", "max": "0.3", "step": "0.1"},
                    },
                    {"name": "size", "parameterType": "discrete", "feasibleSpace": {"list": ["1", "2"]}},
                ],
            }
        ]
    )
    # np.arange(0.1, 0.4, 0.1) -> 0.1, 0.2, 0.30000000000000004 (json.dumps shows float64 as Python's repr).
    assert [op.opt_params for op in operations(config)] == [
        {"rate": 0.1, "size": "1"},
        {"rate": 0.1, "size": "2"},
        {"rate": 0.2, "size": "1"},
        {"rate": 0.2, "size": "2"},
        {"rate": 0.30000000000000004, "size": "1"},
        {"rate": 0.30000000000000004, "size": "2"},
    ]
    assert "'rate': 0.30000000000000004" in assignment(graph(config), [4])["nn_config"]


def test_nas_config_problems_name_the_field_with_katibs_words() -> None:
    config = NasConfig.model_validate(
        {
            "graphConfig": {"inputSizes": [32, 32, 3], "outputSizes": [10]},
            "operations": [
                {"operationType": "convolution"},
                {"parameters": [{"name": "k", "parameterType": "double", "feasibleSpace": {"min": "1", "max": "2"}}]},
            ],
        }
    )
    assert [str(e) for e in nas_config_errors(config)] == [
        "spec.nasConfig.graphConfig.numLayers: Missing NumLayers in GraphConfig",
        "spec.nasConfig.operations[0].parameters: Missing ParameterConfigs in Operation",
        "spec.nasConfig.operations[1].operationType: Missing operationType in Operation",
        "spec.nasConfig.operations[1].parameters[0].feasibleSpace: "
        "Step parameter should be > 0 in ParameterConfig.feasibleSpace",
    ]
    assert nas_config_errors(enas_cpu()) == []


def test_describe_assignment_reads_one_line_per_layer() -> None:
    pool_size = {"name": "pool_size", "parameterType": "int", "feasibleSpace": {"min": "2", "max": "2"}}
    conv = [categorical("filter_size", "5"), categorical("num_filter", "64"), categorical("stride", "1")]
    ops = [
        {"operationType": "convolution", "parameters": conv},
        {"operationType": "reduction", "parameters": [categorical("reduction_type", "avg_pooling"), pool_size]},
        {"operationType": "depthwise_convolution", "parameters": [categorical("filter_size", "3"),
                                                                  categorical("depth_multiplier", "2")]},
    ]  # fmt: skip
    # ModelConstructor: layer l reads layer l-1, and layer i < l-1 (0: the input) where skip bit i is 1.
    values = assignment(graph(nas(ops, 3)), [0, 1, 1, 2, 0, 1])
    assert describe_assignment(values) == [
        "layer 1: convolution 5x5, 64 filters, stride 1; skip from -",
        "layer 2: avg_pooling 2x2; skip from input",
        "layer 3: depthwise_convolution 3x3, depth multiplier 2; skip from layer 1",
    ]
    # As the trial receives it from the example's template (quotes around the value) it reads the same.
    quoted = {name: f'"{value}"' for name, value in values.items()}
    assert describe_assignment(quoted) == describe_assignment(values)
    assert describe_assignment({"x": "1"}) is None
    assert describe_assignment({"architecture": "[[0]]", "nn_config": "{'embedding': {}}"}) is None
