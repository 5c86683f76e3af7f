"""The private names of Optuna and cmaes that pykatib relies on, and the library behaviour its public
replacements assume: a new library version that moves or reshapes one fails here, naming the library, its
version and the name, instead of changing suggestions silently.

Every private use lives in ``pykatib.suggest._optuna_internals`` or ``pykatib.suggest._cmaes_internals``;
this is the only test module that touches the libraries' private names directly.
"""

from __future__ import annotations

import importlib
import inspect
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.metadata import version
from types import ModuleType
from typing import Any

import numpy as np
import optuna
import pytest
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.samplers import BaseSampler, CmaEsSampler, QMCSampler, RandomSampler, TPESampler
from optuna.trial import TrialState

from suggest_support import make, param, space_of

# Deprecated TPE arguments and the experimental QMCSampler: pykatib's own modules silence these too.
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::optuna.exceptions.ExperimentalWarning")

ADVICE = "Adapt that code to the new version, or keep the library below it in pyproject.toml"


@contextmanager
def relied_on(library: str, name: str, user: str) -> Iterator[None]:
    """Turn any failure inside into one message: which library, which version, which name, used where."""
    try:
        yield
    except Exception as error:  # ImportError, AttributeError, TypeError, AssertionError, ...
        pytest.fail(
            f"{library} {version(library)} changed {name} ({type(error).__name__}: {error}); "
            f"pykatib relies on it in {user}. {ADVICE}.",
            pytrace=False,
        )


def optuna_internals() -> ModuleType:
    with relied_on("optuna", "a private module imported by the adapter", "pykatib.suggest._optuna_internals"):
        return importlib.import_module("pykatib.suggest._optuna_internals")


def cmaes_internals() -> ModuleType:
    with relied_on("cmaes", "a name imported by the adapter", "pykatib.suggest._cmaes_internals"):
        return importlib.import_module("pykatib.suggest._cmaes_internals")


def parameters(function: Callable[..., Any]) -> list[str]:
    return list(inspect.signature(function).parameters)


ADAPTER = "pykatib.suggest._optuna_internals"
SPACE: dict[str, BaseDistribution] = {
    "x": FloatDistribution(-1, 2),
    "lr": FloatDistribution(1e-4, 1, log=True),
    "n": IntDistribution(1, 8),
    "c": CategoricalDistribution(["a", "b", "c"]),
}


def study_with_results(sampler: BaseSampler, count: int = 6) -> optuna.Study:
    study = optuna.create_study(sampler=sampler)
    rng = np.random.default_rng(0)
    for _ in range(count):
        study.add_trial(
            optuna.trial.create_trial(
                params={
                    "x": float(rng.uniform(-1, 2)),
                    "lr": float(10 ** rng.uniform(-4, 0)),
                    "n": int(rng.integers(1, 9)),
                    "c": str(rng.choice(["a", "b", "c"])),
                },
                distributions=SPACE,
                value=float(rng.normal()),
            )
        )
    return study


# --- Optuna: random generators -------------------------------------------------------------------------------


def test_random_sampler_rng_is_the_generator_its_draws_come_from() -> None:
    internals = optuna_internals()
    with relied_on("optuna", "RandomSampler._rng.rng", f"{ADAPTER}.random_sampler_rng"):
        sampler = RandomSampler(seed=1)
        rng = internals.random_sampler_rng(sampler)
        assert isinstance(rng, np.random.RandomState)
        assert internals.random_sampler_rng(sampler) is rng  # one generator, not a new one per access
        study = optuna.create_study(sampler=sampler)
        draws = []
        for _ in range(2):
            rng.seed(7)
            draws.append(study.ask(SPACE).params)
        assert draws[0] == draws[1]


def test_tpe_generators_are_the_ones_its_candidates_and_startup_draws_come_from() -> None:
    internals = optuna_internals()
    with relied_on("optuna", "TPESampler._rng.rng and TPESampler._random_sampler", f"{ADAPTER}.tpe_rng"):
        sampler = TPESampler(n_startup_trials=3, seed=1)
        assert isinstance(internals.tpe_rng(sampler), np.random.RandomState)
        assert isinstance(internals.tpe_random_sampler(sampler), RandomSampler)
        for count in (0, 6):  # startup draws (random sampler), then TPE's own candidates
            study = study_with_results(sampler, count)
            draws = []
            for _ in range(2):
                internals.tpe_rng(sampler).seed(3)
                internals.random_sampler_rng(internals.tpe_random_sampler(sampler)).seed(4)
                trial = study.ask(SPACE)
                draws.append(trial.params)
                study.tell(trial, state=TrialState.FAIL)
            assert draws[0] == draws[1], count


