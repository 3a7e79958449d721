"""Bus backends, chosen by URL scheme."""
