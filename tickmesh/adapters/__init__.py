"""tickmesh.adapters."""
