"""`matgto serve` configured without a command line (issue 14, item 5):
every flag reads MATGTO_<FLAG>, and --config FILE reads a TOML file; a flag
on the command line wins over the file, the file (named on purpose) over a
variable."""
import subprocess

from conftest import MATGTO_BIN


def test_every_serve_flag_reads_its_environment_variable(matgto, monkeypatch, tmp_path):
    monkeypatch.setenv("MATGTO_MODE", "passthrough")
    monkeypatch.setenv("MATGTO_CASSETTE_FORMAT", "json")
    monkeypatch.setenv("MATGTO_MAX_SESSIONS", "3")
    s = matgto()
    out = s.output()
    assert "default mode passthrough" in out and "(json)" in out, out
    # The limit of 3 sessions came from the variable (the default 256 would
    # take all four).
    results = [s.cli("use", f"c{i}", "--mode", "record", "--new-session", check=False)
               for i in range(4)]
    refused = [r for r in results if r.returncode != 0]
    assert refused and all("RESOURCE_EXHAUSTED" in r.stderr for r in refused), results


def test_a_flag_wins_over_its_variable(matgto, monkeypatch):
    monkeypatch.setenv("MATGTO_MODE", "passthrough")
    s = matgto("--mode", "replay")
    assert "default mode replay" in s.output()


def test_config_file_in_toml(matgto, monkeypatch, tmp_path):
    config = tmp_path / "matgto.toml"
    config.write_text('# the central server\n[serve]\nmode = "record"\ncassette-format = "json"\n'
                      'redact-header = ["X-Team-Key", "X-Other"]\n')
    s = matgto("--config", str(config))
    out = s.output()
    assert "default mode record" in out and "(json)" in out, out
    # MATGTO_CONFIG names the file; the file wins over a variable, a flag
    # over the file.
    monkeypatch.setenv("MATGTO_CONFIG", str(config))
    monkeypatch.setenv("MATGTO_MODE", "replay")
    monkeypatch.setenv("MATGTO_MAX_SESSIONS", "7")
    s2 = matgto()
    assert "default mode record" in s2.output() and "(json)" in s2.output()
    s3 = matgto("--mode", "passthrough")
    assert "default mode passthrough" in s3.output()


def test_help_lists_the_variables():
    out = subprocess.run([MATGTO_BIN, "serve", "--help"], capture_output=True, text=True).stdout
    for name in ("MATGTO_PROXY_PORT", "MATGTO_STORE", "MATGTO_AUTH_TOKENS", "MATGTO_LOG_LEVEL"):
        assert name in out, name
    top = subprocess.run([MATGTO_BIN, "--help"], capture_output=True, text=True).stdout
    assert "--config" in top and "MATGTO_CONFIG" in top


def test_a_bad_value_in_a_variable_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("MATGTO_MODE", "sideways")
    r = subprocess.run([MATGTO_BIN, "serve", "--cassette-dir", str(tmp_path), "--proxy-port", "0",
                        "--control-port", "0"], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert "mode" in (r.stderr + r.stdout)
