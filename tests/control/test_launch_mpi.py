"""An MPIJob trial prepared for launch from Katib's example and the shipped image mapping: the launcher's
``mpirun`` is the image's, the operator's hostfile is in the launcher's own root where its variable points,
and the workers end with the launcher."""

from __future__ import annotations

from pathlib import Path

from pykatib.control.launch import prepare_trial
from pykatib.execute.localize import default_image_map
from pykatib.spec.loader import load_experiment_document

PROJECT = Path(__file__).resolve().parents[2]
EXAMPLE = PROJECT / "examples" / "katib" / "kubeflow-training-operator" / "mpijob-horovod.yaml"
IMAGE = PROJECT / "examples" / "images" / "mpi-horovod-mnist"


def test_mpijob_trial_runs_the_images_mpirun_with_the_operators_hostfile(tmp_path: Path) -> None:
    experiment = load_experiment_document(EXAMPLE).experiment
    assert experiment is not None
    trial_dir = tmp_path / "trial"
    launch = prepare_trial(experiment, "mpi-t", {"lr": "0.002", "num-steps": "60"}, trial_dir, default_image_map())
    launcher, *workers = launch.launches
    assert launcher.primary and launcher.argv[0] == str(IMAGE / "usr" / "local" / "bin" / "mpirun")
    assert str(IMAGE / "examples" / "tensorflow_mnist.py") in launcher.argv  # the program mpirun starts
    hostfile = Path(launcher.env["OMPI_MCA_orte_default_hostfile"])
    assert hostfile == trial_dir / "rootfs" / "etc" / "mpi" / "hostfile"
    assert hostfile.read_text() == "localhost slots=1\nlocalhost slots=1\n"
    assert [(w.key, w.argv, w.ends_with_primary) for w in workers] == [
        ("worker-0", ["sleep", "365d"], True),
        ("worker-1", ["sleep", "365d"], True),
    ]
    # A restarted controller's re-attach writes nothing: the files of the running trial stay as they are.
    hostfile.write_text("as the running launcher read it\n")
    prepare_trial(experiment, "mpi-t", {"lr": "0.002", "num-steps": "60"}, trial_dir, default_image_map(),
                  reattach=True)  # fmt: skip
    assert hostfile.read_text() == "as the running launcher read it\n"
