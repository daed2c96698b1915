"""The node's one outbound queue: every job that moves something (a delivery to a hosted agency,
a webhook event, a transfer to a peer node) is a row here, whatever its kind.

This package knows no kind: it stores jobs and hands them out under leases. The routing engine
(``docex.routing.worker``) plugs a transport in per kind and does the moving.
"""
