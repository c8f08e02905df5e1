#!/usr/bin/env python3
"""Doxygen INPUT_FILTER for tapegrad's public headers (scripts/docs.sh).

The headers document themselves with plain C comments, written for a reader
of the header; rewriting hundreds of them as Doxygen comments would fight
every branch that edits the headers. This filter makes the same text a
reference instead, keeping every line where it is (Doxygen's line numbers
and source links stay right):
  - the file's first comment becomes its @file description;
  - "/* ---- name */" section comments become member groups (@name), so a
    header's page lists its functions section by section;
  - a comment that ends on the line before a declaration documents it;
  - a comment after a declaration on the same line documents it (/**<).
Comment text is escaped so that Doxygen shows it as written: the headers
use <, >, &, @, # and backslashes as plain characters."""
import os
import re
import sys

SPECIAL = re.compile(r'([\\@<>&$#%])')
SECTION = re.compile(r'^(\s*)/\*\s*-{2,}\s*(.*?)\s*(\*/)?\s*$')


def escape(text):
    """Escapes Doxygen's special characters, except in "quoted text", which
    Doxygen already shows as written (an escape there would show too)."""
    parts = text.split('"')
    if len(parts) % 2 == 0:  # an unbalanced quote: the span goes on past this line
        return SPECIAL.sub(r'\\\1', text)
    return '"'.join(p if k % 2 else SPECIAL.sub(r'\\\1', p) for k, p in enumerate(parts))


def title(text):
    """A group's name: Doxygen shows an escaped > there as written."""
    return escape(text).replace('\\>', '>')


def comment_end(lines, i):
    """Index of the line where the comment opened on line i ends."""
    j = i
    while '*/' not in lines[j][lines[j].index('/*') + 2 if j == i else 0:]:
        j += 1
        if j == len(lines):
            return j - 1
    return j


def starts_declaration(line):
    s = line.strip()
    return bool(s) and not s.startswith(('#', '/*', '//', '}'))


def doc_block(lines, i, j, opener, prefix=''):
    """Lines i..j (one comment, starting at the line's first /*) as a doc comment."""
    out = []
    for k in range(i, j + 1):
        line = lines[k]
        if k == i:
            pos = line.index('/*')
            head, body = line[:pos], line[pos + 2:]
            line = head + prefix + opener + escape_comment_body(body)
        else:
            line = escape_comment_body(line)
        out.append(line)
    return out


def escape_comment_body(text):
    """Escapes the text of a comment up to its */, leaving the */ and after."""
    end = text.find('*/')
    if end < 0:
        return escape(text)
    return escape(text[:end]) + text[end:]


def main():
    path = sys.argv[1]
    with open(path, encoding='utf-8') as f:
        lines = f.read().split('\n')
    out = []
    seen_file_comment = False
    group_open = False
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.lstrip()
        if stripped.startswith('/*') and not stripped.startswith(('/**', '/*!')):
            j = comment_end(lines, i)
            sec = SECTION.match(line)
            if not seen_file_comment:
                seen_file_comment = True
                # named, since @file takes the next word as the file's name
                out.extend(doc_block(lines, i, j, '/** @file %s ' % os.path.basename(path)))
            elif sec:
                close = '/** @} */ ' if group_open else ''
                group_open = True
                if i == j:
                    out.append('%s%s/** @name %s */ /** @{ */' % (sec.group(1), close, title(sec.group(2))))
                else:  # the first line names the group, the rest describes it
                    out.append('%s%s/** @name %s' % (sec.group(1), close, title(sec.group(2))))
                    out.extend(escape_comment_body(l) for l in lines[i + 1:j])
                    out.append(escape_comment_body(lines[j]) + ' /** @{ */')
            elif j + 1 < len(lines) and starts_declaration(lines[j + 1]):
                out.extend(doc_block(lines, i, j, '/**'))
            else:
                out.extend(lines[i:j + 1])
            i = j + 1
            continue
        if group_open and (stripped.startswith('#ifdef __cplusplus') or i == len(lines) - 1):
            out.append('/** @} */ ' + line)
            group_open = False
            i += 1
            continue
        m = re.search(r'([;,{)])(\s*)/\*(?![*!])', line)
        if m and not stripped.startswith('/*') and '*/' in line[m.end():]:
            rest = line[m.end():]
            line = line[:m.end() - 2] + '/**<' + escape_comment_body(rest)
        out.append(line)
        i += 1
    sys.stdout.write('\n'.join(out))


if __name__ == '__main__':
    main()
