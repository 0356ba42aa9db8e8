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
3. Barrier labels are <HEADER>_<order><pair>: the header's file name in capitals, then R
   (release), A (acquire), S (seq_cst or a fence) or X (acq_rel RMW), then the pair's number
   (LLIST_R1, FLAGS_X3, DQL_S2). A label is *defined* where it is written next to the order it
   names: in a comment on, or on the comment line directly above, a statement of
   include/tsq/<header>.h that passes that order or a stronger one (TSQ_RELEASE, TSQ_ACQUIRE,
   TSQ_ACQ_REL, TSQ_SEQ_CST, or a tsq_*_seqcst() call; for S also a fence). Every label that
   include/, docs/, tests/, bench/ or examples/ cites must be defined; a label that sits only
   at statements of a weaker order is reported; include/tsq/ and docs/ hold no bare label
   (S1, R2 without a header), which a grep could not tell apart. Headers in LABELS_SKIPPED
   (and their docs page) are left out of this check.
4. docs/porting.md: every `name()` and `XENG_*` it names exists in examples/afxdp/, lwip/, ngtcp2/, stacks/ or
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
for pat in ("CMakeLists.txt", "cmake/*", "*/CMakeLists.txt", "tests/cmake/*.cmake", "scripts/*.sh",
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

# Headers whose labels the label check (3.) skips, and the docs page that cites them.
LABELS_SKIPPED = {}
HEADERS = {os.path.basename(h)[:-2].upper(): os.path.basename(h)
           for h in glob.glob(os.path.join(root, "include", "tsq", "*.h"))}
CITED = re.compile(r"\b(%s)_([RASX])([0-9]+)\b" % "|".join(sorted(HEADERS)))
BARE = re.compile(r"(?<![\w/.-])([RASX][0-9]+)(?![\w/-])")
# The orders a label's letter accepts: the one it names, or a stronger one that includes it (a
# SEQ_CST RMW is also a release and an acquire); S also accepts a fence (tsq_fence, membarrier).
COMPATIBLE = {"R": {"RELEASE", "ACQ_REL", "SEQ_CST"}, "A": {"ACQUIRE", "ACQ_REL", "SEQ_CST"},
              "X": {"ACQ_REL", "SEQ_CST"}, "S": {"SEQ_CST"}}
# Calls whose order is their contract: a label may sit at the call (defer.h's list is an llist).
CALL_ORDERS = {"tsq_llist_take_all": "ACQUIRE", "tsq_llist_push_batch": "RELEASE",
               "tsq_llist_push": "RELEASE"}
COMMENT_ONLY = re.compile(r"^\s*/\*.*\*/\s*$")


def statement_after(lines, i):
    """The statement that starts on the line after a comment-only line i (up to ; or {, and
    through an else branch: the comment covers both)."""
    text = ""
    for k in range(i + 1, min(i + 9, len(lines))):
        text += lines[k]
        nxt = lines[k + 1].strip() if k + 1 < len(lines) else ""
        if lines[k].rstrip().endswith((";", "{")) and not nxt.startswith("else"):
            break
    return text


def statement_around(lines, i):
    """The statement that ends on (or contains) line i, which carries a trailing comment."""
    j = i
    while j > 0 and j > i - 5 and not lines[j - 1].rstrip().endswith((";", "{", "}", "*/")):
        j -= 1
    return "".join(lines[j:i + 1])


def label_definitions():
    """label -> where it is defined; a label written only at statements whose order does not
    match its letter is reported instead."""
    defined, mismatched, problems = {}, {}, []
    # A private header include/tsq/bits/<header>_<part>.h holds <HEADER>_ labels too.
    sources = [(prefix, name) for prefix, name in sorted(HEADERS.items())]
    sources += [(os.path.basename(b).split("_")[0].upper(), os.path.relpath(b, os.path.join(root, "include", "tsq")))
                for b in sorted(glob.glob(os.path.join(root, "include", "tsq", "bits", "*.h")))]
    for prefix, name in sources:
        if name in LABELS_SKIPPED:
            continue
        with open(os.path.join(root, "include", "tsq", name), encoding="utf-8") as f:
            lines = f.read().split("\n")
        for i, line in enumerate(lines):
            label_re = r"(%s)_([RASX])([0-9]+)\b" % prefix
            if "/*" in line:
                comment = line[line.index("/*"):]
                m = re.match(r"/\*\s*" + label_re, comment)
                if not m and comment.strip() == "/*" and i + 1 < len(lines):
                    m = re.match(r"\s*\*\s*" + label_re, lines[i + 1])  # a block comment's first line
            else:
                continue
            if not m:
                continue
            if COMMENT_ONLY.match(line):
                stmt = statement_after(lines, i)
            elif "*/" not in line:  # a block comment: the statement after its end
                end = next((k for k in range(i, len(lines)) if "*/" in lines[k]), i)
                stmt = statement_after(lines, end)
            else:
                stmt = statement_around(lines, i)
            orders = set(re.findall(r"\bTSQ_(RELEASE|ACQUIRE|SEQ_CST|ACQ_REL)\b", stmt))
            if re.search(r"\btsq_\w+_seqcst\s*\(", stmt):
                orders.add("SEQ_CST")  # the order is in the name (tsq_llist_push_batch_seqcst)
            for call, order in CALL_ORDERS.items():
                if re.search(r"\b%s\s*\(" % call, stmt):
                    orders.add(order)  # the order is the callee's contract (llist.h)
            fence = re.search(r"\b(tsq_fence|tsq__\w*membarrier\w*|membarrier)\s*\(", stmt)
            if not orders and not fence:
                continue  # a label cited next to a call of another function, not a definition
            label = m.group(1) + "_" + m.group(2) + m.group(3)
            where = f"include/tsq/{name}:{i + 1}"
            if orders & COMPATIBLE[m.group(2)] or (fence and m.group(2) == "S"):
                defined.setdefault(label, where)
            else:
                mismatched.setdefault(label, where)
    for label, where in sorted(mismatched.items()):
        if label not in defined:
            problems.append(f"{where}: {label} sits only at statements without "
                            f"{' or '.join('TSQ_' + o for o in sorted(COMPATIBLE[label[-2]]))}")
            defined[label] = where
    return defined, problems


def check_labels():
    defined, problems = label_definitions()
    skipped = {n[:-2].upper() for n in LABELS_SKIPPED}
    files = sorted(glob.glob(os.path.join(root, "include", "tsq", "*.h")) +
                   glob.glob(os.path.join(root, "include", "tsq", "bits", "*.h")) +
                   glob.glob(os.path.join(root, "docs", "*.md")) + [os.path.join(root, "README.md")])
    for pat in ("tests", "bench", "examples"):
        for d, _, names in os.walk(os.path.join(root, pat)):
            files += [os.path.join(d, n) for n in sorted(names)
                      if n.endswith((".c", ".h", ".cpp", ".md", ".sh", ".py", ".cmake"))]
    for path in files:
        rel = os.path.relpath(path, root)
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read().split("\n")
        bare_checked = (rel.startswith("include/tsq/") or rel.startswith("docs/")) and \
            os.path.basename(rel) not in LABELS_SKIPPED and \
            os.path.basename(rel) not in LABELS_SKIPPED.values()
        for n, line in enumerate(text, 1):
            for m in CITED.finditer(line):
                label = m.group(0)
                if m.group(1) not in skipped and label not in defined:
                    problems.append(f"{rel}:{n}: label {label} is not defined in include/tsq/"
                                    f"{HEADERS[m.group(1)]}")
            if bare_checked:
                for m in BARE.finditer(line):
                    problems.append(f"{rel}:{n}: bare label {m.group(1)}: write <HEADER>_{m.group(1)}")
    return problems


example = ""
for e in sorted(sum((glob.glob(os.path.join(root, "examples", d, "*.[ch]"))
                   for d in ("afxdp", "lwip", "ngtcp2", "stacks")), [])):
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
                        problems.append(f"{rel}:{n}: {name} is not in examples/{{afxdp,lwip,ngtcp2,stacks}}/ or include/tsq/")
            for m in PATH.finditer(line):
                p = m.group(1).rstrip(".")
                if "*" in p or "<" in p:
                    continue
                if not os.path.exists(os.path.join(root, p)):
                    problems.append(f"{rel}:{n}: {p} does not exist")

problems += check_labels()

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
