"""tickmesh.storage."""
