#!/usr/bin/env python3
"""Known answers for synthea_known_answers_test.cc, computed from the Synthea bundles alone.

Reads every bundle of $SUND_TEST_DATA/synthea (bzip2, via `bzcat`), resolves the bundles'
urn:uuid references itself, and evaluates each query below with the FHIR R4 search semantics
written out in this file (search.html: token system|code, string prefix after lower-casing,
date ranges by precision compared by prefix, quantities in UCUM-converted units). It never talks
to the server. Prints the C++ table that the test holds; rerun it when the data changes:

    SUND_TEST_DATA=../shared/data python3 tests/integration/known_answers.py
"""
import collections
import datetime as dt
import json
import os
import re
import subprocess
import sys
import unicodedata

UTC = dt.timezone.utc
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SSN = "http://hl7.org/fhir/sid/us-ssn"
SSN_PATIENT = "999-82-5655"


def load():
    folder = os.path.join(os.environ["SUND_TEST_DATA"], "synthea")
    by_url, by_type = {}, collections.defaultdict(list)
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".json.bz2"):
            continue
        raw = subprocess.run(["bzcat", os.path.join(folder, name)], capture_output=True,
                             check=True).stdout
        for e in json.loads(raw)["entry"]:
            r = e["resource"]
            by_type[r["resourceType"]].append(r)
            if "fullUrl" in e:
                by_url[e["fullUrl"]] = r
    return by_url, by_type


def norm(s):
    s = unicodedata.normalize("NFKD", s)
    return "".join(c for c in s if not unicodedata.combining(c)).lower()


# ---- dates: the inclusive UTC millisecond range a FHIR date covers ----
DATE_RE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?"
                     r"(Z|[+-]\d{2}:\d{2})?)?)?)?$")


def ms(t):
    return int(round(t.timestamp() * 1000))


def date_range(text):
    m = DATE_RE.match(text)
    if not m:
        raise ValueError(text)
    y, mo, d, hh, mi, ss, frac, tz = m.groups()
    y = int(y)
    tzinfo = UTC
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        tzinfo = dt.timezone(sign * dt.timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6])))
    if mo is None:
        lo, hi = dt.datetime(y, 1, 1, tzinfo=tzinfo), dt.datetime(y + 1, 1, 1, tzinfo=tzinfo)
    elif d is None:
        mo = int(mo)
        lo = dt.datetime(y, mo, 1, tzinfo=tzinfo)
        hi = dt.datetime(y + (mo == 12), mo % 12 + 1, 1, tzinfo=tzinfo)
    elif hh is None:
        lo = dt.datetime(y, int(mo), int(d), tzinfo=tzinfo)
        hi = lo + dt.timedelta(days=1)
    else:
        lo = dt.datetime(y, int(mo), int(d), int(hh), int(mi), int(ss or 0), tzinfo=tzinfo)
        if frac:
            lo += dt.timedelta(milliseconds=int((frac[1:] + "000")[:3]))
            hi = lo + dt.timedelta(milliseconds=1)
        else:
            hi = lo + dt.timedelta(seconds=1 if ss else 60)
    return ms(lo), ms(hi) - 1


def date_matches(prefix, value_range, search_text):
    """FHIR R4 search.html 3.1.1.4.2: target range vs search range, by prefix."""
    rlo, rhi = value_range
    lo, hi = date_range(search_text)
    if prefix == "eq":
        return rlo >= lo and rhi <= hi
    if prefix == "ne":
        return not (rlo >= lo and rhi <= hi)
    if prefix == "gt":
        return rhi > hi
    if prefix == "lt":
        return rlo < lo
    if prefix == "ge":
        return rhi > hi or (rlo >= lo and rhi <= hi)
    if prefix == "le":
        return rlo < lo or (rlo >= lo and rhi <= hi)
    raise ValueError(prefix)


def period_range(p):
    if "end" not in p or "start" not in p:
        raise ValueError("open period; the test does not rely on open periods")
    return date_range(p["start"])[0], date_range(p["end"])[1]


# ---- per-resource value getters ----
def codings(cc):
    return cc.get("coding", []) if cc else []


def has_code(cc, system, code):
    for c in codings(cc):
        if (system is None or c.get("system") == system) and (code is None or c.get("code") == code):
            return True
    return False


def ref(resource, field, by_url):
    r = resource.get(field)
    return by_url.get(r.get("reference")) if r else None


def families(p):
    return [n["family"] for n in p.get("name", []) if "family" in n]


def name_parts(p):
    out = []
    for n in p.get("name", []):
        out += [n.get("family", "")] + n.get("given", []) + n.get("prefix", []) + n.get("suffix", [])
        if "text" in n:
            out.append(n["text"])
    return [x for x in out if x]


def ssn(p):
    for i in p.get("identifier", []):
        if i.get("system") == SSN:
            return i["value"]
    return None


