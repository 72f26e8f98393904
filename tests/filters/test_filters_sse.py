"""LLM streams (text/event-stream) through the real meshveil-mask and meshveil-dlp modules:
a card number or an e-mail address streamed token by token, split over several events,
is found once by DLP and masked, with every event kept as its own valid SSE + JSON event;
ids and model names repeated in each event are not joined."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from controlplane.policy.model import Policy
from tests.filters.filters_support import CARD, EMAIL, Exchange, Sidecar, chunks, load, sidecar

CARDS = "meshveil.dlp.route.llm.detector.credit-card.response.findings"
EMAILS = "meshveil.dlp.route.llm.detector.email-address.response.findings"
MASKED_CARD = "**** **** **** 1111"
MASKED_EMAIL = "[REDACTED:EMAIL_ADDRESS]"

EventOf = Callable[[str], bytes]


def llm_policy() -> Policy:
    return load(
        "  - name: llm\n"
        "    match: {paths: ['/v1/**']}\n"
        "    directions: [response]\n"
        "    content_types: [text/event-stream]\n"
        "    body: {mode: streaming}\n"
        "    detectors:\n"
        "      credit-card: {threshold: 100, action: alert, mask: {type: partial, keep_last: 4}}\n"
        "      email-address: {action: alert, mask: {type: redact}}\n"
    )


def openai_event(token: str) -> bytes:
    chunk = {
        "id": "chatcmpl-7",
        "object": "chat.completion.chunk",
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": {"content": token}, "finish_reason": None}],
    }
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


def anthropic_event(token: str) -> bytes:
    delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": token}}
    return b"event: content_block_delta\ndata: " + json.dumps(delta).encode() + b"\n\n"


def openai_stream(tokens: Sequence[str]) -> bytes:
    opening = {
        "id": "chatcmpl-7",
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": {"role": "assistant"}}],
    }
    closing = {
        "id": "chatcmpl-7",
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
    }
    return (
        b"data: " + json.dumps(opening).encode() + b"\n\n"
        + b"".join(openai_event(token) for token in tokens)
        + b"data: " + json.dumps(closing).encode() + b"\n\ndata: [DONE]\n\n"
    )  # fmt: skip


def anthropic_stream(tokens: Sequence[str]) -> bytes:
    start = {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    stop = {"type": "message_delta", "delta": {"stop_reason": "end_turn"}}
    return (
        b"event: content_block_start\ndata: " + json.dumps(start).encode() + b"\n\n"
        + b"".join(anthropic_event(token) for token in tokens)
        + b": ping\n\nevent: message_delta\ndata: " + json.dumps(stop).encode() + b"\n\n"
    )  # fmt: skip


def _openai_delta(event: dict[str, object]) -> str | None:
    choices = event.get("choices")
    assert isinstance(choices, list)
    content = choices[0]["delta"].get("content")
    return content if isinstance(content, str) else None


def _anthropic_delta(event: dict[str, object]) -> str | None:
    delta = event.get("delta")
    if event.get("type") != "content_block_delta" or not isinstance(delta, dict):
        return None
    text = delta.get("text")
    return text if isinstance(text, str) else None


STREAMS: dict[str, tuple[Callable[[Sequence[str]], bytes], Callable[[dict[str, object]], str | None]]] = {
    "openai": (openai_stream, _openai_delta),
    "anthropic": (anthropic_stream, _anthropic_delta),
}


def split_at(value: str, cuts: Sequence[int]) -> list[str]:
    edges = [0, *cuts, len(value)]
    return [value[start:end] for start, end in itertools.pairwise(edges)]


def tokens_with(card_parts: Sequence[str], email_parts: Sequence[str]) -> list[str]:
    return ["Your card is ", *card_parts, " and your mail is ", *email_parts, " thanks."]


def parse_events(body: bytes) -> list[dict[str, object]]:
    """Every event's data as JSON (the `[DONE]` terminator left out); fails on bad framing."""
    text = body.decode()
    assert text.endswith("\n\n"), text[-80:]
    events = []
    for block in text[:-2].split("\n\n"):
        lines = block.split("\n")
        data = [line[len("data: ") :] for line in lines if line.startswith("data:")]
        if all(line.startswith(":") for line in lines):
            continue
        assert len(data) == 1, block
        if data[0] != "[DONE]":
            events.append(json.loads(data[0]))
    return events


