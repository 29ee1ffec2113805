"""The REST API under ``/api/v1``; the OpenAPI document is generated from these routes."""
from .routes import register_api

__all__ = ["register_api"]
