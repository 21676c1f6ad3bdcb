#!/usr/bin/python3
"""keycloak_standin.py answers as Keycloak's token endpoint and Admin REST API do.

Run: /usr/bin/python3 -m unittest -v keycloak_standin_test (from this directory).
"""

import base64
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "keycloak_standin.py")
TOKEN_PATH = "/realms/securelink/protocol/openid-connect/token"
USERS = "/admin/realms/securelink/users"


class Standin:
    """keycloak_standin.py on a free port, serving the realm export (its default) unless `args`
    override parts of it; `secret` None leaves the service client's secret to the export."""

    def __init__(self, *args, secret="s3cret", env=None):
        self.dir = tempfile.TemporaryDirectory(prefix="keycloak-standin-test-")
        self.args = list(args) + (["--client-secret", secret] if secret is not None else [])
        self.env = dict(os.environ, **(env or {}))
        self.port = 0
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            [sys.executable, SCRIPT, "--port", str(self.port),
             "--state-file", os.path.join(self.dir.name, "state.json")] + self.args,
            stdout=subprocess.PIPE, text=True, env=self.env)
        line = self.proc.stdout.readline()
        assert line.startswith("LISTENING "), line
        self.port = int(line.split()[1])

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()

    def close(self):
        self.stop()
        self.dir.cleanup()

    def call(self, method, path, body=None, headers=None, form=None):
        data, hdrs = None, dict(headers or {})
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            hdrs.setdefault("Content-Type", "application/x-www-form-urlencoded")
        elif body is not None:
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data,
                                     headers=hdrs, method=method)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                raw = r.read()
                return r.status, (json.loads(raw) if raw else None), dict(r.headers)
        except urllib.error.HTTPError as e:
            raw = e.read()
            return e.code, (json.loads(raw) if raw else None), dict(e.headers)

    def token(self):
        status, body, _ = self.call("POST", TOKEN_PATH, form={
            "grant_type": "client_credentials", "client_id": "securelink-invitations",
            "client_secret": "s3cret"})
        assert status == 200, body
        return body["access_token"]

    def admin(self, method, path, body=None):
        return self.call(method, path, body, {"Authorization": "Bearer " + self.token()})

    def login(self, username, password, client_id="admin-cli"):
        """A password grant, as one checks that a user can log in: (status, body)."""
        status, body, _ = self.call("POST", TOKEN_PATH, form={
            "grant_type": "password", "client_id": client_id, "username": username,
            "password": password})
        return status, body

    def user_path(self, rep):
        status, body, headers = self.admin("POST", USERS, rep)
        assert status == 201, (status, body)
        return urllib.parse.urlsplit(headers["Location"]).path


def new_user(name, **extra):
    rep = {"username": name, "email": f"{name}@example.com", "enabled": True,
           "emailVerified": True, "firstName": "Ada", "lastName": "Lovelace",
           "credentials": [{"type": "password", "value": "long-enough-1", "temporary": False}],
           "attributes": {"tenant_id": ["t-1"], "invitation_id": [f"inv-{name}"]}}
    rep.update(extra)
    return rep


