"""Trials on a Ray cluster (``--executor ray``): a ``base.Executor`` whose replicas are Ray actors.

Each replica is a detached actor (``execute.ray_replica.Replica``) holding the CPU, memory, GPUs and other
resources its container asks for (its requests, else its limits; one CPU when it names none), so a replica
waits for room instead of oversubscribing a node. A trial's replicas are one placement group, packed onto one
node (the operator variables the controller computed name localhost). The controller reads each replica's
output back in chunks into the trial's log, where its metrics collector reads them while the trial runs; a
replica whose node dies comes back without an exit code, and the trial is lost (TrialLost), as a local
process that vanished. A restarted controller finds the actors by the names recorded in the trial's
directory (``ray.json``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pykatib.execute.base import LaunchSpec
from pykatib.execute.ray_replica import Replica
from pykatib.execute.resources import ResourceError

log = logging.getLogger(__name__)

NAMESPACE = "pykatib"  # the Ray namespace of pykatib's actors and placement groups
RECORD_FILE = "ray.json"
POLL_SECONDS = 0.25
STOP_GRACE_SECONDS = 3.0
SIDECAR_GRACE_SECONDS = 30.0
_NOT_RAY = {"cpu", "memory", "nvidia.com/gpu", "ephemeral-storage", "storage"}  # and hugepages-*


class RayUnavailableError(RuntimeError):
    """Ray is not installed, or no cluster answers at the address."""


@dataclass
class _Member:
    """One replica of a started trial, as the controller follows it."""

    key: str
    actor_name: str
    log_file: str
    primary: bool
    sidecar: bool = False
    ends_with_primary: bool = False
    offset: int = 0
    code: int | None = None
    ended: bool = False


def ray_options(launch: LaunchSpec) -> dict[str, Any]:
    """The actor options for a launch's resources: Ray's CPU, memory (bytes), GPU and custom resources."""
    asked = dict(launch.resources)
    options: dict[str, Any] = {"num_cpus": asked.get("cpu", 1.0), "num_gpus": launch.gpus}
    if asked.get("memory"):
        options["memory"] = int(asked["memory"])
    custom = {n: v for n, v in asked.items() if n not in _NOT_RAY and not n.startswith("hugepages-") and v}
    if custom:
        options["resources"] = custom
    return options


def _bundle(options: dict[str, Any]) -> dict[str, float]:
    bundle = {"CPU": float(options["num_cpus"]), **options.get("resources", {})}
    if options["num_gpus"]:
        bundle["GPU"] = float(options["num_gpus"])
    if options.get("memory"):
        bundle["memory"] = float(options["memory"])
    return {name: value for name, value in bundle.items() if value} or {"CPU": 0.001}


class RayExecutor:
    """Starts trials' replicas on the Ray cluster at ``address`` ("auto": the one this machine belongs to)."""

    def __init__(self, address: str | None = "auto") -> None:
        self.address = address
        self._connected = False

    def connect(self) -> None:
        """Join the cluster once per process (the server's controllers share it)."""
        if self._connected:
            return
        try:
            import ray
        except ImportError:
            raise RayUnavailableError("--executor ray needs Ray: pip install 'pykatib[ray]'") from None
        if not ray.is_initialized():
            _probe(self.address)
            try:
                ray.init(address=self.address, namespace=NAMESPACE, log_to_driver=False,
                         logging_level=logging.WARNING, configure_logging=False)  # fmt: skip
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise RayUnavailableError(
                    f"no Ray cluster at {self.address}: {exc} (start one with `ray start --head`)"
                ) from None
        self._connected = True

    async def start(self, name: str, trial_dir: Path, launches: list[LaunchSpec]) -> RayTrial:
        from ray.util.placement_group import placement_group, remove_placement_group
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        await asyncio.to_thread(self.connect)
        trial_dir.mkdir(parents=True, exist_ok=True)
        prefix = _actor_prefix(trial_dir)
        options = [ray_options(launch) for launch in launches]
        group = placement_group([_bundle(o) for o in options], strategy="STRICT_PACK", name=prefix,
                                lifetime="detached")  # fmt: skip
        members = [
            _Member(
                launch.key,
                f"{prefix}/{launch.key}",
                str(launch.log_file),
                launch.primary,
                launch.sidecar,
                launch.ends_with_primary,
            )
            for launch in launches
        ]
        _write_record(trial_dir, prefix, members)
        try:
            await asyncio.to_thread(_check_feasible, [_bundle(o) for o in options])
            await group.ready()  # waits for room on one node
            actor_class = _actor_class()
            actors = []
            for index, (launch, option, member) in enumerate(zip(launches, options, members, strict=True)):
                Path(launch.log_file).touch()
                strategy = PlacementGroupSchedulingStrategy(group, placement_group_bundle_index=index)
                actors.append(
                    actor_class.options(
                        name=member.actor_name,
                        namespace=NAMESPACE,
                        lifetime="detached",
                        max_restarts=0,
                        scheduling_strategy=strategy,
                        **option,
                    ).remote(launch.argv, launch.env, launch.cwd, launch.gpus)
                )
            await asyncio.gather(*(actor.where.remote() for actor in actors))
        except BaseException:
            await asyncio.to_thread(_release, prefix, members, stop=True)
            remove_placement_group(group)
            (trial_dir / RECORD_FILE).unlink(missing_ok=True)
            raise
        return RayTrial(name, trial_dir, members, prefix, actors)

    def reattach(self, name: str, trial_dir: Path) -> RayTrial | None:
        """The trial's actors as recorded, or None when they are gone (whatever is left is stopped)."""
        try:
            data = json.loads((trial_dir / RECORD_FILE).read_text())
            members = [_Member(**item) for item in data["members"]]
            prefix = str(data["group"])
        except (FileNotFoundError, ValueError, TypeError, KeyError):
            return None
        self.connect()
        if all(m.ended for m in members):  # it ended, its codes recorded, before the controller went
            return RayTrial(name, trial_dir, members, prefix, [None] * len(members))
        import ray

        alive = []
        for member in members:
            with contextlib.suppress(ValueError):
                alive.append(ray.get_actor(member.actor_name, namespace=NAMESPACE))
        if len(alive) != len(members):
            _release(prefix, members, stop=True)
            (trial_dir / RECORD_FILE).unlink(missing_ok=True)
            return None
        for member in members:  # go on reading where the trial's log ends
            with contextlib.suppress(OSError):
                member.offset = Path(member.log_file).stat().st_size
        return RayTrial(name, trial_dir, members, prefix, alive)

    def remove(self, trial_dir: Path) -> None:
        with contextlib.suppress(FileNotFoundError, ValueError, TypeError, KeyError):
            data = json.loads((trial_dir / RECORD_FILE).read_text())
            self.connect()
            _release(str(data["group"]), [_Member(**item) for item in data["members"]], stop=True)
        shutil.rmtree(trial_dir, ignore_errors=True)


