"""Installing otel-margin's Grafana datasource, dashboards and alert rules through Grafana's HTTP API."""
