"""docex: a node of the interconnected electronic-document exchange network."""

__version__ = "0.1.0"
