#!/usr/bin/env python3
"""Compares two generated schema tables structurally (type names ignored).

Usage (from the workspace root):  python3 iso20022/tools/compare_tables.py iso20022/schema/A.tbl iso20022/schema/B.tbl

Walks both tables from the root element and compares, element by element, what the
reader validates: child names, order, min/max occurs, nested choices, xs:any namespaces,
choice vs sequence, simple-type bases and facets (length, pattern, enumeration, digits,
minInclusive), the IBAN/currency checks keyed on simple-type names, and amount
attributes. Prints the differences (by element path) and exits 1 if there are any.
Complex type names (GroupHeader93 vs GroupHeader96) are not compared.
"""
import sys


def load(path):
    root, types = None, {}
    for line in open(path, encoding='utf-8'):
        line = line.rstrip('\n')
        if not line or line.startswith('#'):
            continue
        f = line.split('\t')
        if f[0] == 'r':
            root = (f[1], f[2])
        else:
            types[f[1]] = f
    return root, types


def children(f):
    out = []
    for c in (f[3] if len(f) > 3 else '').split(','):
        if not c:
            continue
        rest, mn, mx, g = c.rsplit(':', 3)
        n, t = rest.split(':', 1) if ':' in rest else (rest, '')
        out.append((n, t, mn, mx, g))
    return out


def simple_key(name, f):
    flags = ('IBAN' if name.startswith('IBAN') else '') + ('CCY' if 'CurrencyCode' in name else '')
    return (f[2], f[3], f[4], f[5], '|'.join(sorted(f[6].split('|'))), f[7], f[8], f[9], flags)


def compare(a, b):
    (ra, ta), (rb, tb) = load(a), load(b)
    diffs = []
    if ra[0] != rb[0]:
        diffs.append(f'root {ra[0]} vs {rb[0]}')
        return diffs
    seen = set()

    def walk(path, x, y):
        if (x, y) in seen:
            return
        seen.add((x, y))
        fx, fy = ta[x], tb[y]
        if fx[0] != fy[0]:
            diffs.append(f'{path}: kind {fx[0]} vs {fy[0]}')
            return
        if fx[0] == 's':
            kx, ky = simple_key(x, fx), simple_key(y, fy)
            if kx != ky:
                diffs.append(f'{path}: simple type {x} {kx} vs {y} {ky}')
            return
        if fx[0] == 'v':
            walk(path + '/text()', fx[2], fy[2])
            ax = sorted(fx[3].split(',')) if len(fx) > 3 else []
            ay = sorted(fy[3].split(',')) if len(fy) > 3 else []
            if [(s.split(':')[0], s.split(':')[2]) for s in ax] != [(s.split(':')[0], s.split(':')[2]) for s in ay]:
                diffs.append(f'{path}: attributes {ax} vs {ay}')
            for sx, sy in zip(ax, ay):
                walk(path + '/@' + sx.split(':')[0], sx.split(':')[1], sy.split(':')[1])
            return
        if fx[2] != fy[2]:
            diffs.append(f'{path}: {fx[2]} vs {fy[2]}')
        cx, cy = children(fx), children(fy)
        if [c[0] for c in cx] != [c[0] for c in cy]:
            diffs.append(f'{path}: children {[c[0] for c in cx]} vs {[c[0] for c in cy]}')
            return
        for (n, t, mn, mx, g), (_, t2, mn2, mx2, g2) in zip(cx, cy):
            p = f'{path}/{n}'
            if (mn, mx, g) != (mn2, mx2, g2):
                diffs.append(f'{p}: occurs {mn}..{mx} group {g} vs {mn2}..{mx2} group {g2}')
            if n == '*':
                if t != t2:
                    diffs.append(f'{p}: any namespace {t} vs {t2}')
                continue
            walk(p, t, t2)

    walk('/' + ra[0], ra[1], rb[1])
    return diffs


if __name__ == '__main__':
    d = compare(sys.argv[1], sys.argv[2])
    for x in d[:40]:
        print(x)
    if len(d) > 40:
        print(f'... {len(d) - 40} more')
    print(f'{len(d)} difference(s)')
    sys.exit(1 if d else 0)
