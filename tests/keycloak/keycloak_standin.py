#!/usr/bin/python3
"""A local stand-in for the parts of Keycloak (24-26) the invitation service uses.

Not Keycloak: one realm, in memory (optionally persisted to --state-file so that a restart keeps
users and tokens, as Keycloak's database would), stdlib only. The realm is the one the project
ships, read from its export (--realm-file, default deploy/keycloak/realm-securelink.json): its
name, password policy, realm roles, clients (public or confidential, secret, which grants they
may use; plus admin-cli, which Keycloak adds to every realm it imports), the service accounts'
realm-management roles, and the declarative user profile with its validations. Command-line
options override single parts of it. What it serves follows Keycloak's paths, bodies and status
codes:

  POST /realms/{realm}/protocol/openid-connect/token
       client_id/client_secret in the form or HTTP Basic (public clients need no secret);
       grant_type=client_credentials for a confidential client with service accounts enabled;
       grant_type=password for a client with direct access grants (admin-cli in the shipped
       realm), to check that a created user can log in.
       200 {access_token, expires_in, ...}; 401 {"error":"unauthorized_client"|"invalid_client",
       "error_description":"Invalid client or Invalid client credentials"}; 400
       {"error":"unauthorized_client"} for a grant the client may not use; 401 invalid_grant
       "Invalid user credentials"; 400 invalid_grant "Account is not fully set up" when the user
       has required actions, including VERIFY_PROFILE: a profile missing what the realm requires
       of users (firstName/lastName), which Keycloak checks at login; 404 unknown realm.
  Admin API under /admin/realms/{realm} (Authorization: Bearer; 401 when missing, unknown, revoked
  or expired; 403 when the token lacks the realm-management role; 404 {"error":"Realm not
  found."}):
       POST   /users                          201 + Location .../users/{id}; 409 {"errorMessage":
                                              "User exists with same username"|"...email"};
                                              400 user-profile errors {"field","errorMessage",
                                              "params"} (one alone, several as {"errors":[...]}):
                                              the profile's validators (length, pattern with its
                                              error-message, options, email, name characters) and
                                              what it requires of admins; what it requires of
                                              users only is not checked here, as in Keycloak;
                                              400 password policy {"error":
                                              "invalidPasswordMinLengthMessage","error_description":
                                              "Invalid password: minimum length 12."}. Attributes
                                              the user profile does not declare are silently
                                              dropped.
       GET    /users?search|username|email|firstName|lastName|exact|q|enabled|emailVerified|
                     first|max|briefRepresentation
       GET    /users/count (same filters)
       GET|PUT|DELETE /users/{id}               404 {"error":"User not found"}. PUT replaces the
                                              user's attributes with the body's (Keycloak 24+ no
                                              longer merges a partial update): send the whole
                                              representation.
       PUT    /users/{id}/reset-password      {"type":"password","value","temporary"} 204; 400 with
                                              the password-policy error as on create
       GET|POST|DELETE /users/{id}/role-mappings/realm    POST/DELETE 204; each role is looked
                                              up by name and its id must match, else 404
                                              {"error":"Role not found"}
       GET    /users/{id}/role-mappings
       GET    /roles, GET /roles/{name}       404 {"error":"Could not find role"}
       GET    /users/profile                  the declarative user-profile configuration

Test control API (no auth, never faulted):
  POST   /_standin/faults   {"fail_next": N | "fail_all": true, "status": 503, "body": {...}?, "path_contains": "...",
                             "method": "POST"?, "after_commit": bool, "drop_connection": bool}
                            {"delay_ms": D, "count": N?, "path_contains": ...}  (count absent: all)
                            {"hold": true, "count": N?, "method"?, "path_contains"?, "after_commit"?}:
                            matching requests wait until released (before or, with after_commit,
                            after they took effect), so a test can act while one is in flight
                            {"drop_attributes": true|false}
  GET    /_standin/faults   DELETE /_standin/faults (clears all, including drop_attributes, and
                            releases every held request)
  GET    /_standin/held     {"held": N, "released": M}: requests waiting now, and released so far
  POST   /_standin/release  lets every held request go on
  GET    /_standin/users    every user, with credentials (type/temporary only), role names and
                            loginRequiredActions (what the next login would ask for)
  GET    /_standin/stats    counters: token_requests, tokens_issued, token_failures,
                            admin_requests, unauthorized, forbidden, active_tokens, connections
                            (TCP connections that carried token or admin requests: HTTP/1.1
                            keeps one open for the requests that follow; connections carrying
                            only control requests are not counted)
  GET    /_standin/requests the request log: [{method, path (with query), status}] (no bodies)
  POST   /_standin/revoke_tokens   every issued token stops working (as a Keycloak key rotation)
  POST   /_standin/config   {"token_lifetime", "attributes", "roles", "password_policy",
                             "client_secret", "service_account_roles", "unmanaged_attribute_policy"}
  POST   /_standin/reset    forget users, mappings, tokens, faults, counters and the request log

Prints "LISTENING <port>" on stdout once it accepts connections (--port 0 picks a free port).
"""

import argparse
import base64
import copy
import hashlib
import hmac
import json
import os
import re
import secrets
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

# Keycloak's English messages (messages_en.properties) for the password policies emulated here.
PASSWORD_MESSAGES = {
    "length": ("invalidPasswordMinLengthMessage", "Invalid password: minimum length {0}."),
    "maxLength": ("invalidPasswordMaxLengthMessage", "Invalid password: maximum length {0}."),
    "digits": ("invalidPasswordMinDigitsMessage",
               "Invalid password: must contain at least {0} numerical digits."),
    "lowerCase": ("invalidPasswordMinLowerCaseCharsMessage",
                  "Invalid password: must contain at least {0} lower case characters."),
    "upperCase": ("invalidPasswordMinUpperCaseCharsMessage",
                  "Invalid password: must contain at least {0} upper case characters."),
    "specialChars": ("invalidPasswordMinSpecialCharsMessage",
                     "Invalid password: must contain at least {0} special characters."),
    "notUsername": ("invalidPasswordNotUsernameMessage",
                    "Invalid password: must not be equal to the username."),
    "notEmail": ("invalidPasswordNotEmailMessage",
                 "Invalid password: must not be equal to the email."),
}
POLICY_DEFAULTS = {"length": 8, "maxLength": 64, "digits": 1, "lowerCase": 1, "upperCase": 1,
                   "specialChars": 1}

