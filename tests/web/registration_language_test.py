"""The registration page in the invitation's language (SPEC §11), at the HTTP level against the
real invitation_server, MariaDB and the Keycloak stand-in: the form in German and French
(lang attribute, Content-Language, labels, the localized expiry), a translated validation error,
dead-link pages in the invitation's language, de-AT falling back to de, the browser's
Accept-Language ignored, and an operator-added language (nl) for both the email and the page.

Invitations with a locale are created over gRPC with stubs generated here from the repository's
proto (invitectl's create has no --locale).

Run by ctest: registration_language_test.py --server … --invitectl … --standin … --mariadb-script …
"""

import email
import email.policy
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
import urllib.parse

import web_env
from registration_http_test import csrf_cookie, hidden, path_of, request

ARGS = None
PASSWORD = "Correct-Horse-7731"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load_stubs(out_dir):
    """The InvitationService's Python messages and stub, generated from proto/ into out_dir."""
    subprocess.run(
        ["protoc", f"-I{REPO}/proto", "-I/usr/include", f"--python_out={out_dir}",
         f"--grpc_python_out={out_dir}",
         "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin",
         "securelink/invitations/v1/invitation_service.proto"], check=True)
    sys.path.insert(0, out_dir)
    import grpc  # noqa: E402  (Debian's python3-grpcio)
    from securelink.invitations.v1 import invitation_service_pb2 as pb  # noqa: E402
    from securelink.invitations.v1 import invitation_service_pb2_grpc as pb_grpc  # noqa: E402
    return grpc, pb, pb_grpc


class LanguageEnvironment:
    """web_env.Environment plus CreateInvitation with a locale over gRPC."""

    def __init__(self, stubs, **kwargs):
        self.grpc, self.pb, pb_grpc = stubs
        self.env = web_env.Environment(ARGS.server, ARGS.invitectl, ARGS.standin,
                                       ARGS.mariadb_script, web_port_zero=True, **kwargs)
        self.channel = self.grpc.insecure_channel(self.env.grpc_address)
        self.stub = pb_grpc.InvitationServiceStub(self.channel)

    def close(self):
        self.channel.close()
        self.env.close()

    def create(self, address, locale="", tenant="acme", ttl_seconds=None):
        req = self.pb.CreateInvitationRequest(email=address, role=self.pb.ROLE_VPN_USER,
                                              tenant_id=tenant, locale=locale)
        if ttl_seconds is not None:
            req.ttl.seconds = ttl_seconds
        return self.stub.CreateInvitation(req, timeout=30)

    def invite(self, locale="", **kwargs):
        address = web_env.unique_email("lang")
        created = self.create(address, locale, **kwargs)
        link = self.env.link_from_email(address)
        return address, created.invitation, link

    def email_to(self, address):
        """The delivered message for `address` (an email.message.EmailMessage)."""
        for path in glob.glob(os.path.join(self.env.mail_dir, "**", "*.eml"), recursive=True):
            with open(path, "rb") as f:
                msg = email.message_from_binary_file(f, policy=email.policy.default)
            if msg["To"] and address in str(msg["To"]):
                return msg
        return None


