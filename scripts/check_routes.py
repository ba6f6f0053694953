#!/usr/bin/env python3
"""Check every description of the API's routes against the one source, shared/protocol/src/routes.rs.

The source: `pub const NAME: Route = route("METHOD", "/path/{param}", "function");` items, every one of them
listed in `ROUTES` (the client builds its requests from the same constants). Compared with it:
  1. template.yaml: the HttpApi events of the AWS::Serverless::Function resources (function = BuildProperties.Binary)
  2. docs/openapi.yaml: paths x methods (function = the operation's `x-lambda-function`, if given)
  3. Cargo.toml: [workspace.metadata.lambda.watch.router] (what `cargo lambda watch` serves)
  4. functions/*/Cargo.toml: the binaries the workspace builds (skipped, with a note, while functions/ is absent)
and events/: every function has events/<function>.json, an HTTP API v2 event whose routeKey, rawPath,
pathParameters and method match its route; every other event file matches some route too. If the `jsonschema`
package is importable, event bodies and path/query parameters are also validated against docs/openapi.yaml.

Exits 0 when everything agrees, 1 printing every difference otherwise, 2 on a usage or setup error.
Needs Python >= 3.11 (tomllib) and PyYAML.

    python3 scripts/check_routes.py [--root DIR]
"""

from __future__ import annotations

import argparse
import glob
import json
import re
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover
    sys.exit("check_routes: Python >= 3.11 is required (tomllib)")
try:
    import yaml
except ModuleNotFoundError:  # pragma: no cover
    sys.exit("check_routes: PyYAML is required: python3 -m pip install pyyaml")

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
PARAM_RE = re.compile(r"\{([^}/]+)\}")

Route = tuple[str, str]  # (METHOD, /path/{param})


# --------------------------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------------------------


class CfnLoader(yaml.SafeLoader):
    """SafeLoader that understands CloudFormation's short-form intrinsics (!Ref, !Sub, !If, !GetAtt, ...)."""


