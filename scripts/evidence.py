#!/usr/bin/env python3
"""Evidence for a technical file (IEC 62304, EU MDR): requirements traced to tests and to the
results of a test run, the SOUP list, the risk register, a CycloneDX SBOM and release notes.

  scripts/evidence.py generate [--build DIR] [--results DIR] [--out DIR]
      writes build/evidence/ from docs/requirements, docs/risks, docs/soup, docs/changes, the
      tests' Verifies: tags, the JUnit files of the last run (build/test-results/*.xml, written
      by scripts/run-tests.sh) and the packages on this machine.
  scripts/evidence.py check [--build DIR]
      fails (exit 1) when a file does not parse, an id is unknown or duplicated, a requirement has
      no test, or a dependency (a Debian package that scripts/install-deps.sh installs or that a
      Sund binary loads, an npm package in a package.json) has no entry in docs/soup/.

Formats: docs/requirements/README.md, docs/risks/README.md, docs/soup/README.md,
docs/changes/README.md. Standard library only (Debian's python3).
"""

import argparse
import csv
import datetime
import fnmatch
import glob
import hashlib
import html
import io
import json
import os
import re
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ET
from urllib.parse import quote

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

REQ_ID = re.compile(r"^(REQ-([A-Z]+)-(\d{3})):\s*(.*)$")
REQ_REF = re.compile(r"REQ-[A-Z]+-\d{3}")
RISK_ID = re.compile(r"^(RISK-([A-Z]+)-(\d{2,3})):\s*(.*)$")
SEVERITIES = ["negligible", "minor", "serious", "critical", "catastrophic"]
PROBABILITIES = ["improbable", "remote", "occasional", "probable", "frequent"]
RISK_FIELDS = ["hazard", "cause", "harm", "severity", "probability", "control", "requirements",
               "residual"]


class Problems:
    """Collects what `check` reports; `generate` prints them as warnings."""

    def __init__(self):
        self.items = []

    def add(self, where, message):
        self.items.append(f"{where}: {message}")


def rel(path):
    return os.path.relpath(path, ROOT)


# ---------------------------------------------------------------------------------------------
# Requirements and risks


def read_requirements(problems):
    reqs = {}
    for path in sorted(glob.glob(os.path.join(ROOT, "docs/requirements/*.req"))):
        area_of_file = os.path.basename(path)[:-4].upper()
        current = None
        heading = ""
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                line = line.rstrip("\n")
                where = f"{rel(path)}:{n}"
                if not line.strip():
                    current = None
                    continue
                if line.startswith("#"):
                    current = None
                    heading = line.lstrip("# ").strip()
                    continue
                if line[0].isspace():
                    if current is None:
                        problems.add(where, "continuation line without a requirement above")
                    else:
                        current["text"] += " " + line.strip()
                    continue
                m = REQ_ID.match(line)
                if not m:
                    problems.add(where, "not a requirement (REQ-AREA-NNN: statement)")
                    current = None
                    continue
                rid, area, _, text = m.groups()
                if area != area_of_file:
                    problems.add(where, f"{rid} is in the file of area {area_of_file}")
                if rid in reqs:
                    problems.add(where, f"{rid} defined twice")
                if not text:
                    problems.add(where, f"{rid} has no statement")
                current = {"id": rid, "area": area, "text": text, "file": rel(path), "line": n,
                           "heading": heading}
                reqs[rid] = current
    return reqs


def read_blocks(pattern, head, fields, what, problems):
    """Blocks of the files matching PATTERN: a head line at column 0 (HEAD, a regex whose groups
    are (key, title)), then '  field: text' lines, continued on lines indented further. Returns
    [{key, title, file, line, field: text ...}] in file order; '#' lines are comments."""
    blocks = []
    for path in sorted(glob.glob(os.path.join(ROOT, pattern))):
        current = None
        field = None
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                line = line.rstrip("\n")
                where = f"{rel(path)}:{n}"
                if not line.strip() or line.startswith("#"):
                    field = None
                    continue
                if not line[0].isspace():
                    m = re.match(head, line)
                    if not m:
                        problems.add(where, f"a {what} starts with its head line")
                        current = None
                        continue
                    current = {"key": m.group(1).strip(), "title": m.group(2).strip(),
                               "file": rel(path), "line": n}
                    blocks.append(current)
                    field = None
                    continue
                fm = re.match(r"^  ([a-z-]+):\s*(.*)$", line)
                if current is not None and fm and fm.group(1) in fields:
                    field = fm.group(1)
                    current[field] = fm.group(2).strip()
                elif current is not None and field and line.startswith("   "):
                    current[field] += " " + line.strip()
                else:
                    problems.add(where, f"not a field of a {what} (" + ", ".join(fields) + ")")
    return blocks


