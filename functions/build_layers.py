"""Build the Lambda layers of this repository's own functions, reproducibly, and print what to pin.

    .venv/bin/python functions/build_layers.py jit-db-access            # writes build/layers/jit-db-access/<sha256>.zip

The JIT database access functions (MOD-046, functions/jit_db_access/) import psycopg and certifi, which the Lambda
Python runtime does not have. Their layer is built from the pinned wheels below — the versions requirements.txt and
constraints.txt pin, for the functions' runtime (python3.13) and architecture (arm64) — each checked against its
sha256 as PyPI publishes it (`pip download --require-hashes`), then zipped with everything that could differ
between machines fixed: entry order, timestamps, permissions, no compression. The same wheels therefore always give
the same bytes, and the sha256 printed names one build: publish the zip to the stack's artifacts bucket under the
printed key and pin key and sha256 in releases/<stack>.yaml (`layers:`, model/releases.py). docs/databases.md,
"JIT access", has the whole procedure.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_OUT = PROJECT_DIR / "build" / "layers"
# The functions' runtime and architecture (foundation/dba_access_control.py). psycopg-binary 3.3 publishes its
# aarch64 wheels for glibc 2.28 (manylinux_2_28), which the python3.13 runtime (Amazon Linux 2023, glibc 2.34) has;
# pip also accepts older manylinux tags (manylinux2014) under this one.
PYTHON_VERSION = "3.13"
PLATFORM = "manylinux_2_28_aarch64"
# Lambda puts a layer's `python/` directory on the Python runtime's sys.path (Lambda developer guide, "Layer paths
# for each Lambda runtime").
LAYER_ROOT = "python"
# The earliest time a zip entry can hold (MS-DOS dates start in 1980): the same on every machine.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Wheel:
    requirement: str  # name==version, as constraints.txt pins it
    sha256: str  # of the wheel file, as PyPI's simple index publishes it


# psycopg 3.3 needs nothing else on Python 3.13 (typing-extensions only below 3.13, tzdata only on Windows).
LAYERS: dict[str, tuple[Wheel, ...]] = {
    "jit-db-access": (
        Wheel("psycopg==3.3.9", "d2d7d04a1ce6dab4f5b27316bea3b52585cafa2f2d631e5b09dd69823f5c26f6"),
        # psycopg_binary-3.3.9-cp313-cp313-manylinux_2_27_aarch64.manylinux_2_28_aarch64.whl
        Wheel("psycopg-binary==3.3.9", "366e2021a785afed9154f83f64793f662348a9ef244fef9779175c0906e8aacc"),
        Wheel("certifi==2026.10.19.post1", "1324c476b4811eff41a8bc2122cd0bbd4d9c7234c725446d99ab1612b3a7fdd2"),
    ),
}


def artifact_key(layer: str, sha256: str) -> str:
    """Where the build lives in the artifacts bucket: named by its content, so a key is one build."""
    return f"layers/{layer}/{sha256}.zip"


def download_wheels(wheels: tuple[Wheel, ...], into: Path) -> list[Path]:
    """The pinned wheels for the functions' platform, each refused unless its sha256 matches."""
    requirements = into / "requirements.txt"
    requirements.write_text("".join(f"{w.requirement} --hash=sha256:{w.sha256}\n" for w in wheels), encoding="utf-8")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--only-binary=:all:",
            "--platform",
            PLATFORM,
            "--python-version",
            PYTHON_VERSION,
            "--implementation",
            "cp",
            "--require-hashes",
            "-r",
            str(requirements),
            "-d",
            str(into / "wheels"),
        ],
        check=True,
    )
    found = sorted((into / "wheels").glob("*.whl"))
    if len(found) != len(wheels):
        raise SystemExit(f"expected {len(wheels)} wheels, pip downloaded {len(found)}: {[p.name for p in found]}")
    return found


def layer_zip(wheels: list[Path]) -> bytes:
    """The layer: every file of every wheel under `python/`, in name order, with fixed times and permissions, and
    stored rather than deflated (deflate's output depends on the zlib build; stored bytes do not)."""
    files: dict[str, tuple[bytes, bool]] = {}
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as source:
            for info in source.infolist():
                if info.is_dir():
                    continue
                name = f"{LAYER_ROOT}/{info.filename}"
                if name in files:
                    raise SystemExit(f"{info.filename} is in more than one wheel")
                executable = bool((info.external_attr >> 16) & 0o111)
                files[name] = (source.read(info), executable)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as layer:
        for name in sorted(files):
            data, executable = files[name]
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.create_system = 3  # Unix, so the permissions below are read
            info.external_attr = (0o100755 if executable else 0o100644) << 16
            info.compress_type = zipfile.ZIP_STORED
            layer.writestr(info, data)
    return out.getvalue()


def build(layer: str, out_dir: Path) -> tuple[Path, str]:
    with tempfile.TemporaryDirectory() as work:
        content = layer_zip(download_wheels(LAYERS[layer], Path(work)))
    sha256 = hashlib.sha256(content).hexdigest()
    target = out_dir / artifact_key(layer, sha256).removeprefix("layers/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)
    return target, sha256


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("layer", choices=sorted(LAYERS))
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="directory for the zip (default build/layers)")
    args = parser.parse_args(argv)
    path, sha256 = build(args.layer, args.out)
    key = artifact_key(args.layer, sha256)
    print(f"built   {path.relative_to(PROJECT_DIR) if path.is_relative_to(PROJECT_DIR) else path}")
    print(f"sha256  {sha256}")
    print(f"key     {key}")
    print("publish aws s3 cp <that file> s3://bank-<env>-artifacts-<account>/" + key)
    print(f"pin     layers:\n          {args.layer}: {{artifact: {key}, sha256: {sha256}}}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
