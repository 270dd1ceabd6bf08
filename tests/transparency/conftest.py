"""A real S3-API server for the object-storage tests: moto's server mode, over HTTP on a free local port.

(moto implements the S3 API in Python; boto3 talks to it exactly as to AWS or MinIO: signed HTTP requests.)
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

BUCKET = "assay-test-log"


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    try:
        import boto3
        from moto.server import ThreadedMotoServer
    except ModuleNotFoundError as exc:
        why = f"an S3 server (moto) and boto3 are not available: pip install -e '.[test]' ({exc.name} is missing)"
        (pytest.fail if os.environ.get("ASSAY_TEST_REQUIRE_ALL") == "1" else pytest.skip)(why)
    # Credentials for the test server only; boto3 (in this process and in CLI subprocesses) reads them here.
    for var, value in {
        "AWS_ACCESS_KEY_ID": "assay-test",
        "AWS_SECRET_ACCESS_KEY": "assay-test-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        os.environ.setdefault(var, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()


@pytest.fixture
def s3_url(s3_endpoint: str) -> str:
    """A fresh prefix in the test bucket, as ASSAY_LOG_STORAGE names it."""
    return f"s3://{BUCKET}/t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def s3_storage(s3_endpoint: str, s3_url: str):  # type: ignore[no-untyped-def]
    from assay.transparency.s3 import S3Storage

    storage = S3Storage.from_url(s3_url, endpoint_url=s3_endpoint)
    yield storage
    storage.close()
