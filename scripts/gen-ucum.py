#!/usr/bin/env python3
"""Generates src/fhir/data/ucum.json, the compact UCUM table compiled into Sund.

Usage: scripts/gen-ucum.py ucum-essence.xml src/fhir/data/ucum.json

Reads the UCUM essence file (https://ucum.org/ucum-essence.xml, schema in the UCUM specification
section "The Unified Code for Units of Measure in XML") and writes one JSON object:

  notice       the UCUM copyright notice, which must travel with the table
  version      the essence file's version and revision date
  prefixes     {code: factor}                    e.g. "k": 1000.0
  base_units   [{"code", "dim"}]                 the seven base units and their dimension letter
  units        [{"code", "unit", "factor", ...}] derived units: 1 code = factor x unit, where
               unit is a UCUM expression over other units. Flags: "metric" (takes prefixes),
               "arbitrary" (not commensurable with anything else), "special" (non-ratio scale;
               then "function" names the conversion, and "unit"/"factor" give the scale unit).

Only the case-sensitive codes (c/s) are kept. Standard library only.
"""

import json
import sys
import xml.etree.ElementTree as ET

NS = {"u": "http://unitsofmeasure.org/ucum-essence"}

# The notice the UCUM licence (https://ucum.org/trac/wiki/TermsOfUse) asks to be reproduced with
# any copy or derivative of the table.
NOTICE = (
    "This product includes all or a portion of the UCUM table, UCUM codes, and UCUM definitions "
    "or is derived from it, subject to a license from Regenstrief Institute, Inc. and The UCUM "
    "Organization. Your use of the UCUM table, UCUM codes, UCUM definitions also is subject to "
    "this license, a copy of which is available at https://ucum.org. The current complete UCUM "
    "table, UCUM Specification are available for download at https://ucum.org. The UCUM table "
    "and UCUM codes are copyright (c) 1995-2017, Regenstrief Institute, Inc. and the Unified "
    "Codes for Units of Measures (UCUM) Organization. All rights reserved."
)


def number(text, what):
    try:
        return float(text)
    except (TypeError, ValueError):
        sys.exit(f"gen-ucum: {what}: not a number: {text!r}")


def main(argv):
    if len(argv) != 3:
        sys.exit("usage: gen-ucum.py ucum-essence.xml OUT.json")
    root = ET.parse(argv[1]).getroot()

    prefixes = {}
    for p in root.findall("u:prefix", NS):
        prefixes[p.get("Code")] = number(p.find("u:value", NS).get("value"), p.get("Code"))

    base_units = [{"code": b.get("Code"), "dim": b.get("dim")}
                  for b in root.findall("u:base-unit", NS)]

    units = []
    for u in root.findall("u:unit", NS):
        code = u.get("Code")
        value = u.find("u:value", NS)
        entry = {"code": code}
        if u.get("isSpecial") == "yes":
            fn = value.find("u:function", NS)
            if fn is None:
                sys.exit(f"gen-ucum: special unit {code} has no function")
            entry["special"] = True
            entry["function"] = fn.get("name")
            entry["unit"] = fn.get("Unit")
            entry["factor"] = number(fn.get("value"), code)
        else:
            entry["unit"] = value.get("Unit")
            entry["factor"] = number(value.get("value"), code)
        if u.get("isMetric") == "yes":
            entry["metric"] = True
        if u.get("isArbitrary") == "yes":
            entry["arbitrary"] = True
        units.append(entry)

    codes = [b["code"] for b in base_units] + [u["code"] for u in units]
    if len(codes) != len(set(codes)):
        sys.exit("gen-ucum: duplicate unit codes")

    # One entry a line: compact, yet diffs stay readable when the table is regenerated.
    dump = lambda v: json.dumps(v, separators=(",", ":"), ensure_ascii=True)
    lines = ["{"]
    lines.append(f'"notice":{dump(NOTICE)},')
    lines.append(f'"version":{dump(root.get("version", ""))},')
    lines.append(f'"revision_date":{dump(root.get("revision-date", ""))},')
    lines.append(f'"prefixes":{dump(prefixes)},')
    lines.append(f'"base_units":{dump(base_units)},')
    lines.append('"units":[')
    lines.append(",\n".join(dump(u) for u in units))
    lines.append("]}")
    with open(argv[2], "w", encoding="ascii", newline="\n") as out:
        out.write("\n".join(lines) + "\n")
    print(f"gen-ucum: {len(prefixes)} prefixes, {len(base_units)} base units, "
          f"{len(units)} units -> {argv[2]}")


if __name__ == "__main__":
    main(sys.argv)
