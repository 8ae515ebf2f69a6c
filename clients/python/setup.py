"""Build hooks for the matgto Python client.

Everything declarative lives in pyproject.toml. This file only

* generates ``src/matgto/v1/*_pb2*.py`` from the ``.proto`` files with
  ``grpc_tools.protoc`` before ``build_py`` collects the modules (generated
  code is never checked in);
* copies the ``.proto`` files into the sdist (``proto/``), so that a wheel can
  be built from the sdist alone;
* derives the runtime requirements from the code generated: it refuses to
  import with a grpcio older than the generator or a protobuf older than its
  gencode version (so pyproject.toml builds with an old generator).

Proto files are looked up in ``$MATGTO_PROTO_DIR``, then ``./proto`` (an
unpacked sdist), then ``../../proto`` (the matgto-serge repository).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import List

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

HERE = Path(__file__).resolve().parent
SRC = HERE / "src"
PROTO_SUBDIR = Path("matgto") / "v1"
GENERATED_GLOBS = ("*_pb2.py", "*_pb2.pyi", "*_pb2_grpc.py")


def proto_root() -> Path:
    """The directory that holds ``matgto/v1/*.proto`` (the protoc include root)."""
    candidates = []
    if os.environ.get("MATGTO_PROTO_DIR"):
        candidates.append(Path(os.environ["MATGTO_PROTO_DIR"]))
    candidates += [HERE / "proto", HERE.parent.parent / "proto"]
    for candidate in candidates:
        if (candidate / PROTO_SUBDIR / "control.proto").is_file():
            return candidate.resolve()
    raise SystemExit(
        "matgto: cannot find matgto/v1/control.proto in any of "
        + ", ".join(str(c) for c in candidates)
        + " (set MATGTO_PROTO_DIR to the repository's proto/ directory)"
    )


def generate(out_root: Path = SRC) -> None:
    """Runs protoc on every ``matgto/v1/*.proto``, writing ``out_root/matgto/v1/``.

    Generating with the include root ``proto/`` into ``src/`` places the
    modules at ``matgto.v1.*``: the module path protoc writes into its own
    imports (``from matgto.v1 import cassette_pb2``), so they resolve inside
    this distribution with no import rewriting and no sys.path tricks.
    """
    import grpc_tools
    from grpc_tools import protoc

    root = proto_root()
    protos = sorted((root / PROTO_SUBDIR).glob("*.proto"))
    well_known = Path(grpc_tools.__file__).resolve().parent / "_proto"
    out_dir = out_root / PROTO_SUBDIR
    out_dir.mkdir(parents=True, exist_ok=True)
    for pattern in GENERATED_GLOBS:  # drop modules of protos that went away
        for stale in out_dir.glob(pattern):
            stale.unlink()

    includes = [f"-I{root}", f"-I{well_known}"]
    messages = ["--python_out=" + str(out_root), "--pyi_out=" + str(out_root)]
    _protoc(protoc, includes + messages, protos)
    services = [p for p in protos if re.search(r"^\s*service\s", p.read_text(), re.M)]
    _protoc(protoc, includes + ["--grpc_python_out=" + str(out_root)], services)


def _protoc(protoc, args: List[str], protos: List[Path]) -> None:
    if not protos:
        return
    command = ["grpc_tools.protoc", *args, *[str(p) for p in protos]]
    if protoc.main(command) != 0:
        raise SystemExit("matgto: protoc failed: " + " ".join(command))


def gencode_protobuf_version(out_root: Path = SRC) -> str:
    """The protobuf version the generated modules were written for (their
    ``# Protobuf Python Version: X.Y.Z`` header): the oldest runtime they load with."""
    text = (out_root / PROTO_SUBDIR / "control_pb2.py").read_text()
    found = re.search(r"^# Protobuf Python Version: (\d+)\.(\d+)\.(\d+)\s*$", text, re.M)
    if not found:
        raise SystemExit("matgto: the generated control_pb2.py names no Protobuf Python Version")
    return ".".join(found.groups())


def runtime_requirements() -> List[str]:
    """What the generated code needs, and nothing newer.

    ``*_pb2_grpc.py`` refuses to import with a grpcio older than the
    grpcio-tools that wrote it; ``*_pb2.py`` refuses a protobuf runtime older
    than its gencode version, and protobuf supports gencode one major version
    behind the runtime at most. So: ``grpcio>=TOOLS``, ``protobuf>=GENCODE,<MAJOR+2``.
    pyproject.toml pins an old generator for isolated builds (wide ranges).
    """
    try:
        from importlib import metadata

        tools_version = metadata.version("grpcio-tools")
    except Exception:  # grpcio-tools absent: only metadata is being asked for
        return ["grpcio>=1.66.2", "protobuf>=5.27.2,<7"]
    generate()
    gencode = gencode_protobuf_version()
    major = int(gencode.split(".")[0])
    return [f"grpcio>={tools_version}", f"protobuf>={gencode},<{major + 2}"]


class BuildPyWithProtos(build_py):
    """``build_py`` that generates the protobuf/gRPC modules first."""

    def run(self) -> None:
        generate()
        # Package data (the .pyi stubs) is computed lazily; recompute it now
        # that the generated files exist.
        self.__dict__.pop("data_files", None)
        super().run()


class SdistWithProtos(sdist):
    """``sdist`` that ships the .proto files (and no generated code)."""

    def make_release_tree(self, base_dir: str, files: List[str]) -> None:
        super().make_release_tree(base_dir, files)
        source = proto_root() / PROTO_SUBDIR
        target = Path(base_dir) / "proto" / PROTO_SUBDIR
        target.mkdir(parents=True, exist_ok=True)
        for proto in sorted(source.glob("*.proto")):
            shutil.copyfile(proto, target / proto.name)


setup(
    install_requires=runtime_requirements(),
    cmdclass={"build_py": BuildPyWithProtos, "sdist": SdistWithProtos},
)
