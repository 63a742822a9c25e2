#!/usr/bin/env python3
"""Static checks of the iOS sample (no Swift compiler here): ios-sample/README.md, "What ran where".

Parses the hand-written Swift with tree-sitter-swift and compares it with the uniffi-generated
bindings (ios-sample/Generated/CibaAuthenticator.swift), the plists, the entitlements, the string
catalogs, project.yml and the server's APNs body (server/src/push/apns.rs). Each check is named and
can fail; the last line is "ios-sample-static: N passed, N failed" and the exit status is non-zero
when any failed.

Installs what it needs on first use: a venv at target/tools/ios-check (relative to the repository
root) with tree-sitter==0.26.1 and tree-sitter-swift==0.7.4 from PyPI, then runs itself in it.
"""
from __future__ import annotations

import json
import os
import plistlib
import re
import subprocess
import sys
from pathlib import Path

SAMPLE = Path(__file__).resolve().parent.parent
REPO = SAMPLE.parent
VENV = REPO / "target" / "tools" / "ios-check"
REQUIREMENTS = ["tree-sitter==0.26.1", "tree-sitter-swift==0.7.4"]
GENERATED = SAMPLE / "Generated" / "CibaAuthenticator.swift"
LOCALES = ("en", "fr")


# ---------------------------------------------------------------------------------------------
# Bootstrap: the venv with the pinned parser.

def venv_python() -> Path:
    return VENV / "bin" / "python"


