"""The HTTP surface on the OTLP/HTTP port: health now; OTLP/HTTP, REST usage, Stripe and P&L as they land."""
