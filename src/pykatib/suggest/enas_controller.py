"""Katib's ENAS LSTM controller (``nas/enas/Controller.py``, TensorFlow 1) in PyTorch.

Per layer the LSTM samples an operation id, then (from the second layer on) one skip bit per earlier layer
by attention over the earlier layers' hidden states; temperature and ``tanh_const * tanh`` shape the logits.
Training is REINFORCE with an exponential-moving-average baseline, an entropy bonus in the reward and a KL
penalty pulling the skip rate towards ``skip_target``, by Adam: each step samples a fresh architecture and
reinforces it by the reward given for it (Katib gives every step the same value, the trials' mean result).

Parameters, initialisation (uniform in [-0.01, 0.01]), the sampler's arithmetic and the loss follow Katib's
code line by line. One difference: with a single layer there is no skip decision, and Katib's mean over
no skip penalties is NaN, which would turn every weight into NaN at the first step; here it is no penalty.

The whole controller (weights, Adam's moments, baseline, step count and the random generator) round-trips
through :meth:`Controller.save` / :meth:`Controller.load` as bytes, so a restarted suggester samples on.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional

log = logging.getLogger(__name__)

INIT_RANGE = 0.01  # Katib's random_uniform_initializer(minval=-0.01, maxval=0.01)


@dataclass(frozen=True, slots=True)
class ControllerSettings:
    """Katib's ``controller_*`` algorithm settings (None where Katib allows "None": that term is left out)."""

    hidden_size: int = 64
    temperature: float | None = 5.0
    tanh_const: float | None = 2.25
    entropy_weight: float | None = 1e-5
    baseline_decay: float = 0.999
    learning_rate: float = 5e-5
    skip_target: float = 0.4
    skip_weight: float | None = 0.8
    train_steps: int = 50
    log_every_steps: int = 10


@dataclass(frozen=True, slots=True)
class Sample:
    """One sampled architecture (flat, as Katib's ``sample_arc``) and the tensors REINFORCE needs."""

    arc: list[int]
    log_prob: Tensor  # sum of the negative log-probabilities of every decision (Katib's sample_log_probs)
    entropy: float  # Katib's sample_entropy (no gradient)
    skip_penalty: Tensor  # mean KL of the skip probabilities from the skip target
    skip_count: int


class _Parameters(nn.Module):
    """Katib's ``_build_params``: the LSTM's one weight matrix, the embeddings, the softmax and the attention."""

    def __init__(self, num_operations: int, hidden: int, generator: torch.Generator) -> None:
        super().__init__()

        def uniform(*shape: int) -> nn.Parameter:
            values = torch.rand(*shape, generator=generator) * (2 * INIT_RANGE) - INIT_RANGE
            return nn.Parameter(values)

        self.w_lstm = uniform(2 * hidden, 4 * hidden)
        self.g_emb = uniform(1, hidden)
        self.w_emb = uniform(num_operations, hidden)
        self.w_soft = uniform(hidden, num_operations)
        self.attn_w_1 = uniform(hidden, hidden)
        self.attn_w_2 = uniform(hidden, hidden)
        self.attn_v = uniform(hidden, 1)


def _lstm(x: Tensor, prev_c: Tensor, prev_h: Tensor, w_lstm: Tensor) -> tuple[Tensor, Tensor]:
    i, f, o, g = torch.chunk(torch.cat([x, prev_h], dim=1) @ w_lstm, 4, dim=1)
    next_c = torch.sigmoid(i) * torch.tanh(g) + torch.sigmoid(f) * prev_c
    return next_c, torch.sigmoid(o) * torch.tanh(next_c)


