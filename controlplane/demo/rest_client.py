"""A small JSON client for the control plane's REST API (standard library only: the demo
runs on a plain `pip install`, without the dev extras)."""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

TIMEOUT_SECONDS = 30.0


class RestError(RuntimeError):
    """The API answered something other than what the caller expected; says what and why."""


@dataclass(frozen=True)
class RestClient:
    base_url: str
    token: str

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        query = f"?{urlencode(params, doseq=True)}" if params else ""
        return self.call("GET", path + query, None, 200)

    def post(self, path: str, body: Any, expected: int = 201, headers: dict[str, str] | None = None) -> Any:
        return self.call("POST", path, body, expected, headers)

    def call(
        self, method: str, path: str, body: Any, expected: int, headers: dict[str, str] | None = None
    ) -> Any:
        target = urlsplit(self.base_url)
        kind = http.client.HTTPSConnection if target.scheme == "https" else http.client.HTTPConnection
        connection = kind(target.hostname or "127.0.0.1", target.port, timeout=TIMEOUT_SECONDS)
        sent = {"authorization": f"Bearer {self.token}", "accept": "application/json", **(headers or {})}
        payload = None
        if body is not None:
            payload = body if isinstance(body, bytes) else json.dumps(body).encode()
            sent.setdefault("content-type", "application/json")
        try:
            connection.request(method, path, body=payload, headers=sent)
            response = connection.getresponse()
            text = response.read()
        except OSError as error:
            raise RestError(f"{method} {path}: the control plane did not answer ({error})") from error
        finally:
            connection.close()
        if response.status != expected:
            raise RestError(f"{method} {path}: answered {response.status}: {_detail(text)}")
        return json.loads(text) if text else None


def _detail(text: bytes) -> str:
    try:
        document = json.loads(text)
    except ValueError:
        return text[:200].decode("utf-8", "replace")
    return str(document.get("detail", document)) if isinstance(document, dict) else str(document)
