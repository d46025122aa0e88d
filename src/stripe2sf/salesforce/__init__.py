"""The Salesforce boundary: the only package that talks to Salesforce.

    client = connect(settings)                     # login.py: every mode the settings allow
    rows = client.query_all(lookup.soql)           # lookups
    result = client.execute(batch(plan.operations, api_version=f"v{client.api_version}"))
    record(result.outcomes)                        # op id -> OpOutcome, partial success kept
    result.raise_for_failures()                    # RetryableError / RateLimitedError /
                                                   # PermanentError (domain.errors)
    client.usage()                                 # ApiUsageSnapshot for metrics

Modules: `login` (modes, pure choice + simple-salesforce login), `transport` (HTTP session),
`client` (`connect`, `SalesforceClient`), `executor` (calls in order), `bulk` (Bulk API 2.0
ingest), `sender` (the `Sender` protocol executor and bulk take: the client without importing
it), `usage` (API usage), `errors`. Pure result handling lives in `domain.batch.outcomes` and
`domain.batch.results`.
"""

from stripe2sf.domain.batch.results import CallReport, ExecutionResult
from stripe2sf.salesforce.client import SalesforceClient, connect
from stripe2sf.salesforce.errors import SalesforceConfigError, SalesforceLoginError
from stripe2sf.salesforce.login import LoginMode, LoginSpec, login_spec
from stripe2sf.salesforce.usage import ApiUsageSnapshot

__all__ = [
    "ApiUsageSnapshot",
    "CallReport",
    "ExecutionResult",
    "LoginMode",
    "LoginSpec",
    "SalesforceClient",
    "SalesforceConfigError",
    "SalesforceLoginError",
    "connect",
    "login_spec",
]
