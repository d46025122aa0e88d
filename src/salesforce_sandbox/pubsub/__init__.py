"""Change Data Capture over the Pub/Sub API (gRPC ``eventbus.v1.PubSub``), as Salesforce serves it.

- ``schemas``: the Avro schema of each ``<Entity>ChangeEvent`` (header, then the object's fields
  as optional unions; Name and addresses as compound records) and the bitmap encoding of
  ``changedFields`` / ``nulledFields`` / ``diffFields`` (pure).
- ``bus``: the event bus in the org's SQLite store (events, schemas, replay ids, retention) and
  the entity selection (Setup > Change Data Capture).
- ``capture``: the record hook that turns committed writes into change events.
- ``origin``: the calling API and client of the current request (``changeOrigin``).
- ``service`` / ``server``: the gRPC service and its server, on the sandbox's event loop.
"""
