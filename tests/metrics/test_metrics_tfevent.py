import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pykatib.metrics.tfevent import read_tfevent_dir

WALL = 1_700_000_000.0

# Runs in a separate interpreter, as a trial would: TF1-style simple_value scalars under train/,
# TF2-style tensor scalars (plus non-scalar tensors) under test/, written by TensorBoard's writer.
WRITER = textwrap.dedent(
    """
    import sys
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter
    from tensorboard.util import tensor_util

    root, wall = sys.argv[1], float(sys.argv[2])
    SCALARS = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars")
    )

    def simple(tag, value):
        return summary_pb2.Summary.Value(tag=tag, simple_value=value)

    def tensor(tag, value):
        proto = tensor_util.make_tensor_proto(value)
        return summary_pb2.Summary.Value(tag=tag, tensor=proto, metadata=SCALARS)

    def write(subdir, steps):
        writer = EventFileWriter(f"{root}/{subdir}")
        for step, values in enumerate(steps):
            summary = summary_pb2.Summary(value=values)
            writer.add_event(event_pb2.Event(wall_time=wall + step, step=step, summary=summary))
        writer.close()

    write("train", [
        [simple("accuracy", 0.5), simple("loss", 1.0)],
        [simple("accuracy", 0.625), simple("loss", 0.75)],
    ])
    write("test", [
        [tensor("accuracy", 0.5625), tensor("loss", 2.0)],
        [tensor("accuracy_1", 0.875), tensor("accuracy_hist", [1.0, 2.0]),
         tensor("accuracy_text", "high"), tensor("accuracy", 0.6875)],
    ])
    write("mytest", [[tensor("accuracy", 0.25)]])
    """
)


def at(step: int) -> datetime:
    return datetime.fromtimestamp(WALL + step, UTC)


@pytest.fixture(scope="module")
def logdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tfevents")
    subprocess.run([sys.executable, "-c", WRITER, str(root), str(WALL)], check=True, timeout=120)
    (root / "train" / "notes.txt").write_text("accuracy=0.99\n")  # not an event file: ignored
    return root


def values(observations: list) -> list[tuple[str, float, datetime]]:
    return [(o.metric_name, o.value, o.timestamp) for o in observations]


def test_writer_produced_one_event_file_per_directory(logdir: Path) -> None:
    files = sorted(p.parent.name for p in logdir.rglob("*tfevents*"))
    assert files == ["mytest", "test", "train"]


def test_plain_name_matches_tag_prefix_in_every_directory(logdir: Path) -> None:
    # Sorted directories: mytest, test, train. accuracy_1 matches by prefix (Katib's startswith);
    # the vector and string tensors are skipped.
    assert values(read_tfevent_dir(logdir, ["accuracy"])) == [
        ("accuracy", 0.25, at(0)),
        ("accuracy", 0.5625, at(0)),
        ("accuracy", 0.875, at(1)),
        ("accuracy", 0.6875, at(1)),
        ("accuracy", 0.5, at(0)),
        ("accuracy", 0.625, at(1)),
    ]


def test_directory_qualified_name_selects_the_directory(logdir: Path) -> None:
    assert values(read_tfevent_dir(logdir, ["train/accuracy"])) == [
        ("train/accuracy", 0.5, at(0)),
        ("train/accuracy", 0.625, at(1)),
    ]
    # Katib compares directory names as strings: "test" is a suffix of "mytest" as well.
    assert [o.value for o in read_tfevent_dir(logdir, ["test/accuracy"])] == [0.25, 0.5625, 0.875, 0.6875]
    assert read_tfevent_dir(logdir, ["validation/accuracy"]) == []


def test_several_metrics_and_tensor_scalars(logdir: Path) -> None:
    obs = read_tfevent_dir(logdir / "test", ["loss", "test/accuracy"])
    assert values(obs) == [
        ("test/accuracy", 0.5625, at(0)),
        ("loss", 2.0, at(0)),
        ("test/accuracy", 0.875, at(1)),
        ("test/accuracy", 0.6875, at(1)),
    ]


