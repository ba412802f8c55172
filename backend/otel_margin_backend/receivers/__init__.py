"""Receivers: OTLP/gRPC, OTLP/HTTP (protobuf and JSON) and the REST usage API.

Each decodes its protocol and hands the result to a ``pipeline.consumer.UsageConsumer``; errors become
gRPC codes and HTTP statuses through ``web.status``, the one mapping.
"""
