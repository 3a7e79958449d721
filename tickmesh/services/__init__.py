"""tickmesh.services."""
