"""Blob storage: the ``BlobStore`` protocol and its backends."""