class PageInTheInvitationsLanguage(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stub_dir = tempfile.mkdtemp(prefix="lang-stubs-")
        cls.stubs = load_stubs(cls.stub_dir)
        cls.lenv = LanguageEnvironment(
            cls.stubs, extra_env={"INVITATIONS_TOKEN_RATE_BURST": "1000"})
        cls.env = cls.lenv.env

    @classmethod
    def tearDownClass(cls):
        cls.lenv.close()
        shutil.rmtree(cls.stub_dir, ignore_errors=True)

    def get(self, link, headers=None):
        return request(self.env.web_url, "GET", path_of(link), headers=headers)

    def test_german_form_is_german_throughout(self):
        address, inv, link = self.lenv.invite("de")
        self.assertEqual(inv.locale, "de")
        status, headers, body, _ = self.get(link)
        self.assertEqual(status, 200, body)
        self.assertEqual(headers.get("content-language"), "de")
        self.assertIn('<html lang="de">', body)
        self.assertIn('<label for="first_name">Vorname</label>', body)
        self.assertIn("Mein Konto anlegen", body)
        self.assertIn("VPN-Benutzer", body)
        self.assertRegex(body, r'id="invited-expiry">\w+, \d{1,2}\. \w+ \d{4} um \d\d:\d\d UTC<')
        self.assertNotIn("Create my account", body)
        # The email of the same invitation is German too.
        msg = self.lenv.email_to(address)
        self.assertEqual(msg["Content-Language"], "de")
        self.assertIn("Ihre Einladung zu SecureLink", str(msg["Subject"]))

    def test_french_form_and_a_browser_asking_for_english_gets_french(self):
        _, inv, link = self.lenv.invite("fr")
        status, headers, body, _ = self.get(link, headers={"Accept-Language": "en-US,en;q=0.9"})
        self.assertEqual(status, 200, body)
        self.assertEqual(headers.get("content-language"), "fr")
        self.assertIn('<html lang="fr">', body)
        self.assertIn("Créer mon compte", body)
        self.assertIn("Utilisateur VPN", body)
        self.assertRegex(body, r'id="invited-expiry">\w+ \d{1,2} \w+ \d{4} à \d\d h \d\d UTC<')

    def test_austrian_german_falls_back_to_german(self):
        _, inv, link = self.lenv.invite("de-AT")
        self.assertEqual(inv.locale, "de")
        _, headers, body, _ = self.get(link)
        self.assertEqual(headers.get("content-language"), "de")
        self.assertIn("Vorname", body)

    def submit_form(self, link, **overrides):
        """Opens the form of `link` and posts it with Ada's details and `overrides`."""
        _, _, body, cookies = self.get(link)
        cookie_value, _ = csrf_cookie(cookies)
        fields = {"token": hidden(body, "token"), "csrf_token": hidden(body, "csrf_token"),
                  "first_name": "Ada", "last_name": "Lovelace", "username": "",
                  "password": PASSWORD, "password_confirm": PASSWORD}
        fields.update(overrides)
        status, headers, text, _ = request(
            self.env.web_url, "POST", "/register", body=urllib.parse.urlencode(fields),
            headers={"Cookie": f"securelink_csrf={cookie_value}"})
        return status, headers, text

    def test_a_validation_error_is_shown_in_the_invitations_language(self):
        _, _, link = self.lenv.invite("de")
        status, headers, text = self.submit_form(link, password_confirm=PASSWORD + "x")
        self.assertEqual(status, 400, text)
        self.assertEqual(headers.get("content-language"), "de")
        self.assertIn("Die beiden Passwörter stimmen nicht überein.", text)
        self.assertNotIn("do not match", text)

    def test_a_missing_name_is_reported_in_the_invitations_language(self):
        _, _, link = self.lenv.invite("fr")
        status, headers, text = self.submit_form(link, last_name="")
        self.assertEqual(status, 400, text)
        self.assertEqual(headers.get("content-language"), "fr")
        self.assertIn('id="last_name-error">Le champ «\u202fNom\u202f» est obligatoire.<', text)
        self.assertIn('id="first_name-error"><', text)

    def test_revoked_page_is_in_the_invitations_language(self):
        _, inv, link = self.lenv.invite("fr")
        self.env.invitectl("revoke", inv.id)
        status, headers, text, _ = self.get(link)
        self.assertEqual(status, 410)
        self.assertEqual(headers.get("content-language"), "fr")
        self.assertIn('data-reason="revoked"', text)
        self.assertIn("Cette invitation a été retirée", text)

    def test_expired_page_is_in_the_invitations_language(self):
        _, _, link = self.lenv.invite("de", ttl_seconds=2)

        def expired_page():
            status, headers, text, _ = self.get(link)
            return (headers, text) if status == 410 else None
        headers, text = web_env.wait_for(expired_page, "the link to expire", timeout=30,
                                         interval=0.5)
        self.assertEqual(headers.get("content-language"), "de")
        self.assertIn('data-reason="expired"', text)
        self.assertIn("Diese Einladung ist abgelaufen", text)

    def test_an_unknown_link_is_english(self):
        status, headers, text, _ = request(
            self.env.web_url, "GET", "/register?token=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            headers={"Accept-Language": "de"})
        self.assertEqual(status, 404)
        self.assertEqual(headers.get("content-language"), "en")
        self.assertIn('<html lang="en">', text)


def write_dutch(mail_dir, web_dir):
    """An operator's nl/ for the email and the page: the English sets with Dutch words."""
    for src, dst in ((f"{REPO}/server/mail/templates/en", f"{mail_dir}/nl"),
                     (f"{REPO}/server/web/templates/en", f"{web_dir}/nl")):
        shutil.copytree(src, dst)
    dates = ("weekdays = maandag, dinsdag, woensdag, donderdag, vrijdag, zaterdag, zondag\n"
             "months = januari, februari, maart, april, mei, juni, juli, augustus, september, "
             "oktober, november, december\n"
             "pattern = {weekday} {day} {month} {year} om {hour}:{minute} UTC\n")
    for d in (mail_dir, web_dir):
        with open(f"{d}/nl/dates.conf", "w") as f:
            f.write(dates)
    with open(f"{mail_dir}/nl/subject.txt", "w") as f:
        f.write("Uw uitnodiging voor {{product_name}}\n")
    with open(f"{web_dir}/nl/register.html") as f:
        page = f.read()
    with open(f"{web_dir}/nl/register.html", "w") as f:
        f.write(page.replace(">First name</label>", ">Voornaam</label>"))


class OperatorAddedLanguage(unittest.TestCase):
    def test_a_dutch_directory_serves_dutch_email_and_page_without_rebuild(self):
        stub_dir = tempfile.mkdtemp(prefix="lang-stubs-")
        templates = tempfile.mkdtemp(prefix="lang-templates-")
        mail_dir, web_dir = f"{templates}/mail", f"{templates}/web"
        os.makedirs(mail_dir)
        os.makedirs(web_dir)
        write_dutch(mail_dir, web_dir)
        lenv = LanguageEnvironment(load_stubs(stub_dir), extra_env={
            "INVITATIONS_MAIL_TEMPLATE_DIR": mail_dir, "INVITATIONS_WEB_TEMPLATE_DIR": web_dir})
        try:
            self.assertIn('"available":"de,en,fr,nl"', lenv.env.log())
            address, inv, link = lenv.invite("nl-BE")
            self.assertEqual(inv.locale, "nl")
            msg = lenv.email_to(address)
            self.assertEqual(msg["Content-Language"], "nl")
            self.assertEqual(str(msg["Subject"]), "Uw uitnodiging voor SecureLink")
            self.assertRegex(msg.get_body(preferencelist=("plain",)).get_content(),
                             r"\w+ \d{1,2} \w+ \d{4} om \d\d:\d\d UTC")
            status, headers, body, _ = request(lenv.env.web_url, "GET", path_of(link))
            self.assertEqual(status, 200, body)
            self.assertEqual(headers.get("content-language"), "nl")
            self.assertIn('<html lang="nl">', body)
            self.assertIn(">Voornaam</label>", body)
        finally:
            lenv.close()
            shutil.rmtree(stub_dir, ignore_errors=True)
            shutil.rmtree(templates, ignore_errors=True)

    def test_an_incomplete_language_stops_the_server_naming_the_file(self):
        templates = tempfile.mkdtemp(prefix="lang-templates-")
        os.makedirs(f"{templates}/nl")
        with open(f"{templates}/nl/subject.txt", "w") as f:
            f.write("Uw uitnodiging\n")
        try:
            with self.assertRaises(RuntimeError) as raised:
                env = web_env.Environment(ARGS.server, ARGS.invitectl, ARGS.standin,
                                          ARGS.mariadb_script, web_port_zero=True,
                                          extra_env={"INVITATIONS_MAIL_TEMPLATE_DIR": templates})
                env.close()
            self.assertIn("nl/body.txt is missing", str(raised.exception))
        finally:
            shutil.rmtree(templates, ignore_errors=True)


if __name__ == "__main__":
    ARGS, rest = web_env.parse_args(sys.argv)
    sys.argv = rest
    unittest.main(argv=rest, verbosity=2)
