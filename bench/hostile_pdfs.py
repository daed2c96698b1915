"""How quickly the bounded validator refuses hostile PDFs: seconds per refusal, per file.

    .venv/bin/python bench/hostile_pdfs.py [--repeat 3] [--out FILE]

Builds the decompression bomb of the validation tests (64 KiB that inflate to 2 GiB) and the
parser bombs of ``tests/security/hostile_pdfs.py``, then validates each ``--repeat`` times with
``validate_pdf_bounded`` (a fresh worker each time, 20 s timeout, 256 MiB of memory, as the tests
run it) and reports the median and the slowest seconds per file, with the indication. This figure
replaced a 15-second wall-clock assertion in ``tests/signing/test_validation.py``: the tests say
*that* a bomb is refused; how fast it is refused belongs here. Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SENDER = "000.00.00.G22"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    from docex.signing.sandbox import validate_pdf_bounded
    from docex.signing.validation import STRICT_DECREE_30
    from tests.security.hostile_pdfs import BOMBS
    from tests.signing.conftest_validation import decompression_bomb
    from tests.signing.pki import build_pki

    files: dict[str, Any] = {"decompression-bomb-2gib": decompression_bomb, **BOMBS}
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="docex-bench-hostile-") as tmp:
        directory = Path(tmp)
        trust = build_pki(directory / "pki").trust()
        for name, build in files.items():
            path = directory / f"{name}.pdf"
            path.write_bytes(build())
            seconds: list[float] = []
            indications: set[str] = set()
            for _ in range(args.repeat):
                started = time.perf_counter()
                report = validate_pdf_bounded(
                    path,
                    sender_agency=SENDER,
                    trust=trust,
                    policy=STRICT_DECREE_30,
                    timeout_s=20,
                    memory_bytes=256 << 20,
                )
                seconds.append(time.perf_counter() - started)
                indications.add(str(report.indication))
            results[name] = {
                "bytes": path.stat().st_size,
                "median_s": round(statistics.median(seconds), 3),
                "max_s": round(max(seconds), 3),
                "indications": sorted(indications),
            }
            print(f"{name}: {results[name]}", file=sys.stderr)
    document = json.dumps({"repeat": args.repeat, "files": results}, indent=2)
    if args.out:
        args.out.write_text(document + "\n")
    print(document)


if __name__ == "__main__":
    main()
