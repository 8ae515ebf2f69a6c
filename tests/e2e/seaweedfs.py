"""A real SeaweedFS (its S3 gateway) for the S3 store tests and benchmarks.

`weed` comes from scripts/seaweedfs.sh (built once into
${MATGTO_CACHE:-~/.cache/matgto}); $MATGTO_WEED overrides it. Every port is a
free loopback port (the filer's default, 8888, is matgto's), and the S3
gateway checks signatures against an identities file, so a wrong key gets
403.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ACCESS_KEY = "matgto-test-key"
SECRET_KEY = "matgto-test-secret-0123456789"
REGION = "us-east-1"


def weed_binary() -> str:
    path = os.environ.get("MATGTO_WEED")
    if path:
        return path
    r = subprocess.run([str(ROOT / "scripts/seaweedfs.sh")], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("scripts/seaweedfs.sh could not build SeaweedFS:\n" + r.stderr[-4000:])
    return r.stdout.strip()


def _free_ports(n: int) -> list[int]:
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


class SeaweedFS:
    """One `weed server` (master + volume + filer + S3) in `workdir`."""

    def __init__(self, workdir: Path):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data = self.workdir / "data"
        self.data.mkdir(exist_ok=True)
        (self.master, self.volume, self.filer, self.s3,
         self.master_grpc, self.volume_grpc, self.filer_grpc, self.s3_grpc) = _free_ports(8)
        self.endpoint = f"http://127.0.0.1:{self.s3}"
        self.config = self.workdir / "s3.json"
        self.config.write_text(json.dumps({"identities": [{
            "name": "matgto",
            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }]}))
        self.proc = None
        self.log_path = self.workdir / "weed.log"
        self.start()

    def start(self, writable: bool = False):
        """Starts weed and waits until its S3 gateway answers; with
        `writable`, until it takes writes: a restarted master refuses to
        assign volumes for its warm-up (~20-25 s here, not configurable)."""
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([
            weed_binary(), "server", f"-dir={self.data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={self.master}", f"-master.port.grpc={self.master_grpc}",
            f"-volume.port={self.volume}", f"-volume.port.grpc={self.volume_grpc}",
            f"-filer.port={self.filer}", f"-filer.port.grpc={self.filer_grpc}",
            "-master.volumeSizeLimitMB=64", "-volume.max=0",
            "-s3", f"-s3.port={self.s3}", f"-s3.port.grpc={self.s3_grpc}",
            "-s3.port.iceberg=0", "-s3.port.lance=0",
            f"-s3.config={self.config}",
        ], stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir)
        log.close()
        deadline = time.monotonic() + 90
        probe = self.client()
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"weed exited with {self.proc.returncode}:\n{self.log()}")
            try:
                probe.list_buckets()
                if writable:
                    if "ready-probe" not in [b["Name"] for b in probe.list_buckets()["Buckets"]]:
                        probe.create_bucket(Bucket="ready-probe")
                    probe.put_object(Bucket="ready-probe", Key="probe", Body=b"ok")
                return
            except Exception as e:  # noqa: BLE001 - not ready yet
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"SeaweedFS S3 not ready after 90 s ({e}):\n{self.log()}")
                time.sleep(0.2)

    def stop(self):
        """Stops it at once (SIGKILL), as an outage looks to its clients; its
        data survives for start() (a graceful stop takes weed 10-25 s)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def client(self, secret: str = SECRET_KEY):
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3", endpoint_url=self.endpoint, region_name=REGION,
            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=secret,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                          request_checksum_calculation="when_required",
                          response_checksum_validation="when_required",
                          connect_timeout=2, read_timeout=10))

    def new_bucket(self) -> str:
        name = "t-" + uuid.uuid4().hex[:20]
        self.client().create_bucket(Bucket=name)
        return name

    def env(self, secret: str = SECRET_KEY) -> dict:
        """The AWS variables a matgto process needs to use this store."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_REGION": REGION,
                "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": secret}

    def close(self):
        self.stop()
        shutil.rmtree(self.data, ignore_errors=True)
