"""A small typed client of a register's API, for providers working from their own machines.

The CLI's remote mode (``--server``/``ASSAY_SERVER``, ``--token``/``ASSAY_TOKEN``) runs on it; scripts can too::

    from assay.client import RegisterClient

    with RegisterClient("https://register.example", token=os.environ["ASSAY_TOKEN"]) as register:
        system = register.publish(open("my-system.yaml", "rb").read(), media_type="application/yaml")
        marked = register.mark(open("out.png", "rb").read(), system_id=system["id"])
        open("out.marked.png", "wb").write(marked.data)

What it promises:

- **TLS is verified**, always: against the system's trust store (certifi), or, for a register whose certificate
  comes from a private CA, against that CA only (``ca_bundle``). There is no switch that turns verification off.
  Plain ``http://`` is accepted only for the machine itself (``localhost``, ``127.0.0.0/8``, ``::1``); anywhere
  else it would send the token in the clear, and is refused unless ``unsafe_http=True``.
- **The token is never shown**: not in ``repr``, not in messages, not in logs (httpx logs no headers; its
  header reprs mask ``Authorization``). It is sent only to the server given, never across a redirect (redirects
  are not followed: a register that moved says so, and the error names the new address).
- **Every failure is an** :class:`~assay.errors.AssayError` with a hint: the register's own JSON errors keep their
  code, message, hint and problems; a server that cannot be reached, whose certificate does not verify, or that
  does not answer like an Assay register gets a message saying which, and what to check.

It speaks the API under ``/api/v1`` as documented at ``/openapi.json``; nothing here imports the rest of Assay's
services, so it is what a provider needs on a machine without the register's database.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from assay.errors import AssayError, FieldProblem, InvalidInput

if TYPE_CHECKING:
    import ssl

__all__ = ["Marked", "RegisterClient", "RemoteError"]

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}


class RemoteError(AssayError):
    """What the register answered (its JSON error, code kept), or why it could not be asked.

    ``unreachable`` is True when no answer from an Assay register came back at all (down, refused, TLS, a
    server that is not a register): retrying another file against it is pointless."""

    def __init__(
        self,
        message: str,
        *,
        hint: str = "",
        problems: list[FieldProblem] | None = None,
        code: str = "error",
        http_status: int = 502,
        unreachable: bool = False,
    ) -> None:
        super().__init__(message, hint=hint, problems=problems)
        self.code = code
        self.http_status = http_status
        self.unreachable = unreachable


@dataclass(frozen=True)
class Marked:
    """A marked image as the register gave it back, and the record it made (``mark_id``, ``log_index``, ...)."""

    data: bytes
    record: dict[str, Any]


class RegisterClient:
    """A register's API at ``server`` (its base address, e.g. ``https://register.example``).

    ``token`` is an API token from ``assay tokens create`` (needed to publish, update and mark; checking is
    public). ``ca_bundle`` is a PEM file of the CA certificates to trust instead of the system's.
    """

    def __init__(
        self,
        server: str,
        *,
        token: str | None = None,
        ca_bundle: Path | None = None,
        unsafe_http: bool = False,
        timeout: float = 120.0,
        transport: Any = None,
    ) -> None:
        import httpx

        self.server = _checked_server(server, unsafe_http=unsafe_http)
        self._token = token or None
        headers = {"accept": "application/json", "user-agent": "assay-cli"}
        if self._token:
            headers["authorization"] = f"Bearer {self._token}"
        self._client = httpx.Client(
            base_url=self.server,
            headers=headers,
            timeout=timeout,
            verify=_tls_context(ca_bundle),
            follow_redirects=False,  # a redirect is reported, never followed with the token
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"RegisterClient(server={self.server!r}, token={'<hidden>' if self._token else None})"

    def __enter__(self) -> RegisterClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    # ------------------------------------------------------------------------------------------- the API

    def whoami(self) -> dict[str, Any]:
        """Who the token belongs to (``GET /api/v1/whoami``)."""
        return self._json("GET", "/api/v1/whoami", needs_token=True)

    def get_system(self, system_id: str) -> dict[str, Any]:
        return self._json("GET", f"/api/v1/systems/{_segment(system_id)}")

    def publish(
        self, document: bytes, *, media_type: str, provider: str | None = None, reason: str = ""
    ) -> dict[str, Any]:
        """Publish a new system from its disclosure (``POST /api/v1/systems``); the system as recorded."""
        params = {k: v for k, v in (("provider", provider), ("reason", reason)) if v}
        return self._json(
            "POST",
            "/api/v1/systems",
            params=params,
            content=document,
            headers={"content-type": media_type},
            needs_token=True,
        )

    def update(
        self,
        system_id: str,
        document: bytes,
        *,
        media_type: str,
        expected_version: int | None = None,
        reason: str = "",
    ) -> dict[str, Any]:
        """Add a version to a system (``PUT /api/v1/systems/{id}``). Without ``expected_version``, the version
        the register shows now (as the local command does); if it moves in between, the register answers 409."""
        if expected_version is None:
            expected_version = int(self.get_system(system_id)["version_number"])
        params: dict[str, Any] = {"expected_version": expected_version}
        if reason:
            params["reason"] = reason
        return self._json(
            "PUT",
            f"/api/v1/systems/{_segment(system_id)}",
            params=params,
            content=document,
            headers={"content-type": media_type},
            needs_token=True,
        )

    def confirm_deployer(self, system_id: str, *, decision: str) -> dict[str, Any]:
        """Confirm (or deny, ``decision="denied"``) as the token's organisation that it deploys a system a
        disclosure names it for (``POST /api/v1/systems/{id}/deployer-confirmation``); the system as it is now."""
        return self._json(
            "POST",
            f"/api/v1/systems/{_segment(system_id)}/deployer-confirmation",
            json={"decision": decision},
            needs_token=True,
        )

    def mark(self, image: bytes, *, system_id: str, visible_label: bool = False, remark: bool = False) -> Marked:
        """Have the register mark an image (``POST /api/v1/marks``): watermark, signed Content Credentials and
        a record, with the provider's certificate, which stays on the register."""
        import base64
        import binascii

        body = self._json(
            "POST",
            "/api/v1/marks",
            params={"system_id": system_id, "visible_label": "true" if visible_label else "false"}
            | ({"remark": "true"} if remark else {}),
            content=image,
            headers={"content-type": "application/octet-stream"},
            needs_token=True,
        )
        try:
            data = base64.b64decode(body.pop("data_base64"), validate=True)
        except (KeyError, TypeError, binascii.Error):
            raise self._not_a_register("POST /api/v1/marks", "no marked image in the answer") from None
        return Marked(data=data, record=body)

    def check(self, data: bytes, content_type: str = "application/octet-stream") -> dict[str, Any]:
        """Check an image, or a text sent as ``text/plain``, ``text/markdown``, ``text/html`` or a .docx type
        (``POST /api/v1/check``): the verdict. Public: the token is not sent."""
        return self._json("POST", "/api/v1/check", content=data, headers={"content-type": content_type}, public=True)

    def record_batch(self, entries: list[dict[str, Any]]) -> dict[str, Any]:
        """Record marks made offline with a kit (``POST /api/v1/marks/batch``), all or nothing."""
        return self._json("POST", "/api/v1/marks/batch", json={"entries": entries}, needs_token=True)

    # ------------------------------------------------------------------------------------------- plumbing

    def _json(
        self, method: str, path: str, *, needs_token: bool = False, public: bool = False, **kwargs: Any
    ) -> dict[str, Any]:
        """One API call, its JSON answer; ``public``: the token is not sent (the call needs none)."""
        import httpx

        if needs_token and not self._token:
            raise InvalidInput(
                f"{method} {path} at {self.server} needs your API token",
                hint="give --token (or set ASSAY_TOKEN) to the token the register's operator made with "
                "'assay tokens create --provider ID'",
            )
        request = self._client.build_request(method, path, **kwargs)
        if public:
            request.headers.pop("authorization", None)
        try:
            response = self._client.send(request)
        except httpx.HTTPError as exc:
            raise _transport_error(exc, self.server) from None
        what = f"{method} {path}"
        try:
            body = response.json()
        except ValueError:
            body = None
        if 300 <= response.status_code < 400:
            target = response.headers.get("location", "")
            raise RemoteError(
                f"{self.server} answered {what} with a redirect to {target or 'another address'}",
                hint="give the register's address itself as --server (ASSAY_SERVER), e.g. the https:// one it "
                "redirects to; a redirect is never followed with your token",
                unreachable=True,
            )
        if response.status_code >= 400:
            error = body.get("error") if isinstance(body, dict) else None
            if not isinstance(error, dict) or not isinstance(error.get("message"), str):
                raise self._not_a_register(what, f"HTTP {response.status_code} without an Assay error")
            problems = [
                FieldProblem(str(p.get("path", "")), str(p.get("message", "")), str(p.get("fix", "")))
                for p in error.get("problems") or []
                if isinstance(p, dict)
            ]
            raise RemoteError(
                error["message"],
                hint=str(error.get("hint") or ""),
                problems=problems,
                code=str(error.get("code") or "error"),
                http_status=response.status_code,
            )
        if not isinstance(body, dict):
            raise self._not_a_register(what, "an answer that is not JSON")
        return body

    def _not_a_register(self, what: str, why: str) -> RemoteError:
        return RemoteError(
            f"{self.server} did not answer {what} like an Assay register ({why})",
            hint="check --server (ASSAY_SERVER): the register's base address, e.g. https://register.example, "
            "without /api/v1",
            code="not_a_register",
            unreachable=True,
        )


