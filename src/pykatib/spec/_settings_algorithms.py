"""Every Katib algorithm's settings table and whole-experiment rules, read from Katib's suggestion services.

Messages are Katib's own where its service has one (so that a user can search for them), pykatib's where
Katib has none or crashes instead of answering. Sources, all under kubeflow/katib ``pkg/``:
random, tpe: ``suggestion/v1beta1/hyperopt/service.py``; grid, multivariate-tpe:
``suggestion/v1beta1/optuna/service.py``; cmaes, sobol: ``suggestion/v1beta1/goptuna/``;
bayesianoptimization: ``suggestion/v1beta1/skopt/service.py``; hyperband, pbt, enas, darts: their
``service.py``; medianstop: ``earlystopping/v1beta1/medianstop/service.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

from pykatib.spec._settings_base import (
    AlgorithmRules,
    ParsedSettings,
    Setting,
    SettingsContext,
    SettingValueError,
    integer,
    number,
    one_of,
    random_state,
    text,
)
from pykatib.spec.errors import SpecError
from pykatib.spec.models import Distribution, ParameterType

_NUMERIC = (ParameterType.DOUBLE, ParameterType.INT)


def _parameter_path(i: int, field: str) -> str:
    return f"spec.parameters[{i}].{field}"


# --- random, tpe (hyperopt) ---------------------------------------------------------------------------

RANDOM = AlgorithmRules({"random_state": random_state()}, implementation="pykatib.suggest.random:RandomSuggester")

TPE = AlgorithmRules(
    {
        # hyperopt's tpe.suggest defaults.
        "gamma": Setting(
            number(low=0, high=1, low_open=True, high_open=True, message="gamma should be in the range of (0, 1)"),
            0.25,
        ),
        "prior_weight": Setting(number(low=0, low_open=True, message="prior_weight should be great than zero"), 1.0),
        "n_EI_candidates": Setting(integer(minimum=1, message="n_EI_candidates should be great than zero"), 24),
        "random_state": random_state(),
    },
    implementation="pykatib.suggest.tpe:TpeSuggester",
)


# --- grid, multivariate-tpe (Optuna) ------------------------------------------------------------------


def _check_grid(parsed: ParsedSettings, ctx: SettingsContext) -> list[SpecError]:
    errors: list[SpecError] = []
    for i, spec in enumerate(ctx.parameter_specs):
        # An int without step walks 1 by 1; a double has no natural grid.
        if spec.parameter_type is ParameterType.DOUBLE and not (spec.feasible_space.step or "").strip():
            errors.append(
                SpecError(
                    _parameter_path(i, "feasibleSpace.step"),
                    f"Param {spec.name} step is nil; For discrete search space, all parameters must include step",
                )
            )
    # The count is only known when every parameter parsed; the others already carry their own errors.
    if errors or ctx.max_trial_count is None or len(ctx.space) != len(ctx.parameter_specs):
        return errors
    size = ctx.space.grid_size()
    if size is not None and ctx.max_trial_count > size:
        errors.append(
            SpecError(
                "spec.maxTrialCount",
                f"Max Trial Count: {ctx.max_trial_count} > all possible search combinations: {size}",
            )
        )
    return errors


GRID = AlgorithmRules(
    {"random_state": random_state()}, check=_check_grid, implementation="pykatib.suggest.grid:GridSuggester"
)


def _check_multivariate_tpe(parsed: ParsedSettings, ctx: SettingsContext) -> list[SpecError]:
    errors: list[SpecError] = []
    for i, spec in enumerate(ctx.parameter_specs):
        distribution = spec.feasible_space.distribution
        if spec.parameter_type in _NUMERIC and distribution in (Distribution.NORMAL, Distribution.LOG_NORMAL):
            errors.append(
                SpecError(
                    _parameter_path(i, "feasibleSpace.distribution"),
                    f"distribution {distribution} is not supported by algorithm multivariate-tpe: Optuna "
                    "samples uniform and logUniform only (use tpe or random for normal/logNormal)",
                )
            )
    return errors


MULTIVARIATE_TPE = AlgorithmRules(
    {
        # Optuna's TPESampler defaults. Katib accepts n_ei_candidates = 0, on which Optuna fails at the
        # first sample (an argmax over no candidates): refused here.
        "n_startup_trials": Setting(
            integer(minimum=0, message="n_startup_trials should be great or equal than zero"), 10
        ),
        "n_ei_candidates": Setting(integer(minimum=1, message="n_ei_candidates should be great than zero"), 24),
        "random_state": random_state(),
    },
    check=_check_multivariate_tpe,
    implementation="pykatib.suggest.multivariate_tpe:MultivariateTpeSuggester",
)


# --- cmaes, sobol (Goptuna) ---------------------------------------------------------------------------


def _check_cmaes(parsed: ParsedSettings, ctx: SettingsContext) -> list[SpecError]:
    # Goptuna's CMA-ES samples the int/double parameters jointly and leaves discrete/categorical ones to
    # its random sampler, so only the count of numeric parameters matters (as in Katib's Go validator).
    count = sum(1 for spec in ctx.parameter_specs if spec.parameter_type in _NUMERIC)
    if count >= 2:
        return []
    return [
        SpecError(
            "spec.algorithm.algorithmName",
            "CMA-ES only supports two or more dimensional continuous search space "
            f"(found {count} int/double parameter{'s' if count != 1 else ''})",
        )
    ]


CMAES = AlgorithmRules(
    {
        "random_state": random_state(),
        # None: Goptuna derives the initial step size from the search space (the smallest range / 6).
        # Katib accepts 0, which leaves CMA-ES unable to move: refused here.
        "sigma": Setting(number(low=0, low_open=True, message="sigma should be great than zero")),
        "restart_strategy": Setting(
            one_of(("ipop", "bipop", "none"), "restart_strategy {value} is not supported in CMAES optimization"),
            "none",
        ),
    },
    check=_check_cmaes,
    implementation="pykatib.suggest.cmaes:CmaesSuggester",
)

# Goptuna's Sobol sampler takes no options; Katib ignores whatever is given, pykatib reports it.
SOBOL = AlgorithmRules({}, implementation="pykatib.suggest.sobol:SobolSuggester")


# --- bayesianoptimization (scikit-optimize) -----------------------------------------------------------


def _check_bayesian_optimization(parsed: ParsedSettings, ctx: SettingsContext) -> list[SpecError]:
    # Two combinations Katib accepts and scikit-optimize then fails on, at the first suggestion or result.
    errors: list[SpecError] = []
    acq_func = parsed.values.get("acq_func")
    if acq_func in ("EIps", "PIps"):
        errors.append(
            SpecError(
                parsed.value_path("acq_func"),
                f"acq_func {acq_func} weighs each trial's objective by its run time, which scikit-optimize must "
                "be told with every result and Katib never passes; use gp_hedge, LCB, EI or PI",
            )
        )
    estimator = parsed.values.get("base_estimator")
    if parsed.values.get("acq_optimizer") == "lbfgs" and estimator not in ("GP", None):
        errors.append(
            SpecError(
                parsed.value_path("acq_optimizer"),
                f"acq_optimizer lbfgs follows the gradient of the surrogate model, which only base_estimator GP "
                f"has; use auto or sampling with base_estimator {estimator}",
            )
        )
    return errors


BAYESIAN_OPTIMIZATION = AlgorithmRules(
    {
        "base_estimator": Setting(
            one_of(("GP", "RF", "ET", "GBRT"), "base_estimator {value} is not supported in Bayesian optimization"),
            "GP",
        ),
        "n_initial_points": Setting(
            integer(minimum=0, message="n_initial_points should be great or equal than zero"), 10
        ),
        "acq_func": Setting(
            one_of(
                ("gp_hedge", "LCB", "EI", "PI", "EIps", "PIps"),
                "acq_func {value} is not supported in Bayesian optimization",
            ),
            "gp_hedge",
        ),
        "acq_optimizer": Setting(
            one_of(("auto", "sampling", "lbfgs"), "acq_optimizer {value} is not supported in Bayesian optimization"),
            "auto",
        ),
        "random_state": random_state(),
    },
    check=_check_bayesian_optimization,
    implementation="pykatib.suggest.bayesianoptimization:BayesianOptimizationSuggester",
)


# --- hyperband ----------------------------------------------------------------------------------------


def _check_hyperband(parsed: ParsedSettings, ctx: SettingsContext) -> list[SpecError]:
    # Katib also demands parallelTrialCount >= ceil(eta ** s_max), the size of the largest bracket.
    # pykatib queues the rest of a bracket instead, so that is not an error here.
    resource = parsed.values.get("resource_name")
    if not isinstance(resource, str):
        return []
    i = ctx.parameter_index(resource)
    if i is None:
        names = ", ".join(spec.name for spec in ctx.parameter_specs) or "none"
        return [
            SpecError(
                parsed.value_path("resource_name"),
                f'value of resource_name setting must be in parameters ("{resource}" is not one of: {names})',
            )
        ]
    kind = ctx.parameter_specs[i].parameter_type
    # Hyperband writes the bracket's budget (a number) into this parameter; Katib does not check the
    # type and then hands a categorical parameter a value outside its list.
    if kind is not None and kind not in _NUMERIC:
        return [
            SpecError(
                _parameter_path(i, "parameterType"),
                f"hyperband's resource parameter {resource} (resource_name) must be int or double, got {kind}",
            )
        ]
    return []


def _hyperband_missing(names: Sequence[str]) -> str:
    return f"{' and '.join(names)} must be set."


HYPERBAND = AlgorithmRules(
    {
        "r_l": Setting(number(low=0, low_open=True, message="r_l must be a positive float number."), required=True),
        "resource_name": Setting(text, required=True),
        # Katib reads eta <= 0 as 3 and divides by log(eta), so eta = 1 crashes it: pykatib asks for > 1.
        "eta": Setting(number(low=1, low_open=True, message="eta must be greater than 1, got {value}"), 3.0),
        # pykatib's addition (Katib's service ignores unknown names): seeds the brackets' random draws.
        "random_state": random_state(),
    },
    check=_check_hyperband,
    missing_message=_hyperband_missing,
    implementation="pykatib.suggest.hyperband:HyperbandSuggester",
)


# --- pbt ----------------------------------------------------------------------------------------------


def _check_pbt(parsed: ParsedSettings, ctx: SettingsContext) -> list[SpecError]:
    # PBT samples and perturbs on the grid min, min+step, ..., max. Katib gives an int without step the
    # step 1 but crashes on a double without one at the first suggestion.
    return [
        SpecError(
            _parameter_path(i, "feasibleSpace.step"),
            f"parameter {spec.name}: pbt needs a step for every double parameter "
            "(it samples the grid min, min+step, ..., max)",
        )
        for i, spec in enumerate(ctx.parameter_specs)
        if spec.parameter_type is ParameterType.DOUBLE and not (spec.feasible_space.step or "").strip()
    ]


def _mount_path(name: str, raw: str) -> object:
    """An absolute path, as a volume mount is: each trial gets its own directory there. (A relative one
    would name the same directory for every trial: all of them would share one checkpoint.)"""
    value = text(name, raw)
    if not raw.startswith("/"):
        raise SettingValueError(f"setting {name} must be an absolute path (the trials' checkpoint mount), got {raw!r}")
    return value


def _pbt_missing(names: Sequence[str]) -> str:
    return f"Required params missing: {', '.join(names)}"


PBT = AlgorithmRules(
    {
        # Katib's validator requires the first three; its example uses
        # "/var/log/katib/checkpoints/", 40 and 0.2.
        "suggestion_trial_dir": Setting(_mount_path, required=True),
        "n_population": Setting(integer(minimum=5, message="Param(n_population) should be >= 5"), required=True),
        "truncation_threshold": Setting(
            number(low=0, high=1, message="Param(truncation_threshold) should be between 0 and 1, inclusive"),
            required=True,
        ),
        # None: perturb each value by x0.8 or x1.2 instead of resampling.
        "resample_probability": Setting(
            number(
                low=0,
                high=1,
                message="Param(resample_probability) should be null to perturb at 0.8 or 1.2, "
                "or be between 0 and 1, inclusive, to resample",
            )
        ),
        # pykatib's addition (Katib's service ignores unknown names): seeds every draw and perturbation.
        "random_state": random_state(),
    },
    check=_check_pbt,
    missing_message=_pbt_missing,
    implementation="pykatib.suggest.pbt:PbtSuggester",
)


# --- enas, darts (NAS) --------------------------------------------------------------------------------


def _enas_float(high: float | None, default: float, *, allow_none: bool = False) -> Setting:
    # Katib's ENAS ranges for floats exclude the lower bound: (0, high].
    shown = "inf" if high is None else f"{high:g}"
    message = "Algorithm Setting {name}: {value} with float type must be in range (0, " + shown + "]"
    return Setting(number(low=0, high=high, low_open=True, message=message, allow_none=allow_none), default)


def _enas_int(default: int) -> Setting:
    message = "Algorithm Setting {name}: {value} with int type must be in range [1, inf)"
    return Setting(integer(minimum=1, message=message), default)


# Katib's enas/AlgorithmSettings.py; "None" is accepted where Katib's enableNoneSettingsList allows it.
ENAS = AlgorithmRules(
    {
        "controller_hidden_size": _enas_int(64),
        "controller_temperature": _enas_float(None, 5.0, allow_none=True),
        "controller_tanh_const": _enas_float(None, 2.25, allow_none=True),
        "controller_entropy_weight": _enas_float(None, 1e-5, allow_none=True),
        "controller_baseline_decay": _enas_float(1.0, 0.999),
        "controller_learning_rate": _enas_float(1.0, 5e-5),
        "controller_skip_target": _enas_float(1.0, 0.4),
        "controller_skip_weight": _enas_float(None, 0.8, allow_none=True),
        "controller_train_steps": _enas_int(50),
        "controller_log_every_steps": _enas_int(10),
    },
    nas=True,
    implementation="pykatib.suggest.enas:EnasSuggester",
)


def _darts_non_negative(default: float) -> Setting:
    return Setting(number(low=0, message="{name} should be greater than or equal to zero"), default)


def _darts_at_least_one(default: int, *, allow_none: bool = False) -> Setting:
    return Setting(
        integer(minimum=1, message="{name} should be greater than or equal to one", allow_none=allow_none), default
    )


# Katib's darts/service.py (validate_algorithm_settings and the defaults of get_algorithm_settings).
DARTS = AlgorithmRules(
    {
        "num_epochs": Setting(integer(minimum=1, message="{name} should be greater than zero"), 50),
        "w_lr": _darts_non_negative(0.025),
        "w_lr_min": _darts_non_negative(0.001),
        "w_momentum": _darts_non_negative(0.9),
        "w_weight_decay": _darts_non_negative(3e-4),
        "w_grad_clip": _darts_non_negative(5.0),
        "alpha_lr": _darts_non_negative(3e-4),
        "alpha_weight_decay": _darts_non_negative(1e-3),
        # "None": the whole training set in one batch.
        "batch_size": _darts_at_least_one(128, allow_none=True),
        "num_workers": Setting(integer(minimum=0, message="{name} should be greater than or equal to zero"), 4),
        "init_channels": _darts_at_least_one(16),
        "print_step": _darts_at_least_one(50),
        "num_nodes": _darts_at_least_one(4),
        "stem_multiplier": _darts_at_least_one(3),
    },
    nas=True,
    implementation="pykatib.suggest.darts:DartsSuggester",
)


# --- medianstop (early stopping) ----------------------------------------------------------------------

MEDIANSTOP = AlgorithmRules(
    {
        "min_trials_required": Setting(
            integer(minimum=1, message="min_trials_required must be greater than zero (>0)"), 3
        ),
        "start_step": Setting(integer(minimum=1, message="start_step must be greater or equal than one (>=1)"), 4),
    },
    implementation="pykatib.earlystop.medianstop:MedianStop",
)


# The registries (Katib name -> settings table -> implementation): adding an algorithm is one table above,
# naming its class, and one line here. Order is Katib's
# documentation order and is the order error messages list the known names in.
ALGORITHMS: dict[str, AlgorithmRules] = {
    "random": RANDOM,
    "grid": GRID,
    "tpe": TPE,
    "multivariate-tpe": MULTIVARIATE_TPE,
    "cmaes": CMAES,
    "sobol": SOBOL,
    "bayesianoptimization": BAYESIAN_OPTIMIZATION,
    "hyperband": HYPERBAND,
    "pbt": PBT,
    "enas": ENAS,
    "darts": DARTS,
}

EARLY_STOPPING: dict[str, AlgorithmRules] = {"medianstop": MEDIANSTOP}
