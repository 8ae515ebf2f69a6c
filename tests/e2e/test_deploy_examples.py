"""The deployment examples (deploy/ci, deploy/kubernetes, the Compose files,
the Helm chart's example values) parse as YAML, and every MATGTO_* variable
they set is one the binary reads: a `matgto serve` flag's variable (the
listing in `serve --help`) or one of the CLI's own. A misspelt variable
would otherwise be ignored without a word."""
import re
import subprocess

import pytest
import yaml

from conftest import MATGTO_BIN, ROOT

FILES = sorted([*ROOT.glob("deploy/ci/*.yml"), *ROOT.glob("deploy/kubernetes/*.yaml"),
                ROOT / "deploy/compose.yaml", ROOT / "deploy/central/compose.yaml",
                *ROOT.glob("deploy/helm/matgto/ci/*.yaml")])
# Read by the CLI and clients rather than by `serve`; MATGTO_IMAGE is the examples' own.
CLIENT_VARIABLES = {"MATGTO_SERVER", "MATGTO_TOKEN", "MATGTO_TLS_CA", "MATGTO_TLS_CERT",
                    "MATGTO_TLS_KEY", "MATGTO_CONFIG", "MATGTO_IMAGE"}


@pytest.fixture(scope="module")
def serve_variables():
    help_text = subprocess.run([MATGTO_BIN, "serve", "--help"], capture_output=True,
                               text=True, timeout=30).stdout
    found = set(re.findall(r"\(Env:(MATGTO_[A-Z0-9_]+)\)", help_text))
    assert "MATGTO_PROXY_PORT" in found, help_text
    return found


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_example_parses_and_names_real_variables(path, serve_variables):
    text = path.read_text()
    assert [d for d in yaml.safe_load_all(text) if d], f"{path}: no YAML document"
    unknown = set(re.findall(r"\bMATGTO_[A-Z][A-Z0-9_]*", text)) - serve_variables - CLIENT_VARIABLES
    assert not unknown, f"{path} sets variables matgto does not read: {sorted(unknown)}"
