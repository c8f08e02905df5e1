#!/usr/bin/env python3
"""The shared library exports exactly what the public headers declare.

    python3 tests/test_exports.py --lib build/libtapegrad.so [--cc gcc] [--readelf readelf]

Lists the defined dynamic symbols of default visibility (readelf --dyn-syms)
and the functions and variables that tapegrad.h declares with external
linkage (the headers as the compiler sees them: preprocessed, so macros and
#if branches count as they do for a user; static functions are skipped),
and fails on an exported symbol no header declares (it leaked: it wants
static, or -fvisibility=hidden is off) and on a declaration the library does
not export (its TG_API is missing: a user's program would not link). Prints
one line per case and ends with "test_exports: N passed, M failed" (two
cases: nothing stray, nothing missing).
"""
import argparse
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PUBLIC_DIRS = ['tensor', 'autograd', 'ops', 'nn', 'optim', 'data', 'dist']
# what the toolchain puts in every shared object's .dynsym
TOOLCHAIN = {'_init', '_fini', '_edata', '_end', '__bss_start'}
KEYWORDS = {'extern', 'static', 'inline', 'const', 'volatile', 'restrict', 'unsigned', 'signed',
            'struct', 'union', 'enum', '_Thread_local', '__thread', 'void', 'char', 'short', 'int',
            'long', 'float', 'double', 'bool', '_Bool', '__restrict', '__inline', '__extension__'}


def exported_symbols(lib, readelf):
    out = subprocess.run([readelf, '--dyn-syms', '-W', lib], check=True, capture_output=True,
                         text=True).stdout
    names = set()
    for line in out.splitlines():
        f = line.split()
        # Num: Value Size Type Bind Vis Ndx Name
        if len(f) < 8 or not f[0].endswith(':') or not f[0][:-1].isdigit():
            continue
        bind, vis, ndx, name = f[4], f[5], f[6], f[7]
        if ndx == 'UND' or vis != 'DEFAULT' or bind not in ('GLOBAL', 'WEAK', 'GNU_UNIQUE'):
            continue
        if f[3] == 'SECTION' or f[3] == 'FILE':
            continue
        name = name.split('@')[0]
        if name not in TOOLCHAIN:
            names.add(name)
    return names


def public_text(cc, defines):
    """tapegrad.h preprocessed as a user's program sees it, keeping only the
    lines that come from the public headers (not the C library's)."""
    args = cc + ['-E', '-std=c11', '-D_DEFAULT_SOURCE'] + defines
    args += ['-I' + os.path.join(ROOT, d) for d in ['.'] + PUBLIC_DIRS]
    args += [os.path.join(ROOT, 'tapegrad.h')]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    keep, mine = [], False
    for line in out.splitlines():
        m = re.match(r'#\s*(?:line\s+)?\d+\s+"([^"]*)"', line)
        if m:
            path = os.path.realpath(m.group(1))
            mine = path.startswith(ROOT + os.sep) and re.match(
                r'(tapegrad|tg_[a-z0-9_]+)\.h$', os.path.basename(path)) is not None \
                and not path.endswith('_internal.h')
            continue
        if mine and not line.startswith('#'):
            keep.append(line)
    return '\n'.join(keep)


def strip_attributes(s):
    """removes __attribute__((...)) and __asm__(...) with their parentheses"""
    out, i = [], 0
    for m in re.finditer(r'\b(__attribute__|__asm__|__asm|asm)\s*\(', s):
        if m.start() < i:
            continue
        out.append(s[i:m.start()])
        depth, j = 0, m.end() - 1
        while j < len(s):
            depth += {'(': 1, ')': -1}.get(s[j], 0)
            j += 1
            if depth == 0:
                break
        i = j
    out.append(s[i:])
    return ''.join(out)


