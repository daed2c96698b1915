"""The client's version, sent in every request's User-Agent."""

__version__ = "0.1.0"
USER_AGENT = f"docex-client/{__version__}"
