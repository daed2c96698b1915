"""Intake of documents, their files, and the inbox/outbox views of them."""