def read_risks(reqs, problems):
    risks = {}
    for block in read_blocks("docs/risks/*.risk", r"^(RISK-[A-Z]+-\d{2,3}):\s*(.*)$",
                             RISK_FIELDS, "risk", problems):
        rid = block.pop("key")
        if rid in risks:
            problems.add(f"{block['file']}:{block['line']}", f"{rid} defined twice")
        risks[rid] = {"id": rid, **block}
    for risk in risks.values():
        where = f"{risk['file']}:{risk['line']}"
        for fname in RISK_FIELDS:
            if not risk.get(fname):
                problems.add(where, f"{risk['id']} has no {fname}")
        if risk.get("severity") and risk["severity"] not in SEVERITIES:
            problems.add(where, f"{risk['id']}: severity must be one of {', '.join(SEVERITIES)}")
        for fname in ("probability", "residual"):
            if risk.get(fname) and risk[fname] not in PROBABILITIES:
                problems.add(where, f"{risk['id']}: {fname} must be one of "
                             + ", ".join(PROBABILITIES))
        risk["reqs"] = REQ_REF.findall(risk.get("requirements", ""))
        for r in risk["reqs"]:
            if r not in reqs:
                problems.add(where, f"{risk['id']} names {r}, which no requirement file defines")
    return risks


# ---------------------------------------------------------------------------------------------
# Tests and their Verifies: tags

CPP_TEST = re.compile(r"^\s*(TEST|TEST_F|TEST_P)\(\s*(\w+)\s*,\s*(\w+)\s*\)")
JS_TEST = re.compile(r"""^\s*(?:await\s+)?(?:test|it|t\.test)\(\s*(['"`])(.*?)\1""")
VERIFIES = re.compile(r"^\s*//\s*Verifies:\s*(.*)$")


def test_files():
    files = glob.glob(os.path.join(ROOT, "src/**/*_test.cc"), recursive=True)
    files += glob.glob(os.path.join(ROOT, "tests/integration/*.cc"))
    files += glob.glob(os.path.join(ROOT, "tests/e2e/*.test.mjs"))
    return sorted(files)


_whole_binary = None


def whole_binary_tests():
    """{source file name: [ctest names]} for test binaries that CMake registers as one ctest
    test each (add_executable(T ... FILE ...) and add_test(NAME N COMMAND T)), not per case."""
    global _whole_binary
    if _whole_binary is None:
        sources, tests = {}, {}
        for cm in glob.glob(os.path.join(ROOT, "tests/**/CMakeLists.txt"), recursive=True):
            text = open(cm, encoding="utf-8").read()
            for m in re.finditer(r"add_executable\((\w+)([^)]*)\)", text):
                for src in m.group(2).split():
                    sources.setdefault(os.path.basename(src), []).append(m.group(1))
            for m in re.finditer(r"add_test\(NAME\s+(\S+)\s+COMMAND\s+(\w+)\s*\)", text):
                tests.setdefault(m.group(2), []).append(m.group(1))
        _whole_binary = {src: [n for t in targets for n in tests.get(t, [])]
                         for src, targets in sources.items()}
    return _whole_binary


def tags_above(lines, i):
    """The Verifies: ids in the comment block that ends on the line before lines[i]."""
    ids = []
    j = i - 1
    while j >= 0 and lines[j].strip().startswith("//"):
        m = VERIFIES.match(lines[j])
        if m:
            ids += REQ_REF.findall(m.group(1))
        j -= 1
    return ids


def read_tests(reqs, problems):
    tests = []
    for path in test_files():
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
        js = path.endswith(".mjs")
        stem = os.path.basename(path).replace(".test.mjs", "")
        for i, line in enumerate(lines):
            if js:
                m = JS_TEST.match(line)
                if not m:
                    continue
                name = f"{stem}: {m.group(2)}"
                ctest = [f"e2e.{stem}", f"pg.e2e.{stem}"]
                kind = "e2e"
            else:
                m = CPP_TEST.match(line)
                if not m:
                    continue
                macro, suite, case = m.groups()
                if case.startswith("DISABLED_"):
                    continue
                name = f"{suite}.{case}"
                # ctest's names: "Suite.Name", and for TEST_P
                # 'Prefix/Suite.Name/param  # GetParam() = ...'; a binary registered as one
                # ctest test (add_test) also stands for each of its cases.
                pattern = (r"^(?:\w+/)?" + re.escape(name) + r"/.+$" if macro == "TEST_P"
                           else r"^" + re.escape(name) + r"$")
                whole = whole_binary_tests().get(os.path.basename(path), [])
                if whole:
                    pattern += "|^(?:" + "|".join(re.escape(w) for w in whole) + ")$"
                ctest = re.compile(pattern)
                kind = "integration" if "/tests/integration/" in path else "unit"
            ids = tags_above(lines, i)
            for r in ids:
                if r not in reqs:
                    problems.add(f"{rel(path)}:{i + 1}", f"{name} verifies {r}, which no "
                                 "requirement file defines")
            tests.append({"name": name, "file": rel(path), "line": i + 1, "reqs": ids,
                          "ctest": ctest, "kind": kind})
    # Verifies: lines that no test follows are mistakes (a tag above a helper, say).
    return tests


