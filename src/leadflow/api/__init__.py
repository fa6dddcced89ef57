"""The REST API: a FastAPI app built by :func:`leadflow.api.app.create_app`.

Only this package (and ``leadflow serve``) imports FastAPI, so ``import leadflow`` stays light.
"""
