"""Generate omnihub.api.* Python, gRPC and .pyi code from protos/ into libs/proto/src."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
OUT_ROOT = ROOT / "libs" / "proto" / "src"
GENERATED_PACKAGE = OUT_ROOT / "omnihub" / "api"


def proto_files() -> list[Path]:
    """All .proto files under protos/, sorted for stable output."""
    return sorted(PROTO_ROOT.rglob("*.proto"))


def generate(out_dir: Path) -> None:
    """Run protoc (grpcio-tools) with the mypy-protobuf plugins into out_dir."""
    import grpc_tools
    from grpc_tools import protoc

    include = Path(grpc_tools.__file__).parent / "_proto"
    files = [str(p.relative_to(PROTO_ROOT)) for p in proto_files()]
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--mypy_out={out_dir}",
        f"--mypy_grpc_out={out_dir}",
        *files,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    for package_dir in (out_dir / "omnihub" / "api").rglob("*"):
        if package_dir.is_dir():
            (package_dir / "__init__.py").touch()
    (out_dir / "omnihub" / "api" / "__init__.py").touch()
    (out_dir / "omnihub" / "api" / "py.typed").touch()


def snapshot(root: Path) -> dict[str, bytes]:
    """Map relative path to content for every generated file under root/omnihub/api."""
    base = root / "omnihub" / "api"
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(base.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def main() -> int:
    """Regenerate, or with --check report drift from the committed code."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if committed code drifts")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        fresh = snapshot(Path(tmp))
        if args.check:
            committed = snapshot(OUT_ROOT)
            drift = sorted(k for k in fresh.keys() | committed.keys() if fresh.get(k) != committed.get(k))
            if drift:
                print("generated code drifts from protos/: " + ", ".join(drift), file=sys.stderr)
                print("run `make protos` and commit the result", file=sys.stderr)
                return 1
            return 0
        shutil.rmtree(GENERATED_PACKAGE, ignore_errors=True)
        for rel, content in fresh.items():
            target = OUT_ROOT / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
    print(f"generated {len(fresh)} files into {GENERATED_PACKAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