def stray_tags(problems):
    for path in test_files():
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
        pattern = JS_TEST if path.endswith(".mjs") else CPP_TEST
        for i, line in enumerate(lines):
            if not VERIFIES.match(line):
                continue
            j = i + 1
            while j < len(lines) and lines[j].strip().startswith("//"):
                j += 1
            if j >= len(lines) or not pattern.match(lines[j]):
                problems.add(f"{rel(path)}:{i + 1}", "a Verifies: line that no test follows")


# ---------------------------------------------------------------------------------------------
# Results of the last run: ctest JUnit files, one per stage (main, asan, tsan, fuzz)


def read_results(results_dir):
    """{stage: {ctest name: (status, seconds)}}, status pass|fail|skip|notrun."""
    runs = {}
    for path in sorted(glob.glob(os.path.join(results_dir, "*.xml"))):
        stage = os.path.basename(path)[:-4]
        try:
            root = ET.parse(path).getroot()
        except ET.ParseError as e:
            print(f"evidence: {rel(path)} does not parse ({e}); ignored", file=sys.stderr)
            continue
        out = {}
        for tc in root.iter("testcase"):
            name = tc.get("name", "")
            status = tc.get("status", "run")
            if tc.find("failure") is not None or tc.find("error") is not None or status == "fail":
                s = "fail"
            elif tc.find("skipped") is not None or status in ("notrun", "disabled"):
                s = "skip"
            else:
                s = "pass"
            out[name] = (s, float(tc.get("time", "0") or 0))
        runs[stage] = out
    return runs


RANK = {"fail": 3, "pass": 2, "skip": 1, "notrun": 0}


def result_of(test, runs):
    """(overall status, {stage: status}) of one traced test over all stages."""
    per_stage = {}
    for stage, results in runs.items():
        found = []
        if isinstance(test["ctest"], list):
            found = [results[n][0] for n in test["ctest"] if n in results]
        else:
            found = [s for n, (s, _) in results.items() if test["ctest"].match(n)]
        if found:
            per_stage[stage] = max(found, key=lambda s: RANK[s])
    if not per_stage:
        return "notrun", per_stage
    return max(per_stage.values(), key=lambda s: RANK[s]), per_stage


def requirement_status(results):
    if not results:
        return "untested"
    if "fail" in results:
        return "failed"
    if "pass" in results:
        return "verified"
    return "not run"


# ---------------------------------------------------------------------------------------------
# SOUP: the curated entries in docs/soup/*.soup and what this machine really has


SOUP_FIELDS = ["packages", "use", "class", "failure"]


def read_soup(problems):
    comps = []
    for block in read_blocks("docs/soup/*.soup", r"^([^:]+):\s*(.*)$", SOUP_FIELDS,
                             "component", problems):
        block["name"] = block.pop("key")
        comps.append(block)
    for c in comps:
        for fname in SOUP_FIELDS:
            if not c.get(fname):
                problems.add(f"{c['file']}:{c['line']}", f"{c['name']} has no {fname}")
        if c.get("class") and c["class"] not in ("A", "B", "C"):
            problems.add(f"{c['file']}:{c['line']}", f"{c['name']}: class must be A, B or C")
        c["patterns"] = c.get("packages", "").split()
    return comps


def soup_entry(comps, kind, name):
    """The curated component whose packages list KIND:NAME (a glob in NAME is allowed)."""
    for c in comps:
        for p in c["patterns"]:
            k, _, pat = p.partition(":")
            if k == kind and fnmatch.fnmatchcase(name, pat):
                return c
    return None


def install_deps_packages():
    text = open(os.path.join(ROOT, "scripts/install-deps.sh"), encoding="utf-8").read()
    m = re.search(r"^packages=\((.*?)^\)", text, re.S | re.M)
    names = []
    for line in m.group(1).split("\n"):
        line = line.split("#", 1)[0]
        names += line.split()
    return names


def run(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout
    except OSError:
        return ""


def dpkg_info(packages):
    """{package: {version, source, arch}} for the installed ones."""
    if not packages:
        return {}
    out = run(["dpkg-query", "-W", "-f=${Package}\t${Version}\t${source:Package}\t"
               "${Architecture}\t${db:Status-Status}\n", *sorted(set(packages))])
    info = {}
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) == 5 and parts[4] == "installed":
            info[parts[0]] = {"version": parts[1], "source": parts[2] or parts[0],
                              "arch": parts[3]}
    return info


def debian_licence(package):
    path = f"/usr/share/doc/{package}/copyright"
    try:
        text = open(path, encoding="utf-8", errors="replace").read()
    except OSError:
        return ""
    # DEP-5: the licence of the `Files: *` stanza; otherwise all the short names, in order.
    m = re.search(r"^Files:[ \t]*\*[ \t]*$.*?^License:[ \t]*([^\n]+)$", text, re.M | re.S)
    if m:
        return m.group(1).strip()
    names = []
    for lm in re.finditer(r"^License:[ \t]*([^\n]+)$", text, re.M):
        if lm.group(1).strip() not in names:
            names.append(lm.group(1).strip())
    return " AND ".join(names[:3]) if names else f"see {path}"


