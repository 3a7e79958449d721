"""tickmesh.execution."""