BUILTIN_ATTRIBUTES = ("username", "email", "firstName", "lastName")
# Keycloak's person-name-prohibited-characters and username-prohibited-characters validators.
NAME_PROHIBITED = re.compile(r'[<>&"$%!#?§;*~/\\|^=\[\]{}()\x00-\x1f\x7f]')
USERNAME_PROHIBITED = re.compile(r'[<>&"\'\s$%!#?§,;:*~/\\|^=\[\]{}()`]')
SERVICE_ROLES_DEFAULT = "manage-users,view-users,query-users,view-realm"
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_REALM_FILE = os.path.normpath(
    os.path.join(HERE, "..", "..", "deploy", "keycloak", "realm-securelink.json"))
# What the stand-in's tests and deploy/local-common.sh use when neither --client-secret nor the
# export's environment placeholder gives the service client a secret.
FALLBACK_SECRET = "standin-secret"
PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}")


def default_profile(custom_attributes=()):
    """Keycloak's default user profile (kc.user.profile.config when a realm has none), plus
    `custom_attributes` declared without validations, editable by admins only."""
    def builtin(name, validations, required):
        a = {"name": name, "displayName": "${" + name + "}", "validations": validations,
             "permissions": {"view": ["admin", "user"], "edit": ["admin", "user"]},
             "multivalued": False}
        if required:
            a["required"] = {"roles": ["user"]}
        return a
    attributes = [
        builtin("username", {"length": {"min": 3, "max": 255},
                             "username-prohibited-characters": {},
                             "up-username-not-idn-homograph": {}}, False),
        builtin("email", {"email": {}, "length": {"max": 255}}, True),
        builtin("firstName", {"length": {"max": 255}, "person-name-prohibited-characters": {}},
                True),
        builtin("lastName", {"length": {"max": 255}, "person-name-prohibited-characters": {}},
                True),
    ]
    for name in custom_attributes:
        attributes.append(bare_attribute(name))
    return {"attributes": attributes,
            "groups": [{"name": "user-metadata", "displayHeader": "User metadata",
                        "displayDescription": "Attributes, which refer to user metadata"}]}


def bare_attribute(name):
    return {"name": name, "displayName": name, "validations": {},
            "permissions": {"view": ["admin", "user"], "edit": ["admin"]}, "multivalued": False}


def resolve_placeholders(value):
    """${VAR} (or ${VAR:default}) from the environment, as Keycloak resolves them when it imports
    a realm; one without a value stays as literal text, as it does there."""
    if not isinstance(value, str):
        return value

    def one(m):
        if m.group(1) in os.environ:
            return os.environ[m.group(1)]
        return m.group(2) if m.group(2) is not None else m.group(0)
    return PLACEHOLDER.sub(one, value)


# The user-profile validators the stand-in applies, each (attribute, value, config) -> the error
# Keycloak adds ({"field", "errorMessage", "params"}) or None. Keycloak skips empty values in all
# of them (AbstractStringValidator); emptiness is the "required" check's business.
def validate_length(name, value, cfg):
    if not str(cfg.get("trim-disabled", "false")).lower() == "true":
        value = value.strip()
    low, high = cfg.get("min"), cfg.get("max")
    low = int(low) if low not in (None, "") else None
    high = int(high) if high not in (None, "") else None
    if (low is not None and len(value) < low) or (high is not None and len(value) > high):
        message = ("error-invalid-length-too-short" if high is None else
                   "error-invalid-length-too-long" if low is None else "error-invalid-length")
        return {"field": name, "errorMessage": message, "params": [name, low, high]}
    return None


def validate_pattern(name, value, cfg):
    pattern = cfg.get("pattern", "")
    if re.fullmatch(pattern, value) is None:  # Java's Matcher.matches(): the whole value
        return {"field": name, "errorMessage": cfg.get("error-message") or "error-pattern-no-match",
                "params": [name, pattern]}
    return None


def validate_options(name, value, cfg):
    if value not in [str(o) for o in cfg.get("options") or []]:
        return {"field": name, "errorMessage": "error-invalid-value", "params": [name]}
    return None


def validate_email(name, value, cfg):
    local, at, domain = value.rpartition("@")
    if not at or not local or not domain or any(c.isspace() for c in value):
        return {"field": name, "errorMessage": "invalidEmailMessage", "params": [name]}
    return None


def validate_person_name(name, value, cfg):
    if NAME_PROHIBITED.search(value):
        return {"field": name, "errorMessage": "error-person-name-invalid-character",
                "params": [name]}
    return None


def validate_username(name, value, cfg):
    if USERNAME_PROHIBITED.search(value):
        return {"field": name, "errorMessage": "error-username-invalid-character",
                "params": [name]}
    return None


VALIDATORS = {
    "length": validate_length,
    "pattern": validate_pattern,
    "options": validate_options,
    "email": validate_email,
    "person-name-prohibited-characters": validate_person_name,
    "username-prohibited-characters": validate_username,
    # Refuses look-alike Unicode in usernames; the service sends ASCII ones or none.
    "up-username-not-idn-homograph": lambda name, value, cfg: None,
}


def check_profile(profile):
    """Refuses a profile the stand-in would only pretend to enforce (an unknown validator)."""
    for attribute in profile.get("attributes", []):
        for validator in (attribute.get("validations") or {}):
            if validator not in VALIDATORS:
                raise ValueError(f"user profile attribute {attribute.get('name')!r}: the stand-in "
                                 f"does not implement the {validator!r} validator")
        pattern = (attribute.get("validations") or {}).get("pattern")
        if pattern is not None:
            re.compile(pattern.get("pattern", ""))


def required_for(attribute, role):
    """Whether the profile requires `attribute` of a caller acting as `role` ("admin": the Admin
    REST API; "user": the user's own forms, including the VERIFY_PROFILE check at login). A
    requirement naming neither roles nor scopes applies always; one naming scopes only applies
    in a login flow that requests them, which the stand-in's grants never do."""
    required = attribute.get("required")
    if required is None:
        return False
    roles, scopes = required.get("roles") or [], required.get("scopes") or []
    return (not roles and not scopes) or role in roles


