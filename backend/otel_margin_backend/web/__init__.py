"""What every HTTP and gRPC endpoint shares: the token check, the one error mapping, capped body reads.

``status``  error class -> gRPC code, HTTP status, retry hint and the one JSON error body (``json_error``)
``rest``    ``endpoint``: a JSON route behind the token check, every failure answered by ``json_error``
``auth``    the bearer-token check: named tokens, scopes ingest / read / admin
``body``    reading a body against a size cap

Receivers and the features' REST routes import this package; it imports only ``pipeline``.
"""
