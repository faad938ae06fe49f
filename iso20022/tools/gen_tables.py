#!/usr/bin/env python3
"""Generate the compact schema tables in iso20022/schema/ from the official XSDs.

Usage (from the workspace root):  python3 iso20022/tools/gen_tables.py ../shared/iso20022/xsd iso20022/schema

Each table keeps, for the types reachable from the root element, exactly what the
validator needs: complex types (sequence or choice of children with min/max occurs,
xs:any), simple types (base and facets) and simple-content types (amounts).
Lines are tab separated:
  r  <root element> <root type> <target namespace>
  c  <type> <seq|cho> <child>:<type>:<min>:<max>,...   (max 'u' = unbounded; child '*' = xs:any, type = namespace)
  s  <type> <base> <minLen> <maxLen> <pattern> <enum|enum> <totalDigits> <fractionDigits> <minInclusive>
  v  <type> <simple type> <attr>:<type>:<required>,...
"""
import os, sys
import xml.etree.ElementTree as ET
XS = '{http://www.w3.org/2001/XMLSchema}'

def gen(path):
    root = ET.parse(path).getroot()
    tns = root.get('targetNamespace')
    types = {}
    for el in root:
        if el.tag in (XS + 'complexType', XS + 'simpleType'):
            types[el.get('name')] = el
    top = [e for e in root if e.tag == XS + 'element']
    out = []
    assert len(top) == 1, path
    rname, rtype = top[0].get('name'), top[0].get('type')
    out.append('\t'.join(['r', rname, rtype, tns]))
    seen = set()
    todo = [rtype]
    while todo:
        t = todo.pop()
        if t in seen or t.startswith('xs:'):
            continue
        seen.add(t)
        d = types[t]
        if d.tag == XS + 'simpleType':
            r = d.find(XS + 'restriction')
            assert r is not None, t
            f = {'minLength': '', 'maxLength': '', 'pattern': '', 'totalDigits': '', 'fractionDigits': '', 'minInclusive': ''}
            enums = []
            chain = [r]
            while not chain[-1].get('base').startswith('xs:'):
                chain.append(types[chain[-1].get('base')].find(XS + 'restriction'))
            pats = []
            for x in [y for rr in reversed(chain) for y in rr]:
                n = x.tag[len(XS):]
                if n == 'enumeration':
                    enums.append(x.get('value'))
                elif n == 'pattern':
                    pats.append(x.get('value'))
                elif n in f:
                    f[n] = x.get('value')
                elif n in ('length',):
                    f['minLength'] = f['maxLength'] = x.get('value')
                elif n in ('maxInclusive',):
                    pass
                else:
                    raise Exception((t, n))
            base = chain[-1].get('base')
            f['pattern'] = '&&&'.join(pats)
            for v in [f['pattern']] + enums:
                assert '\t' not in v and '|' not in v or v is f['pattern'], (t, v)
            out.append('\t'.join(['s', t, base[3:], f['minLength'], f['maxLength'], f['pattern'], '|'.join(enums),
                                  f['totalDigits'], f['fractionDigits'], f['minInclusive']]))
            continue
        sc = d.find(XS + 'simpleContent')
        if sc is not None:
            ext = sc.find(XS + 'extension')
            attrs = []
            for a in ext.findall(XS + 'attribute'):
                attrs.append('%s:%s:%d' % (a.get('name'), a.get('type'), 1 if a.get('use') == 'required' else 0))
                todo.append(a.get('type'))
            todo.append(ext.get('base'))
            out.append('\t'.join(['v', t, ext.get('base'), ','.join(attrs)]))
            continue
        groups = [x for x in d if x.tag in (XS + 'sequence', XS + 'choice')]
        if not groups:
            out.append('\t'.join(['c', t, 'seq', '']))
            continue
        assert len(groups) == 1, t
        g = groups[0]
        kind = 'seq' if g.tag == XS + 'sequence' else 'cho'
        kids = []
        # a sequence holding a single choice is a choice (variant schemas write it that way)
        inner = [x for x in g if x.tag != XS + 'annotation']
        if kind == 'seq' and len(inner) == 1 and inner[0].tag == XS + 'choice' and inner[0].get('minOccurs', '1') == '1':
            g = inner[0]; kind = 'cho'
        group = 0
        def walk(g, grp, req_min):
            nonlocal group
            for x in g:
                if x.tag == XS + 'element':
                    mn = x.get('minOccurs', '1'); mx = x.get('maxOccurs', '1')
                    if grp:
                        mn = '0'
                    kids.append('%s:%s:%s:%s:%d' % (x.get('name'), x.get('type'), mn, 'u' if mx == 'unbounded' else mx, grp))
                    todo.append(x.get('type'))
                elif x.tag == XS + 'any':
                    mn = x.get('minOccurs', '1'); mx = x.get('maxOccurs', '1')
                    kids.append('*:%s:%s:%s:%d' % (x.get('namespace', '##any'), mn, 'u' if mx == 'unbounded' else mx, grp))
                elif x.tag == XS + 'choice' and kind == 'seq' and not grp:
                    group += 1
                    # group id is positive when the choice is required, negative when optional
                    walk(x, group if x.get('minOccurs', '1') != '0' else -group, None)
                elif x.tag == XS + 'annotation':
                    pass
                else:
                    raise Exception((t, 'nested group', x.tag))
        walk(g, 0, None)
        out.append('\t'.join(['c', t, kind, ','.join(kids)]))
    return tns, out

def main():
    src, dst = sys.argv[1], sys.argv[2]
    files = []
    for dirpath, _, names in os.walk(src):
        for n in sorted(names):
            if n.endswith('.xsd') and not n.startswith('pain.002.001.03'):
                files.append(os.path.join(dirpath, n))
    for f in sorted(files):
        tns, lines = gen(f)
        name = os.path.basename(f)[:-4] + '.tbl'
        with open(os.path.join(dst, name), 'w') as o:
            o.write('# generated by iso20022/tools/gen_tables.py from %s (official schema; see shared/iso20022/PROVENANCE.md)\n' % os.path.basename(f))
            o.write('\n'.join(lines) + '\n')
        print(name, len(lines))

main()
