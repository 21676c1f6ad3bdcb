"""The registration page in a real browser: Debian's chromium driven headless by
python3-selenium through chromium-driver, against the real invitation_server, MariaDB, the .eml
mail path and the Keycloak stand-in. The invitee's whole journey, each dead-link page, Keycloak's
password policy, a mismatched confirmation, a cross-site form post, and escaping.

Run by ctest: registration_browser_test.py --server … --invitectl … --standin … --mariadb-script …
"""

import os
import shutil
import sys
import tempfile
import unittest

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

import web_env

ARGS = None
PASSWORD = "Correct-Horse-7731"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def start_browser(profile_dir):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # Root on a server without a display or GPU; nothing but the pages under test on the network.
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 f"--user-data-dir={profile_dir}", "--window-size=412,915"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    return driver


class RegistrationInABrowser(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.env = web_env.Environment(ARGS.server, ARGS.invitectl, ARGS.standin,
                                      ARGS.mariadb_script)
        cls.profile = tempfile.mkdtemp(prefix="chromium-profile-")
        try:
            cls.browser = start_browser(cls.profile)
        except BaseException:
            cls.env.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.browser.quit()
        shutil.rmtree(cls.profile, ignore_errors=True)
        cls.env.close()

    def invite(self, tenant="acme", **kwargs):
        address = web_env.unique_email("browser")
        inv = self.env.invite(address, tenant=tenant, **kwargs)
        return address, inv, self.env.link_from_email(address)

    def text_of(self, element_id):
        return self.browser.find_element(By.ID, element_id).text

    def value_of(self, element_id):
        return self.browser.find_element(By.ID, element_id).get_attribute("value")

    def fill(self, first="Ada", last="Lovelace", password=PASSWORD, confirm=PASSWORD,
             username=None):
        b = self.browser
        for field, value in (("first_name", first), ("last_name", last)):
            b.find_element(By.ID, field).clear()
            b.find_element(By.ID, field).send_keys(value)
        if username is not None:
            b.find_element(By.ID, "username").clear()
            b.find_element(By.ID, "username").send_keys(username)
        b.find_element(By.ID, "password").send_keys(password)
        # Keyboard only: type the confirmation and press Enter to submit. Pressing Enter does not
        # wait for the answer: wait until the form's page has been replaced by the next one.
        # A mark on the form's window: a new document gets a new window object without it.
        # (Selenium's staleness_of asks the old element, and chromedriver can answer that with a
        # generic error while the navigation is half done.)
        b.execute_script("window.formPageMark = true;")
        b.find_element(By.ID, "password_confirm").send_keys(confirm + Keys.ENTER)
        WebDriverWait(b, 60, ignored_exceptions=(WebDriverException,)).until(
            lambda d: d.execute_script(
                "return window.formPageMark !== true && document.readyState === 'complete';"))

    def test_the_whole_journey_from_the_email_to_an_account(self):
        address, inv, link = self.invite(tenant="acme-browser")
        self.browser.get(link)
        self.assertEqual(self.text_of("invited-email"), address)
        self.assertEqual(self.text_of("invited-role"), "VPN User")
        self.assertEqual(self.text_of("invited-tenant"), "acme-browser")
        self.assertEqual(self.value_of("username"), address)  # the default username
        # Every input a person fills has a label.
        for field in ("first_name", "last_name", "username", "password", "password_confirm"):
            self.assertTrue(self.browser.find_elements(By.CSS_SELECTOR, f'label[for="{field}"]'),
                            field)
        # The stylesheet loaded despite the strict CSP (styles come from a file, not inline).
        bar = self.browser.find_element(By.CSS_SELECTOR, ".bar")
        self.assertNotEqual(bar.value_of_css_property("background-color"), "rgba(0, 0, 0, 0)")
        # Readable on a phone (the window is 412 px wide): nothing wider than the screen.
        self.assertLessEqual(
            self.browser.execute_script("return document.documentElement.scrollWidth"),
            self.browser.execute_script("return window.innerWidth"))
        self.fill(first="Ada", last="Lovelace")
        self.assertIn("has been created", self.text_of("success"))
        self.assertEqual(self.browser.find_element(By.ID, "login-link").get_attribute("href"),
                         "https://login.example.test/")
        self.assertEqual(self.env.state(inv["id"]), "ACCEPTED")
        users = [u for u in self.env.keycloak_users() if u.get("email") == address]
        self.assertEqual(len(users), 1)
        user = users[0]
        self.assertEqual(user["firstName"], "Ada")
        self.assertEqual(user["lastName"], "Lovelace")
        self.assertEqual(user["attributes"]["tenant_id"], ["acme-browser"])
        self.assertEqual(user["attributes"]["invitation_id"], [inv["id"]])
        self.assertIn("securelink-vpn-user", user["realmRoles"])
        # Opening the link again: already used, with the way to log in.
        self.browser.get(link)
        self.assertEqual(self.browser.find_element(By.ID, "dead-link").get_attribute("data-reason"),
                         "used")

    def test_password_policy_rejection_keeps_the_form_filled(self):
        address, inv, link = self.invite()
        self.browser.get(link)
        self.fill(first="Grace", last="Hopper", password="short-1", confirm="short-1")
        self.assertIn("Invalid password: minimum length 12", self.text_of("password-error"))
        self.assertEqual(self.value_of("first_name"), "Grace")
        self.assertEqual(self.value_of("last_name"), "Hopper")
        self.assertEqual(self.value_of("username"), address)
        self.assertEqual(self.value_of("password"), "")
        self.assertEqual(self.env.state(inv["id"]), "PENDING")
        # Corrected, the same form goes through.
        self.fill(first="Grace", last="Hopper")
        self.assertIn("has been created", self.text_of("success"))
        self.assertEqual(self.env.state(inv["id"]), "ACCEPTED")

    def test_mismatched_confirmation_is_caught_before_keycloak(self):
        address, inv, link = self.invite()
        self.browser.get(link)
        self.fill(first="Alan", password=PASSWORD, confirm=PASSWORD + "!")
        self.assertIn("do not match", self.text_of("password_confirm-error"))
        self.assertEqual(self.value_of("first_name"), "Alan")
        self.assertEqual(self.env.state(inv["id"]), "PENDING")
        self.assertFalse([u for u in self.env.keycloak_users() if u.get("email") == address])

    def test_script_in_a_name_is_shown_as_text(self):
        _, inv, link = self.invite()
        self.browser.get(link)
        evil = '<script>document.title="pwned"</script>'
        self.fill(first=evil, password=PASSWORD, confirm=PASSWORD + "!")
        self.assertEqual(self.value_of("first_name"), evil)  # shown back literally
        self.assertNotEqual(self.browser.title, "pwned")
        self.assertFalse(self.browser.find_elements(By.CSS_SELECTOR, "main script"))

    def test_dead_link_pages(self):
        _, revoked, revoked_link = self.invite()
        self.env.invitectl("revoke", revoked["id"])
        _, resent, superseded_link = self.invite()
        self.env.invitectl("resend", resent["id"])
        _, _, expiring_link = self.invite(ttl="2s")
        cases = [(revoked_link, "revoked", "withdrawn"),
                 (superseded_link, "invalid", "not valid"),
                 (self.env.web_url + "/register?token=nonsense", "invalid", "not valid")]
        for link, reason, words in cases:
            with self.subTest(reason=reason):
                self.browser.get(link)
                dead = self.browser.find_element(By.ID, "dead-link")
                self.assertEqual(dead.get_attribute("data-reason"), reason)
                self.assertIn(words, self.browser.find_element(By.TAG_NAME, "h1").text)

        def expired_shown():
            self.browser.get(expiring_link)
            found = self.browser.find_elements(By.ID, "dead-link")
            return found and found[0].get_attribute("data-reason") == "expired"
        web_env.wait_for(expired_shown, "the expired page", timeout=30, interval=0.5)
        self.assertIn("resend the invitation", self.browser.find_element(By.ID, "dead-link").text)

    def test_cross_site_form_post_is_refused(self):
        _, inv, link = self.invite()
        self.browser.get(link)  # the invitee has a live form (and its cookie) in this browser
        token = self.browser.find_element(By.NAME, "token").get_attribute("value")
        # Another site (a data: URL is an opaque, foreign origin) auto-submits a copy of the form.
        attacker = (
            "data:text/html,<form id=f method=post action='" + self.env.web_url + "/register'>"
            "<input name=token value='" + token + "'><input name=csrf_token value=guess>"
            "<input name=first_name value=Mallory><input name=password value='" + PASSWORD +
            "'><input name=password_confirm value='" + PASSWORD + "'>"
            "<button id=go>go</button></form>")
        self.browser.get(attacker)
        self.browser.find_element(By.ID, "go").click()
        web_env.wait_for(lambda: self.browser.find_elements(By.ID, "refused"),
                         "the refusal page")
        self.assertEqual(self.env.state(inv["id"]), "PENDING")


class RegistrationInTheInvitationsLanguage(unittest.TestCase):
    """SPEC §11: the page speaks the invitation's language, whatever the browser prefers (this
    Chromium asks for English)."""

    @classmethod
    def setUpClass(cls):
        import registration_language_test as lang
        lang.ARGS = ARGS
        cls.stub_dir = tempfile.mkdtemp(prefix="lang-stubs-")
        cls.lenv = lang.LanguageEnvironment(lang.load_stubs(cls.stub_dir))
        cls.path_of = staticmethod(lang.path_of)
        cls.profile = tempfile.mkdtemp(prefix="chromium-profile-")
        try:
            cls.browser = start_browser(cls.profile)
        except BaseException:
            cls.lenv.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.browser.quit()
        shutil.rmtree(cls.profile, ignore_errors=True)
        shutil.rmtree(cls.stub_dir, ignore_errors=True)
        cls.lenv.close()

    def text_of(self, element_id):
        return self.browser.find_element(By.ID, element_id).text

    def test_german_form_with_a_translated_error(self):
        _, _, link = self.lenv.invite("de-AT")
        b = self.browser
        # The page listens on a port of its own choosing: the link's path on the page's address.
        b.get(self.lenv.env.web_url + self.path_of(link))
        self.assertEqual(b.execute_script("return document.documentElement.lang"), "de")
        self.assertEqual(b.find_element(By.CSS_SELECTOR, 'label[for="first_name"]').text,
                         "Vorname")
        self.assertEqual(self.text_of("invited-role"), "VPN-Benutzer")
        self.assertIn(" um ", self.text_of("invited-expiry"))
        self.assertEqual(b.find_element(By.CSS_SELECTOR, "button[type=submit]").text,
                         "Mein Konto anlegen")
        b.find_element(By.ID, "first_name").send_keys("Ada")
        b.find_element(By.ID, "last_name").send_keys("Lovelace")
        b.find_element(By.ID, "password").send_keys(PASSWORD)
        b.execute_script("window.formPageMark = true;")
        b.find_element(By.ID, "password_confirm").send_keys(PASSWORD + "!" + Keys.ENTER)
        WebDriverWait(b, 60, ignored_exceptions=(WebDriverException,)).until(
            lambda d: d.execute_script(
                "return window.formPageMark !== true && document.readyState === 'complete';"))
        self.assertEqual(self.text_of("password_confirm-error"),
                         "Die beiden Passwörter stimmen nicht überein.")
        self.assertEqual(b.execute_script("return document.documentElement.lang"), "de")

    def test_french_revoked_page(self):
        _, inv, link = self.lenv.invite("fr")
        self.lenv.env.invitectl("revoke", inv.id)
        self.browser.get(self.lenv.env.web_url + self.path_of(link))
        self.assertEqual(self.browser.execute_script("return document.documentElement.lang"),
                         "fr")
        self.assertEqual(self.browser.find_element(By.TAG_NAME, "h1").text,
                         "Cette invitation a été retirée")


if __name__ == "__main__":
    ARGS, rest = web_env.parse_args(sys.argv)
    unittest.main(argv=rest, verbosity=2)
