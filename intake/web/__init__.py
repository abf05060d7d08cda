"""The coordinators' web view (`halsodata web`): FastAPI with server-rendered templates and no JavaScript."""

__all__ = ["create_app"]


def __getattr__(name: str):
    # Lazy: the summary, digest and export use intake.web.i18n's labels without loading FastAPI and the app.
    if name == "create_app":
        from intake.web.app import create_app

        return create_app
    raise AttributeError(name)