def load_realm(path):
    """The parts of a realm export (deploy/keycloak/realm-securelink.json) the stand-in acts on:
    realm name, password policy, realm roles, clients with their grant settings and secrets,
    the service accounts' realm-management roles, the declarative user profile and the login
    settings. Keycloak adds built-in clients to every realm it imports; of those, admin-cli (a
    public client with direct access grants) is kept, since it is how one checks a password."""
    with open(path) as f:
        rep = json.load(f)
    service_roles = {}
    for user in rep.get("users") or []:
        if user.get("serviceAccountClientId"):
            service_roles[user["serviceAccountClientId"]] = set(
                (user.get("clientRoles") or {}).get("realm-management") or [])
    clients = {}
    for c in rep.get("clients") or []:
        clients[c["clientId"]] = client_settings(c, service_roles.get(c["clientId"], set()))
    if "admin-cli" not in clients:
        clients["admin-cli"] = client_settings(
            {"clientId": "admin-cli", "publicClient": True, "directAccessGrantsEnabled": True,
             "standardFlowEnabled": False}, set())
    profile = None
    for component in ((rep.get("components") or {})
                      .get("org.keycloak.userprofile.UserProfileProvider") or []):
        text = "".join((component.get("config") or {}).get("kc.user.profile.config") or [])
        if text:
            profile = json.loads(text)
    return {"realm": rep["realm"], "password_policy": rep.get("passwordPolicy", ""),
            "roles": [r["name"] for r in (rep.get("roles") or {}).get("realm") or []],
            "clients": clients, "profile": profile,
            "login_with_email": rep.get("loginWithEmailAllowed", True)}


def client_settings(rep, service_account_roles):
    return {"clientId": rep["clientId"],
            "enabled": rep.get("enabled", True),
            "publicClient": bool(rep.get("publicClient", False)),
            "bearerOnly": bool(rep.get("bearerOnly", False)),
            "secret": resolve_placeholders(rep.get("secret")),
            "serviceAccountsEnabled": bool(rep.get("serviceAccountsEnabled", False)),
            "directAccessGrantsEnabled": bool(rep.get("directAccessGrantsEnabled", False)),
            "serviceAccountRoles": set(service_account_roles)}

FORBIDDEN = {"error": "HTTP 403 Forbidden"}
UNAUTHORIZED = {"error": "HTTP 401 Unauthorized"}
SERVER_ERROR = {"error": "unknown_error",
                "error_description": "For more on this error consult the server log."}


def now_ms():
    return int(time.time() * 1000)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def parse_password_policy(text):
    """Keycloak's policy string, e.g. "length(8) and digits(1) and notUsername(undefined)"."""
    policies = []
    for part in filter(None, (p.strip() for p in re.split(r"\band\b", text or ""))):
        m = re.fullmatch(r"([A-Za-z]+)(?:\(([^)]*)\))?", part)
        if not m or m.group(1) not in PASSWORD_MESSAGES:
            raise ValueError(f"unsupported password policy {part!r}")
        name, arg = m.group(1), m.group(2)
        if name in POLICY_DEFAULTS:
            value = int(arg) if arg not in (None, "", "undefined") else POLICY_DEFAULTS[name]
        else:
            value = None
        policies.append((name, value))
    return policies


def check_password(policies, password, username, email):
    """(error key, description) of the first policy the password breaks, or None."""
    for name, value in policies:
        key, text = PASSWORD_MESSAGES[name]
        failed = {
            "length": lambda: len(password) < value,
            "maxLength": lambda: len(password) > value,
            "digits": lambda: sum(c.isdigit() for c in password) < value,
            "lowerCase": lambda: sum(c.islower() for c in password) < value,
            "upperCase": lambda: sum(c.isupper() for c in password) < value,
            "specialChars": lambda: sum(not c.isalnum() for c in password) < value,
            "notUsername": lambda: username is not None and password.lower() == username.lower(),
            "notEmail": lambda: email is not None and password.lower() == (email or "").lower(),
        }[name]()
        if failed:
            return key, text.replace("{0}", "" if value is None else str(value))
    return None


def parse_search_query(q):
    """Keycloak's SearchQueryUtils: 'key1:value1 key2:"value 2"', '\\' escapes inside quotes."""
    fields, i, n = {}, 0, len(q)

    def token(i):
        if i < n and q[i] == '"':
            out, i = [], i + 1
            while i < n and q[i] != '"':
                if q[i] == "\\" and i + 1 < n:
                    i += 1
                out.append(q[i])
                i += 1
            return "".join(out), i + 1
        start = i
        while i < n and not q[i].isspace() and q[i] != ":":
            i += 1
        return q[start:i], i

    while i < n:
        if q[i].isspace():
            i += 1
            continue
        key, i = token(i)
        if i < n and q[i] == ":":
            if i + 1 < n and q[i + 1] == '"':
                value, i = token(i + 1)
            else:
                start = i + 1
                i = start
                while i < n and not q[i].isspace():
                    i += 1
                value = q[start:i]
            if key:
                fields[key] = value
        else:
            while i < n and not q[i].isspace():
                i += 1
    return fields


class Fault:
    def __init__(self, spec):
        self.remaining = (None if spec.get("fail_all")
                          else spec.get("fail_next", spec.get("count")))
        self.status = int(spec.get("status", 503))
        self.body = spec.get("body")
        self.path_contains = spec.get("path_contains", "")
        self.method = spec.get("method", "").upper()
        self.after_commit = bool(spec.get("after_commit", False))
        self.drop_connection = bool(spec.get("drop_connection", False))
        self.delay_ms = spec.get("delay_ms")
        self.hold = bool(spec.get("hold", False))
        self.spec = spec

    def matches(self, method, path):
        return ((not self.method or self.method == method)
                and (not self.path_contains or self.path_contains in path)
                and (self.remaining is None or self.remaining > 0))


class HttpError(Exception):
    def __init__(self, status, body, headers=None):
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


