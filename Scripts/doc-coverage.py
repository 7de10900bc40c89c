#!/usr/bin/env python3
"""Lists the public symbols of the given modules that have no documentation comment.

Reads the symbol graphs `swift package dump-symbol-graph --minimum-access-level public` writes and
exits non-zero when any public symbol of a module named on the command line is undocumented.

    Scripts/doc-coverage.py SYMBOLGRAPH_DIR MODULE...

A symbol counts as documented when it has its own `///` comment, or when it is the witness of a
documented protocol requirement (DocC shows the requirement's text for it: `description` of a
`CustomStringConvertible` type, `hash(into:)`, a method of one of our protocols), or when the
compiler made it (it has no source location: `hashValue`, a raw-value enum's `init(rawValue:)`).
"""
import glob
import json
import os
import sys

# Requirements of standard-library protocols whose documentation DocC inherits for a conforming
# type's member. Keys are the protocols' precise identifiers, as conformsTo relationships name them.
STANDARD_REQUIREMENTS = {
    "s:s23CustomStringConvertibleP": {"description"},
    "s:s28CustomDebugStringConvertibleP": {"debugDescription"},
    "s:SQ": {"==(_:_:)"},                              # Equatable
    "s:SH": {"hash(into:)", "hashValue", "==(_:_:)"},  # Hashable
    "s:SL": {"<(_:_:)", "==(_:_:)"},                    # Comparable
    "s:SY": {"init(rawValue:)", "rawValue", "RawValue"},  # RawRepresentable
    "s:s12CaseIterableP": {"allCases", "AllCases"},
    "s:ST": {"makeIterator()", "Element", "Iterator"},  # Sequence
    "s:St": {"next()", "Element"},                        # IteratorProtocol
    "s:Sl": {"startIndex", "endIndex", "index(after:)", "subscript(_:)", "Index", "Element"},  # Collection
    "s:SE": {"encode(to:)"},                              # Encodable
    "s:Se": {"init(from:)"},                              # Decodable
    "s:s5ErrorP": set(),
    "s:10Foundation14LocalizedErrorP": {"errorDescription", "failureReason", "recoverySuggestion"},
    "s:s25ExpressibleByIntegerLiteralP": {"init(integerLiteral:)", "IntegerLiteralType"},
    "s:s26ExpressibleByArrayLiteralP": {"init(arrayLiteral:)", "ArrayLiteralElement"},
    "s:s24ExpressibleByStringLiteralP": {"init(stringLiteral:)", "StringLiteralType"},
    "s:s8SendableP": set(),
}


def member_name(symbol):
    return symbol["pathComponents"][-1]


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: doc-coverage.py SYMBOLGRAPH_DIR MODULE...")
    directory, modules = sys.argv[1], sys.argv[2:]
    symbols = {}        # precise id -> (module, symbol)
    members = {}        # member id -> parent id
    conformances = {}   # type id -> protocol ids
    requirements = {}   # protocol id -> names of its requirements that are documented
    for path in sorted(glob.glob(os.path.join(directory, "*.symbols.json"))):
        graph = json.load(open(path))
        module = graph["module"]["name"]
        for symbol in graph["symbols"]:
            symbols[symbol["identifier"]["precise"]] = (module, symbol)
        for relation in graph["relationships"]:
            kind, source, target = relation["kind"], relation["source"], relation["target"]
            if kind == "memberOf":
                members[source] = target
            elif kind == "conformsTo":
                conformances.setdefault(source, set()).add(target)
            elif kind in ("requirementOf", "optionalRequirementOf"):
                requirements.setdefault(target, set()).add(source)

    def documented_requirement_names(protocol):
        names = set(STANDARD_REQUIREMENTS.get(protocol, set()))
        for requirement in requirements.get(protocol, ()):
            if requirement in symbols and "docComment" in symbols[requirement][1]:
                names.add(member_name(symbols[requirement][1]))
        return names

    missing = []
    for precise, (module, symbol) in symbols.items():
        if module not in modules or symbol.get("accessLevel") not in ("public", "open"):
            continue
        if "docComment" in symbol or "location" not in symbol:
            continue
        parent = members.get(precise)
        if parent is not None:
            inherited = set()
            for protocol in conformances.get(parent, ()):
                inherited |= documented_requirement_names(protocol)
            if member_name(symbol) in inherited:
                continue
        location = symbol["location"]
        file = location["uri"].replace("file://", "")
        line = location["position"]["line"] + 1
        missing.append((os.path.relpath(file), line, ".".join(symbol["pathComponents"]),
                        symbol["kind"]["identifier"].replace("swift.", "")))

    for file, line, name, kind in sorted(missing):
        print(f"{file}:{line}: undocumented public {kind} {name}")
    counted = sum(1 for module, symbol in symbols.values() if module in modules)
    print(f"doc-coverage: {counted} public symbols in {len(modules)} modules, "
          f"{len(missing)} undocumented", file=sys.stderr)
    sys.exit(1 if missing else 0)


if __name__ == "__main__":
    main()