def _construct_intrinsic(loader: CfnLoader, tag_suffix: str, node: yaml.Node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{tag_suffix}": value}


CfnLoader.add_multi_constructor("!", _construct_intrinsic)


def load_yaml(path: Path):
    with path.open(encoding="utf-8") as fh:
        return yaml.load(fh, Loader=CfnLoader)  # noqa: S506 - SafeLoader subclass


def normalize_path(path: str) -> str:
    """matchit's catch-all `{*rest}` is API Gateway's `{rest+}`; everything else is the same syntax."""
    return re.sub(r"\{\*([^}]+)\}", r"{\1+}", path)


ROUTE_ITEM_RE = re.compile(
    r'pub const (\w+): Route =\s*route\(\s*"([A-Z]+)",\s*"([^"]+)",\s*"([^"]+)",?\s*\);', re.S
)
ROUTES_LIST_RE = re.compile(r"pub const ROUTES: \[Route; (\d+)\] = \[([^\]]*)\];", re.S)


def protocol_routes(root: Path, errors: list[str]) -> dict[Route, str]:
    """The route list of shared/protocol/src/routes.rs: (method, path) -> function."""
    path = root / "shared/protocol/src/routes.rs"
    text = path.read_text(encoding="utf-8")
    items = {name: ((method, route_path), fn) for name, method, route_path, fn in ROUTE_ITEM_RE.findall(text)}
    listed = ROUTES_LIST_RE.search(text)
    if not items or listed is None:
        errors.append(f"{path}: no route items or no ROUTES list found")
        return {}
    names = [n.strip() for n in listed.group(2).split(",") if n.strip()]
    if len(names) != int(listed.group(1)):
        errors.append(f"{path}: ROUTES says {listed.group(1)} routes but lists {len(names)}")
    for name in sorted(set(items) - set(names)):
        errors.append(f"{path}: {name} is not in ROUTES")
    for name in sorted(set(names) - set(items)):
        errors.append(f"{path}: ROUTES lists {name}, which is not a route item")
    return {items[n][0]: items[n][1] for n in names if n in items}


def template_routes(root: Path, errors: list[str]) -> dict[Route, str]:
    doc = load_yaml(root / "template.yaml")
    resources = doc.get("Resources") or {}
    http_apis = {name for name, res in resources.items() if res.get("Type") == "AWS::Serverless::HttpApi"}
    routes: dict[Route, str] = {}
    for name, res in resources.items():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        meta = res.get("Metadata") or {}
        binary = (meta.get("BuildProperties") or {}).get("Binary")
        if meta.get("BuildMethod") != "rust-cargolambda" or not binary:
            errors.append(f"template.yaml: {name}: Metadata needs BuildMethod rust-cargolambda and BuildProperties.Binary")
            binary = binary or f"<{name}>"
        events = (res.get("Properties") or {}).get("Events") or {}
        api_events = 0
        for ev_name, ev in events.items():
            if ev.get("Type") != "HttpApi":
                continue
            api_events += 1
            props = ev.get("Properties") or {}
            api_id = props.get("ApiId")
            if not (isinstance(api_id, dict) and api_id.get("Ref") in http_apis):
                errors.append(f"template.yaml: {name}.{ev_name}: ApiId must be !Ref to the AWS::Serverless::HttpApi")
            method, path = props.get("Method"), props.get("Path")
            if not method or not path:
                errors.append(f"template.yaml: {name}.{ev_name}: Method and Path are required")
                continue
            route = (str(method).upper(), normalize_path(str(path)))
            if route in routes:
                errors.append(f"template.yaml: {route[0]} {route[1]} is routed twice ({routes[route]}, {binary})")
            routes[route] = binary
        if api_events == 0:
            errors.append(f"template.yaml: {name} ({binary}) has no HttpApi event")
    return routes


def openapi_routes(root: Path, errors: list[str]) -> tuple[dict[Route, str | None], dict]:
    doc = load_yaml(root / "docs" / "openapi.yaml")
    routes: dict[Route, str | None] = {}
    for path, item in (doc.get("paths") or {}).items():
        for method in HTTP_METHODS:
            op = (item or {}).get(method)
            if op is None:
                continue
            route = (method.upper(), normalize_path(path))
            routes[route] = op.get("x-lambda-function")
            declared = set(PARAM_RE.findall(path))
            params = [*(item.get("parameters") or []), *(op.get("parameters") or [])]
            in_path = {resolve(doc, p).get("name") for p in params if resolve(doc, p).get("in") == "path"}
            if declared != in_path:
                errors.append(
                    f"docs/openapi.yaml: {method.upper()} {path}: path parameters declared {sorted(in_path)}, "
                    f"path has {sorted(declared)}"
                )
    return routes, doc


def router_routes(root: Path, errors: list[str]) -> tuple[dict[Route, str], dict]:
    with (root / "Cargo.toml").open("rb") as fh:
        cargo = tomllib.load(fh)
    router = cargo.get("workspace", {}).get("metadata", {}).get("lambda", {}).get("watch", {}).get("router")
    routes: dict[Route, str] = {}
    if not isinstance(router, dict) or not router:
        errors.append("Cargo.toml: [workspace.metadata.lambda.watch.router] is missing or empty")
        return routes, cargo
    for path, target in router.items():
        entries = [{"method": "ANY", "function": target}] if isinstance(target, str) else target
        if not isinstance(entries, list):
            errors.append(f"Cargo.toml router: {path}: expected a function name or a list of {{method, function}}")
            continue
        for entry in entries:
            method, function = str(entry.get("method", "ANY")).upper(), entry.get("function")
            if not function:
                errors.append(f"Cargo.toml router: {path}: entry without function")
                continue
            route = (method, normalize_path(path))
            if route in routes:
                errors.append(f"Cargo.toml router: {method} {path} is listed twice")
            routes[route] = function
    return routes, cargo


def function_binaries(root: Path, cargo: dict, errors: list[str]) -> dict[str, str] | None:
    """Binary name -> crate folder, for every functions/*/Cargo.toml; None if functions/ does not exist."""
    functions_dir = root / "functions"
    if not functions_dir.is_dir():
        return None
    members = cargo.get("workspace", {}).get("members", [])
    member_dirs = {Path(p).resolve() for m in members for p in glob.glob(str(root / m))}
    bins: dict[str, str] = {}
    for manifest in sorted(functions_dir.glob("*/Cargo.toml")):
        crate_dir = manifest.parent
        rel = crate_dir.relative_to(root).as_posix()
        with manifest.open("rb") as fh:
            pkg = tomllib.load(fh)
        name = pkg.get("package", {}).get("name")
        if not name:
            errors.append(f"{rel}/Cargo.toml: no [package] name")
            continue
        if crate_dir.resolve() not in member_dirs:
            errors.append(f"{rel}: not a member of the workspace (Cargo.toml [workspace] members)")
        declared = [b.get("name") for b in pkg.get("bin", []) if b.get("name")]
        names = declared or [name]
        for b in names:
            if b in bins:
                errors.append(f"{rel}: binary {b} is also built by {bins[b]}")
            bins[b] = rel
    return bins


# --------------------------------------------------------------------------------------------------------------
# Comparing
# --------------------------------------------------------------------------------------------------------------


def fmt(route: Route) -> str:
    return f"{route[0]} {route[1]}"


def compare_sets(name_a: str, a: set[Route], name_b: str, b: set[Route], errors: list[str]) -> None:
    for route in sorted(a - b):
        errors.append(f"{fmt(route)}: in {name_a} but not in {name_b}")
    for route in sorted(b - a):
        errors.append(f"{fmt(route)}: in {name_b} but not in {name_a}")


def resolve(doc: dict, node):
    """Follow a local `$ref` in the OpenAPI document (one level at a time, until a non-ref)."""
    seen = 0
    while isinstance(node, dict) and "$ref" in node and seen < 20:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            return node
        target = doc
        for part in ref[2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node, seen = target, seen + 1
    return node


def path_regex(path: str) -> re.Pattern:
    out, pos = "", 0
    for m in PARAM_RE.finditer(path):
        out += re.escape(path[pos : m.start()])
        name = m.group(1)
        out += f"(?P<{re.sub(r'[^A-Za-z0-9_]', '_', name.rstrip('+'))}>.+)" if name.endswith("+") else f"(?P<{name}>[^/]+)"
        pos = m.end()
    return re.compile("^" + out + re.escape(path[pos:]) + "$")


class SchemaChecker:
    """Validates event bodies and parameters against docs/openapi.yaml with `jsonschema`, if it is installed."""

    def __init__(self, openapi: dict):
        self.doc = openapi
        try:
            import jsonschema  # type: ignore[import-not-found]
        except ModuleNotFoundError:
            self.jsonschema = None
        else:
            self.jsonschema = jsonschema

    def _errors(self, schema: dict, value) -> list[str]:
        full = {**schema, "components": self.doc.get("components", {})}
        cls = getattr(self.jsonschema, "Draft202012Validator", None) or self.jsonschema.validators.validator_for(full)
        return [
            f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:200]}"
            for e in cls(full).iter_errors(value)
        ]

    def check(self, label: str, route: Route, body, path_params: dict, query: dict, errors: list[str]) -> None:
        if self.jsonschema is None:
            return
        op = (self.doc.get("paths", {}).get(route[1]) or {}).get(route[0].lower())
        if op is None:
            return
        params = [resolve(self.doc, p) for p in op.get("parameters") or []]
        for p in params:
            where = {"path": path_params, "query": query}.get(p.get("in"))
            if where is None:
                continue
            value = where.get(p["name"])
            if value is None:
                if p.get("required"):
                    errors.append(f"{label}: missing {p['in']} parameter {p['name']}")
                continue
            schema = resolve(self.doc, p.get("schema", {}))
            if schema.get("type") == "integer":
                try:
                    value = int(value)
                except ValueError:
                    pass
            for e in self._errors(p.get("schema", {}), value):
                errors.append(f"{label}: {p['in']} parameter {p['name']}: {e}")
        for q in query:
            if not any(p.get("in") == "query" and p.get("name") == q for p in params):
                errors.append(f"{label}: query parameter {q} is not in docs/openapi.yaml")
        rb = op.get("requestBody")
        if rb is None:
            if body is not None:
                errors.append(f"{label}: has a body but the operation takes none")
            return
        if body is None:
            if resolve(self.doc, rb).get("required"):
                errors.append(f"{label}: the operation requires a body")
            return
        schema = resolve(self.doc, rb)["content"]["application/json"]["schema"]
        for e in self._errors(schema, body):
            errors.append(f"{label}: body: {e}")


