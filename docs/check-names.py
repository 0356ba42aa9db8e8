#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Drift check for the prose documentation (run by `make docs`, hence by the `docs` step of
scripts/test.sh):

    docs/check-names.py [repository root]

1. Every tsq_* / TSQ_* identifier named in docs/*.md and README.md exists in include/tsq/
   (as a whole word), so a rename that forgets the docs fails; a TSQ_* name may instead be
   a build option or environment variable of the build files and scripts. File names that merely start
   with tsq_ (tsq_xsk.c, tsq_model.c, tsq_small_queues.cmake) are not identifiers.
2. Every repository path named in docs/*.md (include/..., tests/..., examples/..., bench/...,
   scripts/..., docs/..., cmake/...) exists, so a moved test or a split example is noticed.
3. Every barrier label (R1, A2, S3, X4, C1, Z1 ...) a page names appears in the headers the
   page is about (PAGES below), so a relabel that forgets the page fails too.
4. docs/porting.md: every `name()` and `XENG_*` it names exists in examples/afxdp/ or
   include/tsq/ (the example is split and renamed by others while the guide stays).
5. Every key of docs/doxy-filter.py's SUPPLEMENT names something include/tsq/ still has.
Prints one line per problem; exit 1 if any.
"""
import glob
import os
import re
import sys

root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                       os.path.join(os.path.dirname(__file__), ".."))
headers = ""
for h in sorted(glob.glob(os.path.join(root, "include", "tsq", "*.h")) +
                glob.glob(os.path.join(root, "include", "tsq", "bits", "*.h"))):
    with open(h, encoding="utf-8") as f:
        headers += f.read() + "\n"
words = set(re.findall(r"\b[A-Za-z_][A-Za-z0-9_]*\b", headers))
# TSQ_* build options and environment variables (TSQ_FUZZ_SECONDS, TSQ_TEST_STEPS, ...) live in
# the build files and scripts, not in the headers.
build = ""
for pat in ("CMakeLists.txt", "cmake/*", "*/CMakeLists.txt", "tests/*.cmake", "scripts/*.sh",
            "Makefile"):
    for b in sorted(glob.glob(os.path.join(root, pat))):
        if os.path.isfile(b):
            with open(b, encoding="utf-8", errors="replace") as f:
                build += f.read() + "\n"
options = set(re.findall(r"\bTSQ_[A-Z0-9_]+\b", build))
problems = []

IDENT = re.compile(r"(?<![\w/.-])((?:tsq|TSQ)_[A-Za-z0-9_]*[A-Za-z0-9])(?![\w-]|\.(?:c|h|cmake|sh|md|json|py)\b)")
PATH = re.compile(r"(?<![\w/.-])((?:include/(?!linux/|net/|uapi/)|tests/|examples/|bench/|scripts/|docs/|cmake/)"
                  r"[\w./-]*[\w/])")  # include/linux/..., include/net/...: the kernel's tree

# page -> the headers whose labels it may name
PAGES = {
    "llist.md": ["llist.h"],
    "defer.md": ["defer.h", "bits/defer_list.h", "bits/defer_ring.h", "bits/defer_wake.h", "llist.h"],
    "tsq.md": ["flags.h", "budget.h", "flow.h", "defer.h"],
    "owner.md": ["owner.h"],
    "zc.md": ["zc.h"],
    "dql.md": ["dql.h"],
    "porting.md": ["defer.h", "flags.h", "budget.h", "flow.h", "owner.h", "zc.h", "dql.h"],
}
LABEL = re.compile(r"(?<![\w/.-])([RASXFBCZ][0-9])(?![\w/-])")


def header_words(names):
    text = ""
    for n in names:
        with open(os.path.join(root, "include", "tsq", n), encoding="utf-8") as f:
            text += f.read()
    return set(re.findall(r"\b[A-Z][0-9]\b", text))


example = ""
for e in sorted(glob.glob(os.path.join(root, "examples", "afxdp", "*.[ch]"))):
    with open(e, encoding="utf-8", errors="replace") as f:
        example += f.read() + "\n"
example_words = set(re.findall(r"\b[A-Za-z_][A-Za-z0-9_]*\b", example))
EXAMPLE_NAME = re.compile(r"`([A-Za-z_][A-Za-z0-9_]*)\(\)`|`(XENG_[A-Z0-9_]+)`")


docs = sorted(glob.glob(os.path.join(root, "docs", "*.md"))) + [os.path.join(root, "README.md")]
for path in docs:
    rel = os.path.relpath(path, root)
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            for m in IDENT.finditer(line):
                name = m.group(1)
                if name not in words and name not in options:
                    problems.append(f"{rel}:{n}: {name} is not in include/tsq/")
            if rel == "README.md":
                continue  # not ours to keep: identifiers only
            page = os.path.basename(rel)
            if page == "porting.md":
                for m in EXAMPLE_NAME.finditer(line):
                    name = m.group(1) or m.group(2)
                    if name not in example_words and name not in words:
                        problems.append(f"{rel}:{n}: {name} is not in examples/afxdp/ or include/tsq/")
            if page in PAGES:
                known = header_words(PAGES[page])
                for m in LABEL.finditer(line):
                    if m.group(1) not in known:
                        problems.append(f"{rel}:{n}: label {m.group(1)} is not in "
                                        f"{', '.join(PAGES[page])}")
            for m in PATH.finditer(line):
                p = m.group(1).rstrip(".")
                if "*" in p or "<" in p:
                    continue
                if not os.path.exists(os.path.join(root, p)):
                    problems.append(f"{rel}:{n}: {p} does not exist")

sys.path.insert(0, os.path.join(root, "docs"))
spec = __import__("importlib.util").util.spec_from_file_location(
    "doxy_filter", os.path.join(root, "docs", "doxy-filter.py"))
mod = __import__("importlib.util").util.module_from_spec(spec)
spec.loader.exec_module(mod)
for key in mod.SUPPLEMENT:
    for part in key.split("."):
        if part not in words:
            problems.append(f"docs/doxy-filter.py: SUPPLEMENT[{key!r}]: {part} is not in include/tsq/")

for p in problems:
    print(p)
if problems:
    print(f"docs: {len(problems)} name(s) out of date; fix the docs (or the filter's SUPPLEMENT)")
    sys.exit(1)
print(f"docs: names checked in {len(docs)} files")
