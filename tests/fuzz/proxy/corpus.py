"""Node's llhttp test corpus as tests/conformance/llhttp_cases.py writes it:
one case per line, KIND<TAB>EXPECT<TAB>NAME<TAB>HEX. Only `request` cases are
used (what llhttp accepts or rejects does not matter here: the proxy may do
either, as long as nothing desynchronises)."""
import os


def load(path):
    """[(name, message bytes)]; empty when there is no corpus (a CI checkout)."""
    if not path or not os.path.exists(path):
        return []
    cases = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 4 or parts[0] != "request":
                continue
            try:
                cases.append((parts[2], bytes.fromhex(parts[3])))
            except ValueError:
                continue
    return cases
