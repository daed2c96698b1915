"""The words every package shares, each defined once.

A newcomer looking for what a status code, a transport state, a classification or an agency code
*is* looks here; the packages that act on them (``routing``, ``documents``, ``signing``, the API,
the CLI, the web UI) import these names instead of spelling the literals again. This package
imports nothing from docex but ``docex.kit``, so that any layer may use it.

- :mod:`.codes` — the agency-code and group-id grammar (Decree 30's appendix codes).
- :mod:`.statuses` — business status codes 01–16, their labels and allowed transitions.
- :mod:`.business` — what an accepted revoke, update or replacement makes of the document
  it refers to (recalled, updated, replaced).
- :mod:`.transport` — where a delivery stands in the node's machinery (queued, delivered, ...).
- :mod:`.levels` — classification (độ mật) and urgency (độ khẩn).
- Vietnam's UTC+7 is ``docex.kit.clock.VIETNAM_TZ``.
"""