class RayTrial:
    """The replicas of one trial on the cluster (a ``base.TrialHandle``)."""

    def __init__(self, name: str, trial_dir: Path, members: list[_Member], group: str, actors: list[Any]) -> None:
        self.name = name
        self.trial_dir = trial_dir
        self.members = members
        self.group = group
        self._actors = {m.key: actor for m, actor in zip(members, actors, strict=True)}
        self.stopping = False
        self.replicas_ended = False

    @property
    def primary_key(self) -> str:
        return next(m.key for m in self.members if m.primary)

    @property
    def pid(self) -> int | None:
        return None  # on a node of the cluster, not this machine

    async def wait(self) -> dict[str, int | None]:
        """Follow every replica to its end, copying its output into its log; the codes of the replicas."""
        primary = next(m for m in self.members if m.primary)
        replicas = [m for m in self.members if not m.sidecar]
        try:
            while not all(m.ended for m in self.members):
                await asyncio.gather(*(self._pull(m) for m in self.members if not m.ended))
                if primary.ended and not self.stopping:
                    if primary.code != 0:
                        await self._stop([m for m in replicas if not m.ended])  # the job has failed
                    else:
                        await self._stop([m for m in replicas if m.ends_with_primary and not m.ended])
                if all(m.ended for m in replicas):
                    self.replicas_ended = True
                    await self._stop([m for m in self.members if m.sidecar and not m.ended], SIDECAR_GRACE_SECONDS)
                if not all(m.ended for m in self.members):
                    await asyncio.sleep(POLL_SECONDS)
            # The codes first, then the actors that held them go: a controller that dies in between finds the
            # trial's end in its record (reattach) instead of a trial lost.
            _write_record(self.trial_dir, self.group, self.members)
        finally:
            # stop=True: what a replica left in its process group (its own session) ends with it.
            await asyncio.to_thread(_release, self.group, self.members, stop=True)
        self.replicas_ended = True
        return {m.key: m.code for m in replicas if not (m.ends_with_primary and not m.primary)}

    async def stop(self) -> None:
        self.stopping = True
        await self._stop([m for m in self.members if not m.ended])

    async def _stop(self, members: list[_Member], grace: float = STOP_GRACE_SECONDS) -> None:
        import ray

        async def one(member: _Member) -> None:
            with contextlib.suppress(ray.exceptions.RayError):
                await self._actors[member.key].stop.remote(grace)

        await asyncio.gather(*(one(m) for m in members))

    async def _pull(self, member: _Member) -> None:
        import ray

        try:
            chunk, code = await self._actors[member.key].progress.remote(member.offset)
        except ray.exceptions.RayError as exc:  # its node died, or the actor was killed
            log.warning("trial %s: replica %s is gone: %s", self.name, member.key, exc)
            member.ended, member.code = True, None
            return
        if chunk:
            with open(member.log_file, "ab") as out:
                out.write(chunk)
            member.offset += len(chunk)
        if code is not None:
            member.ended, member.code = True, code


