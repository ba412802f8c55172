"""The ``otel-margin`` command: ``main`` mounts each group (prices, budgets, revenue, simulate, grafana).

Commands sit on top of everything: they read ``Settings``, open the store and call the features.
"""
