"""The log's tiles on S3-API object storage (AWS S3, MinIO, Ceph RGW, ...), so several machines serve one log.

Set ``ASSAY_LOG_STORAGE=s3://bucket/prefix`` (and ``ASSAY_S3_ENDPOINT_URL`` for a server other than AWS);
credentials and region come from boto3's usual chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``,
``AWS_DEFAULT_REGION``, ``~/.aws``, an instance role), never from Assay's settings. Needs ``boto3``
(``pip install 'assay[s3]'``).

How :class:`S3Storage` keeps the :class:`~assay.transparency.storage.LogStorage` contract:

- *durable when ``write_many`` returns*: each file is one ``PutObject``; S3 answers 200 only once the object is
  stored durably, and ``write_many`` returns only after every PUT of the batch answered 200.
- *atomic replacement*: a PUT replaces an object whole; readers see the old or the new object, never a mix
  (S3 has been strongly read-after-write consistent since 2020; MinIO and Ceph are too).
- *no half-written file*: an interrupted PUT stores nothing. A failed batch raises :class:`StorageError`
  after every PUT in flight has finished, some objects written (each whole); the integrator retries the batch.
- ``remove_partials``: lists ``<tile>.p/`` and deletes what it finds; deleting an absent object is no error.

boto3 is the AWS SDK itself, maintained by AWS and used with every S3-compatible server; written here is only
the mapping of the three calls of the contract onto it.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from assay.errors import ConfigError, StorageError
from assay.tlog import TileID
from assay.transparency.storage import _check_path

__all__ = ["S3Storage"]


class S3Storage:
    """Tiles, entry bundles and the checkpoint file as objects ``<prefix>/<tlog-tiles path>`` in one bucket."""

    def __init__(self, bucket: str, prefix: str = "", *, endpoint_url: str = "", client: Any = None) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url
        self._client = client if client is not None else _client(endpoint_url)
        # PUTs wait on the network, not the CPU: a batch of tiles costs about one round trip, not one per file.
        self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="assay-log-s3")

    @classmethod
    def from_url(cls, url: str, *, endpoint_url: str = "") -> S3Storage:
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
            raise ConfigError(
                f"ASSAY_LOG_STORAGE: {url!r} is not an s3://bucket/prefix URL",
                hint="write s3://<bucket>/<prefix>, e.g. s3://assay-log/production, or leave it empty for the "
                "data folder",
            )
        return cls(parts.netloc, parts.path, endpoint_url=endpoint_url)

    @property
    def location(self) -> str:
        """Where the tiles are, as stored in the database (no machine-local path)."""
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def __repr__(self) -> str:
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        return f"S3Storage({self.location!r}{where})"

    def _key(self, path: str) -> str:
        _check_path(path)
        return f"{self.prefix}/{path}" if self.prefix else path

    def _error(self, what: str, exc: Exception) -> StorageError:
        return StorageError(
            f"could not {what} in {self.location}: {_reason(exc)}",
            hint="check that the bucket exists, the credentials (AWS_ACCESS_KEY_ID...) may write it and "
            "ASSAY_S3_ENDPOINT_URL points at the server",
        )

    def write_many(self, files: Mapping[str, bytes]) -> None:
        jobs = [(self._key(path), bytes(data)) for path, data in files.items()]
        futures = [
            self._pool.submit(self._client.put_object, Bucket=self.bucket, Key=key, Body=data) for key, data in jobs
        ]
        errors = [f.exception() for f in futures]  # waits for every PUT before reporting any failure
        failed = next((e for e in errors if e is not None), None)
        if failed is not None:
            raise self._error("write the log's tiles", failed)  # type: ignore[arg-type]

    def read(self, path: str) -> bytes | None:
        key = self._key(path)
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=key)
            return response["Body"].read()
        except Exception as exc:  # noqa: BLE001 - botocore's errors are mapped below
            if _code(exc) in ("NoSuchKey", "404", "NotFound"):
                return None
            raise self._error(f"read {path}", exc) from None

    def remove_partials(self, tile: TileID) -> None:
        prefix = self._key(tile.full.path) + ".p/"
        try:
            keys: list[str] = []
            paginator = self._client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                keys.extend(o["Key"] for o in page.get("Contents", []))
            for i in range(0, len(keys), 1000):  # DeleteObjects takes at most 1,000 keys
                batch = [{"Key": k} for k in keys[i : i + 1000]]
                answer = self._client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
                if answer.get("Errors"):
                    raise RuntimeError(answer["Errors"][0].get("Message", "delete failed"))
        except Exception as exc:  # noqa: BLE001
            raise self._error(f"remove the partial tiles of {tile.full.path}", exc) from None

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def _client(endpoint_url: str) -> Any:
    try:
        import boto3
        from botocore.config import Config as BotoConfig
    except ModuleNotFoundError:
        raise ConfigError(
            "ASSAY_LOG_STORAGE names S3 object storage, but boto3 is not installed",
            hint="pip install 'assay[s3]' (or boto3), or leave ASSAY_LOG_STORAGE empty for the data folder",
        ) from None
    config = BotoConfig(
        max_pool_connections=16,
        retries={"max_attempts": 5, "mode": "standard"},  # boto3 retries throttling and 5xx with backoff
        connect_timeout=5,
        read_timeout=30,
    )
    return boto3.client("s3", endpoint_url=endpoint_url or None, config=config)


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def _reason(exc: Exception) -> str:
    code = _code(exc)
    return f"{code}: {exc}" if code else str(exc) or type(exc).__name__
