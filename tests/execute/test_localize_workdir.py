"""An image's WORKDIR (``workdir`` in an image mapping): a relative path in its command resolves there, as in
the container (Katib's darts example runs ``python3 run_trial.py`` in /opt/darts-cnn-cifar10)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pykatib.execute.localize import ImageMap, PathRules, default_image_map


def test_relative_paths_resolve_in_the_images_workdir_first(tmp_path: Path) -> None:
    (tmp_path / "root/opt/app").mkdir(parents=True)
    (tmp_path / "root/opt/app/run.py").write_text("")
    source = tmp_path / "src"
    source.mkdir()
    (source / "run.py").write_text("")
    (source / "mine.py").write_text("")
    mapping = tmp_path / "images.yaml"
    mapping.write_text("a/app: {directory: root, workdir: /opt/app}\na/plain: root\n")
    images = ImageMap.from_file(mapping)
    workdir = images.workdir("docker.io/a/app:1")
    assert workdir == (tmp_path / "root/opt/app").resolve()
    assert images.workdir("a/plain") is None
    rules = PathRules(images.resolve("a/app"), tmp_path / "rootfs", source_dir=source, image_workdir=workdir)
    assert rules.map_argv(["python3", "run.py", "mine.py", "out.txt"])[1:] == [
        str(workdir / "run.py"),  # the image's file, as in the container
        str(source / "mine.py"),  # not in the image: the user's
        "out.txt",  # neither: left to the trial's working directory
    ]
    # --image replaces a mapping, workdir included.
    images.update(ImageMap.parse_options([f"a/app={tmp_path}"]))
    assert images.workdir("a/app") is None


def test_a_workdir_must_be_absolute(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    mapping = tmp_path / "images.yaml"
    mapping.write_text("a/app: {directory: root, workdir: opt/app}\n")
    with pytest.raises(ValueError, match="workdir must be an absolute path"):
        ImageMap.from_file(mapping)


def test_shipped_mapping_runs_katibs_darts_image_from_its_workdir() -> None:
    images = default_image_map()
    for image in ("ghcr.io/kubeflow/katib/darts-cnn-cifar10-cpu:latest", "kubeflowkatib/darts-cnn-cifar10-gpu"):
        workdir = images.workdir(image)
        assert workdir is not None and (workdir / "run_trial.py").is_file()
