#!/usr/bin/env python3
"""Fails when a module of iotc-sdk uses a module its layer may not use.

The allowed dependencies are the ```layers block of docs/architecture.md, one line per
top-level module of `iotc-sdk/src`:

    transport: auth, message, model, tls, retry, error

A module may always use itself. Every `crate::NAME` path in a module's files counts, and so
does every `super::` path that climbs out of the module (resolved from the file's place in the
tree). Modules the block does not name are an error too, so that a new module gets a layer.

Usage: scripts/check-layers.py [REPO_ROOT]
"""

import re
import sys
from pathlib import Path

root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent)
src = root / "iotc-sdk" / "src"
doc = root / "docs" / "architecture.md"


def read_layers():
    text = doc.read_text(encoding="utf-8")
    block = re.search(r"```layers\n(.*?)```", text, re.S)
    if not block:
        sys.exit(f"{doc}: no ```layers block")
    allowed = {}
    for number, line in enumerate(block.group(1).splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, deps = line.partition(":")
        if not sep:
            sys.exit(f"{doc}: layers line {number}: expected `module: dep, dep`")
        allowed[name.strip()] = {d.strip() for d in deps.split(",") if d.strip()}
    return allowed


def module_path(file):
    """The module path of a source file: ['transport', 'amqp', 'hub']; [] for lib.rs."""
    parts = list(file.relative_to(src).with_suffix("").parts)
    if parts[-1] in ("mod", "lib"):
        parts.pop()
    return parts


PATH = re.compile(r"\b(crate|(?:super::)+)(?:::)?\{?\s*([A-Za-z_][A-Za-z0-9_]*)")
COMMENT = re.compile(r"//.*$")


def referenced(file, text):
    """(line number, top-level module) for every path out of the file's top-level module."""
    here = module_path(file)
    for number, line in enumerate(text.splitlines(), 1):
        code = COMMENT.sub("", line)
        for match in PATH.finditer(code):
            head, name = match.group(1), match.group(2)
            if head == "crate":
                target = [name]
            else:
                ups = head.count("super")
                base = here[: max(len(here) - ups, 0)] if ups <= len(here) else None
                if base is None:
                    continue
                target = base + [name]
            yield number, target[0]


def main():
    allowed = read_layers()
    top_level = sorted(
        {p.name if p.is_dir() else p.stem for p in src.iterdir() if p.name != "lib.rs"}
        - {"testdata"}
    )
    failures = []
    for name in top_level:
        if name not in allowed:
            failures.append(f"module `{name}` has no line in the layers block of {doc}")
    for file in sorted(src.rglob("*.rs")):
        here = module_path(file)
        if not here:
            continue  # lib.rs re-exports everything
        layer = here[0]
        if layer not in allowed:
            continue
        text = file.read_text(encoding="utf-8")
        for number, target in referenced(file, text):
            if target == layer or target in allowed[layer] or target not in allowed:
                continue
            failures.append(
                f"{file.relative_to(root)}:{number}: `{layer}` uses `{target}`, "
                f"which its layer may not use (allowed: {', '.join(sorted(allowed[layer])) or 'nothing'})"
            )
    for failure in failures:
        print(failure)
    if failures:
        print(f"{len(failures)} layering violation(s); the layers are in {doc.relative_to(root)}")
        sys.exit(1)
    print(f"layers: {len(allowed)} modules, no upward use")


if __name__ == "__main__":
    main()