def sund_binaries(build):
    bins = [os.path.join(build, "bin", "sund")]
    bins += glob.glob(os.path.join(build, "bin", "*.so"))
    return [b for b in bins if os.path.exists(b)]


def needed_libraries(binary):
    """The shared libraries BINARY names itself (DT_NEEDED), resolved to paths by ldd."""
    needed = set(re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]",
                            run(["readelf", "-d", binary])))
    paths = {}
    for line in run(["ldd", binary]).splitlines():
        m = re.match(r"^\s*(\S+) => (/\S+)", line)
        if m:
            paths[m.group(1)] = m.group(2)
    return {n: paths.get(n) for n in needed}, set(paths.values())


def package_of(paths):
    """{path: package} via dpkg -S (the real path first, then as given)."""
    out = {}
    todo = [p for p in paths if p]
    if not todo:
        return out
    candidates = {}
    for p in todo:
        candidates[p] = [p, os.path.realpath(p)]
        if p.startswith("/lib/"):
            candidates[p].append("/usr" + p)
        if os.path.realpath(p).startswith("/lib/"):
            candidates[p].append("/usr" + os.path.realpath(p))
    flat = sorted({c for cs in candidates.values() for c in cs})
    owners = {}
    for line in run(["dpkg", "-S", *flat]).splitlines():
        m = re.match(r"^([^:]+)(?::\w+)?: (/.+)$", line)
        if m:
            owners[m.group(2)] = m.group(1)
    for p, cs in candidates.items():
        for c in cs:
            if c in owners:
                out[p] = owners[c]
                break
    return out


def debian_components(build):
    """[(package, role, via)]: the packages install-deps.sh names (role build/test/runtime per
    its curated entry) and the packages of every library the Sund binaries load."""
    direct = install_deps_packages()
    rows = {p: ("install-deps", "") for p in direct}
    runtime_direct = {}
    runtime_all = {}
    for b in sund_binaries(build):
        needed, closure = needed_libraries(b)
        owners = package_of(list(closure))
        for lib, path in sorted(needed.items()):
            if path and path in owners:
                runtime_direct[owners[path]] = os.path.basename(b)
        # Attribute the rest of the closure to the directly needed library that brings it.
        for lib, path in sorted(needed.items()):
            if not path or path not in owners:
                continue
            _, sub = needed_libraries(path)
            sub_owners = package_of(list(sub))
            for sp in sub:
                pkg = sub_owners.get(sp)
                if pkg and pkg not in runtime_direct and pkg not in runtime_all:
                    runtime_all[pkg] = owners[path]
    for pkg, binary in runtime_direct.items():
        if pkg not in rows:
            rows[pkg] = ("linked", binary)
    for pkg, via in runtime_all.items():
        if pkg not in rows:
            rows[pkg] = ("transitive", via)
    return rows


def npm_components():
    """[(folder, name, version, license, dev, direct, parents)] of the packages npm installed."""
    out = []
    for folder in ("web", "tests/e2e"):
        lock_path = os.path.join(ROOT, folder, "package-lock.json")
        if not os.path.exists(lock_path):
            continue
        lock = json.load(open(lock_path, encoding="utf-8"))
        pkgs = lock.get("packages", {})
        top = pkgs.get("", {})
        direct = set(top.get("dependencies", {})) | set(top.get("devDependencies", {}))
        for key, meta in pkgs.items():
            if not key.startswith("node_modules/"):
                continue
            name = key.split("node_modules/")[-1]
            installed = os.path.isdir(os.path.join(ROOT, folder, key))
            if meta.get("optional") and not installed:
                continue  # a platform package npm did not install here
            out.append({"folder": folder, "name": name, "version": meta.get("version", ""),
                        "license": meta.get("license", ""), "dev": bool(meta.get("dev")),
                        "direct": name in direct, "parents": npm_components_parents(folder, name),
                        "installed": installed})
    return out


def npm_direct_names():
    names = []
    for folder in ("web", "tests/e2e"):
        path = os.path.join(ROOT, folder, "package.json")
        if os.path.exists(path):
            pkg = json.load(open(path, encoding="utf-8"))
            for section in ("dependencies", "devDependencies"):
                names += [(folder, n) for n in pkg.get(section, {})]
    return names


