#!/usr/bin/env python3
"""Turns Node's llhttp test corpus (../shared/conformance/llhttp, Markdown) into
one line per case for tests/unit/test_http_conformance.c:

    KIND<TAB>EXPECT<TAB>NAME<TAB>HEX

KIND is request or response (or request-lenient / response-lenient for cases
that llhttp accepts only with an opt-in leniency flag), EXPECT is ok or error
(what llhttp does), HEX the message bytes. Bytes are made as llhttp's own
runner makes them (see shared/conformance/README.md).

Usage: llhttp_cases.py CORPUS_DIR OUT_FILE
"""
import json
import os
import re
import sys

META = re.compile(r"<!-- meta=(\{.*\}) -->")
REPEAT = re.compile(r"""\$\{\s*(['"])(.*?)\1\.repeat\((\d+)\)\s*\}""")


def to_bytes(block):
    if block.endswith("\n"):
        block = block[:-1]
    block = block.replace("\\\n", "")
    block = REPEAT.sub(lambda m: m.group(2) * int(m.group(3)), block)
    if "${" in block:
        return None  # an expression we do not evaluate: the case is skipped
    block = block.replace("\n", "\r\n")
    out, i = bytearray(), 0
    simple = {"r": 13, "n": 10, "t": 9, "f": 12, "\\": 92, '"': 34, "'": 39}
    while i < len(block):
        c = block[i]
        if c == "\\" and i + 1 < len(block):
            n = block[i + 1]
            if n in simple:
                out.append(simple[n]); i += 2; continue
            if n == "x":
                out.append(int(block[i + 2:i + 4], 16)); i += 4; continue
            if n.isdigit():
                j = i + 1
                while j < len(block) and j < i + 4 and block[j] in "01234567":
                    j += 1
                out.append(int(block[i + 1:j], 8)); i = j; continue
        out += c.encode("utf-8")
        i += 1
    return bytes(out)


def cases(path):
    heading, meta, http, log = "", None, None, None
    lines = open(path, encoding="utf-8").read().split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        m = META.match(line.strip())
        if m:
            meta, http, log = json.loads(m.group(1)), None, None
        if line.startswith("```") and meta is not None:
            kind = line[3:].strip()
            j = i + 1
            while not lines[j].startswith("```"):
                j += 1
            body = "\n".join(lines[i + 1:j]) + "\n"
            if kind == "http":
                http = body
            elif kind == "log":
                log = body
            i = j
            if http is not None and log is not None:
                yield heading, meta, http, log
                meta = None
        i += 1


def main(corpus, out_path):
    n = 0
    with open(out_path, "w") as out:
        for sub in ("request", "response"):
            d = os.path.join(corpus, sub)
            for fname in sorted(os.listdir(d)):
                if not fname.endswith(".md"):
                    continue
                for heading, meta, http, log in cases(os.path.join(d, fname)):
                    data = to_bytes(http)
                    if data is None:
                        continue
                    t = meta["type"]
                    kind = t.split("-")[0] + ("-lenient" if "lenient" in t else "")
                    # codes 21-23 are llhttp pausing (on a callback, CONNECT or Upgrade), not errors
                    codes = [int(c) for c in re.findall(r"\berror code=(\d+)", log)]
                    expect = "error" if any(c not in (21, 22, 23) for c in codes) else "ok"
                    name = "%s/%s: %s" % (sub, fname[:-3], heading)
                    out.write("%s\t%s\t%s\t%s\n" % (kind, expect, name.replace("\t", " "), data.hex()))
                    n += 1
    print("llhttp corpus: %d cases" % n)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