def needs_auth(openapi: dict, route: Route) -> bool | None:
    op = (openapi.get("paths", {}).get(route[1]) or {}).get(route[0].lower())
    if op is None:
        return None
    security = op.get("security", openapi.get("security", []))
    return any(req for req in security)  # `[]` or `[{}]` = anonymous


def check_events(
    root: Path,
    routes: dict[Route, str],
    openapi: dict,
    schemas: SchemaChecker,
    errors: list[str],
) -> int:
    events_dir = root / "events"
    by_function: dict[str, set[Route]] = {}
    for route, fn in routes.items():
        by_function.setdefault(fn, set()).add(route)
    expected = {f"{fn}.json" for fn in by_function}
    files = sorted(events_dir.glob("*.json")) if events_dir.is_dir() else []
    for fn in sorted(by_function):
        if not (events_dir / f"{fn}.json").is_file():
            wanted = " or ".join(fmt(r) for r in sorted(by_function[fn]))
            errors.append(f"events/{fn}.json: missing (an HTTP API v2 event for {wanted})")
    checked = 0
    for file in files:
        label = f"events/{file.name}"
        try:
            ev = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            errors.append(f"{label}: not valid JSON: {e}")
            continue
        checked += 1
        headers = {k.lower(): v for k, v in (ev.get("headers") or {}).items()}
        if ev.get("version") == "2.0":
            route_key = ev.get("routeKey", "")
            method, _, path = route_key.partition(" ")
            route = (method, path)
            raw_path = ev.get("rawPath", "")
            ctx_method = ((ev.get("requestContext") or {}).get("http") or {}).get("method")
            if ctx_method != method:
                errors.append(f"{label}: requestContext.http.method {ctx_method!r} != routeKey method {method!r}")
            if (ev.get("requestContext") or {}).get("stage") != "$default":
                errors.append(f"{label}: requestContext.stage should be $default")
            query = dict(ev.get("queryStringParameters") or {})
        elif "httpMethod" in ev and "resource" in ev:  # REST API (v1)
            route = (ev["httpMethod"], ev["resource"])
            raw_path = ev.get("path", "")
            query = dict(ev.get("queryStringParameters") or {})
        else:
            errors.append(f"{label}: neither an HTTP API v2 (version 2.0) nor a REST API v1 event")
            continue
        if ev.get("isBase64Encoded") is not False:
            errors.append(f"{label}: isBase64Encoded should be false")
        if route not in routes:
            errors.append(f"{label}: route {fmt(route)} is not an API route")
            continue
        if file.name in expected:
            if ev.get("version") != "2.0":
                errors.append(f"{label}: the event named after a function must be an HTTP API v2 event")
            if route not in by_function[file.stem]:
                wanted = " or ".join(fmt(r) for r in sorted(by_function[file.stem]))
                errors.append(f"{label}: is {fmt(route)} (function {routes[route]}), expected {wanted}")
        m = path_regex(route[1]).match(raw_path)
        path_params = dict(ev.get("pathParameters") or {})
        if not m:
            errors.append(f"{label}: path {raw_path!r} does not match {route[1]}")
        elif path_params != m.groupdict():
            errors.append(f"{label}: pathParameters {path_params} != {m.groupdict()} from the path")
        body = ev.get("body")
        parsed = None
        if body is not None:
            if headers.get("content-type", "").split(";")[0].strip() != "application/json":
                errors.append(f"{label}: has a body but no content-type: application/json header")
            try:
                parsed = json.loads(body)
            except ValueError as e:
                errors.append(f"{label}: body is not JSON: {e}")
        auth = needs_auth(openapi, route)
        has_auth = headers.get("authorization", "").startswith("Bearer ")
        if auth is not None and auth != has_auth:
            errors.append(
                f"{label}: {'missing' if auth else 'unexpected'} authorization: Bearer header "
                f"(docs/openapi.yaml says the route is {'authenticated' if auth else 'anonymous'})"
            )
        schemas.check(label, route, parsed, path_params, query, errors)
        check_fixture_keys(root, label, parsed, errors)
    return checked


