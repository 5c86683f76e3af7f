"""The contract of an early-stopping rule: fed a trial's objective reports as they stream in, it answers
whether to stop that trial now. The controller owns the trials and does the stopping; the rule keeps
whatever bookkeeping it needs (reports per trial, references from succeeded trials).

Call order, as the controller makes it:

* ``observe(trial, values)`` with each batch of new objective values of a trial, in report order; True
  means: stop this trial now (the controller acts on it only while the trial runs; once is enough).
* ``succeeded(trial)`` when a trial ends Succeeded: its reports may now serve as a reference for others.
* ``forget(trial)`` when a trial runs again from nothing (its old reports no longer count).

After a controller restart the rule is built afresh and told every stored report the same way: each
trial's stored objective values through ``observe``, then ``succeeded`` for the trials that had succeeded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class EarlyStopper(Protocol):
    def observe(self, trial: str, values: Sequence[float]) -> bool: ...

    def succeeded(self, trial: str) -> None: ...

    def forget(self, trial: str) -> None: ...