def soup_rows(build, comps, problems):
    deb = debian_components(build)
    info = dpkg_info(list(deb))
    rows = []
    for pkg, (role, via) in sorted(deb.items()):
        entry = soup_entry(comps, "deb", pkg)
        if entry is None and role == "transitive":
            entry = soup_entry(comps, "deb", via)
        if entry is None and role != "transitive":
            problems.add("docs/soup", f"Debian package {pkg} ({role}) has no SOUP entry")
        meta = info.get(pkg)
        if meta is None:
            problems.add("docs/soup", f"Debian package {pkg} is not installed on this machine "
                         "(run scripts/install-deps.sh)")
            meta = {"version": "", "source": pkg, "arch": ""}
        rows.append({"ecosystem": "deb", "name": pkg, "version": meta["version"],
                     "source": meta["source"], "arch": meta["arch"],
                     "license": debian_licence(pkg), "role": role, "via": via,
                     "component": entry["name"] if entry else "",
                     "use": entry.get("use", "") if entry else f"loaded by {via}",
                     "class": entry.get("class", "") if entry else "",
                     "failure": entry.get("failure", "") if entry else ""})
    for folder, name in npm_direct_names():
        if soup_entry(comps, "npm", name) is None:
            problems.add("docs/soup", f"npm package {name} ({folder}/package.json) has no SOUP "
                         "entry")
    for p in npm_components():
        entry = soup_entry(comps, "npm", p["name"])
        via = ""
        if entry is None:
            # a transitive package takes the entry of a direct package that depends on it
            seen, todo = set(), list(p["parents"])
            while todo and entry is None:
                parent = todo.pop(0)
                if parent in seen:
                    continue
                seen.add(parent)
                entry = soup_entry(comps, "npm", parent)
                if entry is not None:
                    via = parent
                for q in npm_components_parents(p["folder"], parent):
                    todo.append(q)
        role = "direct" if p["direct"] else "transitive"
        rows.append({"ecosystem": "npm", "name": p["name"], "version": p["version"],
                     "source": p["folder"], "arch": "", "license": p["license"], "role": role,
                     "via": via, "component": entry["name"] if entry else "",
                     "use": entry.get("use", "") if entry else "",
                     "class": entry.get("class", "") if entry else "",
                     "failure": entry.get("failure", "") if entry else ""})
    return rows


_parents_cache = {}


def npm_components_parents(folder, name):
    if folder not in _parents_cache:
        lock = json.load(open(os.path.join(ROOT, folder, "package-lock.json"), encoding="utf-8"))
        parents = {}
        for key, meta in lock.get("packages", {}).items():
            if not key:
                continue
            pname = key.split("node_modules/")[-1]
            for section in ("dependencies", "optionalDependencies", "peerDependencies"):
                for dep in meta.get(section, {}):
                    parents.setdefault(dep, set()).add(pname)
        _parents_cache[folder] = parents
    return sorted(_parents_cache[folder].get(name, []))


# ---------------------------------------------------------------------------------------------
# Release notes from docs/changes/*.md

CHANGE_KINDS = [("security", "Security"), ("feature", "New"), ("fix", "Fixed"),
                ("change", "Changed"), ("removal", "Removed")]


def read_changes(problems):
    out = []
    for path in sorted(glob.glob(os.path.join(ROOT, "docs/changes/*.md"))):
        base = os.path.basename(path)
        if base == "README.md":
            continue
        m = re.match(r"^(\d+)-([a-z0-9-]+)\.([a-z]+)\.md$", base)
        if not m or m.group(3) not in dict(CHANGE_KINDS):
            problems.add(rel(path), "name must be ISSUE-slug.KIND.md, KIND one of "
                         + ", ".join(k for k, _ in CHANGE_KINDS))
            continue
        text = open(path, encoding="utf-8").read().strip()
        out.append({"issue": int(m.group(1)), "slug": m.group(2), "kind": m.group(3),
                    "text": text})
    return out


# ---------------------------------------------------------------------------------------------
# Output


def git(*args):
    return run(["git", "-C", ROOT, *args]).strip()


