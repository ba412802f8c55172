"""Receivers: OTLP/gRPC, OTLP/HTTP (protobuf and JSON) and the REST usage API.

Each decodes its protocol and hands the result to a ``UsageConsumer``; ``_status.py`` is the only
place that turns pipeline errors into gRPC codes and HTTP statuses.
"""