class TokenEndpointTest(unittest.TestCase):
    def setUp(self):
        self.kc = Standin()

    def tearDown(self):
        self.kc.close()

    def test_client_credentials_in_the_form_or_basic_auth(self):
        self.assertTrue(self.kc.token())
        basic = base64.b64encode(b"securelink-invitations:s3cret").decode()
        status, body, headers = self.kc.call("POST", TOKEN_PATH,
                                             form={"grant_type": "client_credentials"},
                                             headers={"Authorization": "Basic " + basic})
        self.assertEqual(status, 200)
        self.assertEqual(body["token_type"], "Bearer")
        self.assertEqual(body["expires_in"], 300)
        self.assertEqual(len(body["access_token"].split(".")), 3, "a JWT-shaped token")
        self.assertEqual(headers.get("Cache-Control"), "no-store")

    def test_wrong_secret_and_unknown_client_are_401(self):
        status, body, _ = self.kc.call("POST", TOKEN_PATH, form={
            "grant_type": "client_credentials", "client_id": "securelink-invitations",
            "client_secret": "nope"})
        self.assertEqual((status, body["error"]), (401, "unauthorized_client"))
        self.assertEqual(body["error_description"], "Invalid client or Invalid client credentials")
        status, body, _ = self.kc.call("POST", TOKEN_PATH, form={
            "grant_type": "client_credentials", "client_id": "who", "client_secret": "s3cret"})
        self.assertEqual((status, body["error"]), (401, "invalid_client"))

    def test_unsupported_grant_and_unknown_realm(self):
        status, body, _ = self.kc.call("POST", TOKEN_PATH, form={
            "grant_type": "authorization_code", "client_id": "securelink-invitations",
            "client_secret": "s3cret"})
        self.assertEqual((status, body["error"]), (400, "unsupported_grant_type"))
        status, body, _ = self.kc.call(
            "POST", "/realms/nope/protocol/openid-connect/token",
            form={"grant_type": "client_credentials"})
        self.assertEqual((status, body), (404, {"error": "Realm does not exist"}))

    def test_password_grant_through_admin_cli_logs_a_created_user_in(self):
        self.assertEqual(self.kc.admin("POST", USERS, new_user("ada"))[0], 201)
        self.assertEqual(self.kc.login("ada", "long-enough-1")[0], 200)
        status, body = self.kc.login("ada", "wrong")
        self.assertEqual((status, body["error"]), (401, "invalid_grant"))
        # Login with the email works too (loginWithEmailAllowed).
        self.assertEqual(self.kc.login("ada@example.com", "long-enough-1")[0], 200)


