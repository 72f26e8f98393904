"""The small table fixture the engine's native Zig tests run (filters/engine/testdata/).

A few catalog detectors compiled by the real compiler, a text made of their examples,
and what the reference scanner finds in it. `test_fixture_is_current` fails when the
committed files differ from what this produces; regenerate them with
`.venv/bin/python -m tests.engine.fixture`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from controlplane.compiler.compile import compile_detectors
from controlplane.compiler.scanner import scan
from controlplane.compiler.tables import decode
from controlplane.detectors.loader import builtin_catalog

FIXTURE_DIR = Path(__file__).resolve().parents[2] / "filters" / "engine" / "testdata"
DETECTOR_IDS = (
    "credit-card",
    "email-address",
    "us-ssn",
    "iban-code",
    "jwt",
    "aws-access-key-id",
    "generic-api-key",
    "url",
    "ip-address",
)


@dataclass(frozen=True)
class Fixture:
    tables: bytes
    text: bytes
    expected: str
    """One line per finding: detector index, pattern, score, start, end."""

    def files(self) -> dict[str, bytes]:
        return {
            "small.mvmt": self.tables,
            "small_text.txt": self.text,
            "small_expected.txt": self.expected.encode(),
        }


def build_fixture() -> Fixture:
    catalog = {detector.id: detector for detector in builtin_catalog()}
    detectors = [catalog[detector_id] for detector_id in DETECTOR_IDS]
    encoded = compile_detectors(detectors).encoded
    tables = decode(encoded)
    examples = [example.text for detector in detectors for example in detector.examples.positive]
    negatives = [text for detector in detectors for text in detector.examples.negative]
    text = "\n".join(examples + negatives).encode()
    index_of = {detector.id: index for index, detector in enumerate(tables.detectors)}
    lines = [
        f"{index_of[f.detector]} {f.pattern} {f.score} {f.start} {f.end}\n"
        for f in sorted(scan(tables, text), key=lambda f: (f.start, f.end, f.pattern))
    ]
    return Fixture(encoded, text, "".join(lines))


def main() -> None:
    FIXTURE_DIR.mkdir(parents=True, exist_ok=True)
    for name, content in build_fixture().files().items():
        (FIXTURE_DIR / name).write_bytes(content)
        print(f"wrote {FIXTURE_DIR / name} ({len(content)} bytes)")


if __name__ == "__main__":
    main()
