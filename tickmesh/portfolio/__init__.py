"""tickmesh.portfolio."""