def test_cma_es_rng_and_the_independent_sampler_argument() -> None:
    internals = optuna_internals()
    with relied_on("optuna", "CmaEsSampler._cma_rng.rng", f"{ADAPTER}.cma_es_rng"):
        sampler = CmaEsSampler(seed=1)
        assert isinstance(internals.cma_es_rng(sampler), np.random.RandomState)
        assert internals.cma_es_rng(sampler) is internals.cma_es_rng(sampler)
    # Public, but pykatib passes its own RandomSampler as the independent sampler to seed it.
    with relied_on("optuna", "the independent_sampler argument", "pykatib.suggest.cmaes and .sobol"):
        assert "independent_sampler" in parameters(CmaEsSampler.__init__)
        assert "independent_sampler" in parameters(QMCSampler.__init__)


# --- Optuna: TPE's startup -------------------------------------------------------------------------------------


def test_tpe_startup_trials_can_be_changed_and_switched_off() -> None:
    internals = optuna_internals()
    with relied_on("optuna", "TPESampler._n_startup_trials", f"{ADAPTER}.set_tpe_startup_trials"):
        sampler = TPESampler(n_startup_trials=100, multivariate=True, seed=1)
        assert sampler._n_startup_trials == 100
        study = study_with_results(sampler)
        study.ask()
        frozen = study.trials[-1]  # the trial being asked for
        space = sampler.infer_relative_search_space(study, frozen)
        assert space  # the joint space of the finished trials
        assert sampler.sample_relative(study, frozen, space) == {}  # 6 finished < 100: startup
        with internals.tpe_startup_check_off(sampler):
            assert set(sampler.sample_relative(study, frozen, space)) == set(space)
        assert sampler._n_startup_trials == 100
        internals.set_tpe_startup_trials(sampler, 3)
        assert set(sampler.sample_relative(study, frozen, space)) == set(space)


# --- Optuna: TPE's Parzen estimators ------------------------------------------------------------------------


def test_parzen_estimator_building_sampling_and_scoring() -> None:
    internals = optuna_internals()
    user = f"{ADAPTER}.parzen_estimator, parzen_sample and tpe_acquisition (pykatib.suggest.tpe)"
    with relied_on("optuna", "TPESampler._parzen_estimator_cls / _parzen_estimator_parameters", user):
        sampler = TPESampler(multivariate=False, prior_weight=2.5, consider_endpoints=False, seed=1)
        assert sampler._parzen_estimator_parameters.prior_weight == 2.5
        assert parameters(sampler._parzen_estimator_cls)[:3] == ["observations", "search_space", "parameters"]
    with relied_on("optuna", "_ParzenEstimator.sample(rng, size)", user):
        one = {"x": SPACE["x"]}
        below = internals.parzen_estimator(sampler, {"x": np.array([0.1, 0.2, 0.4])}, one)
        above = internals.parzen_estimator(sampler, {"x": np.array([-0.5, 1.5, 1.9, 0.8])}, one)
        samples = internals.parzen_sample(below, np.random.RandomState(0), 24)
        assert set(samples) == {"x"} and samples["x"].shape == (24,)
    with relied_on("optuna", "TPESampler._compute_acquisition_func(samples, below, above)", user):
        scores = internals.tpe_acquisition(sampler, samples, below, above)
        assert np.allclose(scores, below.log_pdf(samples) - above.log_pdf(samples))


@pytest.mark.parametrize("name", ["x", "lr", "n", "c"])
def test_continuous_log_pdf_matches_the_estimators_own(name: str) -> None:
    internals = optuna_internals()
    user = f"{ADAPTER}.continuous_log_pdf (pykatib.suggest.tpe)"
    names = "_ParzenEstimator._mixture_distribution, _BatchedTrunc(Log)NormDistributions, _truncnorm"
    with relied_on("optuna", names, user):
        sampler = TPESampler(multivariate=False, consider_endpoints=False, seed=1)
        distribution = SPACE[name]
        study = study_with_results(RandomSampler(seed=2), 8)
        values = np.array([distribution.to_internal_repr(t.params[name]) for t in study.trials])
        estimator = internals.parzen_estimator(sampler, {name: values}, {name: distribution})
        log_pdf = internals.continuous_log_pdf(estimator)
        if isinstance(distribution, FloatDistribution):
            assert log_pdf is not None
            samples = internals.parzen_sample(estimator, np.random.RandomState(0), 50)
            assert np.allclose(log_pdf(samples[name]), estimator.log_pdf(samples), rtol=0, atol=1e-9)
        else:
            assert log_pdf is None  # discrete and categorical: left to the estimator's own log_pdf


# --- Optuna: the unit cube --------------------------------------------------------------------------------------