def page(title, body, subtitle=""):
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body{{font:14px/1.45 system-ui,sans-serif;margin:2rem;color:#1b1b1b;max-width:1400px}}
table{{border-collapse:collapse;width:100%;margin:1rem 0}}
th,td{{border:1px solid #ccc;padding:.3rem .5rem;vertical-align:top;text-align:left}}
th{{background:#f2f4f7}} code{{font-size:12px}}
.pass,.verified{{background:#e3f6e5}} .fail,.failed{{background:#fde2e1}}
.untested{{background:#fff2cc}} .notrun,.not-run,.skip{{background:#eee}}
.muted{{color:#666}} nav a{{margin-right:1rem}}
</style></head><body>
<nav><a href="index.html">Summary</a><a href="traceability.html">Traceability</a>
<a href="risks.html">Risks</a><a href="soup.html">SOUP</a>
<a href="release-notes.md">Release notes</a><a href="sbom.cdx.json">SBOM</a></nav>
<h1>{html.escape(title)}</h1><p class="muted">{html.escape(subtitle)}</p>
{body}</body></html>
"""


def esc(s):
    return html.escape(str(s))


def cls(status):
    return status.replace(" ", "-")


def generate(args):
    problems = Problems()
    reqs = read_requirements(problems)
    risks = read_risks(reqs, problems)
    tests = read_tests(reqs, problems)
    stray_tags(problems)
    runs = read_results(args.results)
    comps = read_soup(problems)
    rows = soup_rows(args.build, comps, problems)
    changes = read_changes(problems)
    os.makedirs(args.out, exist_ok=True)

    commit = git("rev-parse", "HEAD") or "unknown"
    describe = git("describe", "--always", "--dirty") or "unknown"
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    stages = sorted(runs)
    subtitle = (f"Sund {describe} (commit {commit[:12]}), generated {now.isoformat()}; "
                f"test results: {', '.join(stages) if stages else 'none (run make evidence)'}")

    by_req = {r: [] for r in reqs}
    for t in tests:
        t["status"], t["stages"] = result_of(t, runs)
        for r in t["reqs"]:
            if r in by_req:
                by_req[r].append(t)
    for r, req in reqs.items():
        req["tests"] = by_req[r]
        req["status"] = requirement_status([t["status"] for t in by_req[r]])
    for risk in risks.values():
        statuses = [reqs[r]["status"] for r in risk["reqs"] if r in reqs]
        if not statuses:
            risk["status"] = "untested"
        elif "failed" in statuses:
            risk["status"] = "failed"
        elif all(s == "verified" for s in statuses):
            risk["status"] = "verified"
        elif "untested" in statuses:
            risk["status"] = "untested"
        else:
            risk["status"] = "not run"

    # traceability.csv and .html
    with open(os.path.join(args.out, "traceability.csv"), "w", newline="",
              encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["requirement", "statement", "status", "test", "test file", "test result"]
                   + stages)
        for r in sorted(reqs):
            req = reqs[r]
            if not req["tests"]:
                w.writerow([r, req["text"], req["status"], "", "", ""] + [""] * len(stages))
            for t in req["tests"]:
                w.writerow([r, req["text"], req["status"], t["name"],
                            f"{t['file']}:{t['line']}", t["status"]]
                           + [t["stages"].get(s, "") for s in stages])
        for t in tests:
            if not t["reqs"]:
                w.writerow(["(none)", "", "", t["name"], f"{t['file']}:{t['line']}",
                            t["status"]] + [t["stages"].get(s, "") for s in stages])

    counts = {}
    for req in reqs.values():
        counts[req["status"]] = counts.get(req["status"], 0) + 1
    untagged = [t for t in tests if not t["reqs"]]
    areas = sorted({req["area"] for req in reqs.values()})
    body = io.StringIO()
    body.write("<table><tr><th>area</th><th>requirements</th><th>verified</th><th>failed</th>"
               "<th>not run</th><th>untested</th></tr>")
    for a in areas:
        rs = [q for q in reqs.values() if q["area"] == a]
        c = lambda s: sum(1 for q in rs if q["status"] == s)  # noqa: E731
        body.write(f"<tr><td>{a}</td><td>{len(rs)}</td><td>{c('verified')}</td>"
                   f"<td>{c('failed')}</td><td>{c('not run')}</td><td>{c('untested')}</td></tr>")
    body.write("</table>")
    body.write("<table><tr><th>requirement</th><th>statement</th><th>status</th><th>tests</th>"
               "</tr>")
    for r in sorted(reqs, key=lambda x: (reqs[x]["area"], x)):
        req = reqs[r]
        tl = "<br>".join(
            f"<span class='{cls(t['status'])}'>{esc(t['name'])}</span> "
            f"<span class='muted'>{esc(t['status'])}"
            + (" (" + ", ".join(f"{s}: {v}" for s, v in sorted(t["stages"].items())) + ")"
               if t["stages"] else "") + "</span>"
            for t in req["tests"]) or "<b>no test</b>"
        body.write(f"<tr id='{r}'><td><code>{r}</code></td><td>{esc(req['text'])}</td>"
                   f"<td class='{cls(req['status'])}'>{req['status']}</td><td>{tl}</td></tr>")
    body.write("</table>")
    body.write(f"<h2>Tests without a requirement ({len(untagged)} of {len(tests)})</h2><table>"
               "<tr><th>test</th><th>file</th><th>result</th></tr>")
    for t in untagged:
        body.write(f"<tr><td>{esc(t['name'])}</td><td><code>{esc(t['file'])}:{t['line']}</code>"
                   f"</td><td class='{cls(t['status'])}'>{t['status']}</td></tr>")
    body.write("</table>")
    with open(os.path.join(args.out, "traceability.html"), "w", encoding="utf-8") as f:
        f.write(page("Traceability: requirements, tests, results", body.getvalue(), subtitle))

    # risks.html
    body = io.StringIO()
    body.write("<table><tr><th>risk</th><th>hazard and cause</th><th>harm, severity, "
               "probability</th><th>control</th><th>requirements</th><th>residual</th>"
               "<th>control verified</th></tr>")
    for rid in sorted(risks):
        k = risks[rid]
        rl = "<br>".join(f"<a href='traceability.html#{r}'>{r}</a> "
                         f"<span class='{cls(reqs[r]['status'])}'>{reqs[r]['status']}</span>"
                         for r in k["reqs"] if r in reqs)
        body.write(f"<tr><td><code>{rid}</code><br><b>{esc(k['title'])}</b></td>"
                   f"<td>{esc(k.get('hazard', ''))}<br><i>Cause:</i> {esc(k.get('cause', ''))}"
                   f"</td><td>{esc(k.get('harm', ''))}<br>{esc(k.get('severity', ''))}, "
                   f"{esc(k.get('probability', ''))}</td><td>{esc(k.get('control', ''))}</td>"
                   f"<td>{rl}</td><td>{esc(k.get('residual', ''))}</td>"
                   f"<td class='{cls(k['status'])}'>{k['status']}</td></tr>")
    body.write("</table>")
    with open(os.path.join(args.out, "risks.html"), "w", encoding="utf-8") as f:
        f.write(page("Risk register", body.getvalue(), subtitle))
    with open(os.path.join(args.out, "risks.csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["risk", "title"] + RISK_FIELDS + ["control verified"])
        for rid in sorted(risks):
            k = risks[rid]
            w.writerow([rid, k["title"]] + [k.get(x, "") for x in RISK_FIELDS] + [k["status"]])

    # soup.csv and .html
    soup_fields = ["ecosystem", "name", "version", "license", "role", "via", "component", "use",
                   "class", "failure", "source", "arch"]
    with open(os.path.join(args.out, "soup.csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(soup_fields)
        for row in rows:
            w.writerow([row[x] for x in soup_fields])
    body = io.StringIO()
    body.write("<p>Curated entries: <code>docs/soup/</code>. Versions and licences are read "
               "from this machine (dpkg, /usr/share/doc/*/copyright, package-lock.json). "
               "Role: <i>install-deps</i> (named by scripts/install-deps.sh), <i>linked</i> "
               "(a library a Sund binary loads), <i>transitive</i> (loaded by one of those, or an "
               "npm package another depends on), <i>direct</i> (an npm package.json "
               "dependency).</p>")
    body.write("<h2>Components</h2><table><tr><th>component</th><th>packages</th><th>use</th>"
               "<th>class</th><th>failure and control</th></tr>")
    for c in comps:
        body.write(f"<tr><td><b>{esc(c['name'])}</b><br>{esc(c['title'])}</td>"
                   f"<td><code>{esc(' '.join(c['patterns']))}</code></td>"
                   f"<td>{esc(c.get('use', ''))}</td><td>{esc(c.get('class', ''))}</td>"
                   f"<td>{esc(c.get('failure', ''))}</td></tr>")
    body.write("</table><h2>Packages</h2><table><tr>"
               + "".join(f"<th>{x}</th>" for x in soup_fields[:7]) + "</tr>")
    for row in rows:
        body.write("<tr>" + "".join(f"<td>{esc(row[x])}</td>" for x in soup_fields[:7])
                   + "</tr>")
    body.write("</table>")
    with open(os.path.join(args.out, "soup.html"), "w", encoding="utf-8") as f:
        f.write(page("SOUP: software of unknown provenance", body.getvalue(), subtitle))

    # CycloneDX 1.5 SBOM
    components = []
    for row in rows:
        if row["ecosystem"] == "deb":
            purl = (f"pkg:deb/debian/{row['name']}@{quote(row['version'], safe='.-_~')}"
                    + (f"?arch={row['arch']}" if row["arch"] else "")
                    + ("&" if row["arch"] else "?") + "distro=debian-12")
        else:
            purl = f"pkg:npm/{row['name'].replace('@', '%40')}@{quote(row['version'], safe='.-_~')}"
        # In the product (what sund loads, what it serves to browsers) or only for building and
        # testing it.
        shipped = (row["role"] in ("linked", "transitive") and row["ecosystem"] == "deb") or (
            row["ecosystem"] == "npm" and row["use"].startswith("runtime"))
        comp = {"type": "library", "bom-ref": f"{purl}#{row['source']}", "name": row["name"],
                "version": row["version"], "purl": purl,
                "scope": "required" if shipped else "excluded",
                "properties": [{"name": "sund:role", "value": row["role"]},
                               {"name": "sund:component", "value": row["component"]},
                               {"name": "sund:source", "value": row["source"]}]}
        if row["license"]:
            lic = row["license"]
            # npm records SPDX identifiers and expressions; Debian's short names are not SPDX.
            if row["ecosystem"] == "npm" and re.fullmatch(r"[A-Za-z0-9.-]+", lic):
                comp["licenses"] = [{"license": {"id": lic}}]
            elif row["ecosystem"] == "npm":
                comp["licenses"] = [{"expression": lic}]
            else:
                comp["licenses"] = [{"license": {"name": lic}}]
        components.append(comp)
    serial = uuid.UUID(hashlib.sha256((commit + json.dumps(components, sort_keys=True))
                                      .encode()).hexdigest()[:32], version=4)
    bom = {"bomFormat": "CycloneDX", "specVersion": "1.5", "serialNumber": f"urn:uuid:{serial}",
           "version": 1,
           "metadata": {"timestamp": now.isoformat().replace("+00:00", "Z"),
                        "tools": {"components": [{"type": "application",
                                                  "name": "scripts/evidence.py"}]},
                        "component": {"type": "application", "bom-ref": "sund", "name": "sund",
                                      "version": describe,
                                      "licenses": [{"license": {"id": "Apache-2.0"}}]}},
           "components": components}
    with open(os.path.join(args.out, "sbom.cdx.json"), "w", encoding="utf-8") as f:
        json.dump(bom, f, indent=1)

    # release notes
    with open(os.path.join(args.out, "release-notes.md"), "w", encoding="utf-8") as f:
        f.write(f"# Sund {describe}: release notes\n\nCommit {commit}, {now.date()}. "
                "From the fragments in docs/changes/.\n")
        for kind, title in CHANGE_KINDS:
            items = [c for c in changes if c["kind"] == kind]
            if not items:
                continue
            f.write(f"\n## {title}\n\n")
            for c in sorted(items, key=lambda c: (c["issue"], c["slug"])):
                text = c["text"].replace("\n", "\n  ")
                f.write(f"- {text} (#{c['issue']})\n")

    # index.html
    fails = sum(1 for t in tests if t["status"] == "fail")
    body = io.StringIO()
    body.write("<ul>")
    body.write(f"<li>{len(reqs)} requirements in {len(areas)} areas: "
               + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) + "</li>")
    body.write(f"<li>{len(tests)} tests in the sources, {len(tests) - len(untagged)} traced to "
               f"requirements; {fails} failed in this run</li>")
    body.write(f"<li>{len(risks)} risks, "
               f"{sum(1 for k in risks.values() if k['status'] == 'verified')} with every control "
               "verified</li>")
    body.write(f"<li>{len(rows)} SOUP packages ({sum(1 for r in rows if r['ecosystem'] == 'deb')}"
               f" Debian, {sum(1 for r in rows if r['ecosystem'] == 'npm')} npm) in "
               f"{len(comps)} curated components</li>")
    for stage in stages:
        res = runs[stage]
        c = {s: sum(1 for v, _ in res.values() if v == s) for s in ("pass", "fail", "skip")}
        body.write(f"<li>ctest stage <b>{stage}</b>: {len(res)} tests, {c['pass']} passed, "
                   f"{c['fail']} failed, {c['skip']} skipped</li>")
    body.write("</ul>")
    if problems.items:
        body.write("<h2>Problems</h2><ul>"
                   + "".join(f"<li>{esc(p)}</li>" for p in problems.items) + "</ul>")
    with open(os.path.join(args.out, "index.html"), "w", encoding="utf-8") as f:
        f.write(page("Sund: evidence for the technical file", body.getvalue(), subtitle))

    print(f"evidence: {len(reqs)} requirements ("
          + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) + f"), {len(tests)} tests "
          f"({len(tests) - len(untagged)} traced), {len(risks)} risks, {len(rows)} SOUP packages;"
          f" results from {', '.join(stages) if stages else 'no run'} -> {rel(args.out)}/")
    for p in problems.items:
        print(f"evidence: warning: {p}", file=sys.stderr)
    return 1 if fails or counts.get("failed") else 0


def check(args):
    problems = Problems()
    reqs = read_requirements(problems)
    read_risks(reqs, problems)
    tests = read_tests(reqs, problems)
    stray_tags(problems)
    traced = {r for t in tests for r in t["reqs"]}
    for r, req in sorted(reqs.items()):
        if r not in traced:
            problems.add(f"{req['file']}:{req['line']}", f"{r} has no test (no Verifies: line "
                         "names it)")
    comps = read_soup(problems)
    soup_rows(args.build, comps, problems)
    read_changes(problems)
    if problems.items:
        for p in problems.items:
            print(f"evidence check: {p}", file=sys.stderr)
        print(f"evidence check: {len(problems.items)} problem(s)", file=sys.stderr)
        return 1
    print(f"evidence check: {len(reqs)} requirements, each with a test; every dependency has a "
          "SOUP entry")
    return 0


def main():
    global ROOT
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("command", choices=["generate", "check"])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--results", default=None)
    ap.add_argument("--out", default=None)
    ap.add_argument("--root", default=None, help="the source tree (default: this checkout)")
    args = ap.parse_args()
    if args.root:
        ROOT = os.path.abspath(args.root)
    args.build = os.path.abspath(args.build)
    args.results = os.path.abspath(args.results or os.path.join(args.build, "test-results"))
    args.out = os.path.abspath(args.out or os.path.join(args.build, "evidence"))
    return generate(args) if args.command == "generate" else check(args)


if __name__ == "__main__":
    sys.exit(main())