class Controller:
    """The sampler and its trainer for ``num_layers`` layers over ``num_operations`` candidate operations."""

    def __init__(self, num_layers: int, num_operations: int, settings: ControllerSettings, seed: int) -> None:
        self.num_layers = num_layers
        self.num_operations = num_operations
        self.settings = settings
        self.generator = torch.Generator().manual_seed(seed)
        self.params = _Parameters(num_operations, settings.hidden_size, self.generator)
        self.optimizer = torch.optim.Adam(self.params.parameters(), lr=settings.learning_rate)
        self.baseline = 0.0
        self.train_step = 0

    def _shape(self, logits: Tensor) -> Tensor:
        if self.settings.temperature is not None:
            logits = logits / self.settings.temperature
        if self.settings.tanh_const is not None:
            logits = self.settings.tanh_const * torch.tanh(logits)
        return logits

    def sample(self) -> Sample:
        """Katib's ``_build_sampler``: one architecture, with what training needs of it."""
        p, hidden = self.params, self.settings.hidden_size
        target = torch.tensor([1.0 - self.settings.skip_target, self.settings.skip_target])
        prev_c, prev_h = torch.zeros(1, hidden), torch.zeros(1, hidden)
        inputs: Tensor = p.g_emb
        arc: list[int] = []
        log_probs: list[Tensor] = []
        entropies: list[Tensor] = []
        penalties: list[Tensor] = []
        all_h: list[Tensor] = []
        all_h_w: list[Tensor] = []
        skips = 0
        for layer_id in range(self.num_layers):
            prev_c, prev_h = _lstm(inputs, prev_c, prev_h, p.w_lstm)
            logits = self._shape(prev_h @ p.w_soft)
            operation = torch.multinomial(functional.softmax(logits, dim=1), 1, generator=self.generator).view(1)
            arc.append(int(operation))
            log_prob = functional.cross_entropy(logits, operation, reduction="none")
            log_probs.append(log_prob.sum())
            entropies.append((log_prob * torch.exp(-log_prob)).detach().sum())
            inputs = p.w_emb[operation]
            prev_c, prev_h = _lstm(inputs, prev_c, prev_h, p.w_lstm)
            if layer_id > 0:
                query = torch.tanh(prev_h @ p.attn_w_2 + torch.cat(all_h_w, dim=0)) @ p.attn_v
                logits = self._shape(torch.cat([-query, query], dim=1))
                skip = torch.multinomial(functional.softmax(logits, dim=1), 1, generator=self.generator).view(layer_id)
                arc.extend(int(bit) for bit in skip)
                skip_prob = torch.sigmoid(logits)
                penalties.append((skip_prob * torch.log(skip_prob / target)).sum())
                log_prob = functional.cross_entropy(logits, skip, reduction="none")
                log_probs.append(log_prob.sum())
                entropies.append((log_prob * torch.exp(-log_prob)).detach().sum())
                bits = skip.to(torch.float32).view(1, layer_id)
                skips += int(skip.sum())
                inputs = (bits @ torch.cat(all_h, dim=0)) / (1.0 + bits.sum())
            else:
                inputs = p.g_emb
            all_h.append(prev_h)
            all_h_w.append(prev_h @ p.attn_w_1)
        penalty = torch.stack(penalties).mean() if penalties else torch.zeros(())
        return Sample(arc, torch.stack(log_probs).sum(), float(torch.stack(entropies).sum()), penalty, skips)

    def sample_arcs(self, count: int) -> list[list[int]]:
        with torch.no_grad():
            return [self.sample().arc for _ in range(count)]

    def train(self, reward_of: Callable[[Sequence[int]], float], steps: int | None = None) -> None:
        """Katib's ``build_trainer`` run ``steps`` times (default ``controller_train_steps``): each step
        samples an architecture and reinforces it by ``reward_of(arc)`` against the moving baseline."""
        s = self.settings
        for _ in range(s.train_steps if steps is None else steps):
            sample = self.sample()
            reward = reward_of(sample.arc)
            if s.entropy_weight is not None:
                reward += s.entropy_weight * sample.entropy
            self.baseline -= (1 - s.baseline_decay) * (self.baseline - reward)
            loss = sample.log_prob * (reward - self.baseline)
            if s.skip_weight is not None:
                loss = loss + s.skip_weight * sample.skip_penalty
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            self.train_step += 1
            if self.train_step % s.log_every_steps == 0 and log.isEnabledFor(logging.DEBUG):
                self._log(float(loss.detach()), sample)

    def _log(self, loss: float, sample: Sample) -> None:
        """Katib's line every ``controller_log_every_steps`` steps (debug level here)."""
        grads = [q.grad for q in self.params.parameters() if q.grad is not None]
        norm = float(torch.sqrt(sum(((g**2).sum() for g in grads), torch.zeros(()))))
        pairs = self.num_layers * (self.num_layers - 1) / 2
        rate = sample.skip_count / pairs if pairs else 0.0
        log.debug(
            "Controller Step: %d - Loss: %.4f - Entropy: %.9g - Gradient Norm: %.7f - Baseline=%.4f - Skip Rate=%.4f",
            self.train_step, loss, sample.entropy, norm, self.baseline, rate,
        )  # fmt: skip

    def save(self) -> bytes:
        """Everything a rebuilt controller needs to go on exactly: weights, Adam, baseline, step, generator."""
        buffer = io.BytesIO()
        state = {
            "params": self.params.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "baseline": self.baseline,
            "train_step": self.train_step,
            "generator": self.generator.get_state(),
        }
        torch.save(state, buffer)
        return buffer.getvalue()

    def load(self, data: bytes) -> None:
        """Continue from :meth:`save`'s bytes (tensors and numbers only: ``weights_only`` loading)."""
        state = torch.load(io.BytesIO(data), weights_only=True)
        self.params.load_state_dict(state["params"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.baseline = float(state["baseline"])
        self.train_step = int(state["train_step"])
        self.generator.set_state(state["generator"])
