"""The path rules that let a container's command run here (the rule list is localize.py's docstring)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pykatib.execute.localize import ImageMap, PathRules, default_image_map, normalize_image


def test_normalize_image() -> None:
    assert normalize_image("kubeflowkatib/x:1.0") == ("docker.io/kubeflowkatib/x", "1.0")
    assert normalize_image("ghcr.io/kubeflow/katib/x:latest") == ("ghcr.io/kubeflow/katib/x", "latest")
    assert normalize_image("python") == ("docker.io/library/python", None)
    assert normalize_image("localhost:5000/a/b") == ("localhost:5000/a/b", None)
    assert normalize_image("a/b@sha256:abc") == ("docker.io/a/b", "sha256:abc")


def test_image_map_tags(tmp_path: Path) -> None:
    images = ImageMap({"ghcr.io/a/b": tmp_path, "ghcr.io/a/c:2": tmp_path / "c"})
    assert images.resolve("ghcr.io/a/b:anything") == tmp_path.resolve()
    assert images.resolve("ghcr.io/a/c:2") == (tmp_path / "c").resolve()
    assert images.resolve("ghcr.io/a/c:3") is None
    assert images.resolve(None) is None


def test_image_options(tmp_path: Path) -> None:
    assert ImageMap.parse_options([f"x/y={tmp_path}"]).resolve("x/y:1") == tmp_path.resolve()
    with pytest.raises(ValueError, match="expected IMAGE=DIR"):
        ImageMap.parse_options(["x/y"])
    with pytest.raises(ValueError, match="not a directory"):
        ImageMap.parse_options([f"x/y={tmp_path / 'missing'}"])


def test_shipped_mapping_knows_katib_images() -> None:
    images = default_image_map()
    root = images.resolve("ghcr.io/kubeflow/katib/pytorch-mnist-cpu:latest")
    assert root is not None and (root / "opt/pytorch-mnist/mnist.py").is_file()
    root = images.resolve("gcr.io/kubeflow-ci/tf-mnist-with-summaries:1.0")
    assert root is not None and (root / "var/tf_mnist/mnist_with_summaries.py").is_file()


def test_path_rules(tmp_path: Path) -> None:
    image = tmp_path / "image"
    (image / "opt/app").mkdir(parents=True)
    (image / "opt/app/train.py").write_text("")
    source = tmp_path / "src"
    source.mkdir()
    (source / "local.py").write_text("")
    rules = PathRules(image, tmp_path / "trial/rootfs", ("/katib", "/tmp"), source_dir=source)
    argv = rules.map_argv(["python3", "/opt/app/train.py", "--log=/katib/m.log", "/var/out/x", "/usr/bin/env",
                           "local.py", "--lr=0.1", "; rm -rf / #", "/tmp/x"])  # fmt: skip
    assert argv == [
        sys.executable,
        str(image / "opt/app/train.py"),  # 2: found in the image
        f"--log={tmp_path}/trial/rootfs/katib/m.log",  # 3: under a mount or the collector path
        f"{tmp_path}/trial/rootfs/var/out/x",  # 5: a path the trial will create
        "/usr/bin/env",  # 4: exists here
        str(source / "local.py"),  # 6: the user's file
        "--lr=0.1",
        "; rm -rf / #",
        f"{tmp_path}/trial/rootfs/tmp/x",  # 3 wins over 4: /tmp exists, but is the trial's own
    ]
    assert rules.map_env({"OUT": "/katib", "PATH": "/usr/bin:/bin", "WORD": "hello"}) == {
        "OUT": f"{tmp_path}/trial/rootfs/katib",
        "PATH": "/usr/bin:/bin",
        "WORD": "hello",
    }


def test_image_map_file_declares_entrypoints(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    mapping = tmp_path / "images.yaml"
    mapping.write_text("a/plain: root\na/entry:\n  directory: root\n  entrypoint: [python3, /x.py]\n  cmd: [-v]\n")
    images = ImageMap.from_file(mapping)
    assert images.resolve("a/entry:1") == images.resolve("a/plain") == (tmp_path / "root").resolve()
    assert images.entrypoint("docker.io/a/entry:1") == (["python3", "/x.py"], ["-v"])
    assert images.entrypoint("a/plain") is None
    assert images.entrypoint("a/unknown") is None
    for bad, problem in (("{directory: root, entry: [x]}", "expected directory"), ("{directory: root, cmd: x}", "cmd")):
        mapping.write_text(f"a/b: {bad}\n")
        with pytest.raises(ValueError, match=problem):
            ImageMap.from_file(mapping)
    # --image replaces a mapping, entrypoint included.
    images.update(ImageMap.parse_options([f"a/entry={tmp_path}"]))
    assert images.entrypoint("a/entry") is None