def test_unit_space_transform() -> None:
    internals = optuna_internals()
    with relied_on("optuna", "optuna._transform._SearchSpaceTransform", f"{ADAPTER}.UnitSpaceTransform"):
        module = importlib.import_module("optuna._transform")
        expected = ["search_space", "transform_log", "transform_step", "transform_0_1"]
        assert parameters(module._SearchSpaceTransform.__init__)[1:] == expected
        numeric = {"x": SPACE["x"], "lr": SPACE["lr"], "n": SPACE["n"]}
        transform = internals.UnitSpaceTransform(numeric)
        assert transform.bounds.shape == (3, 2)
        assert np.array_equal(transform.bounds, np.array([[0.0, 1.0]] * 3))
        params = {"x": 0.5, "lr": 0.01, "n": 3}
        point = transform.transform(params)
        assert point.shape == (3,) and np.all((point >= 0) & (point <= 1))
        back = transform.untransform(point)
        assert back["n"] == 3 and back["x"] == pytest.approx(0.5) and back["lr"] == pytest.approx(0.01)
        clipped = transform.untransform(np.array([2.0, -1.0, 1.0]))
        assert clipped == {"x": pytest.approx(2.0), "lr": pytest.approx(1e-4), "n": 8}


# --- Optuna: the rule KatibValues mirrors --------------------------------------------------------------------


def test_kept_by_optuna_is_optunas_own_rule() -> None:
    from pykatib.suggest._optuna import kept_by_optuna

    cases: list[tuple[BaseDistribution, Any]] = [
        (FloatDistribution(-1, 2), v) for v in (-1.0, 2.0, 0.5, 2.0000000001, -1.0000000001)
    ]
    cases += [(FloatDistribution(1e-4, 1, log=True), v) for v in (1e-4, 1.0, 1.0000001, 0.5)]
    cases += [(FloatDistribution(0, 1, step=0.1), v) for v in (0.3, 0.30000000000000004, 0.35, 1.1)]
    cases += [(IntDistribution(0, 9), v) for v in (0, 9, 4, 10, -1)]
    cases += [(CategoricalDistribution(["a", "b"]), v) for v in ("a", "b")]
    with relied_on("optuna", "BaseDistribution._contains", "pykatib.suggest._optuna.kept_by_optuna"):
        for distribution, value in cases:
            optuna_keeps = distribution._contains(distribution.to_internal_repr(value))
            assert kept_by_optuna(distribution, value) == optuna_keeps, (distribution, value)


# --- Optuna: public calls whose behaviour pykatib relies on ------------------------------------------------


def test_trials_listed_by_number() -> None:
    with relied_on("optuna", "Study.get_trials order", "pykatib.suggest.cmaes (a generation's members by number)"):
        study = optuna.create_study()
        for _ in range(3):
            study.tell(study.ask(), 1.0)
        study.ask()
        assert [t.number for t in study.get_trials(deepcopy=False)] == [0, 1, 2, 3]


# --- our subclasses' own names ---------------------------------------------------------------------------------

# What each of pykatib's Optuna sampler subclasses adds to the instance. A subclass shares one namespace with
# Optuna's private attributes and methods: an Optuna release that starts using one of these names would
# have it overwritten (or overwrite ours) without an error.
OWN_ATTRIBUTES = {
    "HyperoptTpeSampler": {
        "gamma", "n_ei_candidates", "startup_trials", "constant_liar",
        "_space", "_rows", "_size", "_numbers", "_values", "_internal",
    },
    "SuggestedStartupTpeSampler": {"startup_trials"},
    "_KatibCmaEsSampler": {
        "random_sampler", "_fixed_space", "_trans", "_katib_sigma0", "_restart_strategy",
        "optimizer", "min_population", "n_restarts", "poptype", "small_n_eval", "large_n_eval",
        "n_restarts_with_large", "members", "told_sizes",
    },
    "_GoptunaSobolSampler": {"random_sampler", "_fixed_space", "next_id", "_engine"},
}  # fmt: skip
# Optuna's sampler interface, which the subclasses override on purpose.
OVERRIDES = {"infer_relative_search_space", "sample_relative", "sample_independent", "before_trial", "after_trial"}


@pytest.mark.parametrize(
    ("algorithm", "base"),
    [("tpe", TPESampler), ("multivariate-tpe", TPESampler), ("cmaes", CmaEsSampler), ("sobol", QMCSampler)],
)
def test_our_sampler_subclasses_do_not_shadow_optunas_names(algorithm: str, base: type[BaseSampler]) -> None:
    space = space_of(
        param("x", "double", min="0", max="1"),
        param("y", "double", min="0", max="1"),
        param("c", "categorical", list=["a", "b"]),
    )
    suggester = make(algorithm, space)
    suggester.suggest(1, [])
    ours = suggester.sampler  # type: ignore[attr-defined]
    cls = type(ours)
    own = OWN_ATTRIBUTES[cls.__name__]
    theirs = base(seed=1)
    # The list above is complete: every attribute the subclass adds is in it.
    assert set(vars(ours)) - set(vars(theirs)) <= own, sorted(set(vars(ours)) - set(vars(theirs)) - own)
    methods = {name for name in vars(cls) if not name.startswith(("__", "_abc_"))} - OVERRIDES
    with relied_on("optuna", f"the attributes and methods of {base.__name__}", f"{cls.__module__}.{cls.__name__}"):
        clashes = sorted(name for name in own | methods if name in vars(theirs) or hasattr(base, name))
        assert not clashes, f"{base.__name__} now defines {clashes} too"


