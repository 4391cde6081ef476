#!/usr/bin/env python3
"""Finds dependency circles between the C files of the project, from their #include lines.

usage: scripts/include_cycles.py [DIR...]   (default: every layer folder of the repo)

A node is a .c file. A.c depends on B.c when A.c includes a header (directly, by the
"layer/name.h" form the project uses) that declares a function or an object B.c defines:
a header is "implemented" by every .c file that defines something it declares, so a grab-bag
header shared by several files (reports/report_internal.h) is seen through to the files
behind it. Strongly connected groups of more than one file are the circles; each is printed
as one line, "circle: a.c b.c ...", with the headers that close it. Exit status 1 when
there is a circle in the folders given, 0 otherwise.

Declarations are found with regular expressions over the text with comments and string
literals removed: an identifier followed by "(" at file scope of a header, or one named after
"extern"; definitions are the non-static ones at file scope of a .c file, found with the same
patterns where the line opens a body ("{" or "=" before the next ";"). Macros and inline
functions in headers are not tracked (a header of macros alone implements nothing)."""
import os, re, sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
LAYERS = ['cli', 'run', 'reports', 'detect', 'fingerprint', 'corpus', 'infer', 'server', 'util']

COMMENT = re.compile(r'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', re.S)
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
IDENT_CALL = re.compile(r'\b([A-Za-z_]\w*)\s*\(')
EXTERN = re.compile(r'\bextern\b[^;(]*?\b([A-Za-z_]\w*)\s*(?:\[[^\]]*\]\s*)*;')
KEYWORDS = {'if', 'for', 'while', 'switch', 'return', 'sizeof', 'defined', 'typedef', '__attribute__'}


def strip(text):
    return COMMENT.sub(lambda m: '""' if m.group(0).startswith('"') else ' ', text)


def top_level(text):
    """The text at brace depth 0 (bodies of functions and initialisers removed), and the
    start of each statement there."""
    out, depth = [], 0
    for ch in text:
        if ch == '{':
            if depth == 0:
                out.append('{')
            depth += 1
        elif ch == '}':
            depth = max(0, depth - 1)
        elif depth == 0:
            out.append(ch)
    return ''.join(out)


def statements(text):
    # a preprocessor line is its own statement
    text = re.sub(r'^\s*#[^\n]*', ';', text, flags=re.M)
    return re.split(r'(?<=[;{])', text)


def declared(header_text):
    names = set()
    for st in statements(top_level(strip(header_text))):
        if 'typedef' in st or st.strip().startswith('#'):
            continue
        for m in EXTERN.finditer(st):
            names.add(m.group(1))
        m = IDENT_CALL.search(st)
        # a prototype: the first identifier followed by "(" that is not a keyword or a
        # parenthesised declarator such as (*fn)
        while m and m.group(1) in KEYWORDS:
            m = IDENT_CALL.search(st, m.end())
        if m and st.rstrip().endswith(';') and not re.search(r'\(\s*\*', st[:m.end() + 2]):
            names.add(m.group(1))
    return names


def defined(c_text):
    names = set()
    for st in statements(top_level(strip(c_text))):
        s = st.strip()
        if not s or re.match(r'(static|typedef|extern)\b', s):
            continue
        if s.endswith('{'):
            m = IDENT_CALL.search(s)
            if m and m.group(1) not in KEYWORDS and not re.match(r'(struct|enum|union)\s+\w+\s*\{$', s):
                names.add(m.group(1))
            elif '=' in s:  # an object with an initialiser: const T name[] = {
                m = re.search(r'\b([A-Za-z_]\w*)\s*(?:\[[^\]]*\]\s*)*=', s)
                if m:
                    names.add(m.group(1))
        elif '=' in s and s.endswith(';') and '(' not in s.split('=')[0]:
            m = re.search(r'\b([A-Za-z_]\w*)\s*(?:\[[^\]]*\]\s*)*=', s)
            if m:
                names.add(m.group(1))
    return names


def scan(dirs):
    files = {}
    for d in dirs:
        base = os.path.join(ROOT, d)
        for dp, _, fs in os.walk(base):
            for f in fs:
                if f.endswith(('.c', '.h')):
                    p = os.path.relpath(os.path.join(dp, f), ROOT)
                    with open(os.path.join(ROOT, p), encoding='utf-8', errors='replace') as fh:
                        files[p] = fh.read()
    return files


def graph(files):
    defs = {p: defined(t) for p, t in files.items() if p.endswith('.c')}
    impl = {}
    for h, t in files.items():
        if h.endswith('.h'):
            d = declared(t)
            impl[h] = {c for c, names in defs.items() if names & d}
    edges = {c: {} for c in defs}
    for c in defs:
        for inc in INCLUDE.findall(files[c]):
            for target in impl.get(inc, ()):
                if target != c:
                    edges[c].setdefault(target, set()).add(inc)
    return edges


def sccs(edges):
    """Tarjan's algorithm, iteratively."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        x = stack.pop()
                        on.discard(x)
                        comp.append(x)
                        if x == v:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
            elif w not in index:
                index[w] = low[w] = counter[0]
                counter[0] += 1
                stack.append(w)
                on.add(w)
                work.append((w, iter(sorted(edges.get(w, ())))))
            elif w in on:
                low[v] = min(low[v], index[w])
    return out


def main():
    dirs = sys.argv[1:] or [d for d in LAYERS if os.path.isdir(os.path.join(ROOT, d))]
    files = scan(dirs)
    edges = graph(files)
    circles = sccs(edges)
    for comp in circles:
        via = sorted({h for a in comp for b, hs in edges[a].items() if b in comp for h in hs})
        print('circle: ' + ' '.join(comp) + '   (through ' + ', '.join(via) + ')')
    n_c = sum(1 for p in files if p.endswith('.c'))
    print(f'{n_c} C files in {", ".join(dirs)}: {len(circles)} circle' + ('' if len(circles) == 1 else 's'))
    return 1 if circles else 0


if __name__ == '__main__':
    sys.exit(main())
