"""What every HTTP and gRPC endpoint shares: the token check, the one error mapping, capped body reads.

Receivers and the features' REST routes import this package; it imports only ``pipeline``.
"""
