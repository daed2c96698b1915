"""Webhooks: an agency's software registers a URL and is told, by a signed HTTP POST, when
something happens to its documents. The pull inbox stays the source of truth: an event only says
"go and look" (ids and status codes, never a subject or a file name).

- ``emit`` (``events.py``), called next to the audit event of what happened and in its
  transaction, writes one message per subscribed endpoint and queues its job (kind ``webhook``).
- ``WebhookTransport`` (``transport.py``) is that kind's transport in the routing worker: it
  signs each message the Standard Webhooks way (``secrets.py``) and POSTs it, at least once.
- ``targets.py`` refuses targets on private, loopback or link-local addresses (SSRF), at
  registration and again at every send.
- ``service.py``: register, list, enable or disable, delete.
"""
