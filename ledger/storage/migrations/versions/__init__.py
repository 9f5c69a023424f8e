"""Migration scripts; Alembic skips this ``__init__``."""
