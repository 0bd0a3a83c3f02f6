"""Comagic / UIS Data API v2.0: account, agency clients, dimensions, reports and call records."""