class State:
    """Everything the stand-in knows; guarded by `lock`."""

    def __init__(self, args):
        self.lock = threading.RLock()
        self.args = args
        # The realm export is the default; each command-line option given overrides its part.
        realm = (load_realm(args.realm_file) if args.realm_file else
                 {"realm": "securelink", "password_policy": "", "roles": [], "clients": {},
                  "profile": None, "login_with_email": True})
        self.realm = args.realm or realm["realm"]
        self.realm_id = str(uuid.uuid5(uuid.NAMESPACE_URL, "standin-realm:" + self.realm))
        self.login_with_email = realm["login_with_email"]
        self.clients = realm["clients"]
        self.client_id = args.client_id or "securelink-invitations"
        service = self.clients.setdefault(self.client_id, client_settings(
            {"clientId": self.client_id, "serviceAccountsEnabled": True},
            split_list(SERVICE_ROLES_DEFAULT)))
        if args.client_secret is not None:
            service["secret"] = args.client_secret
        elif not service["secret"] or PLACEHOLDER.search(service["secret"]):
            sys.stderr.write(f"keycloak-standin: client {self.client_id} has no secret in the "
                             f"realm file or the environment: using {FALLBACK_SECRET!r}\n")
            service["secret"] = FALLBACK_SECRET
        if args.service_account_roles is not None:
            service["serviceAccountRoles"] = set(split_list(args.service_account_roles))
        self.token_lifetime = args.token_lifetime
        self.profile = copy.deepcopy(realm["profile"]) or default_profile(["tenant_id",
                                                                           "invitation_id"])
        if args.attributes is not None:
            self.declare_attributes(split_list(args.attributes))
        check_profile(self.profile)
        if args.unmanaged_attribute_policy is not None:
            self.profile["unmanagedAttributePolicy"] = args.unmanaged_attribute_policy
        self.profile = {k: v for k, v in self.profile.items()
                        if k != "unmanagedAttributePolicy" or v}
        if args.password_policy is not None:
            self.policy_text = args.password_policy
        elif args.password_min_length is not None:
            self.policy_text = (f"length({args.password_min_length})"
                                if args.password_min_length > 0 else "")
        else:
            self.policy_text = realm["password_policy"]
        self.policies = parse_password_policy(self.policy_text)
        self.signing_key = secrets.token_bytes(32)
        self.state_file = args.state_file
        self.drop_attributes = False
        self.faults = []
        self.request_log = []
        # Held requests wait on the current gate; releasing opens it and starts a new one.
        self.hold_gate = threading.Event()
        self.held = 0
        self.released = 0
        self.reset_data()
        roles = split_list(args.roles) if args.roles is not None else realm["roles"]
        for name in roles:
            self.add_role(name)
        if self.state_file and os.path.exists(self.state_file):
            self.load()

    @property
    def service_client(self):
        return self.clients[self.client_id]

    @property
    def declared(self):
        """The custom (not built-in) attributes the user profile declares."""
        return [a["name"] for a in self.profile["attributes"]
                if a["name"] not in BUILTIN_ATTRIBUTES]

    @property
    def unmanaged_policy(self):
        return self.profile.get("unmanagedAttributePolicy", "")

    def declare_attributes(self, names):
        """Makes `names` the profile's custom attributes: those it declares keep their settings,
        others are added without validations, the rest are no longer declared."""
        kept = {a["name"]: a for a in self.profile["attributes"]}
        self.profile["attributes"] = (
            [a for a in self.profile["attributes"] if a["name"] in BUILTIN_ATTRIBUTES]
            + [kept.get(n) or bare_attribute(n) for n in names if n not in BUILTIN_ATTRIBUTES])

    def release_held(self):
        """Lets every held request go on; returns how many were waiting. Requires the lock."""
        waiting = self.held
        self.hold_gate.set()
        self.hold_gate = threading.Event()
        return waiting

    def wait_if_held(self, fault):
        """Blocks a request a hold fault matched until the test releases it (not under the lock)."""
        if fault is None:
            return
        with self.lock:
            gate = self.hold_gate
            self.held += 1
        gate.wait()
        with self.lock:
            self.held -= 1
            self.released += 1

    def reset_data(self):
        self.users = {}      # id -> user dict (internal form)
        self.mappings = {}   # user id -> [role id]
        self.tokens = {}     # access token -> {exp, kind, roles, sub}
        self.stats = dict(token_requests=0, tokens_issued=0, token_failures=0, admin_requests=0,
                          unauthorized=0, forbidden=0, connections=0)
        self.roles = getattr(self, "roles", {})
        default_roles = f"default-roles-{self.realm}"
        for name in ("offline_access", "uma_authorization", default_roles):
            self.add_role(name)
        self.roles[default_roles]["composite"] = True

    def add_role(self, name):
        if name not in self.roles:
            self.roles[name] = {
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"standin-role:{self.realm}:{name}")),
                "name": name, "description": "", "composite": False, "clientRole": False,
                "containerId": self.realm_id}

    def role_by_id(self, role_id):
        return next((r for r in self.roles.values() if r["id"] == role_id), None)

    # Persistence: as Keycloak's database survives a restart, so do users and tokens.
    def persist(self):
        if not self.state_file:
            return
        data = {"users": self.users, "mappings": self.mappings, "tokens": self.tokens,
                "roles": self.roles, "stats": self.stats,
                "signing_key": base64.b64encode(self.signing_key).decode()}
        tmp = self.state_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump(data, f)
        os.replace(tmp, self.state_file)

    def load(self):
        with open(self.state_file) as f:
            data = json.load(f)
        self.users, self.mappings = data["users"], data["mappings"]
        self.tokens, self.roles, self.stats = data["tokens"], data["roles"], data["stats"]
        self.signing_key = base64.b64decode(data["signing_key"])

    def issue_token(self, kind, sub, roles, client_id):
        now = time.time()
        claims = {"exp": int(now + self.token_lifetime), "iat": int(now), "jti": str(uuid.uuid4()),
                  "iss": f"http://standin/realms/{self.realm}", "sub": sub, "typ": "Bearer",
                  "azp": client_id,
                  "resource_access": {"realm-management": {"roles": sorted(roles)}}}
        header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = b64url(json.dumps(claims).encode())
        signature = b64url(hmac.new(self.signing_key, f"{header}.{payload}".encode(),
                                    hashlib.sha256).digest())
        token = f"{header}.{payload}.{signature}"
        self.tokens[token] = {"exp": now + self.token_lifetime, "kind": kind,
                              "roles": sorted(roles), "sub": sub}
        self.stats["tokens_issued"] += 1
        self.persist()
        return {"access_token": token, "expires_in": int(self.token_lifetime),
                "refresh_expires_in": 0, "token_type": "Bearer", "not-before-policy": 0,
                "scope": "profile email"}

    def active_tokens(self):
        now = time.time()
        return sum(1 for t in self.tokens.values() if t["exp"] > now)


def split_list(text):
    return [s.strip() for s in (text or "").split(",") if s.strip()]


def user_representation(state, user, brief=False):
    rep = {"id": user["id"], "username": user["username"]}
    for key in ("firstName", "lastName", "email"):
        if user.get(key) is not None:
            rep[key] = user[key]
    rep["emailVerified"] = user["emailVerified"]
    if not brief and user["attributes"]:
        rep["attributes"] = copy.deepcopy(user["attributes"])
    rep["createdTimestamp"] = user["createdTimestamp"]
    rep["enabled"] = user["enabled"]
    if not brief:
        rep.update({"totp": False, "disableableCredentialTypes": [],
                    "requiredActions": list(user.get("requiredActions", [])), "notBefore": 0,
                    "access": {"manageGroupMembership": True, "view": True, "mapRoles": True,
                               "impersonate": False, "manage": True}})
    return rep


