"""Deliveries (transport state machine), the dispatcher, business statuses and their receipts."""
