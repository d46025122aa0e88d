"""The Salesforce Pub/Sub API's wire messages and gRPC stubs (package ``eventbus.v1``).

A neutral package: the Salesforce sandbox serves it and stripe2sf subscribes through it, and
neither imports the other. ``pubsub_api_pb2*.py`` are generated from ``pubsub_api.proto`` by
``make proto`` (grpcio-tools); do not edit them by hand.
"""