class AdminApiTest(unittest.TestCase):
    def setUp(self):
        self.kc = Standin()

    def tearDown(self):
        self.kc.close()

    def test_admin_calls_need_a_valid_bearer(self):
        status, body, headers = self.kc.call("GET", USERS)
        self.assertEqual((status, body), (401, {"error": "HTTP 401 Unauthorized"}))
        self.assertEqual(headers.get("WWW-Authenticate"), "Bearer")
        status, _, _ = self.kc.call("GET", USERS, headers={"Authorization": "Bearer forged"})
        self.assertEqual(status, 401)

    def test_expired_token_is_401(self):
        self.kc.call("POST", "/_standin/config", {"token_lifetime": 0})
        token = self.kc.token()
        status, _, _ = self.kc.call("GET", USERS, headers={"Authorization": "Bearer " + token})
        self.assertEqual(status, 401)

    def test_unknown_realm_is_404(self):
        status, body, _ = self.kc.admin("GET", "/admin/realms/elsewhere/users")
        self.assertEqual((status, body), (404, {"error": "Realm not found."}))

    def test_create_answers_201_with_location_and_lowercases_names(self):
        status, body, headers = self.kc.admin("POST", USERS, new_user("Ada", email="Ada@X.io"))
        self.assertEqual((status, body), (201, None))
        location = headers["Location"]
        self.assertTrue(location.startswith(f"http://127.0.0.1:{self.kc.port}{USERS}/"), location)
        user_id = location.rsplit("/", 1)[1]
        status, user, _ = self.kc.admin("GET", f"{USERS}/{user_id}")
        self.assertEqual(status, 200)
        self.assertEqual((user["username"], user["email"]), ("ada", "ada@x.io"))
        self.assertNotIn("credentials", user)

    def test_undeclared_attributes_are_silently_dropped(self):
        rep = new_user("ada")
        rep["attributes"]["favourite_colour"] = ["teal"]
        self.assertEqual(self.kc.admin("POST", USERS, rep)[0], 201)
        _, users, _ = self.kc.admin("GET", USERS + "?username=ada&exact=true")
        self.assertEqual(users[0]["attributes"],
                         {"tenant_id": ["t-1"], "invitation_id": ["inv-ada"]})

    def test_duplicates_are_409_naming_username_or_email(self):
        self.kc.admin("POST", USERS, new_user("ada"))
        status, body, _ = self.kc.admin("POST", USERS, new_user("ada", email="x@example.com"))
        self.assertEqual((status, body), (409, {"errorMessage": "User exists with same username"}))
        status, body, _ = self.kc.admin("POST", USERS, new_user("bob", email="ADA@example.com"))
        self.assertEqual((status, body), (409, {"errorMessage": "User exists with same email"}))

    def test_password_policy_is_400_in_keycloaks_words_and_creates_nothing(self):
        rep = new_user("ada")
        rep["credentials"][0]["value"] = "short"
        status, body, _ = self.kc.admin("POST", USERS, rep)
        self.assertEqual(status, 400)
        self.assertEqual(body, {"error": "invalidPasswordMinLengthMessage",
                                "error_description": "Invalid password: minimum length 12."})
        self.assertEqual(self.kc.call("GET", "/_standin/users")[1], [])

    def test_profile_errors_one_shrunk_several_listed(self):
        status, body, _ = self.kc.admin("POST", USERS, new_user("ada", firstName="<b>"))
        self.assertEqual(status, 400)
        self.assertEqual(body, {"field": "firstName",
                                "errorMessage": "error-person-name-invalid-character",
                                "params": ["firstName"]})
        status, body, _ = self.kc.admin("POST", USERS,
                                        new_user("ab", email="not-an-email", lastName="(x)"))
        self.assertEqual(status, 400)
        self.assertEqual([e["field"] for e in body["errors"]], ["username", "email", "lastName"])
        status, body, _ = self.kc.admin("POST", USERS, {"email": "x@example.com"})
        self.assertEqual((status, body), (400, {"errorMessage": "User name is missing"}))

    def test_search_semantics(self):
        for name in ("alice", "alicia", "bob"):
            self.kc.admin("POST", USERS, new_user(name))
        names = lambda q: [u["username"] for u in self.kc.admin("GET", USERS + "?" + q)[1]]
        self.assertEqual(names("search=ali"), ["alice", "alicia"])        # prefix by default
        self.assertEqual(names("search=%22alice%22"), ["alice"])          # "exact"
        self.assertEqual(names("search=*lic*"), ["alice", "alicia"])      # infix
        self.assertEqual(names("email=lice%40example.com"), ["alice"])    # substring
        self.assertEqual(names("email=lice%40example.com&exact=true"), [])
        self.assertEqual(names("email=ALICE%40example.com&exact=true"), ["alice"])
        self.assertEqual(names("q=invitation_id:inv-bob"), ["bob"])
        self.assertEqual(names("q=invitation_id:INV-BOB"), ["bob"])       # case-insensitive
        self.assertEqual(names("q=invitation_id:inv-bo"), [])             # exact by default
        self.assertEqual(names("q=invitation_id:inv-bo&exact=false"), ["bob"])
        self.assertEqual(names("q=tenant_id:t-1%20invitation_id:inv-alice"), ["alice"])
        self.assertEqual(names("first=1&max=1"), ["alicia"])
        status, count, _ = self.kc.admin("GET", USERS + "/count?search=ali")
        self.assertEqual((status, count), (200, 2))
        brief = self.kc.admin("GET", USERS + "?username=bob&briefRepresentation=true")[1][0]
        self.assertNotIn("attributes", brief)

    def test_quoted_search_values(self):
        rep = new_user("odd")
        rep["attributes"]["invitation_id"] = ['a b"c']
        self.kc.admin("POST", USERS, rep)
        q = urllib.parse.quote('invitation_id:"a b\\"c"')
        self.assertEqual(len(self.kc.admin("GET", f"{USERS}?q={q}")[1]), 1)

    def test_put_replaces_declared_attributes_and_404s(self):
        _, _, headers = self.kc.admin("POST", USERS, new_user("ada"))
        user_path = urllib.parse.urlsplit(headers["Location"]).path
        status, _, _ = self.kc.admin("PUT", user_path, {
            "attributes": {"tenant_id": ["t-2"], "undeclared": ["x"]}, "firstName": "Grace"})
        self.assertEqual(status, 204)
        user = self.kc.admin("GET", user_path)[1]
        self.assertEqual((user["firstName"], user["attributes"]), ("Grace", {"tenant_id": ["t-2"]}))
        status, body, _ = self.kc.admin("GET", USERS + "/no-such-id")
        self.assertEqual((status, body), (404, {"error": "User not found"}))
        self.assertEqual(self.kc.admin("DELETE", user_path)[0], 204)
        self.assertEqual(self.kc.admin("GET", user_path)[0], 404)

    def test_put_without_attributes_clears_them_as_keycloak_24_does(self):
        _, _, headers = self.kc.admin("POST", USERS, new_user("ada"))
        user_path = urllib.parse.urlsplit(headers["Location"]).path
        self.assertEqual(self.kc.admin("PUT", user_path, {"enabled": False})[0], 204)
        user = self.kc.admin("GET", user_path)[1]
        self.assertEqual((user["enabled"], user.get("attributes")), (False, None))

    def test_reset_password_replaces_the_password_and_applies_the_policy(self):
        _, _, headers = self.kc.admin("POST", USERS, new_user("ada"))
        user_path = urllib.parse.urlsplit(headers["Location"]).path
        status, body, _ = self.kc.admin("PUT", user_path + "/reset-password",
                                        {"type": "password", "value": "short",
                                         "temporary": False})
        self.assertEqual((status, body["error"]), (400, "invalidPasswordMinLengthMessage"))
        status, _, _ = self.kc.admin("PUT", user_path + "/reset-password",
                                     {"type": "password", "value": "another-long-2",
                                      "temporary": False})
        self.assertEqual(status, 204)

        self.assertEqual(self.kc.login("ada", "long-enough-1")[0], 401)
        self.assertEqual(self.kc.login("ada", "another-long-2")[0], 200)

    def test_roles_and_role_mappings(self):
        status, body, _ = self.kc.admin("GET", "/admin/realms/securelink/roles/nope")
        self.assertEqual((status, body), (404, {"error": "Could not find role"}))
        status, role, _ = self.kc.admin("GET",
                                        "/admin/realms/securelink/roles/securelink-vpn-user")
        self.assertEqual(status, 200)
        self.assertEqual((role["name"], role["clientRole"], role["composite"]),
                         ("securelink-vpn-user", False, False))
        _, _, headers = self.kc.admin("POST", USERS, new_user("ada"))
        mappings = urllib.parse.urlsplit(headers["Location"]).path + "/role-mappings/realm"
        self.assertEqual(self.kc.admin("POST", mappings, [{"id": role["id"],
                                                           "name": role["name"]}])[0], 204)
        status, body, _ = self.kc.admin("POST", mappings, [{"id": "nope", "name": "x"}])
        self.assertEqual((status, body), (404, {"error": "Role not found"}))
        names = [r["name"] for r in self.kc.admin("GET", mappings)[1]]
        self.assertEqual(sorted(names), ["default-roles-securelink", "securelink-vpn-user"])
        self.assertEqual(self.kc.admin("DELETE", mappings, [{"id": role["id"],
                                                             "name": role["name"]}])[0], 204)
        names = [r["name"] for r in self.kc.admin("GET", mappings)[1]]
        self.assertEqual(names, ["default-roles-securelink"])

    def test_missing_realm_management_role_is_403(self):
        self.kc.call("POST", "/_standin/config", {"service_account_roles": ["view-users"]})
        status, body, _ = self.kc.admin("POST", USERS, new_user("ada"))
        self.assertEqual((status, body), (403, {"error": "HTTP 403 Forbidden"}))
        self.assertEqual(self.kc.admin("GET", USERS)[0], 200)

    def test_user_profile_endpoint_declares_the_configured_attributes(self):
        status, config, _ = self.kc.admin("GET", USERS + "/profile")
        self.assertEqual(status, 200)
        names = [a["name"] for a in config["attributes"]]
        self.assertEqual(names, ["username", "email", "firstName", "lastName", "tenant_id",
                                 "invitation_id"])
        self.assertNotIn("unmanagedAttributePolicy", config)


