"""tickmesh.bus."""
