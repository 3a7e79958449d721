"""tickmesh.bus.backends."""