def _probe(address: str | None, timeout: float = 5.0) -> None:
    """Refuse a HOST:PORT nobody listens on at once: Ray's own connect retries for minutes."""
    if not address or address == "auto" or "://" in address:
        return
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout):
            return
    except (OSError, ValueError) as exc:
        raise RayUnavailableError(f"no Ray cluster at {address}: {exc} (start one with `ray start --head`)") from None


class RayUnschedulableError(ResourceError):
    """No node of the cluster has what a trial asks for: it would wait forever."""


def _check_feasible(bundles: list[dict[str, float]]) -> None:
    """Refuse a trial no single node could ever hold (its replicas are packed onto one node)."""
    import ray

    needed: dict[str, float] = {}
    for bundle in bundles:
        for name, value in bundle.items():
            needed[name] = needed.get(name, 0.0) + value
    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    if any(all(node.get(name, 0.0) >= value for name, value in needed.items()) for node in nodes):
        return
    asked = ", ".join(f"{name} {value:g}" for name, value in sorted(needed.items()))
    raise RayUnschedulableError(f"asks for {asked} on one node, and no node of the Ray cluster has that")


def _actor_prefix(trial_dir: Path) -> str:
    digest = hashlib.sha256(str(trial_dir.resolve()).encode()).hexdigest()[:16]
    return f"trial-{trial_dir.name}-{digest}"


def _write_record(trial_dir: Path, group: str, members: list[_Member]) -> None:
    fields = ("key", "actor_name", "log_file", "primary", "sidecar", "ends_with_primary", "code", "ended")
    data = {"group": group, "members": [{f: getattr(m, f) for f in fields} for m in members]}
    tmp = trial_dir / f"{RECORD_FILE}.tmp"
    tmp.write_text(json.dumps(data))
    tmp.replace(trial_dir / RECORD_FILE)


_ACTOR_CLASS: Any = None


def _actor_class() -> Any:
    """``Replica`` as a Ray actor class, made once per process."""
    global _ACTOR_CLASS
    if _ACTOR_CLASS is None:
        import ray

        _ACTOR_CLASS = ray.remote(Replica)
    return _ACTOR_CLASS


def _release(group: str, members: list[_Member], *, stop: bool = False) -> None:
    """Kill the trial's actors and give back its placement group; ``stop``: first stop the processes they
    run (an actor's process runs in a session of its own and would outlive it)."""
    import ray
    from ray.util import get_placement_group
    from ray.util.placement_group import remove_placement_group

    for member in members:
        try:
            actor = ray.get_actor(member.actor_name, namespace=NAMESPACE)
        except ValueError:
            continue  # gone already
        with contextlib.suppress(ray.exceptions.RayError):
            if stop:
                ray.get(actor.close.remote(), timeout=STOP_GRACE_SECONDS + 10)
            ray.kill(actor, no_restart=True)
    with contextlib.suppress(Exception):  # gone already: Ray raises ValueError or its own errors
        remove_placement_group(get_placement_group(group))
