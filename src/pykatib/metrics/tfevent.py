"""Katib's TensorFlowEvent metrics collector: scalars from TensorBoard event files.

Mirrors Katib's pkg/metricscollector/v1beta1/tfevent-metricscollector/tfevent_loader.py. A
metric name ``m`` matches a summary tag when the tag starts with ``m``'s last path segment and,
if ``m`` has a directory part, the event file's directory (as a string) ends with that part:
``test/accuracy`` matches tag ``accuracy`` (or ``accuracy_1``) in ``.../test/events.out.tfevents.*``
but not in ``.../train/...``.

Both TF1 summaries (``simple_value``) and TF2 ones (a scalar ``tensor``) are read. Tags holding
anything but a single number (histograms, images, text) are skipped, where Katib would store
the tensor's string form.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from pykatib.metrics._parse import parse_epoch
from pykatib.metrics.observation import Observation

_log = logging.getLogger(__name__)

_MISSING_TENSORBOARD = "TensorFlowEvent collection needs tensorboard: pip install 'pykatib[tfevent]'"


def read_tfevent_dir(directory: str | Path, metric_names: Sequence[str]) -> list[Observation]:
    """All observations of ``metric_names`` in the event files under ``directory``.

    Files are read in sorted path order, events in file order. A missing directory gives [];
    an unreadable, corrupt or truncated file gives the events before the damage.
    """
    try:
        from tensorboard.backend.event_processing import event_file_loader
        from tensorboard.util import tensor_util
    except ImportError as exc:
        raise RuntimeError(_MISSING_TENSORBOARD) from exc
    # The legacy loader yields events as written; EventFileLoader would also rewrite them through
    # TensorBoard's compat layers, which this collector does not need.
    loader_cls = getattr(event_file_loader, "LegacyEventFileLoader", event_file_loader.EventFileLoader)

    names = list(dict.fromkeys(metric_names))
    observations: list[Observation] = []
    # abspath, not resolve(): the directory rule compares the names the user sees, and a
    # relative root such as "." must still end with its real directory name.
    for path in _event_files(os.path.abspath(directory)):
        matchers = _matchers_for_dir(os.path.dirname(path), names)
        if matchers:
            observations.extend(_read_file(path, matchers, loader_cls, tensor_util.make_ndarray))
    return observations


def _event_files(root: str) -> Iterator[str]:
    if os.path.isfile(root):  # Katib is given a directory, but a single file is harmless to allow
        yield root
        return
    for dirpath, dirnames, filenames in os.walk(root):  # a missing root just yields nothing
        dirnames.sort()  # in place: makes os.walk's descent order, hence the output, deterministic
        for filename in sorted(filenames):
            if "tfevents" in filename:
                yield os.path.join(dirpath, filename)


def _matchers_for_dir(file_dir: str, names: Sequence[str]) -> list[tuple[str, str]]:
    """(tag prefix, metric name) pairs that apply to event files in ``file_dir``."""
    matchers = []
    for name in names:
        parent, _, leaf = name.rpartition("/")
        # Katib's check is a plain string suffix (os.path.dirname(m) against the file's dirname),
        # kept as is so that Experiment YAML written for Katib selects the same files here.
        if parent and not file_dir.endswith(parent):
            continue
        matchers.append((leaf, name))
    return matchers


def _read_file(path: str, matchers: list[tuple[str, str]], loader_cls: Any, make_ndarray: Any) -> list[Observation]:
    found: list[Observation] = []
    try:
        # The loader already stops quietly at a truncated final record (a file still being
        # written); anything else wrong with the file ends reading it, keeping what was read.
        for event in loader_cls(path).Load():
            if not event.HasField("summary"):
                continue
            timestamp: datetime | None = None
            for value in event.summary.value:
                metrics = [name for prefix, name in matchers if value.tag.startswith(prefix)]
                if not metrics:
                    continue
                number = _scalar(value, make_ndarray)
                if number is None:
                    continue
                if timestamp is None:
                    timestamp = parse_epoch(event.wall_time)
                    if timestamp is None:  # NaN or absurd wall_time: the event cannot be placed in time
                        break
                found.extend(Observation(name, number, timestamp) for name in metrics)
    except Exception as exc:  # corrupt data can fail anywhere in the reader or protobuf parsing
        _log.warning("stopped reading event file %s: %s", path, exc)
    return found


def _scalar(value: Any, make_ndarray: Any) -> float | None:
    """The number a Summary.Value holds, or None if it is not a single finite number."""
    kind = value.WhichOneof("value")
    if kind == "simple_value":  # TF1 tf.summary.scalar
        number = float(value.simple_value)
    elif kind == "tensor":  # TF2 tf.summary.scalar, PyTorch's SummaryWriter with new-style scalars
        try:
            array = make_ndarray(value.tensor)
        except Exception:  # unsupported or malformed dtype/shape
            return None
        # Only single-element int/unsigned/float tensors are metric values (not bool, str, bytes).
        if array.size != 1 or array.dtype.kind not in "iuf":
            return None
        number = float(array.reshape(()))
    else:
        return None
    return number if math.isfinite(number) else None
