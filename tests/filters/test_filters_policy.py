"""From a policy document to filter configs, and `meshveil replay --policy`: what compiles,
what is refused (naming the field), keys the compiler lacks (redaction instead, and the
filter says so), and a HAR file replayed through the policy in one command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controlplane.cli import main
from controlplane.policy.compile import FilterName, compile_filter_config
from controlplane.policy.filter_config import FilterConfigError, unpack
from controlplane.policy.mask_keys import NoKeys
from tests.filters.filters_support import CARD, KEYS, TOKEN_KEY, Exchange, load, policy_yaml, sidecar

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "policy.yaml"

ROUTES = (
    "  - name: cards\n"
    "    match: {paths: ['/v1/cards/**'], methods: [GET]}\n"
    "    directions: [response]\n"
    "    detectors:\n"
    "      email-address: {min_confidence: 0.9, threshold: 3, action: tag, mask: {type: redact}}\n"
    "      credit-card: {action: block, mask: {type: hash, key_ref: token-key}}\n"
    "      iban-code: {enabled: false}\n"
)


def test_each_filter_gets_its_rules_and_the_tables_of_its_detectors() -> None:
    policy = load(ROUTES)
    dlp, dlp_tables = unpack(compile_filter_config(policy, FilterName.DLP, KEYS))
    mask, mask_tables = unpack(compile_filter_config(policy, FilterName.MASK, KEYS))
    assert dlp_tables[:4] == mask_tables[:4] == b"MVMT"
    assert [detector["id"] for detector in dlp["detectors"]] == ["credit-card", "email-address"]
    (route,) = dlp["routes"]
    assert (route["request"], route["response"], route["methods"]) == (False, True, ["GET"])
    assert route["rules"] == [
        {"detector": 0, "min_score": 500, "threshold": 1, "action": "block"},
        {"detector": 1, "min_score": 900, "threshold": 3, "action": "tag"},
    ]
    assert mask["routes"][0]["rules"][0]["mask"] == {
        "type": "hash",
        "key": TOKEN_KEY.hex(),
        "truncate_bytes": 16,
        "prefix": "tok_",
    }
    assert mask["routes"][0]["rules"][1]["mask"] == {
        "type": "redact",
        "placeholder": "[REDACTED:EMAIL_ADDRESS]",
    }


def test_the_readme_example_policy_compiles_for_both_filters() -> None:
    from controlplane.policy.load import load_policy  # noqa: PLC0415

    policy = load_policy(EXAMPLE.read_bytes(), "application/yaml")
    for name in (FilterName.DLP, FilterName.MASK):
        document, tables = unpack(compile_filter_config(policy, name, KEYS))
        assert document["filter"] == name.value and tables


@pytest.mark.parametrize(
    ("routes", "message"),
    [
        (
            ROUTES.replace("email-address", "no-such-detector"),
            "routes[0].detectors.no-such-detector: unknown detector id",
        ),
        (
            ROUTES.replace("type: redact}", 'type: redact, placeholder: "caf\u00e9"}'),
            "routes[0].detectors.email-address.mask.placeholder: must be printable ASCII",
        ),
    ],
)
def test_what_cannot_compile_is_refused_by_field(routes: str, message: str) -> None:
    with pytest.raises(FilterConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        compile_filter_config(load(routes), FilterName.MASK, KEYS)


def test_a_missing_key_redacts_instead_and_the_filter_says_so(modules: dict[str, Path]) -> None:
    policy = load(ROUTES)
    config = compile_filter_config(policy, FilterName.MASK, NoKeys())
    rule = unpack(config)[0]["routes"][0]["rules"][0]
    assert rule["mask"] == {
        "type": "redact",
        "placeholder": "[REDACTED:CREDIT_CARD]",
        "missing_key": "token-key",
    }
    with sidecar(modules, policy, (FilterName.MASK,), {FilterName.MASK: config}) as car:
        logs = car.log_text()
        outcome = car.run(
            Exchange(
                path="/v1/cards/1", method="GET", response_chunks=[json.dumps({"c": CARD}).encode()]
            ).build()
        )
    assert "route cards, detector credit-card: key token-key was not available" in logs
    assert json.loads(outcome.response_to_client.body) == {"c": "[REDACTED:CREDIT_CARD]"}


def write_har(path: Path) -> Path:
    entry = {
        "startedDateTime": "2026-01-02T10:00:00.000Z",
        "time": 12,
        "request": {
            "method": "GET",
            "url": "https://api.shop/v1/cards/7",
            "httpVersion": "HTTP/1.1",
            "headers": [{"name": "x-request-id", "value": "har-1"}],
            "queryString": [],
            "cookies": [],
            "headersSize": -1,
            "bodySize": 0,
        },
        "response": {
            "status": 200,
            "statusText": "OK",
            "httpVersion": "HTTP/1.1",
            "headers": [{"name": "content-type", "value": "application/json"}],
            "cookies": [],
            "content": {
                "size": 40,
                "mimeType": "application/json",
                "text": json.dumps({"card": CARD, "n": 1}),
            },
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": 40,
        },
        "cache": {},
        "timings": {"send": 0, "wait": 12, "receive": 0},
    }
    path.write_text(
        json.dumps({"log": {"version": "1.2", "creator": {"name": "t", "version": "1"}, "entries": [entry]}})
    )
    return path


def test_replay_builds_the_chain_from_a_policy(
    capsys: pytest.CaptureFixture[str], modules: dict[str, Path], tmp_path: Path
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_bytes(policy_yaml(ROUTES.replace("action: block", "action: alert")))
    har = write_har(tmp_path / "traffic.har")
    modules_dir = modules["meshveil-dlp"].parent
    code = main(["replay", str(har), "--policy", str(policy), "--modules", str(modules_dir)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "policy shop/test-policy: meshveil-mask -> meshveil-dlp" in captured.err
    assert "keys generated for this run: token-key" in captured.err
    lines = [line.strip() for line in captured.out.splitlines()]
    assert any(line.startswith("-") and f'"card": "{CARD}"' in line for line in lines), lines
    assert any(line.startswith("+") and '"card": "tok_' in line for line in lines), lines
    assert "log info: meshveil-dlp: route cards response har-1: credit-card=1 (alert)" in lines


@pytest.mark.parametrize(
    ("policy_text", "message"),
    [
        (
            policy_yaml(ROUTES.replace("threshold: 3", "threshold: 0")),
            "routes[0].detectors.email-address.threshold: must be >= 1",
        ),
        (
            policy_yaml(ROUTES.replace("credit-card", "cardz")),
            "routes[0].detectors.cardz: unknown detector id",
        ),
    ],
)
def test_a_bad_policy_is_one_line_naming_the_field(
    capsys: pytest.CaptureFixture[str],
    modules: dict[str, Path],
    tmp_path: Path,
    policy_text: bytes,
    message: str,
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_bytes(policy_text)
    har = write_har(tmp_path / "traffic.har")
    code = main(
        ["replay", str(har), "--policy", str(policy), "--modules", str(modules["meshveil-dlp"].parent)]
    )
    captured = capsys.readouterr()
    assert code == 2
    assert message in captured.err and len(captured.err.strip().splitlines()) == 1, captured.err
