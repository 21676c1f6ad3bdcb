"""The registration page at the HTTP level, against the real invitation_server, MariaDB
and the Keycloak stand-in: the security headers on every response, CSRF and Origin refusals,
escaping, each dead-link page, link scanners, the rate limit (also behind a trusted proxy),
overload (503), and that no token reaches the log.

Run by ctest: registration_http_test.py --server … --invitectl … --standin … --mariadb-script …
"""

import http.client
import json
import os
import re
import subprocess
import sys
import threading
import time
import unittest
import urllib.parse
import urllib.request

import web_env

ARGS = None
PASSWORD = "Correct-Horse-7731"


def request(base_url, method, path, body=None, headers=None):
    """One HTTP exchange; returns (status, {lower-case header: value}, body text, all Set-Cookie)."""
    url = urllib.parse.urlsplit(base_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        all_headers = dict(headers or {})
        if body is not None:
            all_headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        conn.request(method, path, body=body, headers=all_headers)
        r = conn.getresponse()
        text = r.read().decode("utf-8")
        return r.status, {k.lower(): v for k, v in r.getheaders()}, text, r.headers.get_all(
            "Set-Cookie") or []
    finally:
        conn.close()


def path_of(link):
    parts = urllib.parse.urlsplit(link)
    return f"{parts.path}?{parts.query}"


def hidden(body, name):
    m = re.search(rf'name="{name}" value="([^"]*)"', body)
    return m.group(1) if m else None


def csrf_cookie(set_cookies):
    for c in set_cookies:
        m = re.match(r"securelink_csrf=([^;]*)", c)
        if m:
            return m.group(1), c
    return None, None


class SecurityHeadersMixin:
    def assertSecurityHeaders(self, headers, tls=False):
        csp = headers.get("content-security-policy", "")
        self.assertIn("default-src 'none'", csp)
        self.assertIn("frame-ancestors 'none'", csp)
        self.assertIn("style-src 'self'", csp)
        self.assertNotIn("unsafe-inline", csp)
        self.assertNotIn("script-src", csp)  # no script may run at all
        self.assertEqual(headers.get("x-content-type-options"), "nosniff")
        self.assertEqual(headers.get("referrer-policy"), "no-referrer")
        self.assertEqual(headers.get("cache-control"), "no-store")
        if tls:
            self.assertIn("max-age=", headers.get("strict-transport-security", ""))
        else:
            self.assertNotIn("strict-transport-security", headers)


class RegistrationPageOverHttp(unittest.TestCase, SecurityHeadersMixin):
    @classmethod
    def setUpClass(cls):
        # Port 0: the bound port is read from the "serving" log line, as e2e_support does. Every
        # request here comes from 127.0.0.1: a burst that fits them all keeps the rate limit
        # (tested on its own below) out of these tests.
        cls.env = web_env.Environment(ARGS.server, ARGS.invitectl, ARGS.standin,
                                      ARGS.mariadb_script, web_port_zero=True,
                                      extra_env={"INVITATIONS_TOKEN_RATE_BURST": "1000"})
        cls.tokens = []

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def invite(self, **kwargs):
        address = web_env.unique_email("http")
        inv = self.env.invite(address, **kwargs)
        link = self.env.link_from_email(address)
        self.tokens.append(link.split("token=")[1])
        return address, inv, link

    def open_form(self, link):
        status, headers, body, cookies = request(self.env.web_url, "GET", path_of(link))
        self.assertEqual(status, 200, body)
        cookie_value, cookie = csrf_cookie(cookies)
        return body, cookie_value, cookie

    def post(self, fields, cookie_value=None, origin=None):
        headers = {}
        if cookie_value is not None:
            headers["Cookie"] = f"securelink_csrf={cookie_value}"
        if origin is not None:
            headers["Origin"] = origin
        return request(self.env.web_url, "POST", "/register",
                       body=urllib.parse.urlencode(fields), headers=headers)

    def form_fields(self, body, **overrides):
        fields = {"token": hidden(body, "token"), "csrf_token": hidden(body, "csrf_token"),
                  "first_name": "Ada", "last_name": "Lovelace", "username": "",
                  "password": PASSWORD, "password_confirm": PASSWORD}
        fields.update(overrides)
        return fields

    def test_form_shows_the_invitation_and_sets_a_strict_csrf_cookie(self):
        address, _, link = self.invite(tenant="acme-http")
        body, cookie_value, cookie = self.open_form(link)
        self.assertIn(address, body)
        self.assertIn("VPN User", body)
        self.assertIn("acme-http", body)
        self.assertIn('<label for="password">', body)
        self.assertIn('name="viewport"', body)
        self.assertIsNotNone(cookie_value)
        self.assertIn("HttpOnly", cookie)
        self.assertIn("SameSite=Strict", cookie)
        self.assertNotIn("Secure", cookie)  # plain http here; see the https test
        self.assertEqual(hidden(body, "csrf_token"), cookie_value)
        self.assertNotIn("<script", body)

    def test_security_headers_on_every_response(self):
        _, _, link = self.invite()
        body, cookie_value, _ = self.open_form(link)
        exchanges = [
            ("GET", path_of(link), None, {}),
            ("HEAD", path_of(link), None, {}),
            ("GET", "/register?token=not-a-real-token", None, {}),
            ("GET", "/register", None, {}),
            ("GET", "/static/style.css", None, {}),
            ("GET", "/", None, {}),
            ("PUT", "/register", "", {}),
            ("POST", "/register", urllib.parse.urlencode(self.form_fields(body)), {}),
            ("POST", "/register", "x" * 100000, {}),
        ]
        for method, path, payload, headers in exchanges:
            with self.subTest(method=method, path=path.split("?")[0]):
                status, got, _, _ = request(self.env.web_url, method, path, payload, headers)
                self.assertGreaterEqual(status, 200)
                self.assertSecurityHeaders(got)
        status, got, css, _ = request(self.env.web_url, "GET", "/static/style.css")
        self.assertEqual(status, 200)
        self.assertTrue(got["content-type"].startswith("text/css"))
        self.assertIn("@media", css)  # the responsive rules for phones
        self.assertNotIn("{{", css)

    def test_post_without_the_csrf_cookie_is_refused_and_nothing_changes(self):
        address, inv, link = self.invite()
        body, _, _ = self.open_form(link)
        status, headers, text, _ = self.post(self.form_fields(body))  # no cookie: a replay
        self.assertEqual(status, 403)
        self.assertIn('id="refused"', text)
        self.assertEqual(self.env.state(inv["id"]), "PENDING")
        self.assertFalse([u for u in self.env.keycloak_users() if u.get("email") == address])

    def test_post_with_a_wrong_csrf_token_is_refused(self):
        _, inv, link = self.invite()
        body, cookie_value, _ = self.open_form(link)
        _, other_cookie, _ = self.open_form(link)  # another page's token
        status, _, text, _ = self.post(self.form_fields(body), cookie_value=other_cookie)
        self.assertEqual(status, 403)
        status, _, text, _ = self.post(self.form_fields(body, csrf_token=""), cookie_value="")
        self.assertEqual(status, 403)
        self.assertEqual(self.env.state(inv["id"]), "PENDING")

    def test_post_from_a_foreign_origin_is_refused_even_with_the_right_token(self):
        _, inv, link = self.invite()
        body, cookie_value, _ = self.open_form(link)
        status, _, text, _ = self.post(self.form_fields(body), cookie_value=cookie_value,
                                       origin="https://evil.example")
        self.assertEqual(status, 403)
        self.assertIn('id="refused"', text)
        self.assertEqual(self.env.state(inv["id"]), "PENDING")

    def test_origin_null_falls_back_to_the_csrf_check_and_the_account_is_created(self):
        address, inv, link = self.invite(tenant="acme-null")
        body, cookie_value, _ = self.open_form(link)
        status, headers, text, cookies = self.post(self.form_fields(body),
                                                   cookie_value=cookie_value, origin="null")
        self.assertEqual(status, 200, text)
        self.assertIn('id="success"', text)
        self.assertIn('href="https://login.example.test/"', text)
        self.assertEqual(self.env.state(inv["id"]), "ACCEPTED")
        users = [u for u in self.env.keycloak_users() if u.get("email") == address]
        self.assertEqual(len(users), 1)
        self.assertEqual(users[0]["attributes"]["tenant_id"], ["acme-null"])
        self.assertIn("securelink-vpn-user", users[0]["realmRoles"])
        # The spent form's cookie is cleared; replaying the same POST with it is "already used".
        self.assertTrue(any("Max-Age=0" in c for c in cookies))
        status, _, text, _ = self.post(self.form_fields(body), cookie_value=cookie_value)
        self.assertEqual(status, 410)
        self.assertIn('data-reason="used"', text)

    def test_the_callers_request_id_follows_the_accept_into_its_event(self):
        _, inv, link = self.invite(tenant="acme-corr")
        status, headers, _, _ = request(self.env.web_url, "GET", path_of(link))
        self.assertEqual(status, 200)
        self.assertRegex(headers.get("x-request-id", ""), r"^[0-9a-f]{32}$")  # one of its own
        body, cookie_value, _ = self.open_form(link)
        status, headers, text, _ = request(
            self.env.web_url, "POST", "/register",
            body=urllib.parse.urlencode(self.form_fields(body)),
            headers={"Cookie": f"securelink_csrf={cookie_value}", "X-Request-Id": "page-corr-7"})
        self.assertEqual(status, 200, text)
        self.assertEqual(headers.get("x-request-id"), "page-corr-7")
        accepted = []
        deadline = time.monotonic() + 20
        while not accepted and time.monotonic() < deadline:
            accepted = [e for e in self.env.events("acme-corr")
                        if e["type"] == "INVITATION_EVENT_TYPE_ACCEPTED"
                        and e["invitationId"] == inv["id"]]
        self.assertEqual(len(accepted), 1)
        self.assertEqual(accepted[0].get("requestId"), "page-corr-7")

    def test_own_origin_is_accepted(self):
        _, inv, link = self.invite()
        body, cookie_value, _ = self.open_form(link)
        status, _, text, _ = self.post(self.form_fields(body), cookie_value=cookie_value,
                                       origin=self.env.web_url)
        self.assertEqual(status, 200, text)
        self.assertEqual(self.env.state(inv["id"]), "ACCEPTED")

    def test_script_in_a_name_is_rendered_as_text(self):
        _, inv, link = self.invite()
        body, cookie_value, _ = self.open_form(link)
        evil = '<script>alert("x")</script>'
        status, _, text, _ = self.post(
            self.form_fields(body, first_name=evil, last_name='"><img src=x>',
                             password_confirm="different-7731"),
            cookie_value=cookie_value)
        self.assertEqual(status, 400)
        self.assertNotIn("<script>", text)
        self.assertNotIn("<img", text)
        self.assertIn("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;", text)
        self.assertIn("&quot;&gt;&lt;img src=x&gt;", text)

    def test_mismatched_confirmation_never_reaches_keycloak(self):
        address, inv, link = self.invite()
        body, cookie_value, _ = self.open_form(link)
        status, _, text, _ = self.post(
            self.form_fields(body, first_name="Grace", password_confirm=PASSWORD + "x"),
            cookie_value=cookie_value)
        self.assertEqual(status, 400)
        self.assertIn("do not match", text)
        self.assertIn('value="Grace"', text)
        self.assertNotIn(PASSWORD, text)  # passwords are never echoed back
        self.assertEqual(self.env.state(inv["id"]), "PENDING")
        self.assertFalse([u for u in self.env.keycloak_users() if u.get("email") == address])

    def test_names_the_realm_requires_are_required_before_anything_reaches_keycloak(self):
        # The realm's user profile requires firstName and lastName of users. Keycloak's Admin API
        # would create the account without them, and its owner would then meet a profile form
        # at the first login (VERIFY_PROFILE) instead of being done here.
        address, inv, link = self.invite()
        body, cookie_value, _ = self.open_form(link)
        self.assertRegex(body, r'<input id="first_name" name="first_name"[^>]* required[ >]')
        self.assertRegex(body, r'<input id="last_name" name="last_name"[^>]* required[ >]')
        status, _, text, cookies = self.post(
            self.form_fields(body, first_name="", last_name="  ", username="ada.l"),
            cookie_value=cookie_value)
        self.assertEqual(status, 400, text)
        self.assertIn('id="first_name-error">First name is required.<', text)
        self.assertIn('id="last_name-error">Last name is required.<', text)
        self.assertIn('value="ada.l"', text, "what was typed is kept")
        self.assertEqual(self.env.state(inv["id"]), "PENDING")
        self.assertFalse([u for u in self.env.keycloak_users() if u.get("email") == address])

        # The same form, completed: the account has what the realm requires and logs in.
        cookie_value, _ = csrf_cookie(cookies)
        status, _, text, _ = self.post(self.form_fields(text, first_name="Ada",
                                                        last_name="Lovelace"),
                                       cookie_value=cookie_value)
        self.assertEqual(status, 200, text)
        (user,) = [u for u in self.env.keycloak_users() if u.get("email") == address]
        self.assertEqual((user["firstName"], user["lastName"]), ("Ada", "Lovelace"))
        self.assertEqual(user["loginRequiredActions"], [])
        self.assertEqual(self.env.keycloak_login(address, PASSWORD), 200)

    def test_unknown_and_superseded_links_get_the_same_page(self):
        _, inv, link = self.invite()
        self.env.invitectl("resend", inv["id"])
        s1, h1, superseded, _ = request(self.env.web_url, "GET", path_of(link))
        s2, h2, unknown, _ = request(self.env.web_url, "GET",
                                     "/register?token=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        s3, _, missing, _ = request(self.env.web_url, "GET", "/register")
        self.assertEqual((s1, s2, s3), (404, 404, 404))
        self.assertIn('data-reason="invalid"', superseded)
        self.assertEqual(superseded, unknown)
        self.assertEqual(unknown, missing)

    def test_revoked_link_page(self):
        _, inv, link = self.invite()
        self.env.invitectl("revoke", inv["id"])
        status, headers, text, _ = request(self.env.web_url, "GET", path_of(link))
        self.assertEqual(status, 410)
        self.assertIn('data-reason="revoked"', text)
        self.assertSecurityHeaders(headers)

    def test_expired_link_page_says_to_ask_for_a_resend(self):
        _, inv, link = self.invite(ttl="2s")
        def expired_page():
            status, _, text, _ = request(self.env.web_url, "GET", path_of(link))
            return text if status == 410 else None
        text = web_env.wait_for(expired_page, "the link to expire", timeout=30, interval=0.5)
        self.assertIn('data-reason="expired"', text)
        self.assertIn("resend the invitation", text)

    def test_link_scanners_opening_the_link_change_nothing(self):
        # SPEC §10: mail security scanners GET and HEAD links; only the form's POST accepts.
        tenant = f"scan-{os.getpid()}"  # a tenant of its own: its feed is this invitation's
        address, inv, link = self.invite(tenant=tenant)

        def event_types():
            return [e["type"].replace("INVITATION_EVENT_TYPE_", "")
                    for e in self.env.events(tenant)]
        web_env.wait_for(lambda: "EMAIL_SENT" in event_types(), "the EMAIL_SENT event")
        events_before = event_types()
        before = self.env.get(inv["id"])
        self.assertEqual(before["state"], "INVITATION_STATE_PENDING")
        for _ in range(3):
            status, _, body, _ = request(self.env.web_url, "GET", path_of(link))
            self.assertEqual(status, 200, body)
            status, headers, body, _ = request(self.env.web_url, "HEAD", path_of(link))
            self.assertEqual(status, 200)
            self.assertEqual(body, "")
            self.assertGreater(int(headers["content-length"]), 0)
        self.assertEqual(self.env.get(inv["id"]), before)  # still PENDING, not a field changed
        self.assertFalse([u for u in self.env.keycloak_users() if u.get("email") == address])

        # The link still works for the form's POST.
        body, cookie_value, _ = self.open_form(link)
        status, _, text, _ = self.post(self.form_fields(body), cookie_value=cookie_value)
        self.assertEqual(status, 200, text)
        self.assertEqual(self.env.state(inv["id"]), "ACCEPTED")
        # The feed is in commit order: once ACCEPTED is on it, anything the scans had recorded
        # would be before it.
        types = web_env.wait_for(lambda: (lambda t: t if "ACCEPTED" in t else None)(event_types()),
                                 "the ACCEPTED event")
        self.assertEqual(types[:types.index("ACCEPTED")], events_before)

    def test_zz_no_token_ever_reaches_the_log(self):
        log = self.env.log()
        self.assertIn('"msg":"http request"', log)
        self.assertNotIn("token=", log)
        for token in self.tokens:
            self.assertNotIn(token, log)
        self.assertNotIn(PASSWORD, log)


class RegistrationPageBehindTls(unittest.TestCase, SecurityHeadersMixin):
    """A public https:// base URL (TLS terminated in front of the service): HSTS and Secure
    cookies; and a small rate limit shared with the token RPCs."""

    @classmethod
    def setUpClass(cls):
        cls.env = web_env.Environment(
            ARGS.server, ARGS.invitectl, ARGS.standin, ARGS.mariadb_script,
            extra_env={"INVITATIONS_REGISTRATION_BASE_URL": "https://register.example.test/register",
                       "INVITATIONS_TOKEN_RATE_PER_SECOND": "0.001",
                       "INVITATIONS_TOKEN_RATE_BURST": "3"})

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def test_hsts_and_secure_cookie(self):
        address = web_env.unique_email("tls")
        self.env.invite(address)
        link = web_env.wait_for(lambda: self.env.link_from_email(address), "the email")
        self.assertTrue(link.startswith("https://register.example.test/register?token="))
        status, headers, body, cookies = request(self.env.web_url, "GET", path_of(link))
        self.assertEqual(status, 200, body)
        self.assertSecurityHeaders(headers, tls=True)
        _, cookie = csrf_cookie(cookies)
        self.assertIn("Secure", cookie)
        # The public origin is accepted by the Origin check.
        status, _, text, _ = request(
            self.env.web_url, "POST", "/register",
            body=urllib.parse.urlencode({"token": hidden(body, "token"),
                                         "csrf_token": hidden(body, "csrf_token"),
                                         "first_name": "A", "last_name": "B",
                                         "password": PASSWORD, "password_confirm": PASSWORD}),
            headers={"Cookie": f"securelink_csrf={hidden(body, 'csrf_token')}",
                     "Origin": "https://register.example.test"})
        self.assertEqual(status, 200, text)

    def test_zz_rate_limit_gives_a_429_page(self):
        statuses = []
        for _ in range(5):
            status, headers, text, _ = request(self.env.web_url, "GET", "/register?token=x")
            statuses.append(status)
            if status == 429:
                self.assertIn('id="rate-limited"', text)
                self.assertSecurityHeaders(headers, tls=True)
                break
        self.assertEqual(statuses[-1], 429, statuses)
        # Without --web_trusted_proxies a forged X-Forwarded-For buys no fresh bucket.
        status, _, _, _ = request(self.env.web_url, "GET", "/register?token=x",
                                  headers={"X-Forwarded-For": "203.0.113.50"})
        self.assertEqual(status, 429)
        # The stylesheet is not rate-limited.
        status, _, _, _ = request(self.env.web_url, "GET", "/static/style.css")
        self.assertEqual(status, 200)


class RegistrationPageBehindAProxy(unittest.TestCase):
    """--web_trusted_proxies=127.0.0.1/32: this test plays the proxy, so X-Forwarded-For names
    the client, and each client behind the proxy has a rate-limit bucket of its own."""

    @classmethod
    def setUpClass(cls):
        cls.env = web_env.Environment(
            ARGS.server, ARGS.invitectl, ARGS.standin, ARGS.mariadb_script, web_port_zero=True,
            extra_env={"INVITATIONS_WEB_TRUSTED_PROXIES": "127.0.0.1/32",
                       "INVITATIONS_TOKEN_RATE_PER_SECOND": "0.001",
                       "INVITATIONS_TOKEN_RATE_BURST": "3"})

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def test_clients_behind_the_proxy_have_separate_buckets(self):
        address = web_env.unique_email("proxy")
        self.env.invite(address)
        link = self.env.link_from_email(address)
        statuses = []
        for _ in range(5):
            status, _, _, _ = request(self.env.web_url, "GET", "/register?token=x",
                                      headers={"X-Forwarded-For": "198.51.100.1"})
            statuses.append(status)
            if status == 429:
                break
        self.assertEqual(statuses[-1], 429, statuses)
        # Another invitee behind the same proxy still has a whole burst.
        status, _, body, _ = request(self.env.web_url, "GET", path_of(link),
                                     headers={"X-Forwarded-For": "198.51.100.2"})
        self.assertEqual(status, 200, body)
        # What a client writes left of the address the proxy appended does not count.
        status, _, _, _ = request(self.env.web_url, "GET", "/register?token=x",
                                  headers={"X-Forwarded-For": "198.51.100.2, 198.51.100.1"})
        self.assertEqual(status, 429)
        # The log names the client, not the proxy.
        self.assertIn('"client":"198.51.100.2"', self.env.log())


class TrustedProxiesSetting(unittest.TestCase):
    def test_a_bad_cidr_stops_start_up_naming_the_setting(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("INVITATIONS_")}
        env.update({"INVITATIONS_AUTH": "disabled",
                    "INVITATIONS_WEB_TRUSTED_PROXIES": "10.0.0.0/8, 10.0.0.0/33"})
        done = subprocess.run([ARGS.server], env=env, capture_output=True, text=True, timeout=60)
        self.assertNotEqual(done.returncode, 0)
        output = done.stdout + done.stderr
        self.assertIn("--web_trusted_proxies", output)
        self.assertIn("10.0.0.0/33", output)


class RegistrationPageUnderOverload(unittest.TestCase, SecurityHeadersMixin):
    """One worker and no queue: while an accept holds the worker (Keycloak answers slowly), other
    page requests are refused at once with a 503 page rather than queued."""

    @classmethod
    def setUpClass(cls):
        cls.env = web_env.Environment(
            ARGS.server, ARGS.invitectl, ARGS.standin, ARGS.mariadb_script,
            extra_env={"INVITATIONS_WORKER_THREADS": "1", "INVITATIONS_WORKER_QUEUE_CAPACITY": "0"})

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def standin(self, method, path, body=None):
        req = urllib.request.Request(self.env.standin_url + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read() or b"null")

    def test_full_worker_pool_gives_a_503_page_and_the_running_accept_completes(self):
        address = web_env.unique_email("busy")
        inv = self.env.invite(address)
        link = self.env.link_from_email(address)
        status, _, body, cookies = request(self.env.web_url, "GET", path_of(link))
        self.assertEqual(status, 200, body)
        cookie_value, _ = csrf_cookie(cookies)
        # The accept's first Keycloak user lookup takes 5 s; a count-1 fault leaves the stand-in's
        # fault list the moment that request arrives, which is when the worker is surely busy.
        self.standin("POST", "/_standin/faults",
                     {"delay_ms": 5000, "count": 1, "path_contains": "/users"})
        result = {}
        def accept():
            result["response"] = request(
                self.env.web_url, "POST", "/register",
                body=urllib.parse.urlencode({
                    "token": hidden(body, "token"), "csrf_token": hidden(body, "csrf_token"),
                    "first_name": "Busy", "last_name": "Bee", "password": PASSWORD,
                    "password_confirm": PASSWORD}),
                headers={"Cookie": f"securelink_csrf={cookie_value}"})
        worker = threading.Thread(target=accept)
        worker.start()
        web_env.wait_for(lambda: not self.standin("GET", "/_standin/faults")["faults"],
                         "the slow Keycloak request to start")
        status, headers, text, _ = request(self.env.web_url, "GET", path_of(link))
        self.assertEqual(status, 503)
        self.assertIn('id="busy"', text)
        self.assertEqual(headers.get("retry-after"), "5")
        self.assertSecurityHeaders(headers)
        worker.join(timeout=60)
        self.assertEqual(result["response"][0], 200, result["response"][2])
        self.assertEqual(self.env.state(inv["id"]), "ACCEPTED")


if __name__ == "__main__":
    ARGS, rest = web_env.parse_args(sys.argv)
    unittest.main(argv=rest, verbosity=2)