def profile_errors(state, values, role):
    """The user-profile errors of `values` (attribute name -> list of values) for a caller acting
    as `role`, in the profile's order: Keycloak's required check and each attribute's validators
    (the first one that fails). Username and email requirements are Keycloak's own business
    logic, not the profile's, and are left to the callers."""
    errors = []
    for attribute in state.profile["attributes"]:
        name = attribute["name"]
        present = [str(v) for v in values.get(name) or [] if v is not None and str(v).strip()]
        if not present:
            if name not in ("username", "email") and required_for(attribute, role):
                errors.append({"field": name, "errorMessage": "error-user-attribute-required",
                               "params": [name]})
            continue
        for validator, config in (attribute.get("validations") or {}).items():
            error = next(filter(None, (VALIDATORS[validator](name, v, config or {})
                                       for v in present)), None)
            if error:
                errors.append(error)
                break
    return errors


def user_values(user):
    values = {k: [user[k]] for k in BUILTIN_ATTRIBUTES if user.get(k)}
    values.update(user.get("attributes") or {})
    return values


def login_required_actions(state, user):
    """What Keycloak would make the user do at the next login: the user's required actions, and
    VERIFY_PROFILE when the profile as the user sees it is incomplete or invalid (Keycloak
    evaluates that at login; an admin-created user skips the checks meant for users)."""
    actions = list(user.get("requiredActions") or [])
    if profile_errors(state, user_values(user), "user") and "VERIFY_PROFILE" not in actions:
        actions.append("VERIFY_PROFILE")
    return actions


