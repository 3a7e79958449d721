"""tickmesh.bars."""
