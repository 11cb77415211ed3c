#!/usr/bin/env python3
"""Fails when a module of iotc-sdk uses a module its layer may not use.

The rule is the fenced ```layers blocks of docs/architecture.md ("The rule"): one line per
module, `module: the crate modules it may use`. A top-level line (`transport: auth, error`)
governs uses between top-level modules; a nested line (`transport::mqtt: transport,
transport::session`) governs uses inside its parent, where the parent's own name means the
items of its `mod.rs`. A module may always use itself and its own submodules.

Every `crate::…` path counts, every `super::…` path that climbs out of a module (resolved from
the file's place in the tree), and the crate root's re-exports (`crate::Device` is `device`'s).
Test code may use any layer: `*_tests.rs` and `tests.rs` files, and everything from a
`#[cfg(test)]` module to the end of its file, are not checked. A top-level module with no line
is an error, so that a new module gets a layer.

Usage: scripts/check-layers.py [REPO_ROOT]
"""

import re
import sys
from pathlib import Path

root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent)
src = root / "iotc-sdk" / "src"
doc = root / "docs" / "architecture.md"


def read_rules():
    text = doc.read_text(encoding="utf-8")
    blocks = re.findall(r"```layers\n(.*?)```", text, re.S)
    if not blocks:
        sys.exit(f"{doc}: no ```layers block")
    rules = {}
    for block in blocks:
        for line in block.splitlines():
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            # `a::b: c` splits at the first single colon, the one that ends the key.
            match = re.match(r"^(\w+(?:::\w+)*):(?!:)\s*(.*)$", line)
            if not match:
                sys.exit(f"{doc}: cannot read the layers line `{line}`")
            key, deps = match.groups()
            rules[key] = {d.strip() for d in deps.split(",") if d.strip()}
    return rules


def module_path(file):
    """The module path of a source file: ['transport', 'amqp', 'hub']; [] for lib.rs."""
    parts = list(file.relative_to(src).with_suffix("").parts)
    if parts[-1] in ("mod", "lib"):
        parts.pop()
    return parts


def submodules(path):
    """The child modules of the module at `path` (from the source tree)."""
    folder = src.joinpath(*path)
    if not folder.is_dir():
        return set()
    return {p.stem if p.is_file() else p.name for p in folder.iterdir()
            if p.suffix == ".rs" and p.stem != "mod" or p.is_dir()}


def reexports():
    """Names the crate root re-exports, mapped to the top-level module they come from."""
    names = {}
    text = (src / "lib.rs").read_text(encoding="utf-8")
    for module, rest in re.findall(r"pub use (\w+)::([^;]+);", text):
        for name in re.findall(r"\b([A-Za-z_]\w*)\b(?!::)", rest.split("::")[-1] if "{" not in rest else rest[rest.index("{"):]):
            if name not in ("self", "as") and (
                    (src / module).is_dir() or (src / f"{module}.rs").is_file()):
                names[name] = module
    return names


PATH = re.compile(r"\b(crate|(?:super::)+)(?:::)?\{?\s*([A-Za-z_]\w*)(?:::([A-Za-z_]\w*))?")


def uses(file):
    """(line number, resolved path) for every crate-relative path in the file's non-test code."""
    here = module_path(file)
    lines = file.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, 1):
        following = lines[number].strip() if number < len(lines) else ""
        if line.strip() == "#[cfg(test)]" and re.match(r"(pub(\(\w+\))? )?mod ", following):
            return
        code = line.split("//", 1)[0]
        for match in PATH.finditer(code):
            head, first, second = match.groups()
            if head == "crate":
                base = []
            else:
                ups = head.count("super")
                if ups > len(here):
                    continue
                base = here[: len(here) - ups]
            path = base + [first] + ([second] if second else [])
            yield number, path


def owner(path, exported):
    """The module a resolved path belongs to, as a rule key ('transport::mqtt' or 'transport')."""
    top = path[0]
    if not src.joinpath(top).exists() and not src.joinpath(top + ".rs").exists():
        top = exported.get(top)
        if top is None:
            return None
        return top
    if len(path) > 1 and path[1] in submodules([top]):
        return f"{top}::{path[1]}"
    return top


def main():
    rules = read_rules()
    exported = reexports()
    failures = []
    top_level = sorted({p.stem if p.is_file() else p.name for p in src.iterdir()
                        if (p.suffix == ".rs" and p.name != "lib.rs") or p.is_dir()}
                       - {"testdata"})
    for name in top_level:
        if name not in rules:
            failures.append(f"module `{name}` has no line in the ```layers block of {doc.relative_to(root)}")
    for file in sorted(src.rglob("*.rs")):
        if file.name == "tests.rs" or file.name.endswith("_tests.rs"):
            continue
        here = module_path(file)
        if not here:
            continue  # lib.rs: the crate root re-exports every layer
        layer = "_private" if file.name == "private.rs" else here[0]
        inner = f"{here[0]}::{here[1]}" if len(here) > 1 else None
        for number, path in uses(file):
            target = owner(path, exported)
            if target is None:
                continue
            target_top = target.split("::")[0]
            if target_top != here[0] or layer == "_private":
                if target_top == layer or target_top in rules.get(layer, set()):
                    continue
                allowed = rules.get(layer, set())
            else:
                # Inside one top-level module: the nested rule of the submodule, if any.
                if inner is None or inner not in rules or target in (inner,) or target.startswith(inner + "::"):
                    continue
                if target in rules[inner]:
                    continue
                allowed = rules[inner]
                layer_name = inner
                failures.append(
                    f"{file.relative_to(root)}:{number}: `{layer_name}` uses `{target}` "
                    f"(allowed: {', '.join(sorted(allowed)) or 'nothing'})")
                continue
            failures.append(
                f"{file.relative_to(root)}:{number}: `{layer}` uses `{target_top}` "
                f"(allowed: {', '.join(sorted(allowed)) or 'nothing'})")
    for failure in failures:
        print(failure)
    if failures:
        print(f"{len(failures)} use(s) against the layers of {doc.relative_to(root)}")
        sys.exit(1)
    print(f"layers: {len(rules)} rules, no upward use in iotc-sdk")


if __name__ == "__main__":
    main()
