"""The REST API: read the trading state, run operator actions, behind JWT authentication.

``create_app(db, settings)`` builds the ASGI app; users are managed with ``tickmesh admin user``.
"""

from tickmesh.api.app import create_app
from tickmesh.api.config import ApiSettings
from tickmesh.storage.users import Role

__all__ = ["ApiSettings", "Role", "create_app"]
