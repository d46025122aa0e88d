"""salesforce_sandbox: a local Salesforce org over HTTPS, backed by SQLite.

The real, unmodified ``simple-salesforce`` (and, per the wire reference, jsforce and the ``sf``
CLI) work against it. Layers: ``routes`` (the route table) -> ``api`` (HTTP translation:
``api.rest``, ``api.composite``, ``api.bulk``, ``api.auth``, ``api.control``) -> ``models``
(behaviour: ``records``, ``queries``, ``bulk``, ``auth``, ``limits``, ``faults``, ``store``).
Pure parts: ``soql`` (parser, binder, evaluator), ``validation``, ``ids``, ``schema``
(standard objects, SFDX metadata, describe). Errors carry Salesforce's wire codes
(``errors.SalesforceError``) and are turned into responses in ``app`` only.

Start it::

    salesforce-sandbox [--host 127.0.0.1] [--port 8701] [--data DIR] [--metadata DIR]

or in-process for tests: ``salesforce_sandbox.testing.run_sandbox()``.

Defaults (``config``; all configurable with flags / ``Settings``):

* user ``admin@sandbox.example.com``, password ``sandbox-password``, security token
  ``SANDBOXTOKEN`` (the SOAP login and OAuth password grant accept the password with or without
  the token);
* connected app client id ``3MVG9sandboxCLIENTID``, secret ``sandbox-client-secret``;
  JWT assertions are verified with ``jwt_keys.JWT_CERTIFICATE_PEM`` (sign with
  ``jwt_keys.JWT_PRIVATE_KEY_PEM``; both written to ``DIR/jwt-cert.pem`` and
  ``DIR/jwt-private-key.pem``);
* a static access token ``00D000000000001!SANDBOX.STATIC.ACCESS.TOKEN`` that never expires;
  issued sessions last 7200 s;
* daily API limit 100,000 (rolling 24 h); ``Sforce-Limit-Info: api-usage=N/M`` on every
  ``/services/data/vXX.X/`` response, 403 ``REQUEST_LIMIT_EXCEEDED`` past the limit;
* TLS from a local CA written to ``DIR/ca.pem`` (a temporary directory without ``--data``).

Seeded records: the Organization ``00D000000000001EAA``, users ``005000000000001AAA`` (admin,
the default owner, profile System Administrator) and ``005000000000002AAA``
(``integration@sandbox.example.com``, profile "Minimum Access - API Only Integrations", no
permission set), queue ``Billing Queue`` (``00G000000000001AAA``, ``Group.Type = 'Queue'``), the
profiles System Administrator, Standard User (users created without a ProfileId) and Minimum
Access - API Only Integrations.

Permissions (``models.permissions``): every API call acts as its session's user. The admin
(Modify All Data) sees and changes everything; any other user sees and writes only what its
profile and assigned permission sets grant (PermissionSet, PermissionSetAssignment,
ObjectPermissions, FieldPermissions records; deployed ``*.permissionset-meta.xml`` files
create them; assign with ``POST /sobjects/PermissionSetAssignment`` or ``sf org assign
permset``). A token acting as another user: ``POST /_sandbox/sessions {"username": ...}``.

Org features (``features``, ``--features``, ``POST /_sandbox/features``): ``multi-currency``
adds ``CurrencyType`` (corporate USD; USD, EUR, GBP active, JPY inactive until activated:
``--currencies``, ``--corporate-currency``, ``--inactive-currencies``) and ``CurrencyIsoCode``
(a restricted picklist of the active currencies, defaulting to the creating user's
``DefaultCurrencyIsoCode``) on the CRM objects and every custom object; an inactive or unknown
code answers ``INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST`` "Account Currency: bad value for
restricted picklist field: JPY". Activate one as an admin does: update its ``CurrencyType``
(``IsActive``; Customize Application), or create one (``models.currencies``).

Duplicate management (``models.duplicates``, ``schema.duplicate_rules``): ``MatchingRules``
and ``DuplicateRule`` metadata (Metadata API, ``--metadata`` sources, or Salesforce's standard
Account and Contact rules with ``POST /_sandbox/duplicate-rules/standard``; none in a new org)
are enforced on API writes: ``Block`` always refuses, ``Allow`` with ``Alert`` refuses unless
``Sforce-Duplicate-Rule-Header: allowSave=true``; REST answers ``DUPLICATES_DETECTED`` with the
rule's ``duplicateResult``. Rows in DuplicateRule / MatchingRule / MatchingRuleItem.

Validation rules, required fields and record types (``schema.rules``, ``formula``,
``rule_checks``, ``models.org_rules``): ``ValidationRule`` and ``RecordType`` metadata
(children of ``CustomObject``: the Metadata API, ``--metadata`` sources) and ``<required>``
custom fields are enforced on every write (REST, Composite, Collections per record, Bulk per
row, control-plane seeding too). An active rule whose formula is true answers
``FIELD_CUSTOM_VALIDATION_EXCEPTION`` with its message and ``fields: [errorDisplayField]``
(every failing rule, after required fields); a formula that does not compile is a deploy
component failure ("Field X does not exist. Check spelling."). A record type gets a stable
RecordType row, the object ``RecordTypeId``; new records get the first active record type by
DeveloperName (profiles, which choose it in Salesforce, are not deployable here) and its
picklist defaults; a restricted picklist value it does not list answers
``INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST``. Tooling ``ValidationRule`` lists the rules, the UI
API's ``object-info/{object}/picklist-values/{recordTypeId}`` a record type's values.

Login with simple-salesforce: it always builds ``https://{domain}.salesforce.com/...``, so pass
``domain="127.0.0.1:8701/login"``; any path ending in ``/services/oauth2/token`` or
``/services/Soap/u/NN.0`` is a login endpoint.

Control plane (``/_sandbox/``, loopback only, JSON): see ``salesforce-sandbox --help`` and
``api.control``.
"""
