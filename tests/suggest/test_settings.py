"""Algorithm registry and Katib's algorithm-settings rules, one table of cases per algorithm."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from pykatib.spec.errors import SpecError
from pykatib.spec.models import AlgorithmSetting, Experiment, ParameterSpec
from pykatib.spec.space import parse_search_space
from pykatib.suggest import (
    ALGORITHM_NAMES,
    EARLY_STOPPING_NAMES,
    SettingsContext,
    algorithm_settings,
    early_stopping_settings,
    validate_algorithm_settings,
    validate_early_stopping_settings,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "katib"
SETTINGS = "spec.algorithm.algorithmSettings"


def param(name: str, kind: str, **feasible: Any) -> ParameterSpec:
    return ParameterSpec.model_validate({"name": name, "parameterType": kind, "feasibleSpace": feasible})


LR = param("lr", "double", min="0.01", max="0.05")
MOMENTUM = param("momentum", "double", min="0.5", max="0.9")
TWO_DOUBLES = [LR, MOMENTUM]
OPTIMIZER = param("optimizer", "categorical", list=["sgd", "adam"])
EPOCHS = param("num-epochs", "int", min="1", max="1")  # Katib's hyperband example fixes the resource


def context(
    specs: list[ParameterSpec] | None = None,
    *,
    max_trial_count: int | None = None,
    parallel: int = 3,
    nas: bool = False,
    fixed_range: str | None = None,
) -> SettingsContext:
    specs = TWO_DOUBLES if specs is None else specs
    space, _ = parse_search_space(specs, fixed_range=fixed_range)
    return SettingsContext(space, specs, max_trial_count, parallel, nas)


def given(**values: str) -> list[AlgorithmSetting]:
    return [AlgorithmSetting(name=name, value=value) for name, value in values.items()]


def pairs(*items: tuple[str, str]) -> list[AlgorithmSetting]:
    """Settings as a list, for cases (duplicates) that keyword arguments cannot express."""
    return [AlgorithmSetting(name=name, value=value) for name, value in items]


def assert_one_error(errors: list[SpecError], path: str, *words: str) -> None:
    assert len(errors) == 1, errors
    assert errors[0].path == path
    for word in words:
        assert word in errors[0].message, (word, errors[0].message)


# --- valid settings and the typed values they give -----------------------------------------------------

GRID_SPACE = [param("layers", "int", min="1", max="5"), param("lr", "double", min="0.1", max="0.5", step="0.1")]
PBT_SPACE = [param("lr", "double", min="0.1", max="0.5", step="0.1"), param("batch", "int", min="16", max="64")]
NAS = context([], nas=True)
PBT = context(PBT_SPACE)
HB = context([*TWO_DOUBLES, EPOCHS], fixed_range="num-epochs")

VALID = [
    pytest.param("random", given(random_state="10"), context(), {"random_state": 10}, id="random"),
    pytest.param(
        "tpe",
        given(gamma="0.3", prior_weight="2", n_EI_candidates="12", random_state="0"),
        context(),
        {"gamma": 0.3, "prior_weight": 2.0, "n_EI_candidates": 12, "random_state": 0},
        id="tpe",
    ),
    pytest.param(
        "grid", given(random_state="1"), context(GRID_SPACE, max_trial_count=25), {"random_state": 1}, id="grid"
    ),
    pytest.param(
        "multivariate-tpe",
        given(n_startup_trials="5", n_ei_candidates="10"),
        context([param("lr", "double", min="0.001", max="0.1", distribution="logUniform"), MOMENTUM]),
        {"n_startup_trials": 5, "n_ei_candidates": 10, "random_state": None},
        id="multivariate-tpe",
    ),
    pytest.param(
        "cmaes",
        given(restart_strategy="bipop", sigma="0.1", random_state="7"),
        context([*TWO_DOUBLES, OPTIMIZER]),
        {"random_state": 7, "sigma": 0.1, "restart_strategy": "bipop"},
        id="cmaes",
    ),
    pytest.param("sobol", [], context([LR, OPTIMIZER]), {}, id="sobol"),
    pytest.param(
        "bayesianoptimization",
        given(base_estimator="RF", n_initial_points="0", acq_func="LCB", acq_optimizer="sampling", random_state="3"),
        context(),
        {
            "base_estimator": "RF",
            "n_initial_points": 0,
            "acq_func": "LCB",
            "acq_optimizer": "sampling",
            "random_state": 3,
        },
        id="bayesianoptimization",
    ),
    pytest.param(
        "hyperband",
        given(resource_name="num-epochs", eta="2", r_l="2"),  # Katib's hyperband example
        HB,
        {"r_l": 2.0, "resource_name": "num-epochs", "eta": 2.0, "random_state": None},
        id="hyperband",
    ),
    pytest.param(
        "pbt",
        given(suggestion_trial_dir="/var/log/katib/checkpoints/", n_population="40", truncation_threshold="0.2"),
        PBT,
        {
            "suggestion_trial_dir": "/var/log/katib/checkpoints/",
            "n_population": 40,
            "truncation_threshold": 0.2,
            "resample_probability": None,
            "random_state": None,
        },
        id="pbt",
    ),
    pytest.param(
        "enas",
        given(controller_hidden_size="100", controller_temperature="None", controller_skip_target="1"),
        NAS,
        {
            "controller_hidden_size": 100,
            "controller_temperature": None,
            "controller_tanh_const": 2.25,
            "controller_entropy_weight": 1e-5,
            "controller_baseline_decay": 0.999,
            "controller_learning_rate": 5e-5,
            "controller_skip_target": 1.0,
            "controller_skip_weight": 0.8,
            "controller_train_steps": 50,
            "controller_log_every_steps": 10,
        },
        id="enas",
    ),
    pytest.param(
        "darts",
        given(num_epochs="3", w_lr="0", batch_size="None", num_workers="0"),
        NAS,
        {
            "num_epochs": 3,
            "w_lr": 0.0,
            "w_lr_min": 0.001,
            "w_momentum": 0.9,
            "w_weight_decay": 3e-4,
            "w_grad_clip": 5.0,
            "alpha_lr": 3e-4,
            "alpha_weight_decay": 1e-3,
            "batch_size": None,
            "num_workers": 0,
            "init_channels": 16,
            "print_step": 50,
            "num_nodes": 4,
            "stem_multiplier": 3,
        },
        id="darts",
    ),
]


@pytest.mark.parametrize(("algorithm", "settings", "ctx", "typed"), VALID)
def test_valid_settings_and_their_typed_values(
    algorithm: str, settings: list[AlgorithmSetting], ctx: SettingsContext, typed: dict[str, object]
) -> None:
    assert validate_algorithm_settings(algorithm, settings, ctx) == []
    assert algorithm_settings(algorithm, settings) == typed


def test_every_algorithm_has_a_valid_case() -> None:
    assert {case.values[0] for case in VALID} == set(ALGORITHM_NAMES)


# --- invalid settings, one table per algorithm ---------------------------------------------------------


def value(i: int) -> str:
    return f"{SETTINGS}[{i}].value"


def name(i: int) -> str:
    return f"{SETTINGS}[{i}].name"


def case(algorithm: str, settings: list[AlgorithmSetting], ctx: SettingsContext, path: str, *words: str) -> Any:
    return pytest.param(algorithm, settings, ctx, path, list(words))


RANDOM_CASES = [
    case("random", given(random_state="abc"), context(), value(0), "must be an integer"),
    case("random", given(random_state="1.5"), context(), value(0), "must be an integer"),
    case("random", given(random_state="-1"), context(), value(0), "random_state should be great or equal than zero"),
    case("random", given(random_state="4294967296"), context(), value(0), "less than 2^32"),
    case("random", given(seed="1"), context(), name(0), "unknown setting seed for algorithm random"),
    case(
        "random",
        pairs(("random_state", "1"), ("random_state", "2")),
        context(),
        name(1),
        "duplicate setting random_state",
        f"{SETTINGS}[0]",
    ),
]

TPE_CASES = [
    case("tpe", given(gamma="0"), context(), value(0), "gamma should be in the range of (0, 1)"),
    case("tpe", given(gamma="1"), context(), value(0), "gamma should be in the range of (0, 1)"),
    case("tpe", given(gamma="high"), context(), value(0), "gamma", "must be a number"),
    case("tpe", given(gamma="nan"), context(), value(0), "must be a finite number"),
    case("tpe", given(prior_weight="0"), context(), value(0), "prior_weight should be great than zero"),
    case("tpe", given(n_EI_candidates="0"), context(), value(0), "n_EI_candidates should be great than zero"),
    case("tpe", given(n_startup_trials="5"), context(), name(0), "unknown setting n_startup_trials for algorithm tpe"),
]

GRID_CASES = [
    case(
        "grid",
        [],
        context([GRID_SPACE[0], LR]),
        "spec.parameters[1].feasibleSpace.step",
        "Param lr step is nil",
        "must include step",
    ),
    case(
        "grid",
        [],
        context(GRID_SPACE, max_trial_count=26),
        "spec.maxTrialCount",
        "Max Trial Count: 26 > all possible search combinations: 25",
    ),
    case("grid", given(random_state="-1"), context(GRID_SPACE), value(0), "great or equal than zero"),
    case("grid", given(gamma="0.1"), context(GRID_SPACE), name(0), "unknown setting gamma for algorithm grid"),
]

NORMAL_MOMENTUM = param("momentum", "double", min="0.5", max="0.9", distribution="normal")
MULTIVARIATE_TPE_CASES = [
    case(
        "multivariate-tpe",
        [],
        context([LR, NORMAL_MOMENTUM]),
        "spec.parameters[1].feasibleSpace.distribution",
        "distribution normal is not supported",
        "multivariate-tpe",
        "uniform and logUniform",
    ),
    case(
        "multivariate-tpe",
        [],
        context([param("batch", "int", min="32", max="64", distribution="logNormal")]),
        "spec.parameters[0].feasibleSpace.distribution",
        "distribution logNormal is not supported",
    ),
    case(
        "multivariate-tpe",
        given(n_startup_trials="-1"),
        context(),
        value(0),
        "n_startup_trials should be great or equal than zero",
    ),
    case(
        "multivariate-tpe", given(n_ei_candidates="0"), context(), value(0), "n_ei_candidates should be great than zero"
    ),
    case(
        "multivariate-tpe",
        given(gamma="0.1"),
        context(),
        name(0),
        "unknown setting gamma for algorithm multivariate-tpe",
    ),
]

CMAES_CASES = [
    case(
        "cmaes",
        [],
        context([LR, OPTIMIZER]),
        "spec.algorithm.algorithmName",
        "CMA-ES only supports two or more dimensional continuous search space",
        "found 1 int/double parameter",
    ),
    case(
        "cmaes",
        given(restart_strategy="invalid"),
        context(),
        value(0),
        "restart_strategy invalid is not supported in CMAES optimization",
        "ipop, bipop, none",
    ),
    case("cmaes", given(sigma="0"), context(), value(0), "sigma should be great than zero"),
    case("cmaes", given(sigma="-10"), context(), value(0), "sigma should be great than zero"),
    case(
        "cmaes", given(n_startup_trials="1"), context(), name(0), "unknown setting n_startup_trials for algorithm cmaes"
    ),
]

SOBOL_CASES = [
    case("sobol", given(random_state="1"), context(), name(0), "unknown setting random_state for algorithm sobol"),
]

BAYESIAN_CASES = [
    case(
        "bayesianoptimization",
        given(base_estimator="gp"),  # Katib's names are case-sensitive
        context(),
        value(0),
        "base_estimator gp is not supported in Bayesian optimization",
        "GP, RF, ET, GBRT",
    ),
    case(
        "bayesianoptimization",
        given(n_initial_points="-1"),
        context(),
        value(0),
        "n_initial_points should be great or equal than zero",
    ),
    case(
        "bayesianoptimization",
        given(acq_func="UCB"),
        context(),
        value(0),
        "acq_func UCB is not supported in Bayesian optimization",
    ),
    case(
        "bayesianoptimization",
        given(acq_optimizer="adam"),
        context(),
        value(0),
        "acq_optimizer adam is not supported in Bayesian optimization",
    ),
    # Katib accepts these two; scikit-optimize then fails at the first result / suggestion.
    case(
        "bayesianoptimization",
        given(base_estimator="GP", acq_func="EIps"),
        context(),
        value(1),
        "acq_func EIps weighs each trial's objective by its run time",
        "use gp_hedge, LCB, EI or PI",
    ),
    case(
        "bayesianoptimization",
        given(acq_optimizer="lbfgs", base_estimator="ET"),
        context(),
        value(0),
        "acq_optimizer lbfgs follows the gradient of the surrogate model, which only base_estimator GP has",
        "use auto or sampling with base_estimator ET",
    ),
    case(
        "bayesianoptimization",
        given(kappa="1.96"),
        context(),
        name(0),
        "unknown setting kappa for algorithm bayesianoptimization",
    ),
]

HYPERBAND_CASES = [
    case("hyperband", [], HB, SETTINGS, "r_l and resource_name must be set."),
    case("hyperband", given(resource_name="num-epochs"), HB, SETTINGS, "r_l must be set."),
    case("hyperband", given(resource_name="num-epochs", r_l="0"), HB, value(1), "r_l must be a positive float number."),
    case("hyperband", given(resource_name="num-epochs", r_l="9", eta="1"), HB, value(2), "eta must be greater than 1"),
    case(
        "hyperband",
        given(r_l="9", resource_name="epochs"),
        HB,
        value(1),
        "value of resource_name setting must be in parameters",
        '"epochs"',
        "lr, momentum, num-epochs",
    ),
    case(
        "hyperband",
        given(r_l="9", resource_name="optimizer"),
        context([LR, OPTIMIZER]),
        "spec.parameters[1].parameterType",
        "resource parameter optimizer",
        "must be int or double",
        "categorical",
    ),
    case(
        "hyperband",
        given(r_l="9", resource_name="num-epochs", s_max="2"),
        HB,
        name(2),
        "unknown setting s_max for algorithm hyperband",
    ),
]

PBT_REQUIRED = {"suggestion_trial_dir": "/tmp/ckpt", "n_population": "10", "truncation_threshold": "0.2"}
PBT_CASES = [
    case("pbt", [], PBT, SETTINGS, "Required params missing: suggestion_trial_dir, n_population, truncation_threshold"),
    case("pbt", given(**{**PBT_REQUIRED, "n_population": "4"}), PBT, value(1), "Param(n_population) should be >= 5"),
    # Relative: every trial would name the same directory and share one checkpoint.
    case("pbt", given(**{**PBT_REQUIRED, "suggestion_trial_dir": "ckpt"}), PBT, value(0), "must be an absolute path"),
    case(
        "pbt",
        given(**{**PBT_REQUIRED, "truncation_threshold": "1.5"}),
        PBT,
        value(2),
        "Param(truncation_threshold) should be between 0 and 1, inclusive",
    ),
    case(
        "pbt",
        given(**PBT_REQUIRED, resample_probability="-0.1"),
        PBT,
        value(3),
        "Param(resample_probability)",
        "between 0 and 1",
    ),
    case(
        "pbt",
        given(**{**PBT_REQUIRED, "suggestion_trial_dir": " "}),
        PBT,
        value(0),
        "suggestion_trial_dir must not be empty",
    ),
    case(
        "pbt",
        given(**PBT_REQUIRED),
        context([PBT_SPACE[1], LR]),
        "spec.parameters[1].feasibleSpace.step",
        "parameter lr",
        "pbt needs a step for every double parameter",
    ),
]

ENAS_CASES = [
    case("enas", [], context(), "spec.nasConfig", "algorithm enas", "needs spec.nasConfig"),
    case(
        "enas",
        given(controller_hidden_size="0"),
        NAS,
        value(0),
        "Algorithm Setting controller_hidden_size: 0 with int type must be in range [1, inf)",
    ),
    case(
        "enas",
        given(controller_baseline_decay="1.5"),
        NAS,
        value(0),
        "Algorithm Setting controller_baseline_decay: 1.5 with float type must be in range (0, 1]",
    ),
    # Katib's ENAS float ranges exclude their lower bound.
    case("enas", given(controller_entropy_weight="0"), NAS, value(0), "(0, inf]"),
    # Only the settings of Katib's enableNoneSettingsList may be "None".
    case("enas", given(controller_baseline_decay="None"), NAS, value(0), "must be a number"),
    case("enas", given(num_epochs="1"), NAS, name(0), "unknown setting num_epochs for algorithm enas"),
]

DARTS_CASES = [
    case("darts", [], context(), "spec.nasConfig", "algorithm darts", "needs spec.nasConfig"),
    case("darts", given(num_epochs="0"), NAS, value(0), "num_epochs should be greater than zero"),
    case("darts", given(w_lr="-0.1"), NAS, value(0), "w_lr should be greater than or equal to zero"),
    case("darts", given(batch_size="0"), NAS, value(0), "batch_size should be greater than or equal to one"),
    case("darts", given(num_workers="-1"), NAS, value(0), "num_workers should be greater than or equal to zero"),
    case(
        "darts",
        given(controller_hidden_size="64"),
        NAS,
        name(0),
        "unknown setting controller_hidden_size for algorithm darts",
    ),
]

NON_NAS_CASES = [
    pytest.param(
        name,
        [],
        context([], nas=True),
        "spec.nasConfig",
        ["only read by the NAS algorithms (enas, darts)", f"algorithm {name} needs spec.parameters"],
        id=f"{name}-with-nasConfig",
    )
    for name in ("random", "tpe", "bayesianoptimization")
]

INVALID = (
    RANDOM_CASES
    + TPE_CASES
    + GRID_CASES
    + MULTIVARIATE_TPE_CASES
    + CMAES_CASES
    + SOBOL_CASES
    + BAYESIAN_CASES
    + HYPERBAND_CASES
    + PBT_CASES
    + ENAS_CASES
    + DARTS_CASES
    + NON_NAS_CASES
)


@pytest.mark.parametrize(("algorithm", "settings", "ctx", "path", "words"), INVALID)
def test_invalid_settings_name_the_field(
    algorithm: str, settings: list[AlgorithmSetting], ctx: SettingsContext, path: str, words: list[str]
) -> None:
    assert_one_error(validate_algorithm_settings(algorithm, settings, ctx), path, *words)


def test_every_algorithm_has_invalid_cases() -> None:
    assert {case.values[0] for case in INVALID} == set(ALGORITHM_NAMES)


# --- registry, whole-list behaviour, edge rules --------------------------------------------------------


def test_registry_holds_every_katib_algorithm() -> None:
    assert set(ALGORITHM_NAMES) == {
        "random",
        "grid",
        "tpe",
        "multivariate-tpe",
        "cmaes",
        "sobol",
        "bayesianoptimization",
        "hyperband",
        "pbt",
        "enas",
        "darts",
    }
    assert EARLY_STOPPING_NAMES == ("medianstop",)


NO_SETTINGS_CONTEXT = {
    "grid": context(GRID_SPACE),
    "pbt": PBT,
    "enas": NAS,
    "darts": NAS,
}


@pytest.mark.parametrize("algorithm", ALGORITHM_NAMES)
def test_no_settings_accepted_where_katib_allows_it(algorithm: str) -> None:
    errors = validate_algorithm_settings(algorithm, [], NO_SETTINGS_CONTEXT.get(algorithm, context()))
    if algorithm in ("hyperband", "pbt"):
        # Katib's services refuse to start without r_l/resource_name and the three pbt settings.
        assert [error.path for error in errors] == [SETTINGS]
    else:
        assert errors == []


def test_unknown_algorithm_lists_the_known_ones() -> None:
    errors = validate_algorithm_settings("invalid-algorithm", [], context())
    assert errors == [
        SpecError(
            "spec.algorithm.algorithmName",
            'unknown algorithm "invalid-algorithm"; known algorithms: random, grid, tpe, multivariate-tpe, '
            "cmaes, sobol, bayesianoptimization, hyperband, pbt, enas, darts",
        )
    ]


def test_every_problem_is_reported_at_once() -> None:
    settings = pairs(("gamma", "2"), ("seed", "1"), ("gamma", "0.5"), ("prior_weight", "x"))
    errors = validate_algorithm_settings("tpe", settings, context())
    assert [error.path for error in errors] == [
        f"{SETTINGS}[0].value",
        f"{SETTINGS}[1].name",
        f"{SETTINGS}[2].name",
        f"{SETTINGS}[3].value",
    ]


def test_hyperband_does_not_require_a_bracket_worth_of_parallel_trials() -> None:
    # Katib rejects parallelTrialCount < ceil(eta ** s_max) = 81 here; pykatib queues the bracket instead.
    settings = given(r_l="81", eta="3", resource_name="num-epochs")
    ctx = context([*TWO_DOUBLES, EPOCHS], parallel=3, fixed_range="num-epochs")
    assert validate_algorithm_settings("hyperband", settings, ctx) == []


def test_hyperband_rule_on_resource_waits_for_a_valid_value() -> None:
    # An empty resource_name is reported once, not again as "not a parameter".
    errors = validate_algorithm_settings("hyperband", given(r_l="9", resource_name=""), context())
    assert_one_error(errors, f"{SETTINGS}[1].value", "resource_name must not be empty")


@pytest.mark.parametrize("max_trial_count", [None, 25])
def test_grid_accepts_up_to_its_number_of_points(max_trial_count: int | None) -> None:
    ctx = context(GRID_SPACE, max_trial_count=max_trial_count)
    assert validate_algorithm_settings("grid", [], ctx) == []


def test_grid_counts_only_when_every_parameter_parsed() -> None:
    # max < min: the parameter is reported by spec validation, and the grid size is unknown.
    broken = param("lr", "double", min="0.5", max="0.1", step="0.1")
    ctx = context([GRID_SPACE[0], broken], max_trial_count=1000)
    assert len(ctx.space) == 1
    assert validate_algorithm_settings("grid", [], ctx) == []


def test_integer_settings_refuse_python_only_spellings() -> None:
    for value in ("1_000", "1e3", "3.0", ""):
        errors = validate_algorithm_settings("random", given(random_state=value), context())
        assert_one_error(errors, f"{SETTINGS}[0].value", f'value "{value}" for setting random_state')


def test_algorithm_settings_raises_on_invalid_settings() -> None:
    with pytest.raises(ValueError, match="gamma should be in the range of"):
        algorithm_settings("tpe", given(gamma="5"))
    with pytest.raises(ValueError, match='unknown algorithm "nope"'):
        algorithm_settings("nope", [])


# --- early stopping ------------------------------------------------------------------------------------

ES = "spec.earlyStopping.algorithmSettings"

EARLY_STOPPING_CASES = [
    pytest.param(
        given(min_trials_required="0"), f"{ES}[0].value", ["min_trials_required must be greater than zero (>0)"]
    ),
    pytest.param(given(start_step="0"), f"{ES}[0].value", ["start_step must be greater or equal than one (>=1)"]),
    pytest.param(given(start_step="two"), f"{ES}[0].value", ["must be an integer"]),
    pytest.param(given(max_trials="3"), f"{ES}[0].name", ["unknown setting max_trials for algorithm medianstop"]),
    pytest.param(pairs(("start_step", "2"), ("start_step", "3")), f"{ES}[1].name", ["duplicate setting start_step"]),
]


@pytest.mark.parametrize(("settings", "path", "words"), EARLY_STOPPING_CASES)
def test_invalid_medianstop_settings(settings: list[AlgorithmSetting], path: str, words: list[str]) -> None:
    assert_one_error(validate_early_stopping_settings("medianstop", settings), path, *words)


def test_medianstop_defaults_and_values() -> None:
    assert validate_early_stopping_settings("medianstop", []) == []
    assert early_stopping_settings("medianstop", []) == {"min_trials_required": 3, "start_step": 4}
    settings = given(min_trials_required="1", start_step="2")
    assert validate_early_stopping_settings("medianstop", settings) == []
    assert early_stopping_settings("medianstop", settings) == {"min_trials_required": 1, "start_step": 2}


def test_unknown_early_stopping_algorithm() -> None:
    errors = validate_early_stopping_settings("hyperband", [])
    assert_one_error(
        errors, "spec.earlyStopping.algorithmName", 'unknown early stopping algorithm "hyperband"', "medianstop"
    )


# --- Katib's own example experiments -------------------------------------------------------------------


def _example_files() -> list[Path]:
    # trial-templates-configmap.yaml is the ConfigMap another example refers to, not an Experiment.
    return [p for p in sorted(EXAMPLES.rglob("*.yaml")) if p.name != "trial-templates-configmap.yaml"]


@pytest.mark.parametrize("path", _example_files(), ids=lambda p: p.name)
def test_katib_examples_pass_or_fail_as_in_katib(path: Path) -> None:
    spec = Experiment.model_validate(yaml.safe_load(path.read_text())).spec
    assert spec.algorithm is not None and spec.algorithm.algorithm_name
    name = spec.algorithm.algorithm_name
    parameters = spec.parameters or []
    resource = next((s.value for s in spec.algorithm.algorithm_settings or () if s.name == "resource_name"), None)
    space, problems = parse_search_space(parameters, fixed_range=resource)
    assert problems == []
    ctx = SettingsContext(
        space, parameters, spec.max_trial_count, spec.parallel_trial_count or 3, spec.nas_config is not None
    )
    errors = validate_algorithm_settings(name, spec.algorithm.algorithm_settings or [], ctx)
    if path.name == "invalid-experiment.yaml":
        assert_one_error(errors, "spec.algorithm.algorithmName", 'unknown algorithm "invalid-algorithm"')
    else:
        assert errors == []
    if spec.early_stopping is not None:
        early = spec.early_stopping
        assert validate_early_stopping_settings(early.algorithm_name or "", early.algorithm_settings or []) == []
