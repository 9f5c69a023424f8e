"""Node settings, from the environment (``EDULEDGER_*``) or arguments.

Only ``data_dir`` is needed: the database defaults to SQLite inside it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from portfolio_api.public_links import PublicLinks


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EDULEDGER_", extra="ignore")

    data_dir: Path = Path("data")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default sqlite:///<data_dir>/ledger.db")
    witness_dir: Path | None = Field(
        default=None, description="EDULEDGER_WITNESS_DIR: the witness keys and state, apart from the data directory; default <data_dir>.witness"
    )
    witness_db: str | None = Field(
        default=None, description="EDULEDGER_WITNESS_DB: the witness state in this PostgreSQL database (not the log's); default <witness_dir>/witness.db"
    )
    witness_catchup_wait: float = Field(
        default=5.0, description="seconds a starting witness waits for its peers' checkpoints before it cosigns without them"
    )
    host: str = "127.0.0.1"
    port: int = 8000
    batch_max: int = 256
    batch_ms: int = 250
    queue_max: int = 100_000
    group_max: int = Field(default=16, description="most blocks the sequencer commits in one transaction when a backlog is waiting")
    max_body_bytes: int = 16 * 1024 * 1024
    verify_max_bytes: int = Field(default=24 * 1024 * 1024, description="largest POST /api/v1/verify request (one 20 MB PDF fits)")
    verify_max_documents: int = Field(default=100, description="most bundles or files in one POST /api/v1/verify request")
    upload_max_bytes: int = Field(default=5 * 1024 * 1024, description="largest diploma file a holder may upload")
    bulk_max_bytes: int = Field(default=40 * 1024 * 1024, description="largest POST /verify/bulk request, every file together")
    batch_max_bytes: int = Field(default=2 * 1024 * 1024, description="largest CSV or JSON file of a staff batch (POST /batch)")
    demo_seed: bool = Field(default=False, description="seed demo people and credentials on first start (eduledger run on a demo network)")
    gc_tuning: bool = Field(default=False, description="once the node is loaded, freeze its state from the garbage collector (verifier/gcpolicy.py); eduledger run sets it")
    verify_process: bool = Field(default=False, description="check POST /api/v1/verify documents in a process of their own, on another core (portfolio_api/services/verifier_process.py); eduledger run sets it")
    portfolio: bool = Field(default=True, description="serve the e-portfolio (web UI and /api/v1 portfolio routes)")

    smtp_host: str | None = Field(default=None, description="SMTP server for notification e-mails; unset: in-app notices only (e-mails stay queued)")
    smtp_port: int = 25
    smtp_sender: str = "eduledger@localhost"
    smtp_user: str | None = Field(default=None, description="EDULEDGER_SMTP_USER: log in to the SMTP server as this user (AUTH); unset: no login")
    smtp_password: SecretStr | None = Field(default=None, description="EDULEDGER_SMTP_PASSWORD: the SMTP user's password (never logged)")
    smtp_tls: Literal["none", "starttls", "ssl"] = Field(
        default="none", description="EDULEDGER_SMTP_TLS: none (a local relay, port 25), starttls (port 587) or ssl (implicit TLS, port 465)"
    )
    forwarded_allow_ips: str = Field(
        default="",
        description="EDULEDGER_FORWARDED_ALLOW_IPS: comma-separated addresses of reverse proxies whose X-Forwarded-For and "
        "X-Forwarded-Proto are trusted; empty (default): none, the client address is the connection's",
    )
    public_url: str | None = Field(
        default=None,
        description="EDULEDGER_PUBLIC_URL: the base of every absolute link the node makes (share links, QR codes, PDFs, "
        "e-mails), never taken from a request's Host header; default http://<host>:<port>",
    )

    @field_validator("public_url")
    @classmethod
    def _public_url_is_a_link_base(cls, v: str | None) -> str | None:
        # refused when the settings are read, not later in an e-mail (portfolio_api/public_links.py)
        return PublicLinks(v).base if v and v.strip() else None
    body_budget_bytes: int = Field(
        default=64 << 20,
        description="EDULEDGER_BODY_BUDGET_BYTES: request bodies over 1 MiB (uploads, bulk and PDF verification) held at "
        "once, in all; a large body past it is answered 503 with Retry-After before it is read (portfolio_api/bodylimit.py)",
    )
    network_url: str | None = Field(
        default=None,
        description="EDULEDGER_NETWORK_URL: the network's public URL, the same on every node (e.g. a name in front of "
        "all of them): credentials name eduledger's JSON-LD context under it; default: this node's public URL",
    )
    notify_rate_per_second: float = Field(default=50.0, description="at most this many notification e-mails per second")
    notify_batch: int = 200
    notify_retry_base_seconds: int = 30
    notify_poll_seconds: float = 5.0

    @property
    def links(self) -> PublicLinks:
        """The base of every absolute link: ``public_url``, or the address the node listens on (public_links.py)."""
        return PublicLinks.of(self.public_url, self.host, self.port)

    @property
    def effective_public_url(self) -> str:
        """``public_url`` without a trailing slash, or the address the node listens on."""
        return self.links.base

    @property
    def effective_network_url(self) -> str:
        """``network_url`` without a trailing slash, or this node's public URL."""
        return (self.network_url or self.effective_public_url).rstrip("/")

    @property
    def mail_settings(self):  # -> portfolio_api.services.notify.MailSettings
        from portfolio_api.services.notify import MailSettings

        return MailSettings(host=self.smtp_host, port=self.smtp_port, sender=self.smtp_sender, base_url=self.effective_public_url,
                            user=self.smtp_user, password=self.smtp_password.get_secret_value() if self.smtp_password else None, tls=self.smtp_tls,
                            rate_per_second=self.notify_rate_per_second, batch=self.notify_batch, retry_base=self.notify_retry_base_seconds,
                            poll_seconds=self.notify_poll_seconds)

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'ledger.db').resolve()}"
