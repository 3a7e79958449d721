"""Web assets: the dashboard and the vendored chart library (see vendor/README.md)."""
