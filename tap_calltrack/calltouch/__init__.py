"""Calltouch: calls journal, leads, deals, statistics and call recordings, per site."""
