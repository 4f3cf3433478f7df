"""``openhoi serve``: a local web page and JSON API over loaded checkpoints.

``registry.py`` holds the loaded predictors and runs every model call on one worker thread (so
concurrent requests queue and never share a model mid-call), ``api.py`` the HTTP endpoints and
their input checks, ``app.py`` the FastAPI application (limits, error responses, static page).
"""

from openhoi.serve.app import create_app
from openhoi.serve.registry import ModelRegistry, ServeLimits, demo_checkpoint

__all__ = ["ModelRegistry", "ServeLimits", "create_app", "demo_checkpoint"]