def effective_range(o):
    if "effectiveDateTime" in o:
        return date_range(o["effectiveDateTime"])
    if "effectivePeriod" in o:
        return period_range(o["effectivePeriod"])
    return None


CM_PER = {"cm": 1.0, "m": 100.0, "mm": 0.1}


def main():
    by_url, by_type = load()
    P, O, E = by_type["Patient"], by_type["Observation"], by_type["Encounter"]
    counts = []  # (query, expected)

    def add(query, n):
        counts.append((query, n))

    def count(items, pred):
        return sum(1 for x in items if pred(x))

    # Totals.
    type_counts = {t: len(v) for t, v in sorted(by_type.items())}
    # Token.
    add("Patient?gender=female", count(P, lambda p: p.get("gender") == "female"))
    add("Patient?gender=male", count(P, lambda p: p.get("gender") == "male"))
    add("Patient?gender:not=female", count(P, lambda p: p.get("gender") != "female"))
    add("Patient?gender=male,female", count(P, lambda p: p.get("gender") in ("male", "female")))
    for code in ("8310-5", "72514-3", "29463-7", "8302-2"):
        add(f"Observation?code={LOINC}|{code}", count(O, lambda o: has_code(o["code"], LOINC, code)))
    add("Observation?code=8302-2", count(O, lambda o: has_code(o["code"], None, "8302-2")))
    add(f"Observation?code={LOINC}|8310-5,{LOINC}|29463-7",
        count(O, lambda o: has_code(o["code"], LOINC, "8310-5") or
              has_code(o["code"], LOINC, "29463-7")))
    add("Condition?code=http://snomed.info/sct|",
        count(by_type["Condition"], lambda c: has_code(c["code"], "http://snomed.info/sct", None)))
    add("Observation?code:text=body",
        count(O, lambda o: any(norm(t).startswith("body") for t in
                               [o["code"].get("text", "")] +
                               [c.get("display", "") for c in codings(o["code"])])))
    add(f"Patient?identifier={SSN}|{SSN_PATIENT}", count(P, lambda p: ssn(p) == SSN_PATIENT))
    # String.
    add("Patient?family=ko", count(P, lambda p: any(norm(f).startswith("ko") for f in families(p))))
    add("Patient?given=mar", count(P, lambda p: any(norm(g).startswith("mar") for n in
                                                     p.get("name", []) for g in n.get("given", []))))
    add("Patient?name:contains=ann",
        count(P, lambda p: any("ann" in norm(x) for x in name_parts(p))))
    first_family = families(P[0])[0]
    add(f"Patient?family:exact={first_family}",
        count(P, lambda p: first_family in families(p)))
    add("Patient?address-city=boston",
        count(P, lambda p: any(norm(a.get("city", "")).startswith("boston")
                               for a in p.get("address", []))))
    # Date.
    for prefix, value in (("ge", "2019-01-01"), ("lt", "2000"), ("eq", "2015"),
                          ("le", "2010-06-15T12:00:00Z")):
        add(f"Observation?date={prefix if prefix != 'eq' else ''}{value}",
            count(O, lambda o: effective_range(o) is not None and
                  date_matches(prefix, effective_range(o), value)))
    for prefix, value in (("lt", "1970-01-01"), ("eq", "1980"), ("gt", "2000-06")):
        add(f"Patient?birthdate={prefix if prefix != 'eq' else ''}{value}",
            count(P, lambda p: "birthDate" in p and
                  date_matches(prefix, date_range(p["birthDate"]), value)))
    for prefix, value in (("eq", "2015"), ("ge", "2020-01-01")):
        add(f"Encounter?date={prefix if prefix != 'eq' else ''}{value}",
            count(E, lambda e: "period" in e and
                  date_matches(prefix, period_range(e["period"]), value)))
    add("Patient?gender=female&birthdate=lt1970",
        count(P, lambda p: p.get("gender") == "female" and
              date_matches("lt", date_range(p["birthDate"]), "1970")))
    add(f"Observation?code={LOINC}|8310-5&date=ge2015&date=lt2016",
        count(O, lambda o: has_code(o["code"], LOINC, "8310-5") and
              date_matches("ge", effective_range(o), "2015") and
              date_matches("lt", effective_range(o), "2016")))

    # Quantity (UCUM: heights stored in cm, searched in cm and in m).
    def height_cm(o):
        q = o.get("valueQuantity")
        if not q or q.get("system") != UCUM or q.get("code") not in CM_PER:
            return None
        return q["value"] * CM_PER[q["code"]]

    def in_range(v, lo, hi):
        if abs(v - lo) < 1e-9 or abs(v - hi) < 1e-9:
            raise ValueError(f"value {v} on a precision boundary; pick another query")
        return lo <= v < hi

    add(f"Observation?code={LOINC}|8302-2&value-quantity=gt180|{UCUM}|cm",
        count(O, lambda o: has_code(o["code"], LOINC, "8302-2") and
              height_cm(o) is not None and height_cm(o) > 180 + 1e-9))
    add(f"Observation?value-quantity=1.800|{UCUM}|m",
        count(O, lambda o: height_cm(o) is not None and in_range(height_cm(o), 179.95, 180.05)))

    def weight_kg(o):
        q = o.get("valueQuantity")
        if not q or q.get("system") != UCUM or q.get("code") != "kg":
            return None
        return q["value"]

    add(f"Observation?code={LOINC}|29463-7&value-quantity=ge100|{UCUM}|kg",
        count(O, lambda o: has_code(o["code"], LOINC, "29463-7") and
              weight_kg(o) is not None and weight_kg(o) >= 100))
    # Uri.
    def profiles(r):
        return r.get("meta", {}).get("profile", [])
    body_height = "http://hl7.org/fhir/StructureDefinition/bodyheight"
    add(f"Observation?_profile={body_height}", count(O, lambda o: body_height in profiles(o)))
    us_core = "http://hl7.org/fhir/us/core/"
    add(f"Patient?_profile:below={us_core}",
        count(P, lambda p: any(x.startswith(us_core) for x in profiles(p))))
    # :missing.
    add("Observation?value-quantity:missing=true", count(O, lambda o: "valueQuantity" not in o))
    add("Encounter?reason-code:missing=false",
        count(E, lambda e: any(codings(c) for c in e.get("reasonCode", []))))
    add("Patient?death-date:missing=false", count(P, lambda p: "deceasedDateTime" in p))
    # Reference chains and _has.
    add(f"Observation?subject:Patient.identifier={SSN}|{SSN_PATIENT}",
        count(O, lambda o: (ref(o, "subject", by_url) or {}).get("resourceType") == "Patient"
              and ssn(ref(o, "subject", by_url)) == SSN_PATIENT))
    add(f"Encounter?patient:Patient.identifier={SSN}|{SSN_PATIENT}",
        count(E, lambda e: ssn(ref(e, "subject", by_url) or {}) == SSN_PATIENT))
    amb = lambda e: e is not None and e.get("class", {}).get("code") == "AMB"
    add("Observation?encounter:Encounter.class=AMB", count(O, lambda o: amb(ref(o, "encounter",
                                                                              by_url))))
    def has_patients(items, pred, field="subject"):
        return {id(ref(x, field, by_url)) for x in items if pred(x) and ref(x, field, by_url)}
    add("Patient?_has:Observation:patient:code=8310-5",
        len(has_patients(O, lambda o: has_code(o["code"], None, "8310-5"))))
    add("Patient?_has:Condition:patient:code=http://snomed.info/sct|44054006",
        len(has_patients(by_type["Condition"],
                         lambda c: has_code(c["code"], "http://snomed.info/sct", "44054006"))))
    add("Patient?_has:Encounter:patient:class=EMER",
        len(has_patients(E, lambda e: e.get("class", {}).get("code") == "EMER")))
    add("Patient?_lastUpdated=gt2000-01-01", len(P))

    # Shapes for the include/revinclude/sort tests.
    ssn_patient = next(p for p in P if ssn(p) == SSN_PATIENT)
    temps_of_patient = count(O, lambda o: ref(o, "subject", by_url) is ssn_patient and
                             has_code(o["code"], LOINC, "8310-5"))
    encounters_of_patient = count(E, lambda e: ref(e, "subject", by_url) is ssn_patient)
    by_birth = sorted(P, key=lambda p: date_range(p["birthDate"])[0])
    births = [p["birthDate"] for p in by_birth]

    out = sys.stdout
    out.write("// Generated by tests/integration/known_answers.py; do not edit by hand.\n")
    out.write("constexpr std::pair<std::string_view, std::int64_t> kTypeCounts[] = {\n")
    for t, n in type_counts.items():
        out.write(f'    {{"{t}", {n}}},\n')
    out.write("};\n")
    out.write(f"constexpr std::int64_t kTotalResources = {sum(type_counts.values())};\n")
    out.write("constexpr std::pair<std::string_view, std::int64_t> kCounts[] = {\n")
    for q, n in counts:
        out.write(f'    {{"{q}", {n}}},\n')
    out.write("};\n")
    out.write(f"constexpr std::int64_t kTemperaturesOfSsnPatient = {temps_of_patient};\n")
    out.write(f"constexpr std::int64_t kEncountersOfSsnPatient = {encounters_of_patient};\n")
    out.write("// The patients' birth dates, oldest first (ties keep no particular order).\n")
    out.write("constexpr std::string_view kBirthDatesAscending[] = {\n")
    for i in range(0, len(births), 6):
        out.write("    " + " ".join(f'"{b}",' for b in births[i:i + 6]) + "\n")
    out.write("};\n")


if __name__ == "__main__":
    main()
