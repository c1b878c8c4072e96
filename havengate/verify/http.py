"""HTTP health checks with requests: every wait bounded, every failure said in words."""

from __future__ import annotations

import time

import requests
import urllib3

from havengate.model import CheckResult
from havengate.verify.expect import HttpCheck

MAX_REDIRECTS = 5


def http_check(check: HttpCheck, time_left: float) -> CheckResult:
    timeout = max(0.1, min(check.timeout, time_left))
    deadline = time.monotonic() + timeout
    session = requests.Session()
    session.max_redirects = MAX_REDIRECTS
    try:
        response = session.get(check.url, timeout=(timeout, timeout), stream=True)
        try:
            body = _body(response, deadline) if check.body else b""
        finally:
            response.close()
    except _Slow:
        return CheckResult("http", check.url, False, f"body not read within {timeout:g} s")
    except urllib3.exceptions.HTTPError as exc:  # raised while streaming the body
        return CheckResult("http", check.url, False, f"reading the body failed: {_reason(exc)}")
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


class _Slow(Exception):
    """The body trickles in slower than the check's timeout allows."""


def _body(response: requests.Response, deadline: float) -> bytes:
    """Up to 64 KiB of the body, read against one deadline (not one per recv)."""
    body = b""
    for chunk in response.iter_content(4096):
        body += chunk
        if len(body) >= 65536:
            break
        if time.monotonic() > deadline:
            raise _Slow
    return body


def _reason(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) < 160 else text[:157] + "..."