def ensure_venv() -> None:
    if os.environ.get("IOS_CHECK_IN_VENV") == "1":
        return
    python = venv_python()
    stamp = VENV / "requirements.txt"
    wanted = "\n".join(REQUIREMENTS) + "\n"
    if not python.exists() or not stamp.exists() or stamp.read_text() != wanted:
        print(f"== installing {' '.join(REQUIREMENTS)} into {VENV.relative_to(REPO)}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        *REQUIREMENTS], check=True)
        stamp.write_text(wanted)
    env = dict(os.environ, IOS_CHECK_IN_VENV="1")
    os.execve(str(python), [str(python), str(Path(__file__).resolve()), *sys.argv[1:]], env)


ensure_venv()

import tree_sitter_swift  # noqa: E402
from tree_sitter import Language, Node, Parser  # noqa: E402

PARSER = Parser(Language(tree_sitter_swift.language()))


# ---------------------------------------------------------------------------------------------
# Helpers.

class CheckFailed(Exception):
    pass


def fail(message: str) -> None:
    raise CheckFailed(message)


def rel(path: Path) -> str:
    return str(path.relative_to(REPO))


def handwritten_swift() -> list[Path]:
    return sorted(p for p in SAMPLE.rglob("*.swift") if "Generated" not in p.relative_to(SAMPLE).parts)


_trees: dict[Path, Node] = {}


def tree(path: Path) -> Node:
    if path not in _trees:
        _trees[path] = PARSER.parse(path.read_bytes()).root_node
    return _trees[path]


def walk(node: Node):
    yield node
    for child in node.children:
        yield from walk(child)


def text(node: Node | None) -> str:
    return node.text.decode() if node is not None else ""


def squash(value: str) -> str:
    return re.sub(r"\s+", "", value)


def params(function: Node) -> list[tuple[str, str]]:
    """(label, type) of each parameter of a function or protocol function declaration."""
    out = []
    for child in function.named_children:
        if child.type != "parameter":
            continue
        names = child.children_by_field_name("name")
        external = child.child_by_field_name("external_name")
        label = text(external) if external is not None else text(names[0])
        out.append((label, squash(text(names[-1])) if len(names) > 1 else ""))
    return out


def return_type(function: Node) -> str:
    body = function.child_by_field_name("body")
    end = body.start_byte if body is not None else function.end_byte
    header = function.text[: end - function.start_byte].decode()
    depth, arrow = 0, None
    for i, ch in enumerate(header):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif header.startswith("->", i) and depth == 0:
            arrow = i
    return squash(header[arrow + 2:]) if arrow is not None else "Void"


def signature(function: Node) -> str:
    name = text(function.child_by_field_name("name"))
    return f"{name}({''.join(label + ':' for label, _ in params(function))})"


def top_level(path: Path, kind: str, name: str) -> Node:
    for node in tree(path).named_children:
        if node.type == kind and text(node.child_by_field_name("name")) == name:
            return node
    fail(f"{rel(path)}: no {kind} {name}")


def protocol_methods(name: str) -> dict[str, Node]:
    body = top_level(GENERATED, "protocol_declaration", name).child_by_field_name("body")
    methods = {signature(m): m for m in body.named_children if m.type == "protocol_function_declaration"}
    if not methods:
        fail(f"no methods parsed from protocol {name} in {rel(GENERATED)}")
    return methods


def enum_cases(name: str) -> list[str]:
    for node in tree(GENERATED).named_children:
        if node.type == "class_declaration" and text(node.child_by_field_name("name")) == name:
            body = node.child_by_field_name("body")
            cases = [text(n) for e in body.named_children if e.type == "enum_entry"
                     for n in e.children_by_field_name("name")]
            if cases:
                return cases
    fail(f"no enum {name} with cases in {rel(GENERATED)}")


def conformers(protocol: str) -> list[tuple[Path, Node]]:
    found = []
    for path in handwritten_swift():
        for node in walk(tree(path)):
            if node.type != "class_declaration":
                continue
            inherits = [squash(text(s.child_by_field_name("inherits_from")))
                        for s in node.named_children if s.type == "inheritance_specifier"]
            if protocol in inherits:
                found.append((path, node))
    return found


def calls(root: Node):
    """(callee text, method name, argument labels, node) of every call expression."""
    for node in walk(root):
        if node.type != "call_expression" or not node.named_children:
            continue
        callee = node.named_children[0]
        suffix = next((c for c in node.named_children if c.type == "call_suffix"), None)
        if suffix is None:
            continue
        labels = []
        for part in suffix.named_children:
            if part.type == "value_arguments":
                for argument in part.named_children:
                    if argument.type == "value_argument":
                        label = argument.child_by_field_name("name")
                        labels.append(text(label).rstrip(":").strip() if label is not None else "_")
            elif part.type == "lambda_literal":
                labels.append("_")
        if callee.type == "navigation_expression":
            target = callee.child_by_field_name("target")
            nav = callee.child_by_field_name("suffix")
            method = text(nav.child_by_field_name("suffix")) if nav is not None else ""
            yield text(target), method, labels, node
        elif callee.type == "simple_identifier":
            yield "", text(callee), labels, node


def string_literal_value(node: Node) -> str | None:
    """The value of a plain string literal (no interpolation), else None."""
    if node.type != "line_string_literal":
        return None
    if any(c.type == "interpolated_expression" for c in node.named_children):
        return None
    return "".join(text(c) for c in node.named_children if c.type in ("line_str_text", "str_escaped_char"))


def first_argument(call: Node) -> tuple[str | None, Node | None]:
    suffix = next((c for c in call.named_children if c.type == "call_suffix"), None)
    args = next((c for c in suffix.named_children if c.type == "value_arguments"), None) if suffix else None
    if args is None:
        return None, None
    arguments = [a for a in args.named_children if a.type == "value_argument"]
    if not arguments:
        return None, None
    label = arguments[0].child_by_field_name("name")
    value = arguments[0].child_by_field_name("value")
    return (text(label).rstrip(":").strip() if label is not None else None), value


def line_of(node: Node) -> int:
    return node.start_point[0] + 1


def read_plist(path: Path) -> dict:
    with path.open("rb") as f:
        return plistlib.load(f)


def catalog(path: Path) -> dict:
    return json.loads(path.read_text())


def project_target_block(target: str) -> str:
    """The text of one target in project.yml (indentation-based; no YAML parser in the venv)."""
    lines = (SAMPLE / "project.yml").read_text().splitlines()
    out, inside = [], False
    for line in lines:
        if re.match(rf"^  {re.escape(target)}:\s*$", line):
            inside = True
            continue
        if inside and re.match(r"^  \S", line) or (inside and re.match(r"^\S", line)):
            break
        if inside:
            out.append(line)
    if not out:
        fail(f"project.yml has no target {target}")
    return "\n".join(out)


def target_sources(target: str) -> list[Path]:
    block = project_target_block(target)
    sources = re.search(r"^    sources:\n((?:      .*\n?)+)", block + "\n", re.M)
    if not sources:
        fail(f"project.yml target {target} lists no sources")
    return [SAMPLE / p for p in re.findall(r"- path:\s*(\S+)", sources.group(1))]


def files_of(sources: list[Path], suffix: str) -> list[Path]:
    out = []
    for source in sources:
        if source.is_file() and source.name.endswith(suffix):
            out.append(source)
        elif source.is_dir():
            out.extend(sorted(source.rglob(f"*{suffix}")))
    return out


# ---------------------------------------------------------------------------------------------
# The checks.

CHECKS = []


def check(name: str):
    def register(fn):
        CHECKS.append((name, fn))
        return fn
    return register


@check("swift-parses")
def swift_parses() -> str:
    files = handwritten_swift()
    if len(files) < 10:
        fail(f"only {len(files)} hand-written Swift files found")
    problems = []
    for path in files:
        for node in walk(tree(path)):
            if node.type == "ERROR" or node.is_missing:
                kind = "missing " + node.type if node.is_missing else "syntax error"
                problems.append(f"{rel(path)}:{line_of(node)}:{node.start_point[1] + 1}: {kind}")
                break
    if problems:
        fail("; ".join(problems))
    return f"{len(files)} files"


def conformance(protocol: str) -> str:
    wanted = protocol_methods(protocol)
    found = conformers(protocol)
    if not found:
        fail(f"no class conforms to {protocol}")
    notes = []
    for path, cls in found:
        body = cls.child_by_field_name("body")
        methods = [m for m in body.named_children if m.type == "function_declaration"]
        have = {signature(m): m for m in methods}
        name = text(cls.child_by_field_name("name"))
        missing = sorted(set(wanted) - set(have))
        base_names = {text(m.child_by_field_name("name")) for m in wanted.values()}
        extra = sorted(s for s, m in have.items()
                       if text(m.child_by_field_name("name")) in base_names and s not in wanted)
        if missing or extra:
            fail(f"{rel(path)} {name}: missing {missing or '[]'}, not in the protocol {extra or '[]'}")
        for sig, proto in wanted.items():
            mine = have[sig]
            if [t for _, t in params(mine)] != [t for _, t in params(proto)]:
                fail(f"{rel(path)} {name}.{sig}: parameter types {params(mine)} != {params(proto)}")
            if return_type(mine) != return_type(proto):
                fail(f"{rel(path)} {name}.{sig}: returns {return_type(mine)}, protocol {return_type(proto)}")
        notes.append(f"{name}: {len(wanted)} methods")
    return ", ".join(notes)


@check("keystore-conformance")
def keystore_conformance() -> str:
    return conformance("KeyStore")


@check("accountstore-conformance")
def accountstore_conformance() -> str:
    return conformance("AccountStore")


@check("authenticator-calls")
def authenticator_calls() -> str:
    methods = protocol_methods("AuthenticatorProtocol")
    free = {"consentText(txn:)", "sdkVersion()", "defaultAuthenticatorConfig()",
            "Authenticator(accounts:keys:config:)"}
    # The generated file declares these; make sure they are still there.
    generated = GENERATED.read_text()
    for sig in free:
        name, labels = sig.split("(")[0], sig.split("(")[1].rstrip(")").split(":")[:-1]
        pattern = (r"convenience init\(" if name == "Authenticator" else rf"public func {name}\(")
        pattern += "".join(rf"\s*{label}:[^,)]*,?" for label in labels) + r"\s*\)"
        if not re.search(pattern, generated):
            fail(f"{rel(GENERATED)} no longer declares {sig}")
    seen, problems = 0, []
    for path in handwritten_swift():
        root = tree(path)
        # Every Authenticator-typed property is named `authenticator`, so every call is seen here.
        for node in walk(root):
            if node.type == "property_declaration":
                declared = text(node)
                name = node.child_by_field_name("name")
                if re.search(r":\s*Authenticator\b(?!Error|Config|Protocol)", declared.split("=")[0]) or \
                        re.search(r"=\s*(try\s+)?Authenticator\(", declared):
                    if not text(name).endswith("authenticator"):
                        problems.append(f"{rel(path)}:{line_of(node)}: an Authenticator named {text(name)!r}")
        for target, method, labels, node in calls(root):
            sig = f"{method}({''.join(label + ':' for label in labels)})"
            if target == "" and method in ("consentText", "sdkVersion", "defaultAuthenticatorConfig", "Authenticator"):
                seen += 1
                if sig not in free:
                    problems.append(f"{rel(path)}:{line_of(node)}: {sig} is not in the generated API")
            elif target.split(".")[-1] == "authenticator":
                seen += 1
                if sig not in methods:
                    problems.append(f"{rel(path)}:{line_of(node)}: authenticator.{sig} is not a method of "
                                    f"Authenticator in {rel(GENERATED)}")
    if problems:
        fail("; ".join(problems))
    if seen < 10:
        fail(f"only {seen} SDK calls found: the check would prove nothing")
    return f"{seen} calls"


def switch_cases(path: Path, function_pattern: str) -> list[str]:
    """The `.Case` names of the first switch of the function whose header matches the pattern."""
    for node in walk(tree(path)):
        if node.type != "function_declaration":
            continue
        body = node.child_by_field_name("body")
        header = node.text[: body.start_byte - node.start_byte].decode() if body else text(node)
        if not re.search(function_pattern, squash(header)):
            continue
        switch = next((n for n in walk(body) if n.type == "switch_statement"), None)
        if switch is None:
            fail(f"{rel(path)}: {function_pattern} has no switch")
        names = []
        for entry in switch.named_children:
            if entry.type != "switch_entry":
                continue
            for pattern in entry.named_children:
                if pattern.type == "switch_pattern":
                    match = re.match(r"^(?:let\s+)?\.(\w+)", text(pattern).strip())
                    if match:
                        names.append(match.group(1))
        return names
    fail(f"{rel(path)}: no function matching {function_pattern}")


@check("errortext-covers-errors")
def errortext_covers_errors() -> str:
    path = SAMPLE / "Shared" / "ErrorText.swift"
    notes = []
    for enum, pattern in (("AuthenticatorError", r"message\(forerror:AuthenticatorError"),
                          ("KeyStoreError", r"message\(forerror:KeyStoreError")):
        cases = enum_cases(enum)
        named = switch_cases(path, pattern)
        missing = [c for c in cases if c not in named]
        unknown = [c for c in named if c not in cases]
        if missing or unknown:
            fail(f"{enum}: ErrorText lacks {missing or '[]'}, names unknown cases {unknown or '[]'}")
        notes.append(f"{enum} {len(cases)} cases")
    return ", ".join(notes)


@check("info-plist")
def info_plist() -> str:
    app = read_plist(SAMPLE / "CibaSample" / "Info.plist")
    for key in ("NSFaceIDUsageDescription", "NSCameraUsageDescription"):
        if not str(app.get(key, "")).strip():
            fail(f"CibaSample/Info.plist lacks {key}")
    schemes = [s for t in app.get("CFBundleURLTypes", []) for s in t.get("CFBundleURLSchemes", [])]
    if "ciba-enroll" not in schemes:
        fail(f"CibaSample/Info.plist URL schemes {schemes} lack ciba-enroll")
    if "remote-notification" not in app.get("UIBackgroundModes", []):
        fail("CibaSample/Info.plist UIBackgroundModes lacks remote-notification")
    extension = read_plist(SAMPLE / "NotificationService" / "Info.plist")
    point = extension.get("NSExtension", {}).get("NSExtensionPointIdentifier")
    if point != "com.apple.usernotifications.service":
        fail(f"NotificationService/Info.plist extension point is {point!r}")
    return "usage descriptions, ciba-enroll, remote-notification, NSE extension point"


@check("shared-entitlements")
def shared_entitlements() -> str:
    app_path = SAMPLE / "CibaSample" / "CibaSample.entitlements"
    ext_path = SAMPLE / "NotificationService" / "NotificationService.entitlements"
    app, ext = read_plist(app_path), read_plist(ext_path)
    keychain = set(app.get("keychain-access-groups", [])) & set(ext.get("keychain-access-groups", []))
    groups = set(app.get("com.apple.security.application-groups", [])) & \
        set(ext.get("com.apple.security.application-groups", []))
    if not keychain:
        fail("the app and the extension share no keychain access group")
    if not groups:
        fail("the app and the extension share no app group")
    # The groups the code uses (Info.plist → SharedConfig) are the shared ones, in both targets.
    for plist in ("CibaSample/Info.plist", "NotificationService/Info.plist"):
        info = read_plist(SAMPLE / plist)
        if info.get("CibaKeychainAccessGroup") not in keychain:
            fail(f"{plist} CibaKeychainAccessGroup {info.get('CibaKeychainAccessGroup')!r} is not shared")
        if info.get("CibaAppGroup") not in groups:
            fail(f"{plist} CibaAppGroup {info.get('CibaAppGroup')!r} is not shared")
    # The first keychain group is the default one; it must be the shared one in both.
    if app["keychain-access-groups"][0] not in keychain or ext["keychain-access-groups"][0] not in keychain:
        fail("the first keychain access group of each target must be the shared one")
    for target, path in (("CibaSample", app_path), ("NotificationService", ext_path)):
        block = project_target_block(target)
        if f"CODE_SIGN_ENTITLEMENTS: {path.relative_to(SAMPLE)}" not in block:
            fail(f"project.yml target {target} does not sign with {path.relative_to(SAMPLE)}")
    if "aps-environment" not in app:
        fail("CibaSample.entitlements lacks aps-environment")
    return f"keychain {sorted(keychain)}, app group {sorted(groups)}"


def server_loc_keys() -> list[str]:
    source = (REPO / "server" / "src" / "push" / "apns.rs").read_text()
    keys = []
    for const in ("ALERT_TITLE_LOC_KEY", "ALERT_LOC_KEY"):
        match = re.search(rf'pub const {const}: &str = "([^"]+)";', source)
        if not match:
            fail(f"server/src/push/apns.rs no longer defines {const}")
        keys.append(match.group(1))
    return keys


def used_keys(paths: list[Path]) -> tuple[dict[str, str], list[str]]:
    """Localization keys used by these files (key → first use), and problems."""
    keys, problems = {}, []
    ui = {"Text", "Button", "Label", "Section", "Toggle", "TextField", "ProgressView", "DisclosureGroup",
          "navigationTitle", "alert", "LabeledContent", "Link"}
    for path in paths:
        # The body of `L` itself looks its key up: not a use.
        inside_l = [n for n in walk(tree(path)) if n.type == "function_declaration"
                    and text(n.child_by_field_name("name")) == "L"]
        for target, method, labels, node in calls(tree(path)):
            if any(f.start_byte <= node.start_byte < f.end_byte for f in inside_l):
                continue
            label, value = first_argument(node)
            where = f"{rel(path)}:{line_of(node)}"
            suffix = next(c for c in node.named_children if c.type == "call_suffix")
            if not text(suffix).startswith(("(", "{")):
                continue   # a subscript, not a call
            if target == "" and method in ("L", "NSLocalizedString") or \
                    (method == "String" and label == "localized") or method == "localizedUserNotificationString":
                literal = string_literal_value(value) if value is not None else None
                if literal is None:
                    problems.append(f"{where}: {method} with a key that is not a plain string literal")
                else:
                    keys.setdefault(literal, where)
            elif method in ui and value is not None and label is None and value.type == "line_string_literal":
                problems.append(f"{where}: {method}(\"…\") with a literal: use L(\"key\") or verbatim:")
    return keys, problems


def catalog_problems(path: Path, keys: dict[str, str]) -> list[str]:
    strings = catalog(path).get("strings", {})
    problems = []
    for key, where in sorted(keys.items()):
        entry = strings.get(key)
        if entry is None:
            problems.append(f"{key!r} ({where}) not in {rel(path)}")
            continue
        counts = {}
        for locale in LOCALES:
            unit = entry.get("localizations", {}).get(locale, {}).get("stringUnit", {})
            value = unit.get("value", "")
            if not value.strip() or unit.get("state") != "translated":
                problems.append(f"{key!r} has no translated {locale} value in {rel(path)}")
            counts[locale] = len(re.findall(r"%(?:\d+\$)?[@dfs]", value))
        if len(set(counts.values())) > 1:
            problems.append(f"{key!r}: placeholders differ between locales {counts} in {rel(path)}")
    return problems


@check("localization-app")
def localization_app() -> str:
    sources = target_sources("CibaSample")
    swift = files_of(sources, ".swift")
    catalogs = [p for p in files_of(sources, ".xcstrings") if p.name == "Localizable.xcstrings"]
    if not catalogs:
        fail("the app target has no Localizable.xcstrings")
    keys, problems = used_keys(swift)
    for key in server_loc_keys():
        keys.setdefault(key, "server/src/push/apns.rs")
    if len(keys) < 20:
        fail(f"only {len(keys)} keys found")
    for path in catalogs:
        problems += catalog_problems(path, keys)
    info = next((p for p in files_of(sources, ".xcstrings") if p.name == "InfoPlist.xcstrings"), None)
    if info is None:
        problems.append("the app target has no InfoPlist.xcstrings (usage descriptions in every locale)")
    else:
        problems += catalog_problems(info, {k: "CibaSample/Info.plist" for k in
                                            ("NSFaceIDUsageDescription", "NSCameraUsageDescription")})
    if problems:
        fail("; ".join(problems))
    return f"{len(keys)} keys x {len(LOCALES)} locales, {len(swift)} files"


@check("localization-extension")
def localization_extension() -> str:
    sources = target_sources("NotificationService")
    swift = files_of(sources, ".swift")
    catalogs = [p for p in files_of(sources, ".xcstrings") if p.name == "Localizable.xcstrings"]
    if not catalogs:
        fail("the NotificationService target compiles no Localizable.xcstrings")
    keys, problems = used_keys(swift)
    if not any(k.startswith("notification.") for k in keys):
        fail("no notification text found in the extension's sources")
    for path in catalogs:
        problems += catalog_problems(path, keys)
    if problems:
        fail("; ".join(problems))
    return f"{len(keys)} keys x {len(LOCALES)} locales, {len(swift)} files"


@check("apns-fixture-matches-server")
def apns_fixture() -> str:
    source = (REPO / "server" / "src" / "push" / "apns.rs").read_text()
    body = re.search(r"let body = json!\(\{(.*?)\}\);", source, re.S)
    if not body:
        fail("server/src/push/apns.rs: the json! body of the notification was not found")
    title, loc = server_loc_keys()
    fixture = json.loads((SAMPLE / "Tests" / "Fixtures" / "apns-request.json").read_text())
    aps = fixture.get("aps", {})
    server_keys = set(re.findall(r'"([a-z-]+)"\s*:', body.group(1)))
    fixture_keys = set(fixture) | set(aps) | set(aps.get("alert", {}))
    if server_keys != fixture_keys:
        fail(f"fixture keys {sorted(fixture_keys)} != server's {sorted(server_keys)}")
    if aps.get("alert") != {"title-loc-key": title, "loc-key": loc}:
        fail(f"fixture alert {aps.get('alert')} != server's loc-keys {title}, {loc}")
    if aps.get("mutable-content") != 1 or '"mutable-content": 1' not in body.group(1):
        fail("mutable-content is not 1 in the fixture and the server")
    version = re.search(r'PUSH_PAYLOAD_VERSION: &str = "([^"]+)"',
                        (REPO / "core" / "src" / "protocol" / "push.rs").read_text())
    ciba = fixture.get("ciba", {})
    if set(ciba) != {"v", "iss", "txn"} or not version or ciba.get("v") != version.group(1):
        fail(f"fixture ciba {ciba} is not a PushPayload of version {version and version.group(1)}")
    swift = (SAMPLE / "Shared" / "ApnsPayload.swift").read_text()
    for key in (title, loc):
        if f'"{key}"' not in swift:
            fail(f"Shared/ApnsPayload.swift does not name the loc-key {key}")
    return f"loc-keys {title}, {loc}; payload v{version.group(1)}"


@check("approve-only-on-consent-screen")
def approve_confined() -> str:
    flow = SAMPLE / "Shared" / "RequestFlow.swift"
    found = []
    for path in handwritten_swift():
        for target, method, labels, node in calls(tree(path)):
            if method != "approve":
                continue
            where = f"{rel(path)}:{line_of(node)}"
            if target.split(".")[-1] == "authenticator":
                if path != flow:
                    fail(f"{where}: the SDK's approve is called outside Shared/RequestFlow.swift")
                found.append(line_of(node))
            elif target.split(".")[-1] == "flow" and path.name != "AppModel.swift":
                fail(f"{where}: RequestFlow.approve is called outside AppModel")
            elif target == "model" and path.name != "RequestView.swift":
                fail(f"{where}: AppModel.approve is called outside the consent screen (RequestView)")
    if not found:
        fail("no call of the SDK's approve found")
    # Inside `#if !CIBA_EXTENSION`, and the extension target defines CIBA_EXTENSION.
    stack = []
    lines = flow.read_text().splitlines()
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if stripped.startswith("#if"):
            stack.append(stripped)
        elif stripped.startswith("#endif"):
            stack.pop()
        if number in found and "#if !CIBA_EXTENSION" not in stack:
            fail(f"{rel(flow)}:{number}: approve is not inside #if !CIBA_EXTENSION")
    if "CIBA_EXTENSION" not in project_target_block("NotificationService"):
        fail("project.yml: the NotificationService target does not define CIBA_EXTENSION")
    if "CIBA_EXTENSION" in project_target_block("CibaSample"):
        fail("project.yml: the app target defines CIBA_EXTENSION")
    return f"SDK approve at {rel(flow)}:{','.join(map(str, found))}"


@check("key-protection-attributes")
def key_protection() -> str:
    keys = (SAMPLE / "Shared" / "SecureEnclaveKeyStore.swift").read_text()
    accounts = (SAMPLE / "Shared" / "KeychainAccountStore.swift").read_text()
    for needle in (".privateKeyUsage", ".biometryCurrentSet", "kSecUseAuthenticationContext",
                   "kSecAttrTokenIDSecureEnclave", "#if targetEnvironment(simulator)", "DCAppAttestService",
                   "kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly", "kSecAttrAccessibleWhenUnlockedThisDeviceOnly"):
        if needle not in keys:
            fail(f"Shared/SecureEnclaveKeyStore.swift does not use {needle}")
    if "kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly" not in accounts:
        fail("Shared/KeychainAccountStore.swift does not use kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly")
    problems = []
    for path in handwritten_swift():
        source = path.read_text()
        for pattern, why in ((r"kSecAttrAccessible(?:AfterFirstUnlock|WhenUnlocked|Always)\b(?!ThisDeviceOnly)",
                              "an accessibility that is backed up"),
                             (r"\bSoftwareKeyStore\b|\bFileAccountStore\b", "an SDK test store"),
                             (r"\bTODO\b|\bFIXME\b|fatalError\(", "a stub")):
            for match in re.finditer(pattern, source):
                problems.append(f"{rel(path)}:{source[:match.start()].count(chr(10)) + 1}: {why}")
    request = (SAMPLE / "CibaSample" / "Views" / "RequestView.swift").read_text()
    if ".speechSpellsOutCharacters()" not in request or "ConsentLines.spelledOut" not in request:
        problems.append("RequestView does not spell the binding message out for VoiceOver")
    if problems:
        fail("; ".join(problems))
    return "Secure Enclave, biometryCurrentSet, ThisDeviceOnly, App Attest, simulator branch"


@check("generated-unchanged")
def generated_unchanged() -> str:
    try:
        status = subprocess.run(["git", "status", "--porcelain", "--", "ios-sample/Generated"],
                                cwd=REPO, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        fail(f"git status failed: {error}")
    if status.strip():
        fail(f"ios-sample/Generated has local changes: {status.strip()}")
    return "no local changes"


def main() -> int:
    passed = failed = 0
    for name, fn in CHECKS:
        try:
            note = fn()
            passed += 1
            print(f"ok   {name}: {note}")
        except CheckFailed as error:
            failed += 1
            print(f"FAIL {name}: {error}")
        except Exception as error:  # a bug of the check, or a file it cannot read: a failure too
            failed += 1
            print(f"FAIL {name}: {type(error).__name__}: {error}")
    print(f"ios-sample-static: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