def test_tag_must_start_with_the_name(logdir: Path) -> None:
    assert read_tfevent_dir(logdir, ["ccuracy", "oss", "acc_uracy"]) == []


def test_relative_directory_still_knows_its_name(logdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(logdir / "train")
    assert [o.value for o in read_tfevent_dir(".", ["train/loss"])] == [1.0, 0.75]


def test_truncated_file_gives_the_events_before_the_cut(logdir: Path, tmp_path: Path) -> None:
    (source,) = (logdir / "train").glob("*tfevents*")
    data = source.read_bytes()
    target = tmp_path / "train" / source.name
    target.parent.mkdir()
    target.write_bytes(data[:-10])  # the last event (step 1) loses its tail
    assert values(read_tfevent_dir(tmp_path, ["accuracy", "loss"])) == [
        ("accuracy", 0.5, at(0)),
        ("loss", 1.0, at(0)),
    ]


def test_corrupt_files_do_not_raise(logdir: Path, tmp_path: Path) -> None:
    (source,) = (logdir / "test").glob("*tfevents*")
    data = bytearray(source.read_bytes())
    data[-20] ^= 0xFF  # inside the last record (step 1): its CRC check fails
    (tmp_path / "events.out.tfevents.1.flipped").write_bytes(bytes(data))
    (tmp_path / "events.out.tfevents.2.garbage").write_bytes(b"\x00\xffnot an event file" * 100)
    (tmp_path / "events.out.tfevents.3.empty").write_bytes(b"")
    (tmp_path / "events.out.tfevents.4.dir").mkdir()
    assert values(read_tfevent_dir(tmp_path, ["accuracy", "loss"])) == [
        ("accuracy", 0.5625, at(0)),
        ("loss", 2.0, at(0)),
    ]


def test_record_that_is_not_an_event_ends_that_file_only(
    logdir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Valid record framing (length + CRCs) around bytes that are no Event protobuf: the reader
    # accepts the record and protobuf parsing fails, which must not lose the other files.
    code = textwrap.dedent(
        """
        import sys
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.summary.writer.record_writer import RecordWriter

        def event(value):
            summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag="loss", simple_value=value)])
            return event_pb2.Event(wall_time=float(sys.argv[2]), summary=summary).SerializeToString()

        with open(sys.argv[1], "wb") as f:
            writer = RecordWriter(f)
            writer.write(event(3.0))
            writer.write(b"\\xff\\xff\\xff\\xff")
            writer.write(event(4.0))
            writer.flush()
        """
    )
    (tmp_path / "a").mkdir()
    bad = tmp_path / "a" / "events.out.tfevents.bad"
    subprocess.run([sys.executable, "-c", code, str(bad), str(WALL)], check=True, timeout=60)
    (good,) = (logdir / "train").glob("*tfevents*")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / good.name).write_bytes(good.read_bytes())
    assert values(read_tfevent_dir(tmp_path, ["loss"])) == [
        ("loss", 3.0, at(0)),
        ("loss", 1.0, at(0)),
        ("loss", 0.75, at(1)),
    ]
    assert "stopped reading event file" in caplog.text and "events.out.tfevents.bad" in caplog.text


def test_missing_directory_gives_nothing(tmp_path: Path) -> None:
    assert read_tfevent_dir(tmp_path / "does-not-exist", ["accuracy"]) == []
    assert read_tfevent_dir(tmp_path, ["accuracy"]) == []


def test_clear_error_without_tensorboard(tmp_path: Path) -> None:
    # A fresh interpreter in which `import tensorboard` fails, as without the extra installed.
    code = textwrap.dedent(
        f"""
        import sys
        sys.modules["tensorboard"] = None
        import pykatib.metrics  # importing the package must not need tensorboard
        try:
            pykatib.metrics.read_tfevent_dir({str(tmp_path)!r}, ["accuracy"])
        except RuntimeError as exc:
            print(exc)
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "pip install 'pykatib[tfevent]'" in result.stdout
