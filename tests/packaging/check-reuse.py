#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""REUSE (spec 3.2) check for tsq, for machines without reuse >= 4 (Debian 12 has reuse
1.1.2, which does not read REUSE.toml):

    tests/packaging/check-reuse.py [repository root]

Every file git tracks or would track (untracked, not ignored) must have a licence and a
copyright holder: from its own SPDX tags (or its `<file>.license` companion), or from the
last table of REUSE.toml whose `path` matches it, combined by the table's `precedence`
(closest, the default: the file's own information first; aggregate: both; override: the
table's). Every licence named must have its text in LICENSES/<id>.txt, and every text
there must be used. Excluded as the spec says: LICENSES/, LICENSE*/COPYING*, *.license
companions, symlinks, empty files, submodules. Prints one line per problem; exit 1 if any.
"""
import os
import re
import subprocess
import sys

try:
    import tomllib  # Python 3.11 (Debian 12)
except ImportError:
    try:
        import tomli as tomllib  # python3-tomli, for Python 3.10 (Ubuntu 22.04)
    except ImportError:
        sys.exit("reuse: FAIL: reading REUSE.toml needs Python >= 3.11 or python3-tomli")

root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                       os.path.join(os.path.dirname(__file__), "..", ".."))
problems = []

# REUSE-IgnoreStart (the patterns below are not this file's licensing information)
LICENSE_TAG = re.compile(r"SPDX-License-Identifier:\s*(.*?)\s*(?:\*/|-->|\"|')?\s*$")
COPYRIGHT_TAG = re.compile(r"(?:SPDX-(?:File|Snippet)CopyrightText:|Copyright(?:\s?\([cC]\))?\s|©)\s*\S")
# REUSE-IgnoreEnd
SPDX_ID = re.compile(r"^[A-Za-z0-9.+-]+$")


def git(*args):
    return subprocess.run(["git", "-C", root, *args], check=True, capture_output=True,
                          text=True).stdout


def read_info(path):
    """(licence expressions, has copyright) from a file's own text; none for binary."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        problems.append(f"{path}: unreadable: {e}")
        return [], False
    if b"\0" in data:
        return [], False
    text = data.decode("utf-8", errors="replace")
    text = re.sub(r"REUSE-IgnoreStart.*?(REUSE-IgnoreEnd|\Z)", "", text, flags=re.S)
    exprs, copyright_ = [], False
    for line in text.splitlines():
        m = LICENSE_TAG.search(line)
        if m:
            exprs.append(m.group(1))
        if COPYRIGHT_TAG.search(line):
            copyright_ = True
    return exprs, copyright_


def glob_to_regex(pattern):
    """REUSE.toml globbing: * (not /), ** (anything), ?, [seq], [!seq], \\ escapes."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        elif c == "[":
            j = pattern.find("]", i + 1)
            if j < 0:
                out.append(re.escape(c))
            else:
                seq = pattern[i + 1:j]
                out.append("[^" + seq[1:] + "]" if seq.startswith("!") else "[" + seq + "]")
                i = j
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z")


def as_list(v):
    return [] if v is None else [v] if isinstance(v, str) else list(v)


def licence_ids(expr):
    ids = []
    for tok in re.split(r"[\s()]+", expr):
        if not tok or tok in ("AND", "OR", "WITH", "and", "or", "with"):
            continue
        if not SPDX_ID.match(tok):
            problems.append(f"licence expression '{expr}': '{tok}' is not an SPDX identifier")
            continue
        ids.append(tok.rstrip("+"))
    return ids


# The files: tracked, or untracked and not ignored (new files fail before they are committed).
submodules = {l.split("\t", 1)[1] for l in git("ls-files", "-s").splitlines()
              if l.startswith("160000")}
files = sorted(set(git("ls-files", "--cached", "--others", "--exclude-standard").splitlines()))

if os.path.exists(os.path.join(root, ".reuse", "dep5")) and os.path.exists(os.path.join(root, "REUSE.toml")):
    problems.append(".reuse/dep5 and REUSE.toml: the spec forbids using both")
nested = [f for f in files if f.endswith("/REUSE.toml")]
if nested:
    problems.append(f"nested REUSE.toml files are not supported by this check: {nested}")

tables = []
toml_path = os.path.join(root, "REUSE.toml")
if os.path.exists(toml_path):
    with open(toml_path, "rb") as f:
        toml = tomllib.load(f)
    if toml.get("version") != 1:
        problems.append(f"REUSE.toml: version must be 1, is {toml.get('version')!r}")
    for n, t in enumerate(toml.get("annotations", [])):
        prec = t.get("precedence", "closest")
        if prec not in ("closest", "aggregate", "override"):
            problems.append(f"REUSE.toml table {n + 1}: unknown precedence '{prec}'")
        paths = as_list(t.get("path"))
        if not paths:
            problems.append(f"REUSE.toml table {n + 1}: no path")
        tables.append({"n": n + 1, "paths": paths, "re": [glob_to_regex(p) for p in paths],
                       "prec": prec, "lic": as_list(t.get("SPDX-License-Identifier")),
                       "cr": as_list(t.get("SPDX-FileCopyrightText")), "used": set()})

used_ids, checked, from_toml = set(), 0, 0
for rel in files:
    path = os.path.join(root, rel)
    base = os.path.basename(rel)
    if (rel.startswith("LICENSES/") or rel.startswith(".reuse/") or rel.endswith(".license")
            or re.match(r"(LICEN[CS]E|COPYING)([-.].*)?$", base) or rel in submodules
            or os.path.islink(path) or not os.path.isfile(path)
            or os.path.getsize(path) == 0 or re.search(r"\.spdx(\.\w+)?$", base)):
        continue
    checked += 1
    own = path + ".license" if os.path.exists(path + ".license") else path
    exprs, cr = read_info(own)
    table = None
    for t in tables:
        for p, rx in zip(t["paths"], t["re"]):
            if rx.match(rel):
                table, hit = t, p
    if table:
        table["used"].add(hit)
        t_lic, t_cr = table["lic"], bool(table["cr"])
        if table["prec"] == "override":
            exprs, cr = t_lic, t_cr
        elif table["prec"] == "aggregate":
            exprs, cr = exprs + t_lic, cr or t_cr
        else:  # closest: the file's own information, else the table's (licence, copyright apart)
            if not exprs and t_lic:
                exprs = t_lic
                from_toml += 1
            cr = cr or t_cr
    if not exprs:
        problems.append(f"{rel}: no licence: add an SPDX-License-Identifier line"
                        f"{' to ' + os.path.relpath(own, root) if own != path else ''}"
                        " (or, if it cannot carry one, a REUSE.toml entry)")
    if not cr:
        problems.append(f"{rel}: no copyright holder (SPDX-FileCopyrightText)")
    for e in exprs:
        for i in licence_ids(e):
            used_ids.add(i)
            if not os.path.exists(os.path.join(root, "LICENSES", i + ".txt")):
                problems.append(f"{rel}: licence {i} has no text in LICENSES/{i}.txt")

for t in tables:
    for p in t["paths"]:
        if p not in t["used"]:
            print(f"reuse: note: REUSE.toml table {t['n']}: '{p}' matches no file")
licdir = os.path.join(root, "LICENSES")
for f in sorted(os.listdir(licdir)) if os.path.isdir(licdir) else []:
    if os.path.splitext(f)[0] not in used_ids:
        problems.append(f"LICENSES/{f}: no file is under this licence (the spec forbids unused texts)")
if not os.path.isdir(licdir):
    problems.append("LICENSES/: missing")

for p in problems:
    print(f"reuse: FAIL: {p}")
print(f"reuse: {checked} files checked, {from_toml} licensed through REUSE.toml, "
      f"licences used: {', '.join(sorted(used_ids)) or 'none'}; "
      f"{'ok' if not problems else str(len(problems)) + ' problem(s)'}")
sys.exit(1 if problems else 0)