def run_stream(car: Sidecar, body: bytes, cuts: Sequence[int], name: str) -> tuple[bytes, int, int]:
    """The body the client got, and how many cards and e-mails DLP counted."""
    cards, emails = car.host.metrics.get(CARDS, 0), car.host.metrics.get(EMAILS, 0)
    exchange = Exchange(
        path="/v1/chat", response_chunks=chunks(body, cuts), response_type="text/event-stream"
    )
    outcome = car.run(exchange.build(name))
    return (
        outcome.response_to_client.body,
        car.host.metrics.get(CARDS, 0) - cards,
        car.host.metrics.get(EMAILS, 0) - emails,
    )


def expect_masked(
    style: str, sent: bytes, sent_tokens: int, cards: int, emails: int, context: object
) -> list[dict[str, object]]:
    events = parse_events(sent)
    reply = "".join(delta for event in events if (delta := STREAMS[style][1](event)) is not None)
    assert reply == f"Your card is {MASKED_CARD} and your mail is {MASKED_EMAIL} thanks.", context
    assert CARD.encode() not in sent and EMAIL.encode() not in sent, context
    assert sum(STREAMS[style][1](event) is not None for event in events) == sent_tokens, context
    assert (cards, emails) == (1, 1), context
    return events


def two_part_splits() -> list[tuple[list[int], list[int]]]:
    card = [([cut], [len(EMAIL) // 2]) for cut in range(1, len(CARD))]
    email = [([len(CARD) // 2], [cut]) for cut in range(1, len(EMAIL))]
    return card + email


def many_part_splits() -> list[tuple[list[int], list[int]]]:
    """3 to 5 parts, cut at spread-out offsets (every combination would take minutes)."""
    splits = []
    for parts in (3, 4, 5):
        for shift in range(0, 4):
            card = sorted({1 + (shift + index * 5) % (len(CARD) - 1) for index in range(parts - 1)})
            email = sorted({1 + (shift * 3 + index * 7) % (len(EMAIL) - 1) for index in range(parts - 1)})
            splits.append((card, email))
    return splits


@pytest.mark.parametrize("style", sorted(STREAMS))
def test_values_split_across_events_at_every_offset_are_found_once_and_masked(
    modules: dict[str, Path], style: str
) -> None:
    make = STREAMS[style][0]
    with sidecar(modules, llm_policy()) as car:
        for card_cuts, email_cuts in two_part_splits() + many_part_splits():
            tokens = tokens_with(split_at(CARD, card_cuts), split_at(EMAIL, email_cuts))
            sent, cards, emails = run_stream(car, make(tokens), [], f"{style}-{card_cuts}-{email_cuts}")
            expect_masked(style, sent, len(tokens), cards, emails, (card_cuts, email_cuts))


@pytest.mark.parametrize("style", sorted(STREAMS))
def test_split_values_are_masked_with_the_body_chunked_anywhere(modules: dict[str, Path], style: str) -> None:
    tokens = tokens_with(split_at(CARD, [4, 9, 15]), split_at(EMAIL, [3, 12]))
    body = STREAMS[style][0](tokens)
    with sidecar(modules, llm_policy()) as car:
        for cut in range(1, len(body), 3):
            cuts = [cut, min(cut + 41, len(body) - 1)]
            sent, cards, emails = run_stream(car, body, cuts, f"{style}-chunk-{cut}")
            expect_masked(style, sent, len(tokens), cards, emails, cut)


def test_an_unsplit_value_and_the_fields_around_it_are_kept_apart(modules: dict[str, Path]) -> None:
    tokens = tokens_with([CARD], [EMAIL])
    with sidecar(modules, llm_policy()) as car:
        sent, cards, emails = run_stream(car, openai_stream(tokens), [57], "unsplit")
        events = car.queued_events()
    parsed = expect_masked("openai", sent, len(tokens), cards, emails, "unsplit")
    # Ids and model names repeat in every event: they pass untouched, each on its own.
    assert {(event["id"], event["model"]) for event in parsed} == {("chatcmpl-7", "gpt-4o-mini")}
    paths = {
        finding["detector"]: sorted(location["path"] for location in finding["locations"])
        for event in events
        for finding in event["findings"]
    }
    assert paths == {
        "credit-card": ["$.choices[*].delta.content"],
        "email-address": ["$.choices[*].delta.content"],
    }


def test_plain_text_data_lines_join_too(modules: dict[str, Path]) -> None:
    parts = split_at(CARD, [5, 11])
    body = b"".join(f"data: {part}\n\n".encode() for part in ["card: ", *parts, " ok"])
    with sidecar(modules, llm_policy()) as car:
        sent, cards, _ = run_stream(car, body, [31], "text")
    lines = [block.removeprefix("data: ") for block in sent.decode().split("\n\n") if block]
    assert "".join(lines) == f"card: {MASKED_CARD} ok"
    assert [len(line) for line in lines] == [len(part) for part in ["card: ", *parts, " ok"]]
    assert cards == 1
