"""Portfolio services: all SQL and all ledger calls of the e-portfolio live here, none in handlers."""
