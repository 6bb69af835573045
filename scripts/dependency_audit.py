"""Audit the locked dependencies with pip-audit, or say plainly that it did not run.

pip-audit asks an advisory service about every pinned release: OSV, or PyPI's JSON
API. Each is first probed with one known query and a short timeout, and the audit
runs against the first that gives a real answer. It runs with ``--strict``, so a
release the service cannot answer for fails the audit instead of being skipped: a
partial audit never passes.

When no service answers, the script prints that the audit DID NOT RUN and why, and
exits 0. That is the only way it exits 0 without an audit having passed.

Usage: python scripts/dependency_audit.py REQUIREMENTS.txt...
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

OSV_URL = "https://api.osv.dev/v1/query"
PYPI_URL = "https://pypi.org/pypi"
PROBE_TIMEOUT_SECONDS = 5
# A release with published advisories: a real service knows it and answers for it.
PROBE_PACKAGE, PROBE_VERSION = "jinja2", "2.4.1"


def probe_osv(url: str) -> str | None:
    """None when OSV answers a query, else why not."""
    query = {"package": {"name": PROBE_PACKAGE, "ecosystem": "PyPI"}, "version": PROBE_VERSION}
    request = urllib.request.Request(  # noqa: S310 (an https URL or a test's own)
        url,
        data=json.dumps(query).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    return _probe(request, lambda body: isinstance(body, dict))


def probe_pypi(url: str) -> str | None:
    """None when PyPI's JSON API reports advisories for a release, else why not."""
    request = urllib.request.Request(f"{url}/{PROBE_PACKAGE}/{PROBE_VERSION}/json")  # noqa: S310
    return _probe(request, lambda body: isinstance(body, dict) and "vulnerabilities" in body)


def _probe(request: urllib.request.Request, answers: object) -> str | None:
    try:
        with urllib.request.urlopen(request, timeout=PROBE_TIMEOUT_SECONDS) as response:  # noqa: S310
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code} from {request.full_url}"
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"{request.full_url} unreachable ({reason})"
    except ValueError:
        return f"{request.full_url} did not answer JSON"
    if not callable(answers) or not answers(body):
        return f"{request.full_url} answered something else than advisories"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("requirements", nargs="+", type=Path)
    parser.add_argument("--osv-url", default=OSV_URL)
    parser.add_argument("--pypi-url", default=PYPI_URL)
    args = parser.parse_args(argv)

    reasons: list[str] = []
    service = None
    for name, why_not in (
        ("osv", lambda: probe_osv(args.osv_url)),
        ("pypi", lambda: probe_pypi(args.pypi_url)),
    ):
        reason = why_not()
        if reason is None:
            service = name
            break
        reasons.append(f"{name}: {reason}")
    if service is None:
        sys.stderr.write(
            "DEPENDENCY AUDIT DID NOT RUN: no advisory service answered ("
            + "; ".join(reasons)
            + "). Nothing was audited; run `make audit` where one is reachable.\n"
        )
        return 0

    pip_audit = shutil.which("pip-audit", path=str(Path(sys.executable).parent))
    if pip_audit is None:
        sys.stderr.write("DEPENDENCY AUDIT FAILED: pip-audit is not installed\n")
        return 1
    command = [pip_audit, "--strict", "--disable-pip", "--require-hashes"]
    command += ["--progress-spinner", "off", "--vulnerability-service", service]
    if service == "osv":
        command += ["--osv-url", args.osv_url]
    for requirements in args.requirements:
        command += ["--requirement", str(requirements)]
    sys.stderr.write(f"dependency audit: pip-audit against {service}\n")
    return subprocess.run(command, check=False).returncode  # noqa: S603


if __name__ == "__main__":
    sys.exit(main())
