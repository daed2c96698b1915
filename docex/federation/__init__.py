"""Federation: the nodes of the national network exchanging documents as one.

A node hosts some agencies (the hub the central ones, each province its own and its communes).
Which node hosts which agency, where each node answers and which keys speak for it is the
**directory**, a signed, versioned document the hub publishes and every node fetches
(:mod:`.directory`). Its nodes are kept in ``federation_nodes`` (:mod:`.models`) and read
through :mod:`.peers`: a peer's URL and keys, and the next hop towards any node (up the tree
to the hub, down to the province).

What crosses between nodes is a **transfer** (:mod:`.protocol`, ``/federation/v1``, documented
in docs/federation.md): a document for the recipients a node hosts or relays to, or a status
travelling back to the sender's node, signed by the sending node (HTTP Message Signatures,
RFC 9421) and answered with a signed transport receipt. Transfers are jobs of kind
``transfer`` in the one outbound queue (docex/queue), moved by the routing worker like every
other job.

Every node also witnesses the others' audit logs (:mod:`.witnessing`, a chore of the routing
worker): it cosigns each peer's checkpoints that extend what it cosigned before, so a node whose
log is rewritten is caught by its peers.
"""
