"""The ingest path behind the receivers: normalize -> price -> batch -> durable write (``IngestPipeline``)."""
