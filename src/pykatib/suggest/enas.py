"""Katib's ``enas`` algorithm (``pkg/suggestion/v1beta1/nas/enas/service.py``): an LSTM controller proposes
architectures from ``nasConfig`` and learns from the trials' results by REINFORCE.

As Katib's service:

* The first request is answered by the untrained controller's samples (random architectures).
* Every later request first trains the controller ``controller_train_steps`` steps on one reward: the mean
  objective of every Succeeded trial so far (negated for a minimize objective; the controller maximizes);
  Failed and other trials do not count. Then it samples the requested number of architectures.
* With no Succeeded trial yet Katib returns nothing and is asked again later; here that is a pause while
  trials are still active (:meth:`waiting`), and the end of the search when none is.
* Each trial gets ``architecture`` and ``nn_config`` formatted as Katib formats them
  (:mod:`pykatib.suggest.enas_space`). Architectures may repeat, as in Katib.

Where Katib keeps the controller in its suggestion pod's memory (a restarted pod starts from scratch), the
state here holds it whole (weights, Adam, baseline, generator), so a restarted run samples on where it was.
torch is the optional extra ``pykatib[nas]``: the registry imports this module only for an enas experiment,
and reports a missing torch before any trial starts.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from pykatib.spec.conditions import TrialPhase
from pykatib.spec.models import NasConfig, ObjectiveType
from pykatib.suggest.base import Suggester, Suggestion, TrialResult
from pykatib.suggest.enas_controller import Controller, ControllerSettings
from pykatib.suggest.enas_space import assignment, graph, nas_config_errors
from pykatib.suggest.registry import AlgorithmRefusedError

# The key under which the registry hands a NAS algorithm the experiment's nasConfig (Katib's field name).
NAS_CONFIG = "nasConfig"
_ACTIVE = (TrialPhase.CREATED, TrialPhase.RUNNING)


class EnasSuggester(Suggester):
    """Samples architectures from the controller; trains it on the trials' mean result before each request."""

    def setup(self, state: Mapping[str, Any]) -> None:
        nas_config = self.settings.get(NAS_CONFIG)
        if not isinstance(nas_config, NasConfig):
            raise AlgorithmRefusedError("enas", "spec.nasConfig: algorithm enas needs spec.nasConfig")
        errors = nas_config_errors(nas_config)
        if errors:
            raise AlgorithmRefusedError("enas", "; ".join(str(e) for e in errors))
        self.graph = graph(nas_config)
        if not self.graph.operations:
            raise AlgorithmRefusedError("enas", "spec.nasConfig.operations: no operation has any value to choose")
        settings = ControllerSettings(
            hidden_size=self.integer("controller_hidden_size"),
            temperature=self._optional("controller_temperature"),
            tanh_const=self._optional("controller_tanh_const"),
            entropy_weight=self._optional("controller_entropy_weight"),
            baseline_decay=self.number("controller_baseline_decay"),
            learning_rate=self.number("controller_learning_rate"),
            skip_target=self.number("controller_skip_target"),
            skip_weight=self._optional("controller_skip_weight"),
            train_steps=self.integer("controller_train_steps"),
            log_every_steps=self.integer("controller_log_every_steps"),
        )
        self.controller = Controller(self.graph.num_layers, len(self.graph.operations), settings, secrets.randbits(63))
        self.first_run = True
        self._waiting = False
        if state.get("controller"):
            self.controller.load(base64.b64decode(state["controller"]))
            self.first_run = bool(state.get("first_run", False))

    def _optional(self, name: str) -> float | None:
        return None if self.settings.get(name) is None else self.number(name)

    def suggest(self, n: int, trials: Sequence[TrialResult]) -> list[Suggestion]:
        self._waiting = False
        if n <= 0:
            return []
        if not self.first_run:
            result = self._mean_result(trials)
            if result is None:
                # Katib: "Suggestion has spawned trials, but they all failed": nothing this time.
                self._waiting = any(trial.phase in _ACTIVE for trial in trials)
                return []
            reward = -result if self.objective is ObjectiveType.MINIMIZE else result
            self.controller.train(lambda _arc: reward)
        self.first_run = False
        return [Suggestion(assignment(self.graph, arc)) for arc in self.controller.sample_arcs(n)]

    @staticmethod
    def _mean_result(trials: Sequence[TrialResult]) -> float | None:
        """Katib's GetEvaluationResult: the mean objective of the Succeeded trials, None without any."""
        values = [t.objective for t in trials if t.phase is TrialPhase.SUCCEEDED and t.objective is not None]
        return sum(values) / len(values) if values else None

    def waiting(self) -> bool:
        return self._waiting

    def state(self) -> dict[str, Any]:
        # ~4 bytes per weight, three times once Adam has moments (default hidden size 64: about 0.9 MB).
        return {"controller": base64.b64encode(self.controller.save()).decode("ascii"), "first_run": self.first_run}