# --- cmaes ---------------------------------------------------------------------------------------------------------


def trained_optimizer() -> Any:
    from cmaes import CMA

    optimizer = CMA(mean=np.full(3, 0.5), sigma=0.2, bounds=np.array([[0.0, 1.0]] * 3), seed=1)
    for _ in range(4):
        solutions = []
        for _ in range(optimizer.population_size):
            x = optimizer.ask()
            solutions.append((x, float(np.sum((x - 0.3) ** 2))))
        optimizer.tell(solutions)
    return optimizer


def assert_same_optimizer(a: Any, b: Any) -> None:
    assert vars(a).keys() == vars(b).keys()
    for name, value in vars(a).items():
        if isinstance(value, np.ndarray):
            assert np.array_equal(value, vars(b)[name], equal_nan=True), name
        elif not isinstance(value, np.random.RandomState):
            assert value == vars(b)[name], name
    a.reseed_rng(5)
    b.reseed_rng(5)
    assert np.array_equal(a.ask(), b.ask())


def test_cma_optimizer_rebuilt_from_its_attributes() -> None:
    from cmaes import CMA

    internals = cmaes_internals()
    user = "pykatib.suggest._cmaes_internals (a CMA optimizer saved in the experiment's state)"
    with relied_on("cmaes", "CMA's attributes, CMA.__new__ and the generator CMA._rng", user):
        optimizer = trained_optimizer()
        optimizer.ask()  # the covariance as B·D²·Bᵀ, symmetric only up to rounding: saved exactly all the same
        generators = [name for name, value in vars(optimizer).items() if isinstance(value, np.random.RandomState)]
        assert generators == ["_rng"]
        state = internals.optimizer_state(optimizer)
        for name, value in state.items():  # what pykatib's JSON encoding handles
            assert value is None or isinstance(value, np.ndarray | bool | int | float | np.number), name
        rebuilt = internals.optimizer_from_state(state)
        assert isinstance(rebuilt, CMA)
        assert_same_optimizer(optimizer, rebuilt)
    with relied_on("cmaes", "CMA.reseed_rng(seed) (seeding CMA._rng)", "pykatib.suggest.cmaes (before every ask)"):
        assert parameters(CMA.reseed_rng) == ["self", "seed"]
        optimizer.reseed_rng(3)
        first = optimizer._rng.randn()
        optimizer._rng.seed(3)
        assert optimizer._rng.randn() == first


def test_cma_state_round_trips_through_json() -> None:
    from pykatib.suggest.cmaes import decode_optimizer, encode_optimizer

    with relied_on("cmaes", "the values in CMA.__getstate__()", "pykatib.suggest.cmaes.encode_optimizer"):
        optimizer = trained_optimizer()
        encoded = encode_optimizer(optimizer)
        assert encoded is not None
        assert_same_optimizer(optimizer, decode_optimizer(json.loads(json.dumps(encoded, allow_nan=False))))


# --- scikit-optimize: no private names; the public counters pykatib reads instead --------------------------


def test_skopt_initial_points_counted_from_public_attributes() -> None:
    from skopt import Optimizer

    from pykatib.suggest.bayesianoptimization import _random_points_left

    user = "pykatib.suggest.bayesianoptimization (_random_points_left, the batch model built in _liar)"
    with relied_on("scikit-optimize", "Optimizer.n_initial_points_, yi, models", user):
        optimizer = Optimizer([(0.0, 1.0), (0.0, 1.0)], n_initial_points=3, random_state=1, model_queue_size=1)
        rng = np.random.default_rng(0)
        for told in range(1, 6):
            optimizer.tell([float(v) for v in rng.uniform(size=2)], float(rng.normal()))
            assert optimizer.n_initial_points_ == 3  # the setting, never counted down
            assert _random_points_left(optimizer) == 3 - told
            assert bool(optimizer.models) == (told >= 3)  # the model takes over exactly then
        assert hasattr(optimizer, "gains_") and hasattr(optimizer, "next_xs_")  # gp_hedge's, saved in state()
        # The batch model is built without initial_point_generator: it must default to random draws, as the
        # suggester's own optimizer (also built without it) does.
        assert inspect.signature(Optimizer).parameters["initial_point_generator"].default == "random"
