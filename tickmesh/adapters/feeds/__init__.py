"""tickmesh.adapters.feeds."""
