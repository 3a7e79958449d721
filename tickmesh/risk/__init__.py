"""tickmesh.risk."""
