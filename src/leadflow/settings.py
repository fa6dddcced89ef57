"""Process settings, from ``LEADFLOW_*`` environment variables or explicit arguments.

No module-level instance: the composition root (:mod:`leadflow.workspace`) builds one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET = "change-me"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEADFLOW_", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    workspace: Path | None = Field(
        default=None, description="Workspace folder; defaults to the current folder."
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; defaults to the workspace's SQLite file.",
    )
    secret_key: str = DEFAULT_SECRET
    base_url: str = "http://127.0.0.1:8000"
    sqlite_busy_timeout_ms: int = Field(default=5000, ge=0)
    import_max_bytes: int = Field(
        default=4 * 1024**3, gt=0, description="Largest file `import` accepts."
    )
    event_writer: Literal["process", "thread"] = Field(
        default="process",
        description="Where a served API records single events: a writer process of its own "
        "(on a second core), or a thread of the server process (one core).",
    )
    rate_limit_storage: str = Field(
        default="memory://",
        description="Where the public endpoints' rate limits count (a `limits` storage URI).",
    )

    @field_validator("rate_limit_storage")
    @classmethod
    def _known_limit_storage(cls, value: str) -> str:
        # Checked at start-up rather than on the first public request: a storage the
        # `limits` package does not know, or whose client library is missing (redis).
        from limits.errors import ConfigurationError
        from limits.storage import storage_from_string

        if value.startswith("async+") or "://" not in value:
            raise ValueError("expected a storage URI such as memory:// or redis://host:6379")
        if not value.startswith("memory://"):
            try:
                storage_from_string(value)  # builds its client; connects on first use
            except ConfigurationError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("database_url")
    @classmethod
    def _known_dialect(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError("must start with sqlite:// or postgresql+psycopg://")
        if value.startswith("postgresql://"):
            # psycopg 3 is the driver we ship; plain postgresql:// would pick psycopg2.
            value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
        return value

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.env == "production" and self.secret_key == DEFAULT_SECRET:
            raise ValueError("LEADFLOW_SECRET_KEY must be set to a real secret in production")
        if self.env == "production" and len(self.secret_key) < 32:
            raise ValueError("LEADFLOW_SECRET_KEY must be at least 32 characters in production")
        return self
