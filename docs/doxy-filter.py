#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Doxygen INPUT_FILTER for tsq's headers (docs/Doxyfile): turns their plain comments into
Doxygen comments, so that the headers stay plain C with kernel-style comments.

    docs/doxy-filter.py include/tsq/<header>.h   > filtered text on stdout

What it rewrites (a rewritten comment may take more lines than the original: line numbers
in Doxygen's messages are those of the filtered text, `docs/doxy-filter.py FILE` shows it):
  - the file comment ("tsq/x.h - summary" + overview): @file, @brief summary, and the
    overview verbatim (it holds tables and code that must keep their layout);
  - a function contract ("tsq_name - summary" + "Context: ... Blocks: ... Ordering: ...
    Pairs with: ... Return: ..."): @brief summary, the free text before the first field
    verbatim, then one @par per field (verbatim text);
  - a plain comment directly above a public struct, enum, typedef or TSQ_/tsq_ macro:
    a Doxygen comment (its text verbatim); a comment above two or more consecutive
    #defines documents each of them (a member group, DISTRIBUTE_GROUP_DOC);
  - a trailing "/* ... */" after a struct member, enumerator or #define: "/**< ... */";
  - a struct whose comment says its fields are private ("fields are private", "use the
    functions below") gets @privatesection, so its fields are neither shown nor reported.
Internal names (tsq__*, TSQ__*) keep plain comments; the Doxyfile excludes them.
Anything else passes through unchanged.
"""
import re
import sys

FIELDS = ("Context", "Blocks", "Ordering", "Pairs with", "Return")
FIELD_RE = re.compile(r"(?:(?<=^)|(?<=[.;)]\s)|(?<=\n))(" + "|".join(f.replace(" ", r"\s+") for f in FIELDS) +
                      r"):\s*")
FUNC_HEAD = re.compile(r"^(tsq_[a-z0-9_]+|TSQ_[A-Z0-9_]+(?:\(n\))?)\s+-\s+(.*)$", re.S)
FILE_HEAD = re.compile(r"^tsq/([a-z0-9_]+\.h)\s+-\s+(.*)$")
PUBLIC_DECL = re.compile(
    r"^\s*(?:static\s+inline\s+|typedef\s+|struct\s+tsq_[a-z0-9_]+\s*\{|enum\s+tsq_[a-z0-9_]+\s*\{|"
    r"#define\s+(?:TSQ_[A-Z0-9]|tsq_[a-z0-9])|[a-z_ ]+\s+tsq_[a-z0-9_]+\s*\()")
PRIVATE_FIELDS = re.compile(r"fields are private|treat the fields as private|use the functions below"
                            r"|its fields are private", re.I)
DEFINE = re.compile(r"^\s*#define\s+([A-Za-z_][A-Za-z0-9_]*)")
MEMBER = re.compile(r"^\s+(?:[A-Za-z_][A-Za-z0-9_ ]*[ *]+\(?\*?[A-Za-z_][A-Za-z0-9_]*\)?.*;|[A-Z_0-9]+\s*=.*,)\s*$")
TRAILING = re.compile(r"^(.*?[;,{}]|\s*#define\s+\S+.*?|\s*[A-Z_0-9]+\s*=\s*[^/]*?)\s*/\*(?!\*)(.*)\*/\s*$")

# What the headers do not say next to the declaration itself, written here from the text the
# headers do have (their overview, the function that fills or takes the struct). Keys are
# "NAME" (a macro, struct, enum or typedef) or "struct.member". An entry is used only while
# the declaration has no comment of its own; scripts/check-docs.sh (the `docs` test step)
# fails when a key names something include/tsq/ no longer has, so a rename cannot leave a
# stale entry behind. Better still: move an entry into its header as a comment, then drop it.
SUPPLEMENT = {
    # atomic.h: the memory orders of the overview's table
    "TSQ_RELAXED": "No ordering, only atomicity (counters, hints).",
    "TSQ_ACQUIRE": "Loads: later accesses stay after it (pairs with a release).",
    "TSQ_RELEASE": "Stores: earlier accesses stay before it (pairs with an acquire).",
    "TSQ_ACQ_REL": "A read-modify-write that is both acquire and release.",
    "TSQ_SEQ_CST": "One total order over all SEQ_CST operations: the only order that makes a "
                   "store-buffering (Dekker) pair safe.",
    "TSQ_CACHELINE_SIZE": "Alignment that separates producer- and owner-written data (default 64); "
                          "set TSQ_CFG_CACHELINE_SIZE before including any tsq header to change it.",
    "tsq_likely": "Branch hint: x is expected to be true.",
    "tsq_unlikely": "Branch hint: x is expected to be false.",
    "tsq_cpu_relax": "The spin-wait hint as a function (TSQ_CFG_CPU_RELAX()).",
    "TSQ_CFG_CACHELINE_SIZE": "Build option: the cache-line size (default 64); define it before "
                              "including any tsq header.",
    # tsq.h
    "TSQ_VERSION_MAJOR": "Major version of this copy of tsq.",
    "TSQ_VERSION_MINOR": "Minor version of this copy of tsq.",
    "TSQ_VERSION_PATCH": "Patch version of this copy of tsq.",
    "TSQ_VERSION_STRING": "The version as a string, \"MAJOR.MINOR.PATCH\".",
    # llist.h
    "tsq_llist_node": "A node of a lock-less list: embed it in the item (tsq_container_of()).",
    "tsq_llist_node.next": "The next (older) node; NULL at the end of a chain.",
    "tsq_llist_head": "The head of a lock-less MPSC list (see the file's overview).",
    "TSQ_LLIST_INIT": "Static initializer of an empty struct tsq_llist_head.",
    # defer.h
    "tsq_defer_fn": "The function a deferred item runs; `how` says on which thread and why "
                    "(enum tsq_defer_how).",
    "tsq_defer_opts": "Options of tsq_defer_set_init() (NULL: bound 128, eventfd kicks, no rings).",
    "tsq_defer_opts.kick_ctx": "Passed to `kick` as its first argument.",
    "tsq_defer_stats": "Counters of one shard, filled by tsq_defer_stats() (see the file's "
                       "\"Counters\" paragraph).",
    "tsq_defer_stats.pushed": "Items queued for the owner.",
    "tsq_defer_stats.inline_runs": "Items run at once: the caller was the owner.",
    "tsq_defer_stats.fallback": "Items run by the caller because the path was full.",
    "tsq_defer_stats.kicks": "Wake-ups sent.",
    "tsq_defer_stats.drained": "Items the owner ran or was handed.",
    "tsq_defer_stats.drains": "Non-empty drains.",
    "tsq_defer_batch.n": "Items held (private).",
    "tsq_defer_batch.target": "The shard the batch goes to (private).",
    # flags.h
    "tsq_flags": "A flow's flag word (THROTTLED, QUEUED, DEFERRED, USER(n)); see the file's overview.",
    "TSQ_F_THROTTLED": "The sender stopped over its byte budget: restart it on a completion.",
    "TSQ_F_QUEUED": "The flow is linked on its home shard's work list (set by the winning completion).",
    "TSQ_F_DEFERRED": "The worker found the flow owned: the owner's release must send.",
    "TSQ_F_USER_SHIFT": "Bit position of TSQ_F_USER(0).",
    "TSQ_F_USER_MAX": "Number of caller-defined bits: TSQ_F_USER(0) .. TSQ_F_USER(23).",
    "TSQ_F_USER_ALL": "Every caller-defined bit.",
    "TSQ_FLAGS_INIT": "Static initializer of a struct tsq_flags with no bit set.",
    # budget.h
    "tsq_budget_opts": "Configuration of tsq_budget_init() and tsq_flow_init() (NULL: today's "
                      "kernel defaults).",
    "tsq_budget_stats": "Counters and state filled by tsq_budget_stats().",
    "tsq_budget_stats.inflight_bytes": "Bytes charged and not yet completed.",
    "tsq_budget_stats.inflight_units": "Units charged and not yet completed.",
    "tsq_budget_stats.throttles": "The sender stopped (the re-check confirmed it).",
    "tsq_budget_stats.recheck_saves": "The re-check after setting THROTTLED found room.",
    # flow.h
    "tsq_flow_how": "Where send_more() is called from (struct tsq_flow_ops).",
    "tsq_flow_ops": "The callbacks of a flow, given to tsq_flow_init().",
    "tsq_flow_stats": "Counters and state filled by tsq_flow_stats().",
    "tsq_flow_stats.budget": "The budget's counters (struct tsq_budget_stats).",
    "tsq_flow_stats.queued": "Restarts linked to the home shard by a completion.",
    "tsq_flow_stats.deferred": "Restarts handed to the owner's release.",
    "tsq_flow_stats.flags": "The flag word (TSQ_F_*) when read.",
    # owner.h
    "tsq_owner_how": "How process() is called (struct tsq_owner_ops).",
    "tsq_owner_ops": "The callbacks of an owner lock, given to tsq_owner_init().",
    "tsq_owner_stats": "Counters filled by tsq_owner_stats().",
    "tsq_owner_work.next": "Next item in the backlog (private).",
    "tsq_owner_work.cost": "Bytes this item counts in the backlog; set by tsq_owner_deliver().",
    "tsq_owner_work.mark": "Private: the TSQ_DEBUG parked mark.",
    # zc.h
    "TSQ_ZC_UNLIMITED": "An account limit that never refuses (tsq_zc_account_init()).",
    "tsq_zc_account_stats": "The account's state, filled by tsq_zc_account_stats().",
    "tsq_zc_notice.lo": "First send id of the range.",
    "tsq_zc_notice.hi": "Last send id of the range (inclusive; may have wrapped below lo).",
    # dql.h
    "tsq_dql_opts": "Configuration of tsq_dql_init() (NULL: the kernel's defaults).",
    "tsq_dql_stats": "Configuration, state and counters filled by tsq_dql_stats().",
    "tsq_dql_stats.limit": "The current limit in bytes (tsq_dql_limit()).",
    "tsq_dql_stats.min_limit": "Lower bound of the limit (tsq_dql_set_limits()).",
    "tsq_dql_stats.max_limit": "Upper bound of the limit (tsq_dql_set_limits()).",
    "tsq_dql_stats.avail": "Limit minus the bytes in flight (tsq_dql_avail()).",
    "tsq_dql_stats.stopped": "STOPPED is set (tsq_dql_stopped()).",
    "tsq_dql_stats.hold_ns": "How long the slack must stay before the limit shrinks (ns).",
    "tsq_dql_stats.stall_thrs_ns": "Stall detector threshold in ns (0: off).",
    "tsq_dql_stats.stops": "The sender stopped (re-check confirmed).",
    "tsq_dql_stats.recheck_saves": "The re-check found room.",
    "tsq_dql_stats.restarts": "A completion cleared STOPPED and had to restart the queue.",
    "tsq_dql_stats.grows": "The limit moved up.",
    "tsq_dql_stats.shrinks": "The limit moved down.",
    "tsq_dql_stats.stalls": "Stalls seen by the detector.",
    "tsq_dql_stats.stall_max_ns": "Longest stall seen, in ns (rounded up to a history tick).",
}


def escape(text):
    """Text for a Doxygen paragraph (outside verbatim)."""
    return re.sub(r"([\\@<>&#%$])", r"\\\1", text)


def verbatim(text, indent=" * "):
    """A verbatim block (its layout kept: tables, code, aligned lists)."""
    lines = text.split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines:
        return []
    # drop the common indentation
    common = min(len(x) - len(x.lstrip()) for x in lines if x.strip())
    # the lines go out without the " * " prefix: Doxygen keeps verbatim text as it is
    return [indent + "@verbatim"] + [x[common:].rstrip() for x in lines] + [indent + "@endverbatim"]


def prose_or_verbatim(text):
    """Prose (escaped, re-flowed by Doxygen) unless some line is indented: then verbatim."""
    lines = [x for x in text.strip("\n").split("\n")]
    if any(x[:1].isspace() for x in lines if x.strip()) or any(not x.strip() for x in lines):
        return verbatim(text)
    return [" * " + escape(x) for x in lines]


def comment_text(lines):
    """The text of a /* ... */ comment given as source lines, one entry per line."""
    text = []
    for i, line in enumerate(lines):
        s = line
        if i == 0:
            s = s.split("/*", 1)[1]
        if s.rstrip().endswith("*/"):
            s = s.rstrip()[:-2]
        s = re.sub(r"^\s*\* ?", "", s) if i > 0 else s.strip()
        text.append(s.rstrip())
    return text


def file_comment(head, text, n):
    m = FILE_HEAD.match(head)
    name, summary = m.group(1), m.group(2)
    body = text[1:]
    # continuation of the summary: the lines up to the first blank one
    while body and body[0].strip():
        summary += " " + body[0].strip()
        body = body[1:]
    out = ["/** @file " + name, " * @brief " + escape(summary)]
    out += verbatim("\n".join(body))
    out.append(" */")
    return out


SENTENCE_END = re.compile(r"(?<!e\.g)(?<!i\.e)(?<!etc)[.?!](?=\s|$)")


def split_brief(first, rest_lines):
    """The first sentence (which may run over several prose lines) and the lines after it."""
    brief = first.strip()
    lines = list(rest_lines)
    while True:
        m = SENTENCE_END.search(brief)
        if m:
            tail = brief[m.end():].strip()
            brief = brief[:m.end()]
            if tail:
                lines.insert(0, tail)
            return brief, lines
        if not lines or not lines[0].strip() or lines[0][:1].isspace() or FIELD_RE.match(lines[0]):
            return brief, lines
        brief += " " + lines.pop(0).strip()


def contract_comment(text):
    m = FUNC_HEAD.match(text[0])
    brief, rest = split_brief(m.group(2), text[1:])
    joined = "\n".join(rest)
    first = FIELD_RE.search(joined)
    head_part = joined[:first.start()] if first else joined
    body_part = joined[first.start():] if first else ""
    out = ["/** @brief " + escape(brief), " *"]
    if head_part.strip():
        out += prose_or_verbatim(head_part)
    if body_part:
        parts = FIELD_RE.split(body_part)
        # parts: ['', 'Context', 'text', 'Blocks', 'text', ...]
        for i in range(1, len(parts), 2):
            value = parts[i + 1].strip()
            out.append(" * @par " + re.sub(r"\s+", " ", parts[i]) + ":")
            out += prose_or_verbatim(value) if value else [" * (none)"]
    out.append(" */")
    return out


def decl_comment(text, n, private, group):
    body = "\n".join(text).strip("\n")
    # A group: "@{" first, then the comment documents the first member and
    # DISTRIBUTE_GROUP_DOC hands it to the others; "@}" follows the last one.
    out = (["/** @{ */"] if group else []) + ["/**"] + prose_or_verbatim(body)
    if private:
        out.append(" * Fields are private: use the functions.")
    out.append(" */")
    return out


def internal(decl):
    """Whether a declaration line declares an internal name (tsq__*, TSQ__*)."""
    m = DEFINE.match(decl) or re.search(r"\b(tsq_\w+)\s*\(", decl) or re.search(r"\b(tsq_\w+)", decl)
    return bool(m) and m.group(1).lower().startswith("tsq__")


def macro_end(lines, k):
    """Index of the last physical line of the #define that starts at line k."""
    while lines[k].rstrip().endswith("\\") and k + 1 < len(lines):
        k += 1
    return k


DECL_NAME = re.compile(r"^\s*(?:#define\s+(\w+)|(?:typedef\s+)?(?:struct|enum)\s+(tsq_\w+)\s*\{|"
                       r"(?:typedef|static\s+inline)\s+[\w\s\*]*?\b(tsq_\w+)\s*\()")
MEMBER_NAME = re.compile(r"\(\s*\*\s*(\w+)\s*\)\s*\(|(\w+)\s*(?:\[[^\]]*\])?\s*(?:[,;=]|TSQ_CACHELINE)")


def next_code_line(lines, j):
    while j < len(lines) and not lines[j].strip():
        j += 1
    return j


def filter_source(src):
    lines = src.split("\n")
    out = []
    i = 0
    pending_private = False  # insert @privatesection after the next struct's "{"
    cur_struct = ""
    option_doc = {}  # option macro -> (its doc comment, last line index it applies to)
    depth = 0  # brace depth inside a struct/enum definition (0: outside)
    close_group_after = None  # line index after which to close a member group
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        # a multi-line or single-line block comment starting on its own line
        if stripped.startswith("/*") and not stripped.startswith("/**") and "SPDX-License" not in stripped:
            j = i
            while "*/" not in lines[j]:
                j += 1
            block = lines[i:j + 1]
            n = len(block)
            text = comment_text(block)
            head = text[0] if text[0] else (text[1] if len(text) > 1 else "")
            if not text[0] and len(text) > 1:
                text = text[1:]
            nxt = next_code_line(lines, j + 1)
            nxt_line = lines[nxt] if nxt < len(lines) else ""
            adjacent = nxt == j + 1
            opt = re.match(r"^\s*#if(?:n?def)?\b", nxt_line)
            guard = re.match(r"^\s*#ifndef\s+TSQ_\w+_H\s*$", nxt_line)
            if adjacent and opt and not guard:
                # an option (#ifndef NAME / #if defined(...)): the comment documents each public
                # #define in the conditional blocks that follow it back to back
                doc = ["/**"] + prose_or_verbatim("\n".join(text).strip("\n")) + [" */"]
                k, depth_if = nxt, 0
                while k < len(lines):
                    t = lines[k].strip()
                    if t.startswith("#if"):
                        depth_if += 1
                    elif t.startswith("#endif"):
                        depth_if -= 1
                    else:
                        d = DEFINE.match(lines[k])
                        if d and depth_if > 0 and not internal(lines[k]):
                            option_doc.setdefault(d.group(1), (doc, k))
                    if depth_if == 0 and not (k + 1 < len(lines) and lines[k + 1].strip().startswith("#if")):
                        break
                    k += 1
                for name, (d, last) in list(option_doc.items()):
                    option_doc[name] = (d, max(last, k))
                out += block
            elif FILE_HEAD.match(head):
                out += file_comment(head, text, n)
            elif FUNC_HEAD.match(head) and "tsq__" not in head and "TSQ__" not in head:
                out += contract_comment(text)
            elif adjacent and depth > 0 and MEMBER.match(nxt_line):
                out += decl_comment(text, n, False, False)
            elif adjacent and PUBLIC_DECL.match(nxt_line) and not internal(nxt_line):
                group = False
                if DEFINE.match(nxt_line):
                    k = macro_end(lines, nxt)
                    last = k
                    while k + 1 < len(lines) and DEFINE.match(lines[k + 1]) and \
                            DEFINE.match(lines[k + 1]).group(1) not in SUPPLEMENT:
                        k = macro_end(lines, k + 1)
                    if k > last:
                        group = True
                        close_group_after = k
                private = bool(PRIVATE_FIELDS.search(" ".join(text))) and \
                    nxt_line.lstrip().startswith("struct")
                pending_private = private
                out += decl_comment(text, n, private, group)
            else:
                out += block
            i = j + 1
            continue
        dm = DEFINE.match(line)
        if dm and dm.group(1) in option_doc and i <= option_doc[dm.group(1)][1]:
            out += option_doc[dm.group(1)][0]
        documented = bool(out) and out[-1].rstrip().endswith("*/") and \
            (out[-1].lstrip().startswith(("/**", "*/", "* @endverbatim")) or "*/" == out[-1].strip())
        m = TRAILING.match(line)
        dn = DECL_NAME.match(line)
        if depth == 0 and dn and not documented and not m:
            name = dn.group(1) or dn.group(2) or dn.group(3)
            if name in SUPPLEMENT:
                out.append("/** " + escape(SUPPLEMENT[name]) + " */")
        if depth == 0:
            sm = re.match(r"^\s*(?:typedef\s+)?(?:struct|enum)\s+(tsq_\w+)\s*\{", line)
            if sm:
                cur_struct = sm.group(1)
        elif depth == 1 and not m and not documented and not stripped.startswith(("/*", "*", "}")):
            multi = re.match(r"^(\s*)([\w ]+?)\s+(\w+(?:\s*,\s*\w+)+)\s*;\s*$", line)
            mm = MEMBER_NAME.search(line)
            if multi:
                decls = []
                for nm in re.split(r"\s*,\s*", multi.group(3)):
                    key = cur_struct + "." + nm
                    doc = " /**< " + escape(SUPPLEMENT[key]) + " */" if key in SUPPLEMENT else ""
                    decls.append(multi.group(2) + " " + nm + ";" + doc)
                line = multi.group(1) + " ".join(decls)
            elif mm:
                key = cur_struct + "." + (mm.group(1) or mm.group(2))
                if key in SUPPLEMENT:
                    line = line + " /**< " + escape(SUPPLEMENT[key]) + " */"
        if m and not stripped.startswith("/*") and \
                (depth > 0 or (DEFINE.match(line) and not internal(line))):
            line = m.group(1) + " /**< " + escape(m.group(2).strip()) + " */"
        if pending_private and "{" in line and re.match(r"^\s*struct\s+tsq_", line):
            line = line + " /** @privatesection */"
            pending_private = False
        if depth > 0 or re.match(r"^\s*(?:typedef\s+)?(?:struct|enum)\b[^;(]*\{", line):
            depth += line.count("{") - line.count("}")
        out.append(line)
        if close_group_after is not None and i == close_group_after:
            out.append("/** @} */")
            close_group_after = None
        i += 1
    return "\n".join(out)


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        src = f.read()
    sys.stdout.write(filter_source(src))


if __name__ == "__main__":
    main()
