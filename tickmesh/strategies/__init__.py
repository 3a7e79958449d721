"""tickmesh.strategies."""
