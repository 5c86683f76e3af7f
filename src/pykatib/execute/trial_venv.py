"""The Python a trial sees: one virtual environment per experiment, on top of pykatib's own packages.

Katib runs each trial in a fresh container of its image; a trial that ``pip install``s (Katib's SDK ``tune()``
with ``packages_to_install``) changes only that container. Here the experiment's trials share a virtual
environment in the experiment's directory (removed with it), so what they install never lands in the Python
running pykatib:

- created from the interpreter running pykatib, without pip of its own (``venv``, ~3 ms; ~2.5 s with one
  where pykatib's Python has no pip); a ``.pth`` file runs ``execute.venv_hook``, which adds pykatib's
  site-packages after the environment's own (installed packages win, pykatib's stay importable: pip included)
  and serialises pip runs in the environment (~2 ms more per python start);
- its ``bin`` goes first on the trial's PATH, as an activated environment: ``python``, ``python3`` are its
  interpreter, ``pip``, ``pip3`` and ``torchrun`` small ``sh`` scripts that run it (``-m pip``,
  ``-m torch.distributed.run``) with the arguments as given;
- created when the experiment's first trial starts (made again when pykatib's Python changed since; only its
  pykatib files rewritten when pykatib did), under a file lock, so trials starting at once wait for one
  creation; each later start reads one small file.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import importlib.util
import os
import py_compile
import shlex
import shutil
import site
import subprocess
import sys
import sysconfig
import venv
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from pykatib.execute import venv_hook

VENV_DIR = "venv"  # in the experiment's directory
STAMP_FILE = "pykatib-venv"  # written last: the environment is complete, and for which pykatib Python
HOOK_MODULE = "_pykatib_venv"
# The programs the environment provides beyond its interpreter: name -> python arguments before the user's.
SCRIPTS = {"pip": ("-m", "pip"), "pip3": ("-m", "pip"), "torchrun": ("-m", "torch.distributed.run")}


class TrialVenvError(ValueError):
    """The experiment's virtual environment cannot be created."""


def pykatib_site_dirs() -> list[str]:
    """The site-packages directories of the Python running pykatib, in its search order."""
    dirs = list(site.getsitepackages())
    if site.ENABLE_USER_SITE:
        dirs.append(site.getusersitepackages())
    return [d for d in dict.fromkeys(dirs) if os.path.isdir(d) and "\n" not in d]


def _interpreter_stamp() -> str:
    """The stamp's first part: the base interpreter the environment's python is."""
    return f"{sys.base_prefix}\n{sys.version}\n"


@functools.cache
def _stamp() -> str:
    """What the environment was made from (the base interpreter, pykatib's site-packages, the hook): another
    pykatib Python makes it again; the same one started by another name (python, python3.11) does not."""
    hook = Path(venv_hook.__file__).read_bytes()
    parts = [*pykatib_site_dirs(), hashlib.sha256(hook).hexdigest()]
    return _interpreter_stamp() + "\n".join(parts) + "\n"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@dataclass(frozen=True)
class TrialVenv:
    """One experiment's virtual environment: where its trials' python, pip and torchrun live."""

    root: Path

    @classmethod
    def of_experiment(cls, experiment_dir: Path) -> TrialVenv:
        return cls(experiment_dir / VENV_DIR)

    @property
    def bin_dir(self) -> Path:
        return self.root / "bin"

    @property
    def python(self) -> Path:
        return self.bin_dir / "python"

    @property
    def site_packages(self) -> Path:
        base = str(self.root)
        return Path(sysconfig.get_path("purelib", scheme="venv", vars={"base": base, "platbase": base}))

    def ready(self) -> bool:
        try:
            return (self.root / STAMP_FILE).read_text() == _stamp()
        except OSError:
            return False

    def ensure(self) -> TrialVenv:
        """The environment, created first when missing or made by another pykatib Python; safe to call from
        several threads or processes at once (one creates, the others wait for it)."""
        if self.ready():
            return self
        try:
            self.root.parent.mkdir(parents=True, exist_ok=True)
            with _locked(self.root.parent / f"{VENV_DIR}.lock"):
                if not self.ready():
                    self._create()
        except (OSError, subprocess.CalledProcessError) as exc:
            raise TrialVenvError(f"cannot create the trials' Python environment {self.root}: {exc}") from exc
        return self

    def environ(self, env: Mapping[str, str]) -> dict[str, str]:
        """``env`` with the environment activated: its ``bin`` first on PATH, VIRTUAL_ENV set."""
        path = env.get("PATH") or os.defpath
        return {**env, "PATH": f"{self.bin_dir}{os.pathsep}{path}", "VIRTUAL_ENV": str(self.root)}

    def _create(self) -> None:
        """Make the environment; one of the same interpreter (pykatib upgraded, another HOME's site
        directories) only has pykatib's files rewritten in place: trials still running from before keep the
        packages they installed."""
        try:
            made_by = (self.root / STAMP_FILE).read_text()
        except OSError:
            made_by = ""
        if not (made_by.startswith(_interpreter_stamp()) and (self.root / "pyvenv.cfg").is_file()):
            shutil.rmtree(self.root, ignore_errors=True)
            # pip comes from pykatib's packages when it has it: no copy of pip to install (seconds) per experiment.
            with_pip = importlib.util.find_spec("pip") is None
            venv.EnvBuilder(symlinks=os.name != "nt", with_pip=with_pip).create(self.root)
        site_packages = self.site_packages
        (self.root / venv_hook.SITE_DIRS_FILE).write_text("".join(f"{d}\n" for d in pykatib_site_dirs()))
        hook = site_packages / f"{HOOK_MODULE}.py"
        shutil.copyfile(venv_hook.__file__, hook)
        # Its bytecode now: every python start of every trial imports it, and where PYTHONDONTWRITEBYTECODE is
        # set nothing would ever cache it (about 1 ms of compiling per start).
        py_compile.compile(str(hook), doraise=True, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
        (site_packages / f"{HOOK_MODULE}.pth").write_text(f"import {HOOK_MODULE}\n")
        for name, args in SCRIPTS.items():
            script = self.bin_dir / name
            command = shlex.join([str(self.python), *args])
            script.write_text(f'#!/bin/sh\n# written by pykatib: {name} of this environment\nexec {command} "$@"\n')
            script.chmod(0o755)
        (self.root / STAMP_FILE).write_text(_stamp())
