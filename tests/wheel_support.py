"""A tiny wheel and a PEP 503 index of files, built in a test's directory: pip installs from them without a
network (``--index-url file:///...``), as a trial installs ``packages_to_install`` from a private index."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def build_wheel(directory: Path, name: str, version: str, source: str) -> Path:
    """A pure-Python wheel of one module ``name`` whose code is ``source``."""
    dist_info = f"{name}-{version}.dist-info"
    files = {
        f"{name}.py": source.encode(),
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = [_record_line(path, data) for path, data in files.items()] + [f"{dist_info}/RECORD,,"]
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    directory.mkdir(parents=True, exist_ok=True)
    wheel = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return wheel


def simple_index(root: Path, wheels: list[Path]) -> str:
    """A PEP 503 "simple" index of ``wheels`` under ``root`` (one page per project); its file:// URL."""
    for wheel in wheels:
        project = root / wheel.name.split("-", 1)[0].lower().replace("_", "-")
        project.mkdir(parents=True, exist_ok=True)
        (project / wheel.name).write_bytes(wheel.read_bytes())
        (project / "index.html").write_text(f'<html><body><a href="{wheel.name}">{wheel.name}</a></body></html>\n')
    (root / "index.html").write_text(
        "<html><body>" + "".join(f'<a href="{p.name}/">{p.name}</a>' for p in sorted(root.iterdir()) if p.is_dir())
        + "</body></html>\n"
    )  # fmt: skip
    return root.resolve().as_uri()