def _checked_server(server: str, *, unsafe_http: bool) -> str:
    """The server's base URL, checked: http(s), a host, no credentials, no query; http only to this machine."""
    hint = "give the register's base address, e.g. --server https://register.example (or ASSAY_SERVER)"
    text = (server or "").strip().rstrip("/")
    try:
        parts = urlsplit(text)
        host = parts.hostname or ""
        _ = parts.port  # raises on a malformed port
    except ValueError:
        raise InvalidInput(f"{text!r} is not a URL", hint=hint) from None
    if parts.scheme not in ("http", "https") or not host:
        raise InvalidInput(f"{text!r} is not an http(s) address of a register", hint=hint)
    if parts.username or parts.password:
        raise InvalidInput(
            "the server address carries a user name or password",
            hint="give the address alone, and the API token with --token (ASSAY_TOKEN)",
        )
    if parts.query or parts.fragment:
        raise InvalidInput(f"{text!r} has a query or fragment", hint=hint)
    if parts.scheme == "http" and not unsafe_http and not _is_loopback(host):
        raise InvalidInput(
            f"refusing to talk to {text} over plain http: your token would cross the network unencrypted",
            hint="use the register's https:// address; on a network you trust entirely, "
            "--unsafe-http (ASSAY_UNSAFE_HTTP=1) allows it",
        )
    return text


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _tls_context(ca_bundle: Path | None) -> ssl.SSLContext | bool:
    """Verification always on: the default trust store, or only the CAs of ``ca_bundle``."""
    import ssl

    if ca_bundle is None:
        return True
    try:
        return ssl.create_default_context(cafile=str(ca_bundle))
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc)
        raise InvalidInput(
            f"cannot use {ca_bundle} as the CA bundle: {reason}",
            hint="give a PEM file with the certificate of the CA that issued the register's certificate "
            "(--ca-bundle, ASSAY_CA_BUNDLE)",
        ) from None