class RealmFileTest(unittest.TestCase):
    """By default the stand-in is the realm deploy/ ships: its policy, profile, roles, clients."""

    def setUp(self):
        self.kc = Standin()

    def tearDown(self):
        self.kc.close()

    def test_the_realms_password_policy_applies(self):
        _, _, headers = self.kc.admin("POST", USERS, new_user("ada"))
        reset = urllib.parse.urlsplit(headers["Location"]).path + "/reset-password"

        def refusal(password):
            status, body, _ = self.kc.admin("PUT", reset, {"type": "password", "value": password,
                                                           "temporary": False})
            return status, body and body.get("error")
        self.assertEqual(refusal("elevenchars"), (400, "invalidPasswordMinLengthMessage"))
        self.assertEqual(refusal("x" * 129), (400, "invalidPasswordMaxLengthMessage"))
        self.assertEqual(refusal("ADA@example.com"), (400, "invalidPasswordNotEmailMessage"))
        self.assertEqual(refusal("twelve-chars"), (204, None))
        rep = new_user("longusername1")
        rep["credentials"][0]["value"] = "LongUsername1"
        status, body, _ = self.kc.admin("POST", USERS, rep)
        self.assertEqual((status, body["error"]), (400, "invalidPasswordNotUsernameMessage"))

    def test_tenant_id_outside_the_profiles_pattern_is_400_with_keycloaks_body(self):
        rep = new_user("ada")
        rep["attributes"]["tenant_id"] = ["bad tenant!"]
        status, body, _ = self.kc.admin("POST", USERS, rep)
        self.assertEqual(status, 400)
        self.assertEqual(body, {
            "field": "tenant_id",
            "errorMessage": "Tenant ids use letters, digits, '.', '_' and '-' only.",
            "params": ["tenant_id", "^[A-Za-z0-9._-]+$"]})
        self.assertEqual(self.kc.call("GET", "/_standin/users")[1], [], "nothing is created")

    def test_too_long_values_name_the_bound_the_profile_sets(self):
        rep = new_user("ada", lastName="L" * 256)
        rep["attributes"]["tenant_id"] = ["t" * 65]
        status, body, _ = self.kc.admin("POST", USERS, rep)
        self.assertEqual(status, 400)
        self.assertEqual(body["errors"], [
            {"field": "lastName", "errorMessage": "error-invalid-length-too-long",
             "params": ["lastName", None, 255]},
            {"field": "tenant_id", "errorMessage": "error-invalid-length-too-long",
             "params": ["tenant_id", None, 64]}])

    def test_an_update_is_validated_too(self):
        user_path = self.kc.user_path(new_user("ada"))
        status, body, _ = self.kc.admin("PUT", user_path, {
            "firstName": "Ada", "lastName": "Lovelace",
            "attributes": {"tenant_id": ["no/slashes"], "invitation_id": ["inv-ada"]}})
        self.assertEqual((status, body["field"]), (400, "tenant_id"))
        self.assertEqual(self.kc.admin("GET", user_path)[1]["attributes"]["tenant_id"], ["t-1"])

    def test_admin_may_create_a_user_without_names_who_then_cannot_log_in(self):
        # firstName/lastName are required of users (roles ["user"]), not of admins: Keycloak
        # creates the account and asks for them at the first login (VERIFY_PROFILE), which a
        # password grant cannot show.
        rep = new_user("ada")
        del rep["firstName"], rep["lastName"]
        user_path = self.kc.user_path(rep)
        (user,) = self.kc.call("GET", "/_standin/users")[1]
        self.assertEqual(user["loginRequiredActions"], ["VERIFY_PROFILE"])
        self.assertEqual(user["requiredActions"], [], "not stored on the user: checked at login")
        self.assertEqual(self.kc.login("ada", "long-enough-1"),
                         (400, {"error": "invalid_grant",
                                "error_description": "Account is not fully set up"}))
        self.assertEqual(self.kc.admin("PUT", user_path, {
            "firstName": "Ada", "lastName": "Lovelace",
            "attributes": rep["attributes"]})[0], 204)
        self.assertEqual(self.kc.login("ada", "long-enough-1")[0], 200)

    def test_role_mapping_goes_by_name_and_insists_on_the_matching_id(self):
        user_path = self.kc.user_path(new_user("ada"))
        mappings = user_path + "/role-mappings/realm"
        roles = {r["name"]: r for r in self.kc.admin("GET", "/admin/realms/securelink/roles")[1]}
        vpn, admin = roles["securelink-vpn-user"], roles["securelink-tenant-admin"]
        for body in ([{"id": vpn["id"], "name": admin["name"]}],   # they disagree
                     [{"id": vpn["id"], "name": "no-such-role"}],   # unknown name, known id
                     [{"id": vpn["id"]}]):                           # no name at all
            status, answer, _ = self.kc.admin("POST", mappings, body)
            self.assertEqual((status, answer), (404, {"error": "Role not found"}), body)
        self.assertEqual([r["name"] for r in self.kc.admin("GET", mappings)[1]],
                         ["default-roles-securelink"])
        self.assertEqual(self.kc.admin("POST", mappings, [{"id": vpn["id"],
                                                           "name": vpn["name"]}])[0], 204)

    def test_the_realms_roles_and_no_others(self):
        names = {r["name"] for r in self.kc.admin("GET", "/admin/realms/securelink/roles")[1]}
        self.assertLessEqual({"securelink-super-admin", "securelink-tenant-admin",
                              "securelink-vpn-user"}, names)
        self.assertEqual(
            self.kc.admin("GET", "/admin/realms/securelink/roles/securelink-admin")[0], 404)

    def test_clients_may_use_only_the_grants_the_realm_enables(self):
        self.kc.admin("POST", USERS, new_user("ada"))
        # The management UI's public client: authorization code only.
        self.assertEqual(self.kc.login("ada", "long-enough-1", "securelink-console"),
                         (400, {"error": "unauthorized_client",
                                "error_description": "Client not allowed for direct access "
                                                     "grants"}))
        status, body, _ = self.kc.call("POST", TOKEN_PATH, form={
            "grant_type": "client_credentials", "client_id": "securelink-console"})
        self.assertEqual((status, body["error"]), (400, "unauthorized_client"))
        # The service's confidential client: service account only.
        status, body, _ = self.kc.call("POST", TOKEN_PATH, form={
            "grant_type": "password", "client_id": "securelink-invitations",
            "client_secret": "s3cret", "username": "ada", "password": "long-enough-1"})
        self.assertEqual((status, body["error"]), (400, "unauthorized_client"))
        # No client the realm does not define.
        status, body = self.kc.login("ada", "long-enough-1", "securelink-cli")
        self.assertEqual((status, body["error"]), (401, "invalid_client"))

    def test_profile_endpoint_serves_the_exports_profile(self):
        _, config, _ = self.kc.admin("GET", USERS + "/profile")
        tenant = next(a for a in config["attributes"] if a["name"] == "tenant_id")
        self.assertEqual(tenant["validations"]["pattern"]["pattern"], "^[A-Za-z0-9._-]+$")


