#!/usr/bin/env python3
# Usage: scripts/import-cycles.py iotc-emulator/src   (exit status 1 when a cycle is found)
"""Import cycles (crate root excepted) between the files of a Rust crate's src/: an edge A -> B when A names B
through `crate::`, `super::` or (in a mod.rs / lib.rs) a child module path; prints every
strongly connected component of more than one file (comments and `mod tests` ignored)."""
import os, re, sys
root = sys.argv[1]
mods = {}
for dp, _, fs in os.walk(root):
    for f in fs:
        if not f.endswith('.rs'): continue
        p = os.path.join(dp, f); rel = os.path.relpath(p, root)[:-3]
        parts = rel.split(os.sep)
        if parts[-1] in ('mod', 'lib', 'main'): parts = parts[:-1]
        if rel == 'main': parts = ['<bin>']
        mods['::'.join(parts)] = p
def longest(path):
    for n in range(len(path), -1, -1):
        cand = '::'.join(path[:n])
        if cand in mods: return cand
edges = {m: set() for m in mods}
for m, p in mods.items():
    src = open(p).read()
    src = re.sub(r'#\[cfg\(test\)\]\s*mod tests\s*\{.*', '', src, flags=re.S)
    src = re.sub(r'//.*', '', src)
    src = re.sub(r'pub\((?:in )?super\)', '', src)
    cur = [] if m in ('', '<bin>') else m.split('::')
    is_dir = os.path.basename(p) in ('mod.rs', 'lib.rs', 'main.rs')
    here = cur if is_dir else cur[:-1]   # the module `super`/children resolve against
    refs = []
    for mo in re.finditer(r'\b(crate|super)((?:::\w+)*)(::\{([^{}]*)\})?', src):
        segs = [s for s in mo.group(2).split('::') if s]
        base = [] if mo.group(1) == 'crate' else (cur[:-1])
        if mo.group(4) is None:
            refs.append(base + segs)
        else:  # `super::{a, b::c}`: each item
            for item in mo.group(4).split(','):
                item = item.strip().split(' as ')[0]
                if item and item != 'self':
                    refs.append(base + segs + item.split('::'))
                elif item == 'self':
                    refs.append(base + segs)
    if is_dir:
        for mo in re.finditer(r'\buse\s+(?:self::)?(\w+)((?:::\w+)*)', src):
            if mo.group(1) in ('crate', 'super', 'std', 'self'): continue
            refs.append(cur + [mo.group(1)] + [s for s in mo.group(2).split('::') if s])
    for r in refs:
        t = longest(r)
        # The crate root only re-exports the public API: not an edge.
        if t not in (None, '', m): edges[m].add(t)
# Tarjan
idx, low, st, on, out, n = {}, {}, [], set(), [], [0]
def sc(v):
    idx[v] = low[v] = n[0]; n[0] += 1; st.append(v); on.add(v)
    for w in edges[v]:
        if w not in idx: sc(w); low[v] = min(low[v], low[w])
        elif w in on: low[v] = min(low[v], idx[w])
    if low[v] == idx[v]:
        comp = []
        while True:
            w = st.pop(); on.discard(w); comp.append(w)
            if w == v: break
        if len(comp) > 1: out.append(sorted(comp))
sys.setrecursionlimit(10000)
for v in sorted(edges):
    if v not in idx: sc(v)
for c in out: print('cycle:', ', '.join(x or '<lib>' for x in c))
print(f'{len(out)} import cycles', file=sys.stderr)
sys.exit(1 if out else 0)
