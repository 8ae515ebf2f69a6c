"""Cassettes in an object store, next to the same on a local directory, in
the same run (bench.py calls s3_rows): a real SeaweedFS on loopback.

  replay, first answer      `matgto replay big` then the first proxied answer:
                            local directory / bucket with an empty cache
                            (cold: download) / bucket with the cache filled
                            (warm: one revalidation)
  save                      `matgto cassette import` of the 10,000-interaction
                            cassette (parse, write, list) into a directory /
                            into the bucket (conditional PUT)
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests/e2e"))
from seaweedfs import SeaweedFS  # noqa: E402


def _first_answer_ms(start_matgto, cli, work: Path, body: bytes, base: str, args, env) -> float:
    proc, info = start_matgto(work, *args, env=env)
    try:
        proxy = f"http://{info['proxy']}"
        t = time.perf_counter()
        cli(info, "replay", "big", env=env)
        out = subprocess.run(["curl", "-sf", "--proxy", proxy, base + "/item/7"],
                             capture_output=True, check=True).stdout
        ms = (time.perf_counter() - t) * 1000
        assert out == body, "replayed body differs"
        return ms
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _import_ms(matgto: str, big: Path, where: list[str], env) -> float:
    t = time.perf_counter()
    subprocess.run([matgto, "cassette", "import", str(big), "--name", "saved", *where],
                   check=True, capture_output=True, env=env)
    return (time.perf_counter() - t) * 1000


def s3_rows(matgto: str, start_matgto, cli, work: Path, big: Path, body: bytes, base: str,
            repeat: int = 2) -> list[str]:
    """Prints nothing; returns the table's lines. Each figure is the best of
    `repeat` runs (a few seconds in all)."""
    import os
    store = SeaweedFS(work / "seaweedfs")
    try:
        bucket = store.new_bucket()
        env = {**os.environ, **store.env()}
        store.client().put_object(Bucket=bucket, Key="bench/big.pb", Body=big.read_bytes())
        url = f"s3://{bucket}/bench"
        med = min
        local, cold, warm = [], [], []
        for i in range(repeat):
            local.append(_first_answer_ms(start_matgto, cli, work, body, base, [], env))
            cache = work / f"s3-cache-{i}"
            cold.append(_first_answer_ms(start_matgto, cli, work, body, base,
                                         ["--store", url, "--cache-dir", str(cache)], env))
            warm.append(_first_answer_ms(start_matgto, cli, work, body, base,
                                         ["--store", url, "--cache-dir", str(cache)], env))
        save_dir, save_s3 = [], []
        for i in range(repeat):
            d = work / f"save-dir-{i}"
            save_dir.append(_import_ms(matgto, big, ["--dir", str(d)], env))
            save_s3.append(_import_ms(matgto, big, ["--store", url, "--cache-dir",
                                                    str(work / f"save-cache-{i}")], env))
            shutil.rmtree(d, ignore_errors=True)
        size_mib = big.stat().st_size / 2**20
        return [
            f"object store (SeaweedFS on loopback), 10,000-interaction cassette ({size_mib:.1f} MiB), "
            f"best of {repeat}:",
            f"  replay, time to first answer   local dir {med(local):7.0f} ms   bucket cold "
            f"{med(cold):7.0f} ms   bucket warm (cache) {med(warm):7.0f} ms",
            f"  save (cassette import)         local dir {med(save_dir):7.0f} ms   bucket "
            f"{med(save_s3):7.0f} ms",
        ]
    finally:
        store.close()
