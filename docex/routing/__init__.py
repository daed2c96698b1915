"""The routing engine: the worker and its transports (one outbound queue), deliveries, business
statuses and their receipts."""
