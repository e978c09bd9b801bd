"""A real S3-compatible server for the fetcher: moto's server (Apache-2.0) as a process,
with IAM authentication on (``INITIAL_NO_AUTH_ACTION_COUNT``), so a wrong key is refused as
a real store refuses it. Its request log (one line per request) is what proves a download
happened, or did not."""

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3

from tests.support.processes import free_port, stop, wait_http_ok

REGION = "us-east-1"
# The IAM calls that make the user its key belongs to, made before authentication starts.
SETUP_ACTIONS = 3


@dataclass(frozen=True)
class S3Store:
    endpoint: str
    access_key: str
    secret_key: str
    log: Path

    def client(self, secret: str | None = None) -> object:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=secret or self.secret_key,
        )

    def object_gets(self, bucket: str) -> list[str]:
        """The GET requests for objects of ``bucket`` (not listings) in the server's log."""
        lines = self.log.read_text(errors="replace").splitlines()
        return [
            line
            for line in lines
            if f'"GET /{bucket}/' in line and "list-type" not in line and "HTTP/1.1" in line
        ]


def _iam_user(endpoint: str) -> tuple[str, str]:
    iam = boto3.client(
        "iam",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="setup",
        aws_secret_access_key="setup",  # accepted before auth starts
    )
    iam.create_user(UserName="fetcher")
    iam.put_user_policy(
        UserName="fetcher",
        PolicyName="s3",
        PolicyDocument='{"Version": "2012-10-17", "Statement": '
        '[{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}',
    )
    key = iam.create_access_key(UserName="fetcher")["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


@contextmanager
def s3_store(log_dir: Path, host: str = "127.0.0.1") -> Iterator[S3Store]:
    port = free_port(host)
    log = log_dir / "moto.log"
    env = {"INITIAL_NO_AUTH_ACTION_COUNT": str(SETUP_ACTIONS), "PATH": "/usr/bin:/bin"}
    moto = Path(sys.executable).with_name("moto_server")
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(moto), "-H", host, "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    endpoint = f"http://{host}:{port}"
    try:
        wait_http_ok(f"{endpoint}/moto-api/data.json", process, "moto_server")
        access, secret = _iam_user(endpoint)
        yield S3Store(endpoint, access, secret, log)
    finally:
        stop(process)
