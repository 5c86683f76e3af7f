"""Observation values that are text (migration 0004), on every backend: stored, read back, summarised as
Katib's trial controller does (min and max skip text; latest may be text), kept off the numeric series, and an
existing database from before 0004 upgraded with its observations kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alembic import command

from pykatib.store import NewTrial, ObservationRow, Store
from pykatib.store._engine import create_store_engine
from pykatib.store._migrate import HEAD_REVISION, alembic_config, current_revisions

GENOTYPE = (
    "Genotype(normal=[[('max_pooling_3x3',0),('max_pooling_3x3',1)]],normal_concat=range(2,3),"
    "reduce=[],reduce_concat=range(2,3))"
)
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _trial(store: Store) -> tuple[int, int]:
    experiment = store.create_experiment("darts", "default", {})
    (trial,) = store.create_trials(experiment.id, [NewTrial("darts-a", {"num-layers": "1"})])
    return experiment.id, trial.id


def test_text_values_are_stored_and_summarised_as_katib_does(store: Store) -> None:
    experiment_id, trial_id = _trial(store)
    store.add_observations(
        [
            ObservationRow(trial_id, "Best-Genotype", GENOTYPE, T0),
            ObservationRow(trial_id, "accuracy", 0.5, T0),
            ObservationRow(trial_id, "accuracy", "diverged", T0 + timedelta(seconds=1)),
            ObservationRow(trial_id, "accuracy", 0.75, T0 - timedelta(seconds=1)),
        ]
    )
    assert [(o.metric_name, o.value) for o in store.list_observations(trial_id)] == [
        ("accuracy", 0.75),
        ("Best-Genotype", GENOTYPE),
        ("accuracy", 0.5),
        ("accuracy", "diverged"),
    ]
    stats = store.metric_summaries(experiment_id)[trial_id]
    genotype, accuracy = stats["Best-Genotype"], stats["accuracy"]
    assert (genotype.min, genotype.max, genotype.latest, genotype.count) == (None, None, GENOTYPE, 1)
    assert (accuracy.min, accuracy.max, accuracy.latest, accuracy.count) == (0.5, 0.75, "diverged", 3)
    # The numeric series (the UI's curves) leave text out.
    assert store.observation_series(experiment_id, "accuracy") == ([trial_id, trial_id], [0.75, 0.5])
    assert store.observation_series(experiment_id, "Best-Genotype") == ([], [])


def test_a_database_from_before_text_values_is_upgraded(db_url: str) -> None:
    with Store(db_url) as store:
        _, trial_id = _trial(store)
        store.add_observations([ObservationRow(trial_id, "loss", 0.25, T0)])
    engine = create_store_engine(db_url)
    try:
        with engine.connect() as conn:
            command.downgrade(alembic_config(conn), "0003")
            conn.commit()
            assert current_revisions(conn) == {"0003"}
    finally:
        engine.dispose()
    with Store(db_url) as store:  # opening it upgrades it to head
        with store._engine.connect() as conn:
            assert current_revisions(conn) == {HEAD_REVISION}
        assert [o.value for o in store.list_observations(trial_id)] == [0.25]
        store.add_observations([ObservationRow(trial_id, "Best-Genotype", GENOTYPE, T0)])
        assert [o.value for o in store.list_observations(trial_id, "Best-Genotype")] == [GENOTYPE]


def test_a_text_value_of_a_whole_log_line_fits_on_every_backend(store: Store) -> None:
    """The tailer passes lines up to 1 MiB; MySQL's TEXT would hold 64 KiB (LONGTEXT does)."""
    _experiment_id, trial_id = _trial(store)
    long_value = "G" * 300_000
    store.add_observations([ObservationRow(trial_id, "Best-Genotype", long_value, T0)])
    assert [o.value for o in store.list_observations(trial_id)] == [long_value]
