#!/usr/bin/env python3
"""Check the API's error answers against docs/openapi.yaml, the contract third-party clients are written from.

Two checks:
  1. Observed: every error answer the in-process API tests produced (the test kit appends one JSON line
     `{method, route, status, code}` per answer to $E2EE_ERROR_LOG) is documented under that route and status:
     the status is a response of the operation, and the code is named there — in backticks in the response's
     description, or as the example code of the shared response it refers to (`#/components/responses/...`).
  2. Static: every error code the API can produce (the `e2ee_protocol::ErrorCode` enum, which handlers build
     every `ApiError` from) is documented for at least one route, and the `ErrorCode` schema's `x-known-codes`
     lists exactly those codes. A code that no route documents is a code no client can know.

Exits 0 when everything agrees, 1 listing every difference, 2 on a usage error.

    python3 scripts/check_error_contract.py --observed FILE [--root DIR]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check_routes import load_yaml, resolve  # noqa: E402  (same loader, same $ref resolution)

CODE_RE = re.compile(r"`([a-z][a-z0-9_]*)`")
# The API's codes: the `Variant = "name",` lines of the `error_codes!` list of `e2ee_protocol::ErrorCode`, the one
# type handlers build errors from.
ENUM_CODE_RE = re.compile(r"^\s*[A-Z][A-Za-z0-9]*\s*=\s*\"([a-z][a-z0-9_]*)\",", re.MULTILINE)
ERROR_CODE_FILE = "shared/protocol/src/error.rs"


def documented(openapi: dict) -> dict[tuple[str, str], dict[int, set[str]]]:
    """(METHOD, path) -> status -> the codes documented for it."""
    result: dict[tuple[str, str], dict[int, set[str]]] = {}
    for path, item in (openapi.get("paths") or {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            statuses: dict[int, set[str]] = {}
            for status, response in operation["responses"].items():
                if not str(status).isdigit() or int(status) < 400:
                    continue
                codes = set(CODE_RE.findall(str(response.get("description", ""))))
                if "$ref" in response:
                    shared = resolve(openapi, response)
                    codes |= example_codes(shared)
                statuses[int(status)] = codes
            result[(method.upper(), path)] = statuses
    return result


def example_codes(response: dict) -> set[str]:
    codes: set[str] = set()
    for media in (response.get("content") or {}).values():
        examples = [media.get("example")] + [e.get("value") for e in (media.get("examples") or {}).values()]
        for example in examples:
            if isinstance(example, dict) and isinstance(example.get("error"), dict):
                codes.add(str(example["error"].get("code")))
    return codes


def source_codes(root: Path) -> dict[str, str]:
    """Code -> where the `ErrorCode` enum declares it."""
    file = root / ERROR_CODE_FILE
    text = file.read_text()
    found: dict[str, str] = {}
    for match in ENUM_CODE_RE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        found.setdefault(match.group(1), f"{ERROR_CODE_FILE}:{line}")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--observed", required=True, help="the JSON lines the test kit wrote ($E2EE_ERROR_LOG)")
    parser.add_argument("--root", default=str(Path(__file__).resolve().parent.parent))
    args = parser.parse_args()
    root = Path(args.root)
    openapi = load_yaml(root / "docs/openapi.yaml")
    contract = documented(openapi)
    errors: list[str] = []

    observed: set[tuple[str, str, int, str]] = set()
    try:
        lines = Path(args.observed).read_text().splitlines()
    except OSError as error:
        print(f"check_error_contract: cannot read {args.observed}: {error}", file=sys.stderr)
        return 2
    for line in lines:
        if line.strip():
            entry = json.loads(line)
            observed.add((entry["method"], entry["route"], int(entry["status"]), entry["code"]))
    if not observed:
        errors.append(f"{args.observed} holds no error answers: did the tests run with E2EE_ERROR_LOG set?")
    for method, route, status, code in sorted(observed):
        statuses = contract.get((method, route))
        if statuses is None:
            errors.append(f"{method} {route}: not in docs/openapi.yaml")
        elif status not in statuses:
            errors.append(f"{method} {route}: answered {status} `{code}`, but {status} is not a documented response")
        elif code not in statuses[status]:
            listed = ", ".join(sorted(statuses[status])) or "none"
            errors.append(f"{method} {route}: answered {status} `{code}`, not documented for {status} (documented: {listed})")

    every_documented = {code for statuses in contract.values() for codes in statuses.values() for code in codes}
    declared = source_codes(root)
    if not declared:
        errors.append(f"no error codes found in {ERROR_CODE_FILE}")
    known = ((openapi.get("components") or {}).get("schemas") or {}).get("ErrorCode", {}).get("x-known-codes")
    if sorted(known or []) != sorted(declared):
        errors.append(f"the ErrorCode schema's x-known-codes differs from {ERROR_CODE_FILE}")
    for code, where in sorted(declared.items()):
        if code not in every_documented:
            errors.append(f"`{code}` ({where}) is documented for no route in docs/openapi.yaml")

    for error in errors:
        print(f"check_error_contract: {error}")
    if errors:
        return 1
    routes = {(m, r) for m, r, _, _ in observed}
    print(f"check_error_contract: {len(observed)} distinct error answers on {len(routes)} routes, all documented")
    return 0


if __name__ == "__main__":
    sys.exit(main())
