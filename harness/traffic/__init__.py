"""Recorded traffic: the exchange model and readers for HAR, JSON lines and gRPC captures."""
