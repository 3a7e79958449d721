"""tickmesh.config."""
