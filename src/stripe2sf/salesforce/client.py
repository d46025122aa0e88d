"""`connect(settings)` and `SalesforceClient`: the one object the rest of stripe2sf uses to
talk to Salesforce (logins through simple-salesforce, data calls as plain HTTPS requests on the
same session, so every status code, header and body is seen as Salesforce sent it)."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import requests
from simple_salesforce import Salesforce

from stripe2sf.domain.batch.calls import SalesforceCall
from stripe2sf.domain.batch.pools import pool_sizes
from stripe2sf.domain.batch.results import ExecutionResult, classify_http
from stripe2sf.domain.errors import RetryableError, SyncError
from stripe2sf.salesforce.errors import error_for_answer, error_items, retry_after_header
from stripe2sf.salesforce.executor import execute
from stripe2sf.salesforce.login import LoginMode, LoginSpec, log_in, login_spec
from stripe2sf.salesforce.transport import DEFAULT_TIMEOUT, SalesforceSession, body_of
from stripe2sf.salesforce.usage import ApiUsageSnapshot, UsageTracker
from stripe2sf.settings import Settings


def call_outcome(status: int, body: Any) -> str:
    """How an HTTP answer counts in the usage snapshot: ok / retryable / rate_limited /
    permanent."""
    if 200 <= status < 300:
        return "ok"
    code, _ = error_items(body)
    cls = classify_http(status, code)
    return "retryable" if cls == "halted" else cls


def _invalid_session(response: requests.Response) -> bool:
    if response.status_code != 401:
        return False
    code, _ = error_items(body_of(response))
    return code in (None, "INVALID_SESSION_ID")


MAX_COMPOSITE_QUERIES = 5  # queries allowed in one Composite request


class SalesforceClient:
    """A logged-in Salesforce org. Thread-safe for concurrent calls; one per process.

    `api_version` ("62.0") is what `domain.batch.calls.batch` builds paths with.
    """

    def __init__(
        self,
        spec: LoginSpec,
        session: SalesforceSession,
        *,
        api_version: str,
        bulk_poll_interval: float = 0.5,
        bulk_timeout: float = 600.0,
    ) -> None:
        self.spec = spec
        self.session = session
        self.api_version = api_version.lstrip("v")
        self.bulk_poll_interval = bulk_poll_interval
        self.bulk_timeout = bulk_timeout
        self.tracker = UsageTracker()
        self._lock = threading.Lock()
        self._userinfo: dict[str, Any] | None = None
        self._sf = self._log_in()

    # session -------------------------------------------------------------------------------
    def _log_in(self) -> Salesforce:
        if self.spec.mode == LoginMode.SESSION:
            return log_in(self.spec, self.session)
        try:
            sf = log_in(self.spec, self.session)
        except SyncError as exc:
            outcome = "retryable" if isinstance(exc, RetryableError) else "permanent"
            self.tracker.record("login", outcome, None)
            raise
        self.tracker.record("login", "ok", None)
        return sf

    def _relogin(self, stale_token: str) -> None:
        """Log in again after INVALID_SESSION_ID. A refused login is retryable here
        (kind `salesforce.LOGIN_FAILED`): the settings need fixing, not the event."""
        with self._lock:
            if self._sf.session_id != stale_token:  # another thread did it already
                return
            try:
                self._sf = self._log_in()
            except SyncError as exc:
                raise RetryableError(
                    f"the Salesforce session expired and logging in again failed: {exc}",
                    kind="salesforce.LOGIN_FAILED",
                ) from exc

    @property
    def sf(self) -> Salesforce:
        """The simple-salesforce object (for anything this client does not wrap)."""
        return self._sf

    @property
    def login_mode(self) -> LoginMode:
        return self.spec.mode

    @property
    def instance_url(self) -> str:
        return f"https://{self._sf.sf_instance}"

    def data_path(self, rest: str) -> str:
        """`/services/data/vXX.X/<rest>`."""
        return f"/services/data/v{self.api_version}/{rest.lstrip('/')}"

    def usage(self) -> ApiUsageSnapshot:
        """The org's API usage (latest Sforce-Limit-Info) and our calls by kind and outcome."""
        return self.tracker.snapshot()

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> SalesforceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # HTTP ----------------------------------------------------------------------------------
    def send(
        self,
        method: str,
        path: str,
        *,
        kind: str,
        json: Any = None,
        data: bytes | str | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """One request to the instance (`path` from `/services/...`, or a full URL).

        Logs in again once on 401 INVALID_SESSION_ID (not with a given session id). Counts the
        call in the usage snapshot. Any HTTP answer is returned as is; no answer at all
        (connection refused, reset, timeout) raises `RetryableError` (kind
        `salesforce.connection` or `salesforce.timeout`).
        """
        for attempt in range(2):
            sf = self._sf
            url = path if path.startswith("https://") else self.instance_url + path
            all_headers = {"Authorization": f"Bearer {sf.session_id}", "Accept": "application/json"}
            all_headers.update(headers or {})
            try:
                response = self.session.request(
                    method, url, json=json, data=data, params=params, headers=all_headers
                )
            except requests.exceptions.Timeout as exc:
                self.tracker.record(kind, "retryable", None)
                raise RetryableError(
                    f"Salesforce {method} {path} timed out: {exc}", kind="salesforce.timeout"
                ) from exc
            except requests.exceptions.RequestException as exc:
                self.tracker.record(kind, "retryable", None)
                raise RetryableError(
                    f"Salesforce {method} {path} failed without an answer: {exc}",
                    kind="salesforce.connection",
                ) from exc
            limit_info = response.headers.get("Sforce-Limit-Info")
            if attempt == 0 and self.spec.can_relogin and _invalid_session(response):
                self.tracker.record(kind, "retryable", limit_info)
                self._relogin(sf.session_id)
                continue
            self.tracker.record(
                kind, call_outcome(response.status_code, body_of(response)), limit_info
            )
            return response
        raise AssertionError("unreachable")

    def _get_json(
        self,
        path: str,
        what: str,
        kind: str,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        response = self.send("GET", path, kind=kind, params=params, headers=headers)
        body = body_of(response)
        if not 200 <= response.status_code < 300:
            wait = retry_after_header(response.headers.get("Retry-After"))
            raise error_for_answer(response.status_code, body, what, wait)
        return body

    # reads ---------------------------------------------------------------------------------
    def userinfo(self) -> dict[str, Any]:
        """The session user's OAuth userinfo (``user_id``, ``organization_id``,
        ``preferred_username``, ...): asked once per client, then remembered (the Pub/Sub
        credentials, capture's own user and doctor all read it). RetryableError (kind
        ``salesforce.userinfo``) when Salesforce does not answer it."""
        with self._lock:
            cached = self._userinfo
        if cached is not None:
            return cached
        response = self.send("GET", "/services/oauth2/userinfo", kind="identity")
        body = body_of(response) if response.status_code == 200 else None
        if not isinstance(body, dict):
            raise RetryableError(
                f"Salesforce's userinfo answered {response.status_code}: cannot tell who "
                "the session's user is",
                kind="salesforce.userinfo",
            )
        with self._lock:
            self._userinfo = body
        return body

    def query_all(self, soql: str, *, batch_size: int | None = None) -> list[dict[str, Any]]:
        """Every record of a SOQL query, following `nextRecordsUrl` page by page.

        `batch_size` (200..2000, a hint Salesforce may ignore) sets the page size.
        """
        what = f"query {soql!r}"
        headers = {"Sforce-Query-Options": f"batchSize={batch_size}"} if batch_size else None
        body = self._get_json(self.data_path("query/"), what, "query", {"q": soql}, headers)
        records: list[dict[str, Any]] = list(body.get("records") or [])
        while not body.get("done", True) and body.get("nextRecordsUrl"):
            next_url = str(body["nextRecordsUrl"])
            body = self._get_json(next_url, what, "query", headers=headers)
            records.extend(body.get("records") or [])
        return records

    def query_many(
        self, soqls: Sequence[str], *, include_deleted: bool = False, kind: str = "composite"
    ) -> list[list[dict[str, Any]]]:
        """Several small queries in as few calls as possible: up to five per Composite request
        (Salesforce's limit), which counts as one API call. Pages beyond the first are followed
        with `query_all`'s paging. `include_deleted`: ``queryAll`` (deleted and archived rows
        too); `kind`: how the calls count in the usage snapshot."""
        if len(soqls) <= 1 and not include_deleted:
            return [self.query_all(q) for q in soqls]
        resource = self.data_path("queryAll/" if include_deleted else "query/")
        results: list[list[dict[str, Any]]] = []
        for start in range(0, len(soqls), MAX_COMPOSITE_QUERIES):
            chunk = soqls[start : start + MAX_COMPOSITE_QUERIES]
            body = {
                "allOrNone": False,
                "compositeRequest": [
                    {
                        "method": "GET",
                        "url": resource + "?q=" + quote(q, safe=""),
                        "referenceId": f"q{i}",
                    }
                    for i, q in enumerate(chunk)
                ],
            }
            response = self.send("POST", self.data_path("composite"), kind=kind, json=body)
            answer = body_of(response)
            if not 200 <= response.status_code < 300:
                wait = retry_after_header(response.headers.get("Retry-After"))
                raise error_for_answer(response.status_code, answer, "composite query", wait)
            for soql, sub in zip(chunk, answer["compositeResponse"], strict=True):
                status, page = int(sub.get("httpStatusCode", 500)), sub.get("body")
                if not 200 <= status < 300:
                    raise error_for_answer(status, page, f"query {soql!r}", None)
                records: list[dict[str, Any]] = list(page.get("records") or [])
                while not page.get("done", True) and page.get("nextRecordsUrl"):
                    page = self._get_json(str(page["nextRecordsUrl"]), soql, "query")
                    records.extend(page.get("records") or [])
                results.append(records)
        return results

    def tooling_query_all(self, soql: str) -> list[dict[str, Any]]:
        """Every record of a Tooling API query (setup objects: ValidationRule, CustomObject)."""
        what = f"tooling query {soql!r}"
        body = self._get_json(self.data_path("tooling/query/"), what, "tooling", {"q": soql})
        records: list[dict[str, Any]] = list(body.get("records") or [])
        while not body.get("done", True) and body.get("nextRecordsUrl"):
            body = self._get_json(str(body["nextRecordsUrl"]), what, "tooling")
            records.extend(body.get("records") or [])
        return records

    def picklist_values(self, sobject: str, record_type_id: str) -> dict[str, list[str]]:
        """Picklist field -> the values the record type allows (User Interface API)."""
        path = self.data_path(
            f"ui-api/object-info/{quote(sobject, safe='')}/picklist-values/{record_type_id}"
        )
        body = self._get_json(path, f"picklist values of {sobject} {record_type_id}", "ui-api")
        fields = body.get("picklistFieldValues") or {}
        return {
            str(name): [str(v.get("value")) for v in (item or {}).get("values") or []]
            for name, item in fields.items()
        }

    def describe(self, sobject: str) -> dict[str, Any]:
        """The describe of one sObject (fields, picklist values, external ids, ...)."""
        path = self.data_path(f"sobjects/{quote(sobject, safe='')}/describe")
        result: dict[str, Any] = self._get_json(path, f"describe {sobject}", "describe")
        return result

    def limits(self) -> dict[str, Any]:
        """The org's limits (`DailyApiRequests: {Max, Remaining}`, ...)."""
        result: dict[str, Any] = self._get_json(self.data_path("limits/"), "limits", "limits")
        return result

    # writes --------------------------------------------------------------------------------
    def execute(self, calls: Sequence[SalesforceCall]) -> ExecutionResult:
        """Send `calls` in order; one outcome per op id (see `salesforce.executor`)."""
        return execute(self, calls)


def connect(
    settings: Settings,
    *,
    session_id: str | None = None,
    timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
    bulk_poll_interval: float = 0.5,
    bulk_timeout: float = 600.0,
) -> SalesforceClient:
    """Log in from the SALESFORCE_* settings (see `salesforce.login` for the modes).

    `session_id` (with SALESFORCE_INSTANCE_URL) uses an existing access token instead of
    logging in; such a client cannot log in again when the token expires. Raises
    `SalesforceConfigError` / `SalesforceLoginError` (permanent: fix the named settings) or
    `RetryableError` (Salesforce unreachable).
    """
    spec = login_spec(settings, session_id)
    pool = pool_sizes(settings.worker_concurrency).salesforce_http
    session = SalesforceSession(settings.salesforce_ca_bundle, timeout, pool_maxsize=pool)
    return SalesforceClient(
        spec,
        session,
        api_version=settings.salesforce_api_version,
        bulk_poll_interval=bulk_poll_interval,
        bulk_timeout=bulk_timeout,
    )
