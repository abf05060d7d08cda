"""The coordinators' web view (`halsodata web`): FastAPI with server-rendered templates and no JavaScript."""

from intake.web.app import create_app

__all__ = ["create_app"]
