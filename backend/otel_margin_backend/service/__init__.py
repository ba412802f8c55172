"""``otel-margin serve``: the long-running backend that wires receivers, ingest, features and jobs together.

``backend`` starts and stops every part; ``app`` assembles the HTTP routes; ``tokens`` resolves the ingest token.
"""
