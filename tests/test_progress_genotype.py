"""How ``pykatib run`` prints a DARTS result: the best genotype as one readable line per cell, long NAS
assignments cut in the trials table."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import Console

from pykatib.progress import CELL_WIDTH, genotype_lines, optimal_summary, trials_table
from pykatib.spec.conditions import TrialPhase
from pykatib.store import TrialRecord

GENOTYPE = (
    "Genotype(normal=[[('max_pooling_3x3',0),('max_pooling_3x3',1)],[('skip_connection',2),('avg_pooling_3x3',0)]],"
    "normal_concat=range(2,4),reduce=[[('max_pooling_3x3',1),('max_pooling_3x3',0)]],reduce_concat=range(2,3))"
)


def test_genotype_lines_name_each_nodes_operations_and_inputs() -> None:
    assert genotype_lines(GENOTYPE) == [
        "normal cell: node 2 = max_pooling_3x3(node 0) + max_pooling_3x3(node 1); "
        "node 3 = skip_connection(node 2) + avg_pooling_3x3(node 0); output = nodes 2, 3 concatenated",
        "reduction cell: node 2 = max_pooling_3x3(node 1) + max_pooling_3x3(node 0); output = nodes 2 concatenated",
    ]
    # Katib's own print (with spaces) reads the same; anything else is no genotype.
    assert genotype_lines(GENOTYPE.replace(",", ", ")) == genotype_lines(GENOTYPE)
    assert genotype_lines("0.93") == genotype_lines("Genotype(") == []


def test_optimal_summary_adds_the_genotype_under_the_metric() -> None:
    status = {
        "currentOptimalTrial": {
            "bestTrialName": "darts-cpu-x",
            "parameterAssignments": [{"name": "num-layers", "value": "1"}],
            "observation": {
                "metrics": [{"name": "Best-Genotype", "min": "unavailable", "max": "unavailable", "latest": GENOTYPE}]
            },
        }
    }
    lines = optimal_summary(status).splitlines()
    assert lines[0] == "Optimal trial darts-cpu-x: num-layers=1"
    assert lines[1] == f"  Best-Genotype: min unavailable, max unavailable, latest {GENOTYPE}"
    assert lines[2].startswith("  normal cell: node 2 = max_pooling_3x3(node 0)")
    assert lines[3].startswith("  reduction cell: ")


def test_trials_table_cuts_long_values_and_shows_a_text_objective() -> None:
    now = datetime.now(UTC)
    trial = TrialRecord(1, 1, "darts-a", {"search-space": "['" + "x" * 80 + "']"}, {}, TrialPhase.SUCCEEDED,
                        None, None, now, now, now, 0, None, None, None)  # fmt: skip
    console = Console(width=200, record=True)
    console.print(trials_table([trial], "Best-Genotype", "darts-a", GENOTYPE))
    text = console.export_text()
    assert "['" + "x" * (CELL_WIDTH - 3) + "…" in text
    assert GENOTYPE[: CELL_WIDTH - 1] + "…" in text
