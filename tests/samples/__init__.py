"""Deterministic generator of invented application mails and attachments for tests and demos."""