def statements(text):
    """top-level declarations, split at ';' outside brackets; a function
    definition (a body after ')') ends at its closing brace"""
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)
    text = re.sub(r"'(?:\\.|[^'\\])*'", "''", text)
    stmts, cur, depth, i = [], [], 0, 0
    while i < len(text):
        c = text[i]
        if c in '([{':
            if c == '{' and depth == 0 and re.search(r'\)\s*$', ''.join(cur)):
                # a function body: skip it, keep the head marked as a definition
                d, j = 0, i
                while j < len(text):
                    d += {'{': 1, '}': -1}.get(text[j], 0)
                    j += 1
                    if d == 0:
                        break
                stmts.append((''.join(cur), True))
                cur, i = [], j
                continue
            depth += 1
        elif c in ')]}':
            depth -= 1
        if c == ';' and depth == 0:
            stmts.append((''.join(cur), False))
            cur = []
        else:
            cur.append(c)
        i += 1
    return stmts


def drop_braces(s):
    """struct/enum bodies out of a declaration (struct x { ... } *f(void))"""
    while True:
        t = re.sub(r'\{[^{}]*\}', ' ', s)
        if t == s:
            return s
        s = t


def declared_name(stmt):
    """(name, kind) of an external declaration, or None for typedefs,
    static functions and bare struct/enum declarations"""
    s = drop_braces(strip_attributes(stmt)).strip()
    tokens = re.findall(r'[A-Za-z_]\w*|\S', s)
    if not tokens or 'typedef' in tokens or 'static' in tokens:
        return None
    if '(' in tokens:
        k = tokens.index('(')
        if k > 0 and re.match(r'[A-Za-z_]\w*$', tokens[k - 1]) and tokens[k - 1] not in KEYWORDS:
            return tokens[k - 1], 'function'
        # a pointer to a function: T (*name)(args)
        m = re.search(r'\(\s*\*\s*(?:const\s+)?([A-Za-z_]\w*)\s*\)', s)
        return (m.group(1), 'variable') if m else None
    # "struct tg_node" is a type, not a name (struct tg_dataset { ... };)
    s = re.sub(r'\b(struct|union|enum)\s+[A-Za-z_]\w*', ' TYPE ', s)
    idents = [t for t in re.split(r'[\[=]', s)[0].replace('*', ' ').split()
              if re.match(r'[A-Za-z_]\w*$', t)]
    if len(idents) < 2 or idents[-1] == 'TYPE':
        return None  # a struct's or enum's declaration alone
    return idents[-1], 'variable'


def declared_symbols(cc):
    names = {}
    for defines in ([], ['-DTG_NO_CALL_SITES']):
        for stmt, _is_def in statements(public_text(cc, defines)):
            d = declared_name(stmt)
            if d:
                names[d[0]] = d[1]
    return names


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--lib', required=True, help='the shared library (build/libtapegrad.so)')
    ap.add_argument('--cc', default=os.environ.get('CC', 'cc'), help='C compiler for -E')
    ap.add_argument('--readelf', default='readelf')
    a = ap.parse_args()
    exported = exported_symbols(a.lib, a.readelf)
    declared = declared_symbols(a.cc.split())
    if len(declared) < 100 or len(exported) < 100:
        print('test_exports: FAILED: read %d declarations and %d exports, expected hundreds'
              % (len(declared), len(exported)))
        print('test_exports: 0 passed, 1 failed')
        return 1
    stray = sorted(exported - declared.keys())
    missing = sorted(set(declared) - exported)
    failed = 0
    if stray:
        failed += 1
        print('-- exported but declared in no public header (make it static, or declare it):')
        for n in stray:
            print('   ' + n)
    else:
        print('-- every one of the %d exported symbols is declared in a public header' % len(exported))
    if missing:
        failed += 1
        print('-- declared in a public header but not exported (TG_API missing?):')
        for n in missing:
            print('   %s (%s)' % (n, declared[n]))
    else:
        print('-- every one of the %d public declarations is exported' % len(declared))
    print('test_exports: %d passed, %d failed' % (2 - failed, failed))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
