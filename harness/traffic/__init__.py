"""Recorded traffic: the exchange model and readers for HAR, JSON lines and gRPC captures."""

from harness.traffic.capture import Capture
from harness.traffic.errors import TrafficError
from harness.traffic.formats import FORMATS, detect_format, read_traffic
from harness.traffic.model import Headers, HttpExchange, HttpMessage

__all__ = [
    "FORMATS",
    "Capture",
    "Headers",
    "HttpExchange",
    "HttpMessage",
    "TrafficError",
    "detect_format",
    "read_traffic",
]
