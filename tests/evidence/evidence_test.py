"""Tests of scripts/evidence.py (issue #12): `check` must fail when a requirement loses its last
test, an id is unknown, or a dependency has no SOUP entry, and pass on a tree where all is
traced; `generate` must render the results of a test run. Each test builds a small source tree
of its own in a temporary folder. Run: python3 -m unittest tests/evidence/evidence_test.py
"""

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "..", "..", "scripts", "evidence.py")


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def write(root, path, text):
    full = os.path.join(root, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w", encoding="utf-8") as f:
        f.write(textwrap.dedent(text))


class EvidenceTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="sund-evidence-test-")
        self.root = self.tmp.name
        self.build = os.path.join(self.root, "build")
        os.makedirs(self.build)
        write(self.root, "docs/requirements/demo.req", """\
            # The demo module
            REQ-DEMO-001: The thing answers 200.
            REQ-DEMO-002: The thing refuses bad input
              with 400.
            """)
        write(self.root, "docs/risks/demo.risk", """\
            RISK-DEMO-01: Bad input is stored
              hazard: Wrong data in the record.
              cause: Input not checked.
              harm: wrong decision
              severity: serious
              probability: occasional
              control: Input is checked.
              requirements: REQ-DEMO-002
              residual: remote
            """)
        write(self.root, "src/demo/demo_test.cc", """\
            // Verifies: REQ-DEMO-001
            TEST(Demo, Answers200) {}

            // A comment about the test.
            // Verifies: REQ-DEMO-002
            TEST_F(DemoFixture, RefusesBadInput) {}

            TEST(Demo, Untagged) {}

            // Verifies: REQ-DEMO-001
            TEST_P(Param, Works) {}
            """)
        write(self.root, "tests/e2e/demo.test.mjs", """\
            // Verifies: REQ-DEMO-001
            test('the thing over HTTP', async () => {});
            """)
        # A package every Debian machine has, so that the version lookup finds it.
        write(self.root, "scripts/install-deps.sh", """\
            packages=(
              # base
              coreutils
            )
            """)
        write(self.root, "docs/soup/debian.soup", """\
            Coreutils: the basic tools
              packages: deb:coreutils
              use: build. Shell scripts.
              class: A
              failure: A broken script. Control: the scripts run in CI.
            """)
        write(self.root, "web/package.json", json.dumps({"dependencies": {"preact": "1.0.0"}}))
        write(self.root, "docs/soup/npm.soup", """\
            Preact: the UI library
              packages: npm:preact
              use: runtime. The portals.
              class: B
              failure: A wrong page. Control: portal tests.
            """)
        write(self.root, "docs/changes/12-demo.feature.md", "A demo feature.\n")

    def tearDown(self):
        self.tmp.cleanup()

    def run_tool(self, *args):
        return subprocess.run([sys.executable, SCRIPT, *args, "--root", self.root, "--build",
                               self.build], capture_output=True, text=True, check=False)

    def test_check_passes_when_everything_is_traced(self):
        r = self.run_tool("check")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("2 requirements, each with a test", r.stdout)

    def test_check_fails_when_a_requirement_loses_its_last_test(self):
        path = os.path.join(self.root, "src/demo/demo_test.cc")
        text = read(path).replace("// Verifies: REQ-DEMO-002\n", "")
        write("/", path, text)
        r = self.run_tool("check")
        self.assertEqual(r.returncode, 1)
        self.assertIn("REQ-DEMO-002 has no test", r.stderr)

    def test_check_fails_on_an_unknown_or_duplicate_id_and_a_stray_tag(self):
        write(self.root, "src/demo/more_test.cc", """\
            // Verifies: REQ-DEMO-009
            TEST(More, NamesAnUnknownRequirement) {}

            // Verifies: REQ-DEMO-001
            int NotATest();
            """)
        with open(os.path.join(self.root, "docs/requirements/demo.req"), "a",
                  encoding="utf-8") as f:
            f.write("REQ-DEMO-001: Defined again.\n")
        r = self.run_tool("check")
        self.assertEqual(r.returncode, 1)
        self.assertIn("verifies REQ-DEMO-009, which no requirement file defines", r.stderr)
        self.assertIn("REQ-DEMO-001 defined twice", r.stderr)
        self.assertIn("a Verifies: line that no test follows", r.stderr)

    def test_check_fails_on_a_new_debian_package_without_a_soup_entry(self):
        write(self.root, "scripts/install-deps.sh", "packages=(\n  coreutils bash\n)\n")
        r = self.run_tool("check")
        self.assertEqual(r.returncode, 1)
        self.assertIn("Debian package bash (install-deps) has no SOUP entry", r.stderr)

    def test_check_fails_on_a_new_npm_package_without_a_soup_entry(self):
        write(self.root, "web/package.json",
              json.dumps({"dependencies": {"preact": "1.0.0"},
                          "devDependencies": {"left-pad": "1.3.0"}}))
        r = self.run_tool("check")
        self.assertEqual(r.returncode, 1)
        self.assertIn("npm package left-pad (web/package.json) has no SOUP entry", r.stderr)

    def test_check_fails_on_a_risk_naming_an_unknown_requirement(self):
        path = os.path.join(self.root, "docs/risks/demo.risk")
        text = read(path).replace("REQ-DEMO-002", "REQ-DEMO-404")
        write("/", path, text)
        r = self.run_tool("check")
        self.assertEqual(r.returncode, 1)
        self.assertIn("RISK-DEMO-01 names REQ-DEMO-404", r.stderr)

    def test_generate_renders_the_results_of_a_run(self):
        results = os.path.join(self.build, "test-results")
        os.makedirs(results)
        write(results, "main.xml", """\
            <testsuite>
              <testcase name="Demo.Answers200" status="run"/>
              <testcase name="DemoFixture.RefusesBadInput" status="fail"><failure message="x"/></testcase>
              <testcase name="Demo.Untagged" status="run"/>
              <testcase name="Inst/Param.Works/a  # GetParam() = &quot;a&quot;" status="run"/>
              <testcase name="e2e.demo" status="notrun"><skipped message="77"/></testcase>
            </testsuite>
            """)
        out = os.path.join(self.root, "evidence")
        r = self.run_tool("generate", "--out", out)
        self.assertEqual(r.returncode, 1, "a failed test fails generate")
        rows = read(os.path.join(out, "traceability.csv"))
        self.assertIn("REQ-DEMO-001,The thing answers 200.,verified,Demo.Answers200", rows)
        self.assertIn("REQ-DEMO-001,The thing answers 200.,verified,demo: the thing over HTTP",
                      rows)
        self.assertIn("REQ-DEMO-002,The thing refuses bad input with 400.,failed", rows)
        self.assertIn("(none),,,Demo.Untagged", rows)
        self.assertRegex(rows, r"REQ-DEMO-001,[^\n]*,Param\.Works,src/demo/demo_test\.cc:\d+,pass")
        risks = read(os.path.join(out, "risks.csv"))
        self.assertIn("failed", risks.splitlines()[1])
        bom = json.loads(read(os.path.join(out, "sbom.cdx.json")))
        self.assertEqual(bom["bomFormat"], "CycloneDX")
        self.assertEqual(bom["specVersion"], "1.5")
        names = {c["name"] for c in bom["components"]}
        self.assertIn("coreutils", names)
        notes = read(os.path.join(out, "release-notes.md"))
        self.assertIn("- A demo feature. (#12)", notes)


if __name__ == "__main__":
    unittest.main()