def check_fixture_keys(root: Path, label: str, body, errors: list[str]) -> None:
    """Envelopes in events are sealed for the keys in tests/interop/fixtures.json (scripts/gen_events.mjs)."""
    fixtures = root / "tests" / "interop" / "fixtures.json"
    if not (isinstance(body, dict) and isinstance(body.get("envelope"), dict) and fixtures.is_file()):
        return
    known = {k.get("keyId") for k in json.loads(fixtures.read_text(encoding="utf-8")).get("keys", {}).values()}
    env = body["envelope"]
    used = {r.get("keyId") for r in env.get("recipients") or [] if isinstance(r, dict)}
    if isinstance(env.get("signature"), dict):
        used.add(env["signature"].get("keyId"))
    if not used <= known:
        errors.append(
            f"{label}: the envelope uses key ids that are not in tests/interop/fixtures.json "
            "(regenerated fixtures?): run `node scripts/gen_events.mjs`"
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent, help="repository root")
    args = ap.parse_args()
    root: Path = args.root
    for required in ("template.yaml", "docs/openapi.yaml", "Cargo.toml"):
        if not (root / required).is_file():
            print(f"check_routes: {root / required} not found", file=sys.stderr)
            return 2

    errors: list[str] = []
    notes: list[str] = []
    source = protocol_routes(root, errors)
    tpl = template_routes(root, errors)
    oas, openapi = openapi_routes(root, errors)
    rtr, cargo = router_routes(root, errors)

    for name, routes in (("template.yaml", tpl), ("docs/openapi.yaml", oas), ("Cargo.toml router", rtr)):
        compare_sets("shared/protocol/src/routes.rs", set(source), name, set(routes), errors)
        for route in sorted(set(source) & set(routes)):
            if routes[route] is not None and routes[route] != source[route]:
                errors.append(
                    f"{fmt(route)}: function {routes[route]} in {name} but {source[route]} in shared/protocol/src/routes.rs"
                )
    for fn in sorted(set(source.values())):
        if list(source.values()).count(fn) > 1:
            notes.append(f"function {fn} serves more than one route")

    bins = function_binaries(root, cargo, errors)
    if bins is None:
        notes.append("functions/ does not exist yet: skipped the check of functions/*/Cargo.toml")
    else:
        wanted = set(source.values())
        for fn in sorted(wanted - set(bins)):
            errors.append(f"function {fn}: no functions/*/Cargo.toml builds a binary of that name")
        for b in sorted(set(bins) - wanted):
            errors.append(f"{bins[b]}: binary {b} has no route in shared/protocol/src/routes.rs")

    schemas = SchemaChecker(openapi)
    if schemas.jsonschema is None:
        notes.append("jsonschema not installed: event bodies not validated against docs/openapi.yaml")
    n_events = check_events(root, source, openapi, schemas, errors)

    for note in notes:
        print(f"note: {note}")
    if errors:
        for e in errors:
            print(f"error: {e}")
        print(f"check_routes: {len(errors)} problem(s)")
        return 1
    sources = "template.yaml, docs/openapi.yaml, the Cargo.toml router" + ("" if bins is None else ", functions/")
    print(
        f"check_routes: OK: the {len(source)} routes of shared/protocol/src/routes.rs agree with {sources};"
        f" {n_events} event files checked"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
