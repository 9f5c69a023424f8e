"""Node settings, from the environment (``EDULEDGER_*``) or arguments.

Only ``data_dir`` is needed: the database defaults to SQLite inside it.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EDULEDGER_", extra="ignore")

    data_dir: Path = Path("data")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default sqlite:///<data_dir>/ledger.db")
    host: str = "127.0.0.1"
    port: int = 8000
    batch_max: int = 256
    batch_ms: int = 250
    queue_max: int = 100_000
    max_body_bytes: int = 16 * 1024 * 1024
    upload_max_bytes: int = Field(default=5 * 1024 * 1024, description="largest diploma file a holder may upload")
    demo_seed: bool = Field(default=False, description="seed demo people and credentials on first start (eduledger run on a demo network)")
    portfolio: bool = Field(default=True, description="serve the e-portfolio (web UI and /api/v1 portfolio routes)")

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'ledger.db').resolve()}"