def _transport_error(exc: Exception, server: str) -> RemoteError:
    """One sentence about why the register could not be asked, without any header or token."""
    import ssl

    import httpx

    chain: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and cause not in chain:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    verify = next((c for c in chain if isinstance(c, ssl.SSLCertVerificationError)), None)
    text = " ".join(str(c) for c in chain)
    if verify is not None or "CERTIFICATE_VERIFY_FAILED" in text:
        reason = getattr(verify, "verify_message", None) or "certificate verify failed"
        return RemoteError(
            f"the TLS certificate of {server} could not be verified ({reason}); nothing was sent",
            hint="if the register's certificate comes from a private CA, give that CA's certificate with "
            "--ca-bundle FILE (ASSAY_CA_BUNDLE); otherwise you may not be talking to the register",
            code="tls_unverified",
            unreachable=True,
        )
    if any(isinstance(c, ssl.SSLError) for c in chain):
        return RemoteError(
            f"the TLS handshake with {server} failed; nothing was sent",
            hint="check that --server is the register's https:// address (plain http on a TLS port, or the "
            "reverse, fails like this)",
            code="tls_failed",
            unreachable=True,
        )
    if isinstance(exc, httpx.TimeoutException):
        return RemoteError(
            f"{server} did not answer in time",
            hint="try again; a large image or a busy register takes longer",
            code="timeout",
            unreachable=True,
        )
    if isinstance(exc, httpx.RemoteProtocolError):
        return RemoteError(
            f"{server} did not answer in HTTP",
            hint="check --server (ASSAY_SERVER): a register served over TLS needs its https:// address",
            code="unreachable",
            unreachable=True,
        )
    reason = "connection refused" if "refused" in text.lower() else type(exc).__name__
    if isinstance(exc, httpx.ConnectError) and "name" in text.lower() and "resolution" in text.lower():
        reason = "the name does not resolve"
    return RemoteError(
        f"cannot reach the register at {server} ({reason})",
        hint="check --server (ASSAY_SERVER), your network, and that the register is running",
        code="unreachable",
        unreachable=True,
    )


def _segment(value: str) -> str:
    """A path segment, quoted: an id from the command line cannot add path parts or a query."""
    from urllib.parse import quote

    return quote(value, safe="")