class RealmFileOptionsTest(unittest.TestCase):
    def test_the_secret_comes_from_the_exports_environment_placeholder(self):
        kc = Standin(secret=None, env={"SECURELINK_INVITATIONS_CLIENT_SECRET": "from-the-env"})
        try:
            form = {"grant_type": "client_credentials", "client_id": "securelink-invitations"}
            self.assertEqual(kc.call("POST", TOKEN_PATH,
                                     form=dict(form, client_secret="from-the-env"))[0], 200)
            self.assertEqual(kc.call("POST", TOKEN_PATH,
                                     form=dict(form, client_secret="s3cret"))[0], 401)
        finally:
            kc.close()

    def test_options_override_single_parts_of_the_realm(self):
        kc = Standin("--password-policy", "length(8)", "--attributes", "invitation_id")
        try:
            rep = new_user("ada")
            rep["credentials"][0]["value"] = "8-chars!"
            rep["attributes"]["tenant_id"] = ["bad tenant!"]  # no longer declared: dropped
            self.assertEqual(kc.admin("POST", USERS, rep)[0], 201)
            (user,) = kc.call("GET", "/_standin/users")[1]
            self.assertEqual(user["attributes"], {"invitation_id": ["inv-ada"]})
            # What the export says of invitation_id still holds.
            rep = new_user("bob")
            rep["attributes"]["invitation_id"] = ["i" * 129]
            status, body, _ = kc.admin("POST", USERS, rep)
            self.assertEqual((status, body["field"]), (400, "invitation_id"))
        finally:
            kc.close()

    def test_a_validator_the_standin_does_not_implement_is_refused_at_start(self):
        with open(os.path.join(HERE, "..", "..", "deploy", "keycloak",
                               "realm-securelink.json")) as f:
            realm = json.load(f)
        component = realm["components"]["org.keycloak.userprofile.UserProfileProvider"][0]
        profile = json.loads(component["config"]["kc.user.profile.config"][0])
        profile["attributes"][-1]["validations"]["uri"] = {}
        component["config"]["kc.user.profile.config"] = [json.dumps(profile)]
        with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
            json.dump(realm, f)
            f.flush()
            done = subprocess.run([sys.executable, SCRIPT, "--realm-file", f.name],
                                  capture_output=True, text=True, timeout=30)
        self.assertEqual(done.returncode, 2)
        self.assertIn("'uri' validator", done.stderr)


