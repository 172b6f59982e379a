"""The web API's routes: one ``APIRouter`` per resource, mounted by ``app.create_app``."""
