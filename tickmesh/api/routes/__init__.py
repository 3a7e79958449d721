"""The API's routes: ``health`` at the root, everything else under ``/api/v1``."""