def profile_config(state):
    """GET /users/profile: the realm's declarative user-profile configuration."""
    return copy.deepcopy(state.profile)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "keycloak-standin"
    sys_version = ""
    # TCP_NODELAY, as Keycloak's Vert.x server sets it: a response goes out in two writes (head,
    # body), and on a kept-alive connection Nagle would hold the body back until the client's
    # delayed ACK, some 40 ms per request.
    disable_nagle_algorithm = True

    @property
    def state(self):
        return self.server.state

    def setup(self):
        super().setup()  # once per accepted TCP connection; handle() then serves its requests
        self.counted_connection = False

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("keycloak-standin: " + (fmt % args) + "\n")

    # ---- plumbing -------------------------------------------------------------------------
    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send_json(self, status, body, headers=None):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)

    def dispatch(self, method):
        url = urlsplit(self.path)
        path = unquote(url.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        raw = self.read_body()
        if path.startswith("/_standin/"):
            try:
                self.send_json(*self.control(method, path, raw))
            except HttpError as e:
                self.send_json(e.status, e.body)
            return

        state = self.state
        with state.lock:
            if not self.counted_connection:
                self.counted_connection = True
                state.stats["connections"] = state.stats.get("connections", 0) + 1
            faults = [f for f in state.faults if f.matches(method, self.path)]
            delays = [f for f in faults if f.delay_ms is not None]
            hold = next((f for f in faults if f.hold), None)
            failing = next((f for f in faults if f.delay_ms is None and not f.hold), None)
            for f in delays + [f for f in (hold, failing) if f is not None]:
                if f.remaining is not None:
                    f.remaining -= 1
            state.faults = [f for f in state.faults if f.remaining is None or f.remaining > 0]
        for f in delays:
            time.sleep(f.delay_ms / 1000.0)
        if hold is not None and not hold.after_commit:
            state.wait_if_held(hold)

        if failing is not None and not failing.after_commit:
            self.fail(method, failing)
            return
        try:
            status, body, headers = self.route(method, url, path, query, raw)
        except HttpError as e:
            status, body, headers = e.status, e.body, e.headers
        except Exception as e:  # a bug here must look like a Keycloak 500, not a hang
            sys.stderr.write(f"keycloak-standin: internal error: {e!r}\n")
            status, body, headers = 500, SERVER_ERROR, {}
        if hold is not None and hold.after_commit:
            state.wait_if_held(hold)
        if failing is not None:
            self.fail(method, failing)
            return
        self.record(method, status)
        self.send_json(status, body, headers)

    def fail(self, method, fault):
        if fault.drop_connection:
            self.record(method, 0)
            self.close_connection = True
            try:
                self.connection.shutdown(2)
            except OSError:
                pass
            return
        body = fault.body if fault.body is not None else (
            SERVER_ERROR if fault.status >= 500 else {"error": f"injected {fault.status}"})
        self.record(method, fault.status)
        self.send_json(fault.status, body)

    def record(self, method, status):
        with self.state.lock:
            self.state.request_log.append({"method": method, "path": self.path, "status": status})
            del self.state.request_log[:-1000]

    # ---- test control API -----------------------------------------------------------------
    def control(self, method, path, raw):
        state = self.state
        body = json.loads(raw or b"{}") if raw else {}
        with state.lock:
            if path == "/_standin/faults" and method == "POST":
                if "drop_attributes" in body:
                    state.drop_attributes = bool(body["drop_attributes"])
                if ("fail_next" in body or "fail_all" in body or "delay_ms" in body
                        or body.get("hold")):
                    state.faults.append(Fault(body))
                return 200, {"faults": len(state.faults)}
            if path == "/_standin/faults" and method == "GET":
                return 200, {"faults": [f.spec | {"remaining": f.remaining}
                                        for f in state.faults],
                             "drop_attributes": state.drop_attributes}
            if path == "/_standin/faults" and method == "DELETE":
                state.faults, state.drop_attributes = [], False
                state.release_held()
                return 200, {"faults": 0}
            if path == "/_standin/held" and method == "GET":
                return 200, {"held": state.held, "released": state.released}
            if path == "/_standin/release" and method == "POST":
                return 200, {"released": state.release_held()}
            if path == "/_standin/users" and method == "GET":
                out = []
                for u in sorted(state.users.values(), key=lambda u: u["username"]):
                    rep = user_representation(state, u)
                    rep["credentials"] = [{"type": c["type"], "temporary": c["temporary"]}
                                          for c in u["credentials"]]
                    rep["loginRequiredActions"] = login_required_actions(state, u)
                    rep["realmRoles"] = sorted(state.role_by_id(r)["name"]
                                               for r in state.mappings.get(u["id"], [])
                                               if state.role_by_id(r))
                    out.append(rep)
                return 200, out
            if path == "/_standin/stats" and method == "GET":
                return 200, dict(state.stats, active_tokens=state.active_tokens())
            if path == "/_standin/requests" and method == "GET":
                return 200, list(state.request_log)
            if path == "/_standin/revoke_tokens" and method == "POST":
                state.tokens = {}
                state.persist()
                return 200, {"revoked": True}
            if path == "/_standin/config" and method == "POST":
                if "token_lifetime" in body:
                    state.token_lifetime = float(body["token_lifetime"])
                if "attributes" in body:
                    state.declare_attributes(list(body["attributes"]))
                if "unmanaged_attribute_policy" in body:
                    state.profile.pop("unmanagedAttributePolicy", None)
                    if body["unmanaged_attribute_policy"]:
                        state.profile["unmanagedAttributePolicy"] = (
                            body["unmanaged_attribute_policy"])
                if "roles" in body:
                    for name in body["roles"]:
                        state.add_role(name)
                if "password_policy" in body:
                    try:
                        state.policies = parse_password_policy(body["password_policy"])
                    except ValueError as e:
                        raise HttpError(400, {"error": str(e)})
                    state.policy_text = body["password_policy"]
                if "client_secret" in body:
                    state.service_client["secret"] = body["client_secret"]
                if "service_account_roles" in body:
                    state.service_client["serviceAccountRoles"] = set(
                        body["service_account_roles"])
                state.persist()
                return 200, {"ok": True}
            if path == "/_standin/reset" and method == "POST":
                state.reset_data()
                state.faults, state.drop_attributes, state.request_log = [], False, []
                state.release_held()
                state.persist()
                return 200, {"ok": True}
        raise HttpError(404, {"error": f"no control endpoint {method} {path}"})

    # ---- Keycloak -------------------------------------------------------------------------
    def route(self, method, url, path, query, raw):
        parts = [p for p in path.split("/") if p]
        if len(parts) == 5 and parts[0] == "realms" and parts[2:] == ["protocol",
                                                                      "openid-connect", "token"]:
            if method != "POST":
                raise HttpError(405, {"error": "HTTP 405 Method Not Allowed"})
            return self.token(parts[1], raw)
        if len(parts) >= 3 and parts[0] == "admin" and parts[1] == "realms":
            return self.admin(method, parts[2], parts[3:], query, raw)
        raise HttpError(404, {"error": "Unable to find matching target resource method"})

    def token(self, realm, raw):
        state = self.state
        with state.lock:
            state.stats["token_requests"] += 1
            if realm != state.realm:
                state.stats["token_failures"] += 1
                raise HttpError(404, {"error": "Realm does not exist"})
            ctype = self.headers.get("Content-Type", "")
            if not ctype.startswith("application/x-www-form-urlencoded"):
                state.stats["token_failures"] += 1
                raise HttpError(400, {"error": "invalid_request",
                                      "error_description": "Missing form parameter: grant_type"})
            form = {k: v[-1] for k, v in parse_qs(raw.decode(), keep_blank_values=True).items()}
            client_id, secret = form.get("client_id"), form.get("client_secret")
            auth = self.headers.get("Authorization", "")
            if auth.lower().startswith("basic "):
                try:
                    decoded = base64.b64decode(auth[6:]).decode()
                    cid, _, csecret = decoded.partition(":")
                    client_id, secret = unquote(cid), unquote(csecret)
                except (ValueError, UnicodeDecodeError):
                    pass
            grant = form.get("grant_type")
            invalid_credentials = "Invalid client or Invalid client credentials"

            def refuse(status, error, description):
                state.stats["token_failures"] += 1
                raise HttpError(status, {"error": error, "error_description": description})

            client = state.clients.get(client_id or "")
            if client is None or not client["enabled"]:
                refuse(401, "invalid_client", invalid_credentials)
            if not client["publicClient"] and (
                    secret is None or not client["secret"] or not hmac.compare_digest(
                        secret.encode(), client["secret"].encode())):
                refuse(401, "unauthorized_client", invalid_credentials)
            if grant is None:
                refuse(400, "invalid_request", "Missing form parameter: grant_type")
            if grant == "password":
                if not client["directAccessGrantsEnabled"]:
                    refuse(400, "unauthorized_client",
                           "Client not allowed for direct access grants")
                return self.password_grant(form, client)
            if grant != "client_credentials":
                refuse(400, "unsupported_grant_type", "Unsupported grant_type")
            if client["bearerOnly"]:
                refuse(400, "unauthorized_client",
                       "Bearer-only client not allowed to retrieve service account")
            if client["publicClient"]:
                refuse(400, "unauthorized_client",
                       "Public client not allowed to retrieve service account")
            if not client["serviceAccountsEnabled"]:
                refuse(400, "unauthorized_client",
                       "Client not enabled to retrieve service account")
            body = state.issue_token("service", "service-account-" + client["clientId"],
                                     client["serviceAccountRoles"], client["clientId"])
            return 200, body, {"Cache-Control": "no-store", "Pragma": "no-cache"}

    def password_grant(self, form, client):
        state = self.state
        login = (form.get("username") or "").lower()
        user = next((u for u in state.users.values()
                     if u["username"] == login
                     or (state.login_with_email and (u.get("email") or "") == login)), None)
        ok = (user is not None and user["enabled"] and any(
            c["type"] == "password" and hmac.compare_digest(
                c["hash"], hashlib.sha256((c["salt"] + form.get("password", "")).encode())
                .hexdigest())
            for c in user["credentials"]))
        if not ok:
            state.stats["token_failures"] += 1
            raise HttpError(401, {"error": "invalid_grant",
                                  "error_description": "Invalid user credentials"})
        if login_required_actions(state, user):
            # A direct grant cannot show the forms a required action needs (VERIFY_PROFILE for a
            # profile missing what the realm requires of users, UPDATE_PASSWORD, ...).
            state.stats["token_failures"] += 1
            raise HttpError(400, {"error": "invalid_grant",
                                  "error_description": "Account is not fully set up"})
        body = state.issue_token("user", user["id"], [], client["clientId"])
        return 200, body, {"Cache-Control": "no-store"}

    def authenticate(self):
        """The token's realm-management roles; raises 401 as Keycloak's AdminRoot does."""
        state = self.state
        auth = self.headers.get("Authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        info = state.tokens.get(token) if token else None
        if info is None or info["exp"] <= time.time():
            state.stats["unauthorized"] += 1
            raise HttpError(401, UNAUTHORIZED, {"WWW-Authenticate": "Bearer"})
        return set(info["roles"])

    def admin(self, method, realm, rest, query, raw):
        state = self.state
        with state.lock:
            state.stats["admin_requests"] += 1
            roles = self.authenticate()
            if realm != state.realm:
                raise HttpError(404, {"error": "Realm not found."})

            def require(*any_of):
                if not roles.intersection(any_of):
                    state.stats["forbidden"] += 1
                    raise HttpError(403, FORBIDDEN)

            body = None
            if raw and method in ("POST", "PUT", "DELETE"):
                try:
                    body = json.loads(raw)
                except ValueError:
                    raise HttpError(400, {"error": "invalid_request",
                                          "error_description": "Cannot parse the JSON"})

            if rest == ["users"] and method == "POST":
                require("manage-users")
                return self.create_user(body or {})
            if rest == ["users"] and method == "GET":
                require("query-users", "view-users", "manage-users")
                users = self.search_users(query)
                if not roles.intersection({"view-users", "manage-users"}):
                    users = []
                brief = query.get("briefRepresentation", "false").lower() == "true"
                return 200, [user_representation(state, u, brief) for u in users], {}
            if rest == ["users", "count"] and method == "GET":
                require("query-users", "view-users", "manage-users")
                return 200, len(self.search_users(dict(query, max="1000000"))), {}
            if rest == ["users", "profile"] and method == "GET":
                require(*roles or {"none"})
                return 200, profile_config(state), {}
            if rest == ["roles"] and method == "GET":
                require("view-realm", "manage-realm")
                return 200, sorted(state.roles.values(), key=lambda r: r["name"]), {}
            if len(rest) == 2 and rest[0] == "roles" and method == "GET":
                require("view-realm", "manage-realm")
                role = state.roles.get(rest[1])
                if role is None:
                    raise HttpError(404, {"error": "Could not find role"})
                return 200, role, {}
            if len(rest) >= 2 and rest[0] == "users":
                user = state.users.get(rest[1])
                if user is None:
                    require("query-users", "view-users", "manage-users")
                    raise HttpError(404, {"error": "User not found"})
                sub = rest[2:]
                if sub == [] and method == "GET":
                    require("view-users", "manage-users")
                    return 200, user_representation(state, user), {}
                if sub == [] and method == "PUT":
                    require("manage-users")
                    return self.update_user(user, body or {})
                if sub == ["reset-password"] and method == "PUT":
                    require("manage-users")
                    return self.reset_password(user, body or {})
                if sub == [] and method == "DELETE":
                    require("manage-users")
                    del state.users[user["id"]]
                    state.mappings.pop(user["id"], None)
                    state.persist()
                    return 204, None, {}
                if sub == ["role-mappings"] and method == "GET":
                    require("view-users", "manage-users")
                    return 200, {"realmMappings": self.mapped_roles(user)}, {}
                if sub == ["role-mappings", "realm"]:
                    if method == "GET":
                        require("view-users", "manage-users")
                        return 200, self.mapped_roles(user), {}
                    if method in ("POST", "DELETE"):
                        require("manage-users")
                        return self.change_mappings(user, method, body)
            raise HttpError(404, {"error": "Unable to find matching target resource method"})

    def mapped_roles(self, user):
        state = self.state
        return [r for r in (state.role_by_id(i) for i in state.mappings.get(user["id"], [])) if r]

    def change_mappings(self, user, method, body):
        state = self.state
        if not isinstance(body, list):
            raise HttpError(400, {"error": "invalid_request",
                                  "error_description": "Cannot parse the JSON"})
        ids = []
        for rep in body:
            # RoleMapperResource: realm.getRole(name), then the id must be that role's.
            role = state.roles.get(rep.get("name")) if isinstance(rep, dict) else None
            if role is None or role["id"] != rep.get("id"):
                raise HttpError(404, {"error": "Role not found"})
            ids.append(role["id"])
        current = state.mappings.setdefault(user["id"], [])
        for role_id in ids:
            if method == "POST" and role_id not in current:
                current.append(role_id)
            if method == "DELETE" and role_id in current:
                current.remove(role_id)
        state.persist()
        return 204, None, {}

    def validate_profile(self, rep, existing=None):
        """Keycloak's user-profile validation: 409 for duplicates, else 400 with the errors."""
        state = self.state
        errors = []
        username = rep.get("username")
        username = username.lower().strip() if isinstance(username, str) else None
        email = rep.get("email")
        email = email.lower().strip() if isinstance(email, str) and email.strip() else None
        if existing is None:
            if not username:
                raise HttpError(400, {"errorMessage": "User name is missing"})
            if any(u["username"] == username for u in state.users.values()):
                raise HttpError(409, {"errorMessage": "User exists with same username"})
        elif username is not None and username != existing["username"]:
            errors.append({"field": "username", "errorMessage": "error-user-attribute-read-only",
                           "params": ["username"]})
        if email is not None:
            if any(u["email"] == email and u is not existing for u in state.users.values()):
                raise HttpError(409, {"errorMessage": "User exists with same email"})
        # The realm's user profile, as the Admin REST API applies it (the "admin" role): the
        # values the user will have, the body's where it names them.
        values = user_values(existing) if existing is not None else {}
        if existing is None:
            values["username"] = [username]
        for field in ("email", "firstName", "lastName"):
            if field in rep:
                values[field] = [rep[field]] if rep[field] is not None else []
        attributes = rep.get("attributes")
        if isinstance(attributes, dict):
            for name in list(values):
                if name not in BUILTIN_ATTRIBUTES:
                    del values[name]
            for name in state.declared:
                if name in attributes:
                    given = attributes[name]
                    values[name] = given if isinstance(given, list) else [given]
        errors += [e for e in profile_errors(state, values, "admin")
                   if not (existing is not None and e["field"] == "username")]
        if len(errors) == 1:
            raise HttpError(400, errors[0])
        if errors:
            raise HttpError(400, {"errors": errors})
        return username, email

    def kept_attributes(self, attributes):
        """What Keycloak keeps: declared attributes only, unless unmanaged ones are allowed."""
        state = self.state
        kept = {}
        if not isinstance(attributes, dict) or state.drop_attributes:
            return kept
        allow_unmanaged = state.unmanaged_policy in ("ENABLED", "ADMIN_EDIT")
        for name, values in attributes.items():
            if name in BUILTIN_ATTRIBUTES:
                continue
            if name not in state.declared and not allow_unmanaged:
                continue  # silently dropped, as Keycloak does
            values = values if isinstance(values, list) else [values]
            values = [str(v) for v in values if v is not None and str(v) != ""]
            if values:
                kept[name] = values
        return kept

    def create_user(self, rep):
        state = self.state
        username, email = self.validate_profile(rep)
        user = {"id": str(uuid.uuid4()), "username": username, "email": email,
                "firstName": rep.get("firstName") or None, "lastName": rep.get("lastName") or None,
                "emailVerified": bool(rep.get("emailVerified", False)),
                "enabled": bool(rep.get("enabled", False)), "createdTimestamp": now_ms(),
                "attributes": self.kept_attributes(rep.get("attributes")),
                "requiredActions": list(rep.get("requiredActions") or []), "credentials": []}
        for cred in rep.get("credentials") or []:
            if cred.get("type", "password") != "password":
                continue
            violation = check_password(state.policies, cred.get("value") or "", username, email)
            if violation:
                # PasswordPolicyNotMetException: the transaction rolls back, no user is created.
                raise HttpError(400, {"error": violation[0], "error_description": violation[1]})
            salt = secrets.token_hex(8)
            user["credentials"].append({
                "type": "password", "temporary": bool(cred.get("temporary", False)),
                "salt": salt,
                "hash": hashlib.sha256((salt + (cred.get("value") or "")).encode()).hexdigest()})
        state.users[user["id"]] = user
        state.mappings[user["id"]] = [state.roles[f"default-roles-{state.realm}"]["id"]]
        state.persist()
        host = self.headers.get("Host") or "%s:%d" % self.server.server_address[:2]
        location = f"http://{host}/admin/realms/{state.realm}/users/{user['id']}"
        return 201, None, {"Location": location}

    def update_user(self, user, rep):
        _, email = self.validate_profile(rep, existing=user)
        if "email" in rep:
            user["email"] = email
        for field in ("firstName", "lastName"):
            if field in rep:
                user[field] = rep[field] or None
        for field in ("enabled", "emailVerified"):
            if field in rep:
                user[field] = bool(rep[field])
        # Keycloak 24+: the body's attributes replace the user's; a body without them clears
        # the custom attributes (partial updates are no longer merged).
        user["attributes"] = self.kept_attributes(rep.get("attributes"))
        self.state.persist()
        return 204, None, {}

    def reset_password(self, user, rep):
        state = self.state
        if rep.get("type", "password") != "password" or not isinstance(rep.get("value"), str):
            raise HttpError(400, {"error": "invalid_request",
                                  "error_description": "Missing password value"})
        violation = check_password(state.policies, rep["value"], user["username"],
                                   user.get("email"))
        if violation:
            raise HttpError(400, {"error": violation[0], "error_description": violation[1]})
        salt = secrets.token_hex(8)
        user["credentials"] = [c for c in user["credentials"] if c["type"] != "password"]
        user["credentials"].append({
            "type": "password", "temporary": bool(rep.get("temporary", True)), "salt": salt,
            "hash": hashlib.sha256((salt + rep["value"]).encode()).hexdigest()})
        state.persist()
        return 204, None, {}

    def search_users(self, query):
        state = self.state
        exact = query.get("exact", "").lower() == "true"

        def matches(value, wanted, exact_match):
            value = (value or "").lower()
            wanted = wanted.lower()
            return value == wanted if exact_match else wanted in value

        users = sorted(state.users.values(), key=lambda u: u["username"])
        if "search" in query:
            search = query["search"].strip()
            if search.startswith("id:"):
                ids = search[3:].split()
                users = [u for u in users if u["id"] in ids]
            else:
                s = search.lower()
                if len(s) >= 2 and s.startswith('"') and s.endswith('"'):
                    test = lambda v: v == s[1:-1]
                elif s.startswith("*") and len(s) > 1:
                    test = lambda v: s.strip("*") in v
                else:
                    test = lambda v: v.startswith(s.rstrip("*"))
                users = [u for u in users if any(
                    test((u.get(f) or "").lower())
                    for f in ("username", "email", "firstName", "lastName"))]
        else:
            for param, field in (("username", "username"), ("email", "email"),
                                 ("firstName", "firstName"), ("lastName", "lastName")):
                if param in query:
                    users = [u for u in users if matches(u.get(field), query[param], exact)]
            for param in ("enabled", "emailVerified"):
                if param in query:
                    want = query[param].lower() == "true"
                    users = [u for u in users if u[param] == want]
            if "q" in query:
                attr_exact = query.get("exact", "true").lower() != "false"
                for key, value in parse_search_query(query["q"]).items():
                    users = [u for u in users if any(
                        matches(v, value, attr_exact) for v in u["attributes"].get(key, []))]
        first = max(int(query.get("first") or 0), 0)
        maximum = int(query.get("max") or 100)
        return users[first:first + maximum] if maximum >= 0 else users[first:]


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: pick a free port")
    parser.add_argument("--realm-file", default=DEFAULT_REALM_FILE,
                        help="realm export to serve (default: deploy/keycloak/"
                             "realm-securelink.json; '' for a bare realm); the options below "
                             "override its parts")
    parser.add_argument("--realm", default=None, help="realm name")
    parser.add_argument("--client-id", default=None,
                        help="the confidential service-account client the service uses "
                             "(default securelink-invitations)")
    parser.add_argument("--client-secret", default=None,
                        help="that client's secret (default: the export's, with ${VAR} "
                             f"placeholders from the environment; else {FALLBACK_SECRET!r})")
    parser.add_argument("--service-account-roles", default=None,
                        help="realm-management client roles of its service account")
    parser.add_argument("--attributes", default=None,
                        help="the custom user attributes the user profile declares (those the "
                             "export declares keep their validations)")
    parser.add_argument("--unmanaged-attribute-policy", default=None,
                        help="'' (DISABLED: undeclared attributes dropped), ENABLED, ADMIN_EDIT")
    parser.add_argument("--roles", default=None, help="realm roles, comma-separated")
    parser.add_argument("--password-min-length", type=int, default=None,
                        help="shorthand for --password-policy 'length(N)'")
    parser.add_argument("--password-policy", default=None,
                        help='Keycloak policy string, e.g. "length(12) and digits(1)"')
    parser.add_argument("--token-lifetime", type=float, default=300,
                        help="access token lifetime in seconds")
    parser.add_argument("--state-file", default=None,
                        help="persist users and tokens here across restarts")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)

    try:
        state = State(args)
    except (OSError, ValueError, KeyError, re.error) as e:
        parser.error(f"{args.realm_file or 'the bare realm'}: {e}")
    server = Server((args.host, args.port), Handler)
    server.state = state
    server.verbose = args.verbose
    print(f"LISTENING {server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
