"""Re-cut an exchange's bodies into fixed-size chunks, to test how filters handle values
that arrive split across several body callbacks."""

from __future__ import annotations

from dataclasses import replace

from harness.traffic.bodies import split_chunks
from harness.traffic.model import HttpExchange, HttpMessage


def rechunk(exchange: HttpExchange, chunk_size: int) -> HttpExchange:
    return replace(
        exchange,
        request=_rechunk_message(exchange.request, chunk_size),
        response=_rechunk_message(exchange.response, chunk_size),
    )


def _rechunk_message(message: HttpMessage, chunk_size: int) -> HttpMessage:
    return replace(message, body_chunks=split_chunks(message.body, chunk_size))
