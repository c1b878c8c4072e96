"""HTTP health checks with requests: every wait bounded, every failure said in words."""

from __future__ import annotations

import requests

from havengate.report.model import CheckResult
from havengate.verify.expect import HttpCheck

MAX_REDIRECTS = 5


def http_check(check: HttpCheck, time_left: float) -> CheckResult:
    timeout = max(0.1, min(check.timeout, time_left))
    session = requests.Session()
    session.max_redirects = MAX_REDIRECTS
    try:
        response = session.get(check.url, timeout=(timeout, timeout), stream=True)
        try:
            body = response.raw.read(65536, decode_content=True) if check.body else b""
        finally:
            response.close()
    except requests.TooManyRedirects:
        return CheckResult("http", check.url, False, f"more than {MAX_REDIRECTS} redirects (a loop?)")
    except requests.exceptions.SSLError as exc:
        return CheckResult("http", check.url, False, f"TLS failed: {_reason(exc)}")
    except requests.Timeout:
        return CheckResult("http", check.url, False, f"no answer within {timeout:g} s")
    except requests.ConnectionError as exc:
        return CheckResult("http", check.url, False, f"cannot connect: {_reason(exc)}")
    except requests.RequestException as exc:
        return CheckResult("http", check.url, False, f"request failed: {_reason(exc)}")
    finally:
        session.close()
    low, high = check.status
    if not low <= response.status_code <= high:
        return CheckResult("http", check.url, False,
                           f"status {response.status_code}, expected {low}-{high}")
    if check.body and check.body.encode() not in body:
        return CheckResult("http", check.url, False, f"body lacks {check.body!r}")
    return CheckResult("http", check.url, True, f"status {response.status_code}")


def _reason(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) < 160 else text[:157] + "..."