class FaultsAndStateTest(unittest.TestCase):
    def setUp(self):
        self.kc = Standin()

    def tearDown(self):
        self.kc.close()

    def test_fail_next_then_recover(self):
        self.kc.call("POST", "/_standin/faults", {"fail_next": 2, "status": 503,
                                                  "path_contains": "/admin/"})
        self.assertEqual(self.kc.admin("GET", USERS)[0], 503)
        status, body, _ = self.kc.admin("GET", USERS)
        self.assertEqual((status, body["error"]), (503, "unknown_error"))
        self.assertEqual(self.kc.admin("GET", USERS)[0], 200)

    def test_after_commit_applies_the_change_then_fails(self):
        self.kc.call("POST", "/_standin/faults", {"fail_next": 1, "status": 502, "method": "POST",
                                                  "path_contains": "/users",
                                                  "after_commit": True})
        self.assertEqual(self.kc.admin("POST", USERS, new_user("ada"))[0], 502)
        self.assertEqual(len(self.kc.call("GET", "/_standin/users")[1]), 1)

    def test_fail_all_until_cleared_and_the_request_log(self):
        self.kc.call("POST", "/_standin/faults", {"fail_all": True, "status": 500,
                                                  "path_contains": "/admin/"})
        for _ in range(3):
            self.assertEqual(self.kc.admin("GET", USERS + "?email=a%2Bb%40x.io")[0], 500)
        self.kc.call("DELETE", "/_standin/faults")
        self.assertEqual(self.kc.admin("GET", USERS)[0], 200)
        log = self.kc.call("GET", "/_standin/requests")[1]
        self.assertIn({"method": "GET", "path": USERS + "?email=a%2Bb%40x.io", "status": 500},
                      log)

    def test_hold_keeps_a_request_in_flight_until_released(self):
        self.kc.call("POST", "/_standin/faults", {"hold": True, "count": 1, "method": "POST",
                                                  "path_contains": "/users"})
        result = {}
        worker = threading.Thread(
            target=lambda: result.update(status=self.kc.admin("POST", USERS, new_user("ada"))[0]))
        worker.start()
        deadline = time.monotonic() + 10
        while self.kc.call("GET", "/_standin/held")[1]["held"] != 1:
            self.assertLess(time.monotonic(), deadline, "the request was never held")
            time.sleep(0.01)
        self.assertEqual(self.kc.call("GET", "/_standin/users")[1], [], "held before it acts")
        self.assertEqual(self.kc.admin("GET", USERS)[0], 200, "other requests are not held")
        self.assertEqual(self.kc.call("POST", "/_standin/release")[1], {"released": 1})
        worker.join(10)
        self.assertEqual(result.get("status"), 201)
        self.assertEqual(self.kc.call("GET", "/_standin/held")[1], {"held": 0, "released": 1})

    def test_hold_after_commit_has_already_acted(self):
        self.kc.call("POST", "/_standin/faults", {"hold": True, "count": 1, "method": "POST",
                                                  "path_contains": "/users",
                                                  "after_commit": True})
        worker = threading.Thread(target=lambda: self.kc.admin("POST", USERS, new_user("ada")))
        worker.start()
        deadline = time.monotonic() + 10
        while self.kc.call("GET", "/_standin/held")[1]["held"] != 1:
            self.assertLess(time.monotonic(), deadline, "the request was never held")
            time.sleep(0.01)
        self.assertEqual(len(self.kc.call("GET", "/_standin/users")[1]), 1)
        self.kc.call("DELETE", "/_standin/faults")  # clearing also releases
        worker.join(10)
        self.assertFalse(worker.is_alive())

    def test_state_survives_a_restart_like_keycloaks_database(self):
        token = self.kc.token()
        self.kc.admin("POST", USERS, new_user("ada"))
        self.kc.stop()
        self.kc.start()
        status, users, _ = self.kc.call("GET", USERS,
                                        headers={"Authorization": "Bearer " + token})
        self.assertEqual(status, 200, "tokens stay valid across a restart")
        self.assertEqual([u["username"] for u in users], ["ada"])

    def test_revoke_tokens_and_stats(self):
        token = self.kc.token()
        self.kc.call("POST", "/_standin/revoke_tokens")
        status, _, _ = self.kc.call("GET", USERS, headers={"Authorization": "Bearer " + token})
        self.assertEqual(status, 401)
        stats = self.kc.call("GET", "/_standin/stats")[1]
        self.assertEqual((stats["token_requests"], stats["unauthorized"], stats["active_tokens"]),
                         (1, 1, 0))

    def test_connections_count_kept_alive_keycloak_connections_only(self):
        token = self.kc.token()  # urllib: one connection per request
        kept = http.client.HTTPConnection("127.0.0.1", self.kc.port, timeout=10)
        try:
            for _ in range(3):
                kept.request("GET", USERS, headers={"Authorization": "Bearer " + token})
                response = kept.getresponse()
                response.read()
                self.assertEqual(response.status, 200)
        finally:
            kept.close()
        self.kc.call("GET", "/_standin/users")  # control requests are not counted
        self.assertEqual(self.kc.call("GET", "/_standin/stats")[1]["connections"], 2)


