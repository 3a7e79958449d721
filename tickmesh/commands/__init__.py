"""Sub-commands of ``tickmesh`` that grew past a few lines; ``tickmesh.cli`` registers them."""
