"""The registration page's metrics, scraped from the real invitation_server's /metrics while the
page is used over HTTP (MariaDB, the Keycloak stand-in, the .eml mail path): a form shown, a
form accepted, forms refused (the password policy, a missing CSRF cookie), the stylesheet, an
unknown path and a malformed request move invitations_page_requests_total{route,code},
invitations_page_accepts_total{outcome} and the latency histogram's counts by exactly those, and
no scrape ever holds a token, an email address or a password.

Run by ctest: registration_metrics_test.py --server … --invitectl … --standin … --mariadb-script …
"""

import re
import socket
import sys
import unittest
import urllib.parse
import urllib.request

import web_env
from registration_http_test import PASSWORD, csrf_cookie, hidden, path_of, request

ARGS = None
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
PAGE_FAMILIES = ("invitations_page_requests_total", "invitations_page_accepts_total",
                 "invitations_page_request_duration_seconds_count")


def parse(text):
    """{(name, frozenset of (label, value)): value} of a Prometheus text exposition."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if not m:
            raise AssertionError("not a sample line: %r" % line)
        labels = frozenset(LABEL.findall(m.group(2) or ""))
        samples[(m.group(1), labels)] = float(m.group(3))
    return samples


def page_deltas(before, after):
    """What changed in the page's families between two scrapes: {(name, labels dict items): +n}."""
    deltas = {}
    for key, value in after.items():
        name, labels = key
        if name in PAGE_FAMILIES and value != before.get(key, 0.0):
            deltas[(name, tuple(sorted(labels)))] = value - before.get(key, 0.0)
    return deltas


def series(name, **labels):
    return (name, tuple(sorted(labels.items())))


class PageMetrics(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # One address sends everything: a burst that fits keeps the rate limit out of the counts.
        cls.env = web_env.Environment(ARGS.server, ARGS.invitectl, ARGS.standin,
                                      ARGS.mariadb_script, web_port_zero=True,
                                      extra_env={"INVITATIONS_TOKEN_RATE_BURST": "1000"})

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def scrape(self):
        with urllib.request.urlopen(self.env.metrics_url, timeout=10) as r:
            return r.read().decode("utf-8")

    def invite(self):
        address = web_env.unique_email("metrics")
        self.env.invite(address)
        link = self.env.link_from_email(address)
        return address, link, link.split("token=")[1]

    def open_form(self, link):
        status, _, body, cookies = request(self.env.web_url, "GET", path_of(link))
        self.assertEqual(status, 200, body)
        return body, csrf_cookie(cookies)[0]

    def post(self, body, cookie, password):
        fields = {"token": hidden(body, "token"), "csrf_token": hidden(body, "csrf_token"),
                  "first_name": "Ada", "last_name": "Lovelace", "username": "",
                  "password": password, "password_confirm": password}
        headers = {"Cookie": "securelink_csrf=%s" % cookie} if cookie else {}
        return request(self.env.web_url, "POST", "/register",
                       body=urllib.parse.urlencode(fields), headers=headers)

    def test_page_traffic_moves_exactly_its_counters_and_never_reaches_a_label(self):
        accepted_email, accepted_link, accepted_token = self.invite()
        refused_email, refused_link, refused_token = self.invite()
        before_text = self.scrape()
        before = parse(before_text)
        # Every series alerts and dashboards rely on exists before any traffic.
        for outcome in ("accepted", "invalid_input", "password_policy", "unavailable", "error"):
            self.assertIn(("invitations_page_accepts_total",
                           frozenset({("outcome", outcome)})), before)
        for route in ("/register", "/static/style.css", "other"):
            self.assertIn(("invitations_page_requests_total",
                           frozenset({("route", route), ("code", "503")})), before)

        # A form shown, then accepted.
        body, cookie = self.open_form(accepted_link)
        status, _, text, _ = self.post(body, cookie, PASSWORD)
        self.assertEqual(status, 200, text)
        listed = self.env.invitectl("list", "--email-query", accepted_email)["invitations"]
        self.assertEqual(listed[0]["state"], "INVITATION_STATE_ACCEPTED")
        # A form shown, then refused by Keycloak's password policy (length 8), then posted
        # without its CSRF cookie (refused before the service).
        body, cookie = self.open_form(refused_link)
        status, _, text, _ = self.post(body, cookie, "short7")
        self.assertEqual(status, 400, text)
        status, _, text, _ = self.post(body, None, PASSWORD)
        self.assertEqual(status, 403, text)
        # The stylesheet, an unknown path carrying a token, and a request line that is not HTTP.
        status, _, _, _ = request(self.env.web_url, "GET", "/static/style.css")
        self.assertEqual(status, 200)
        status, _, _, _ = request(self.env.web_url, "GET", "/invite/%s" % refused_token)
        self.assertEqual(status, 404)
        malformed_status = self.send_malformed("BREW /%s HTCPCP/1.0\r\n\r\n" % refused_token)
        self.assertGreaterEqual(malformed_status, 400)
        self.assertLess(malformed_status, 500)

        after_text = self.scrape()
        self.assertEqual(page_deltas(before, parse(after_text)), {
            series("invitations_page_requests_total", route="/register", code="200"): 3,
            series("invitations_page_requests_total", route="/register", code="400"): 1,
            series("invitations_page_requests_total", route="/register", code="403"): 1,
            series("invitations_page_requests_total", route="/static/style.css", code="200"): 1,
            series("invitations_page_requests_total", route="other", code="404"): 1,
            series("invitations_page_requests_total", route="other",
                   code=str(malformed_status)): 1,
            series("invitations_page_accepts_total", outcome="accepted"): 1,
            series("invitations_page_accepts_total", outcome="password_policy"): 1,
            series("invitations_page_accepts_total", outcome="refused"): 1,
            series("invitations_page_request_duration_seconds_count", route="/register"): 5,
            series("invitations_page_request_duration_seconds_count",
                   route="/static/style.css"): 1,
            series("invitations_page_request_duration_seconds_count", route="other"): 2,
        })
        for text in (before_text, after_text):
            for secret in (accepted_token, refused_token, accepted_email, refused_email,
                           PASSWORD, "short7"):
                self.assertNotIn(secret, text)

    def test_a_dead_link_is_counted_by_what_killed_it(self):
        address, link, token = self.invite()
        body, cookie = self.open_form(link)
        invitation_id = self.env.invitectl("list", "--email-query", address)["invitations"][0]["id"]
        self.env.invitectl("revoke", invitation_id)
        before = parse(self.scrape())
        status, _, text, _ = self.post(body, cookie, PASSWORD)
        self.assertEqual(status, 410, text)
        self.assertEqual(page_deltas(before, parse(self.scrape())), {
            series("invitations_page_requests_total", route="/register", code="410"): 1,
            series("invitations_page_accepts_total", outcome="revoked"): 1,
            series("invitations_page_request_duration_seconds_count", route="/register"): 1,
        })

    def send_malformed(self, raw):
        """Sends `raw` on its own connection; the status of the listener's answer."""
        url = urllib.parse.urlsplit(self.env.web_url)
        with socket.create_connection((url.hostname, url.port), timeout=10) as s:
            s.sendall(raw.encode("ascii"))
            answer = b""
            while b"\r\n" not in answer:
                chunk = s.recv(4096)
                if not chunk:
                    break
                answer += chunk
        m = re.match(rb"HTTP/1\.[01] (\d{3}) ", answer)
        self.assertIsNotNone(m, answer)
        return int(m.group(1))


if __name__ == "__main__":
    ARGS, rest = web_env.parse_args(sys.argv)
    unittest.main(argv=rest, verbosity=2)
