"""Running a container's command on this machine: images become directories, paths stay per trial.

The rule, applied to each argument (whole, or the value of ``--flag=VALUE``) and each env value that is an
absolute path:
1. ``python``/``python3`` as the program resolves to the experiment's Python (``execute.trial_venv``: a
   virtual environment on top of pykatib's packages), or to the interpreter running pykatib where none is given.
2. An absolute path that exists under the image's directory (``--image IMAGE=DIR``) resolves there:
   ``/opt/pytorch-mnist/mnist.py`` -> ``DIR/opt/pytorch-mnist/mnist.py``.
3. A path under the metrics collector's path or a volume mount (``/katib``, ``/train``, ``/var/log/katib``)
   is redirected into the trial's own root, ``<trial dir>/rootfs/...``, whether or not it exists here.
4. Any other absolute path that exists on this machine is kept (``/usr/bin/env``, your own scripts).
5. Any other absolute path (one the trial will create) is redirected into the trial's root as in 3.
6. A relative path that exists in the directory ``pykatib run`` was started from (``train.py``) is made
   absolute: trials run in their own directory, but find the user's files as they would at the prompt.
   Before that, a mapped image's ``workdir`` (its Dockerfile's WORKDIR, the container's working directory):
   ``run_trial.py`` that exists under ``DIR/opt/darts-cnn-cifar10/`` resolves there.
So parallel trials never share files, and the metrics collector reads the same redirected path.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from pykatib.spec import safe_yaml

PYTHON_NAMES = ("python", "python3")
IMAGE_MAP_FILE = "images.yaml"
DEFAULT_REGISTRY = "docker.io/"


def normalize_image(image: str) -> tuple[str, str | None]:
    """``kubeflowkatib/x:1.0`` -> (``docker.io/kubeflowkatib/x``, ``1.0``); digests count as tags."""
    name, tag = image, None
    if "@" in name:
        name, tag = name.split("@", 1)
    elif ":" in name.rsplit("/", 1)[-1]:
        name, tag = name.rsplit(":", 1)
    first = name.split("/", 1)[0]
    if "/" not in name:
        name = f"{DEFAULT_REGISTRY}library/{name}"
    elif "." not in first and ":" not in first and first != "localhost":
        name = DEFAULT_REGISTRY + name
    return name, tag


# An image's ENTRYPOINT and CMD, as its Dockerfile declares them: what runs when a container sets no command.
Entrypoint = tuple[list[str], list[str]]


class ImageMap:
    """IMAGE[:TAG] -> directory (and the image's entrypoint). A key without a tag matches every tag."""

    def __init__(self, entries: Mapping[str, str | Path] | None = None) -> None:
        self._entries: dict[tuple[str, str | None], Path] = {}
        self._entrypoints: dict[tuple[str, str | None], Entrypoint] = {}
        self._workdirs: dict[tuple[str, str | None], str] = {}
        for image, directory in (entries or {}).items():
            self.add(image, directory)

    def add(
        self, image: str, directory: str | Path, entrypoint: list[str] | None = None, cmd: list[str] | None = None
    ) -> None:
        key = normalize_image(image)
        self._entries[key] = Path(directory).resolve()
        self._entrypoints.pop(key, None)
        if entrypoint is not None or cmd is not None:
            self._entrypoints[key] = (list(entrypoint or []), list(cmd or []))

    def set_workdir(self, image: str, workdir: str) -> None:
        """The image's WORKDIR (absolute, inside its directory): relative paths in its command resolve there."""
        self._workdirs[normalize_image(image)] = workdir

    def update(self, other: ImageMap) -> None:
        for key in other._entries:
            self._entrypoints.pop(key, None)
            self._workdirs.pop(key, None)
        self._entries.update(other._entries)
        self._entrypoints.update(other._entrypoints)
        self._workdirs.update(other._workdirs)

    def _lookup(self, image: str | None) -> tuple[str, str | None] | None:
        if not image:
            return None
        name, tag = normalize_image(image)
        for key in ((name, tag), (name, None)):
            if key in self._entries:
                return key
        return None

    def resolve(self, image: str | None) -> Path | None:
        key = self._lookup(image)
        return self._entries[key] if key else None

    def entrypoint(self, image: str | None) -> Entrypoint | None:
        """The mapped image's (ENTRYPOINT, CMD), or None when its mapping declares neither."""
        key = self._lookup(image)
        return self._entrypoints.get(key) if key else None

    def workdir(self, image: str | None) -> Path | None:
        """The mapped image's WORKDIR as a directory here, or None when its mapping declares none."""
        key = self._lookup(image)
        workdir = self._workdirs.get(key) if key else None
        return self._entries[key] / workdir.lstrip("/") if key and workdir else None

    @classmethod
    def from_file(cls, path: str | Path) -> ImageMap:
        """A YAML mapping ``image: directory`` or ``image: {directory: D, entrypoint: [...], cmd: [...], workdir: W}``
        (ENTRYPOINT, CMD and WORKDIR as the image's Dockerfile has them); relative directories are relative to
        the file."""
        path = Path(path)
        data = safe_yaml.load(path.read_text()) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: an image map must be a mapping of image to directory")
        result = cls()
        for image, value in data.items():
            if isinstance(value, dict):
                directory = value.get("directory")
                entrypoint, cmd = value.get("entrypoint"), value.get("cmd")
                workdir = value.get("workdir")
                unknown = set(value) - {"directory", "entrypoint", "cmd", "workdir"}
                if not isinstance(directory, str) or unknown:
                    raise ValueError(
                        f"{path}: {image}: expected directory (and entrypoint, cmd, workdir), got {sorted(value)}"
                    )
                if workdir is not None and not (isinstance(workdir, str) and workdir.startswith("/")):
                    raise ValueError(f"{path}: {image}: workdir must be an absolute path")
                for field, words in (("entrypoint", entrypoint), ("cmd", cmd)):
                    if words is not None and not (isinstance(words, list) and all(isinstance(w, str) for w in words)):
                        raise ValueError(f"{path}: {image}: {field} must be a list of strings")
                result.add(str(image), path.parent / directory, entrypoint, cmd)
                if workdir is not None:
                    result.set_workdir(str(image), workdir)
            else:
                result.add(str(image), path.parent / str(value))
        return result

    @classmethod
    def parse_options(cls, options: Iterable[str]) -> ImageMap:
        """``--image IMAGE=DIR`` options."""
        result = cls()
        for option in options:
            image, sep, directory = option.partition("=")
            if not sep or not image or not directory:
                raise ValueError(f"--image {option!r}: expected IMAGE=DIR")
            if not Path(directory).is_dir():
                raise ValueError(f"--image {option!r}: {directory} is not a directory")
            result.add(image, directory)
        return result


def default_image_map() -> ImageMap:
    """The stand-in trainers for Katib's example images that ship in the project's ``examples/images``."""
    candidates = [Path(os.environ["PYKATIB_IMAGE_MAP"])] if os.environ.get("PYKATIB_IMAGE_MAP") else []
    candidates.append(Path(__file__).resolve().parents[3] / "examples" / "images" / IMAGE_MAP_FILE)
    for candidate in candidates:
        if candidate.is_file():
            return ImageMap.from_file(candidate)
    return ImageMap()


@dataclass(frozen=True)
class PathRules:
    """How one process's absolute paths map onto this machine."""

    image_root: Path | None
    rootfs: Path
    redirect_prefixes: tuple[str, ...] = ()
    source_dir: Path | None = None
    python: str = sys.executable  # what ``python``/``python3`` as the program means (rule 1)
    image_workdir: Path | None = None  # the image's WORKDIR here, for relative paths (rule 6)

    def redirect(self, path: str) -> str:
        return str(self.rootfs / PurePosixPath(path).relative_to("/"))

    def _under_redirect(self, path: str) -> bool:
        pure = PurePosixPath(path)
        return any(pure == PurePosixPath(p) or PurePosixPath(p) in pure.parents for p in self.redirect_prefixes)

    def map_path(self, path: str) -> str:
        if not path.startswith("/"):
            if self.image_workdir is not None and path and _exists(self.image_workdir / path):
                return str(self.image_workdir / path)
            if self.source_dir is not None and path and _exists(self.source_dir / path):
                return str(self.source_dir / path)
            return path
        if self.image_root is not None:
            inside = self.image_root / path.lstrip("/")
            if _exists(inside):
                return str(inside)
        if self._under_redirect(path):
            return self.redirect(path)
        if os.path.exists(path):
            return path
        return self.redirect(path)

    def map_arg(self, arg: str) -> str:
        if arg.startswith("-"):
            if "=" in arg:
                flag, value = arg.split("=", 1)
                return f"{flag}={self.map_path(value)}"
            return arg
        return self.map_path(arg)

    def map_argv(self, argv: list[str]) -> list[str]:
        if not argv:
            return argv
        program = argv[0]
        mapped = [self.python if program in PYTHON_NAMES else self.map_arg(program)]
        return mapped + [self.map_arg(a) for a in argv[1:]]

    def map_env(self, env: Mapping[str, str]) -> dict[str, str]:
        # Only absolute paths: a relative env value is as likely a word as a file name.
        return {k: (self.map_path(v) if v.startswith("/") and os.pathsep not in v else v) for k, v in env.items()}


def _exists(path: Path) -> bool:
    """Like ``Path.exists``, but False for any argument that cannot be a file name here.

    ``Path.exists`` raises on ENAMETOOLONG: an ``sh -c`` script or a long categorical value is an
    argument like any other and must not stop the trial from starting.
    """
    return os.path.exists(path)
