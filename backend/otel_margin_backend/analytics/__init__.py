"""Margin analytics read side: P&L, projections, data quality, operational signals, customer actions and the
rollout gate (``verify``: the P&L against a user's estimate CSV).

All figures come from SQL functions and views in the migrations (0030_pnl.sql, 0031_signals.sql), the same ones
Grafana reads; this package only runs them and shapes the rows for the CLI and REST.
"""