class RealmExportTest(unittest.TestCase):
    """deploy/keycloak/realm-securelink.json and the stand-in's defaults describe one realm."""

    def setUp(self):
        path = os.path.join(HERE, "..", "..", "deploy", "keycloak", "realm-securelink.json")
        with open(path) as f:
            self.realm = json.load(f)

    def client(self, client_id):
        return next(c for c in self.realm["clients"] if c["clientId"] == client_id)

    def test_realm_and_roles_match_the_standin_defaults(self):
        self.assertEqual(self.realm["realm"], "securelink")
        self.assertEqual([r["name"] for r in self.realm["roles"]["realm"]],
                         ["securelink-super-admin", "securelink-tenant-admin",
                          "securelink-vpn-user"])

    def test_service_account_has_the_realm_management_roles_it_needs(self):
        client = self.client("securelink-invitations")
        self.assertTrue(client["serviceAccountsEnabled"])
        self.assertFalse(client["publicClient"])
        self.assertTrue(client.get("fullScopeAllowed", True),
                        "admin permissions need the roles in the token's scope")
        account = next(u for u in self.realm["users"]
                       if u.get("serviceAccountClientId") == "securelink-invitations")
        self.assertEqual(account["username"], "service-account-securelink-invitations")
        self.assertEqual(sorted(account["clientRoles"]["realm-management"]),
                         ["manage-users", "query-users", "view-realm", "view-users"])

    def test_user_profile_declares_the_attributes_admin_editable_only(self):
        (component,) = self.realm["components"]["org.keycloak.userprofile.UserProfileProvider"]
        self.assertEqual(component["providerId"], "declarative-user-profile")
        (text,) = component["config"]["kc.user.profile.config"]
        profile = json.loads(text)
        attributes = {a["name"]: a for a in profile["attributes"]}
        for builtin in ("username", "email", "firstName", "lastName"):
            self.assertIn(builtin, attributes, "a profile config replaces the default entirely")
        for name in ("tenant_id", "invitation_id"):
            self.assertEqual(attributes[name]["permissions"]["edit"], ["admin"])
        groups = {g["name"] for g in profile["groups"]}
        for a in profile["attributes"]:
            self.assertTrue(a.get("group") is None or a["group"] in groups)
        self.assertNotIn("unmanagedAttributePolicy", profile)

    def test_console_tokens_carry_tenant_roles_and_audience(self):
        client = self.client("securelink-console")
        self.assertTrue(client["publicClient"])
        mappers = {m["protocolMapper"]: m["config"] for m in client["protocolMappers"]}
        tenant = mappers["oidc-usermodel-attribute-mapper"]
        self.assertEqual((tenant["user.attribute"], tenant["claim.name"]),
                         ("tenant_id", "tenant_id"))
        self.assertEqual(tenant["access.token.claim"], "true")
        self.assertEqual(mappers["oidc-audience-mapper"]["included.client.audience"],
                         "securelink-invitations")


if __name__ == "__main__":
    unittest.main()
