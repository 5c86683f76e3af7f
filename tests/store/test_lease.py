"""The owner lease: one controller per experiment, on every backend, across processes."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta

import pytest

from pykatib.store import ExperimentNotFoundError, ExperimentOwnedError, LeaseOwner, Store

Spawn = Callable[..., "subprocess.Popen[str]"]  # the spawn fixture (conftest.py)


def test_a_held_lease_refuses_another_owner_and_names_the_holder(store: Store) -> None:
    experiment = store.create_experiment("leased", "default", {})
    first, second = LeaseOwner.this_process(), LeaseOwner.this_process()
    lease = store.acquire_lease(experiment.id, first)
    assert lease.owner == first
    with pytest.raises(ExperimentOwnedError, match=rf"pid {first.pid} on host {first.host}"):
        store.acquire_lease(experiment.id, second)
    # Renewing is the holder's alone; taking it again is a renewal that keeps the first acquisition time.
    assert store.renew_lease(experiment.id, second) is None
    renewed = store.renew_lease(experiment.id, first)
    assert renewed is not None and renewed.expires_at >= lease.expires_at
    again = store.acquire_lease(experiment.id, first)
    assert abs(again.acquired_at - lease.acquired_at) < timedelta(milliseconds=1)
    # Released, it is free; the other owner's release of a lease it does not hold changes nothing.
    store.release_lease(experiment.id, second)
    assert store.get_lease(experiment.id) is not None
    store.release_lease(experiment.id, first)
    assert store.get_lease(experiment.id) is None
    assert store.acquire_lease(experiment.id, second).owner == second


def test_an_expired_lease_is_taken_over_and_the_old_owner_learns_it(store: Store) -> None:
    experiment = store.create_experiment("expired", "default", {})
    # Another host's controller: its process cannot be checked from here, only the expiry frees its lease.
    remote = dataclasses.replace(LeaseOwner.this_process(), host="elsewhere.example")
    store.acquire_lease(experiment.id, remote, ttl=0.2)
    local = LeaseOwner.this_process()
    with pytest.raises(ExperimentOwnedError, match=r"elsewhere\.example"):
        store.acquire_lease(experiment.id, local)
    time.sleep(0.3)
    assert store.acquire_lease(experiment.id, local).owner == local
    assert store.renew_lease(experiment.id, remote) is None  # the old owner must stop


def test_the_lease_of_a_dead_process_on_this_host_is_free_at_once(store: Store) -> None:
    experiment = store.create_experiment("orphaned", "default", {})
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = dataclasses.replace(LeaseOwner.this_process(), pid=int(child.stdout))
    store.acquire_lease(experiment.id, dead)  # an hour-long lease would not help it: its process is gone
    assert store.acquire_lease(experiment.id, LeaseOwner.this_process()).owner.pid != dead.pid


def test_a_reused_pid_is_not_the_owner(store: Store) -> None:
    """This process, recorded with another start time (a pid the kernel handed out again), holds nothing."""
    experiment = store.create_experiment("reused", "default", {})
    me = LeaseOwner.this_process()
    assert me.process_key is not None
    impostor = dataclasses.replace(me, id="0" * 32, process_key=me.process_key + "0")
    store.acquire_lease(experiment.id, impostor)
    assert store.acquire_lease(experiment.id, me).owner == me


@pytest.mark.parametrize("previous", ["dead owner", "none"])
def test_processes_racing_for_a_lease_get_exactly_one_winner(store: Store, spawn: Spawn, previous: str) -> None:
    """With a dead owner's row, or with no row at all (after a release): one takes it, the others are refused.
    (On MariaDB two inserts under FOR UPDATE's gap locks once failed with a deadlock instead.)"""
    experiment = store.create_experiment("raced", "default", {})
    if previous == "dead owner":
        child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
        store.acquire_lease(experiment.id, dataclasses.replace(LeaseOwner.this_process(), pid=int(child.stdout)))
    start_at = str(time.time() + 1.5)
    code = """
        import sys, time
        from pykatib.store import ExperimentOwnedError, LeaseOwner, Store
        with Store(sys.argv[1]) as store:
            time.sleep(max(0.0, float(sys.argv[3]) - time.time()))
            try:
                store.acquire_lease(int(sys.argv[2]), LeaseOwner.this_process())
            except ExperimentOwnedError:
                print("refused")
            else:
                print("won")
                time.sleep(1.0)  # stay alive while the others try, as a controller would
        """
    processes = [spawn(code, store.url, str(experiment.id), start_at) for _ in range(6)]
    outcomes = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr
        outcomes.append(stdout.strip())
    assert sorted(outcomes) == ["refused"] * 5 + ["won"]


def test_deleting_the_experiment_deletes_its_lease(store: Store) -> None:
    experiment = store.create_experiment("gone", "default", {})
    owner = LeaseOwner.this_process()
    store.acquire_lease(experiment.id, owner)
    store.delete_experiment(experiment.id)
    assert store.get_lease(experiment.id) is None
    with pytest.raises(ExperimentNotFoundError, match="deleted"):
        store.renew_lease(experiment.id, owner)


def test_an_owner_in_another_pid_namespace_is_left_to_its_expiry(store: Store) -> None:
    """Another container with the same hostname: its pids mean other processes here, so a pid that looks dead
    (or alive) here says nothing; only the lease's expiry frees it."""
    experiment = store.create_experiment("container", "default", {})
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    me = LeaseOwner.this_process()
    elsewhere = dataclasses.replace(me, id="e" * 32, pid=int(child.stdout), process_key="other-boot:4026531999:123")
    store.acquire_lease(experiment.id, elsewhere, ttl=0.3)
    with pytest.raises(ExperimentOwnedError):
        store.acquire_lease(experiment.id, me)
    time.sleep(0.4)
    assert store.acquire_lease(experiment.id, me).owner == me
