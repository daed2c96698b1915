"""Early warning: rules that watch the node and the network, and the alerts they raise.

- ``rules.py``: each rule looks at the database (and the node's certificates) and says which
  subjects are in trouble now: a peer node silent, an agency with overdue urgent documents, the
  outbound queue's oldest job too old, a certificate expiring, a checkpoint not cosigned, a
  witness that saw a fork. Pure reads; the thresholds are ``AlertSettings``.
- ``service.py``: ``evaluate`` compares what the rules find with the alerts still live and, in
  one transaction, raises the new ones (once: one live alert per key, a unique index), resolves
  those whose condition cleared, records their audit events and queues their sends; and the
  operator's list and acknowledgement.
- ``transport.py``: the two job kinds of the one outbound queue that send a raised alert, by a
  signed webhook and by e-mail.
"""
