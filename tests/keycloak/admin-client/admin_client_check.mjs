// Keycloak's own admin client (@keycloak/keycloak-admin-client) against the Keycloak stand-in
// serving the realm export: the calls the invitation service makes, and what the realm refuses,
// must look to Keycloak's client as they would from Keycloak.
//
//   node admin_client_check.mjs --standin keycloak_standin.py --realm-file realm-securelink.json
//
// Starts the stand-in on a free port (as the C++ and Python test helpers do), runs the checks in
// order, prints "ok - <check>" for each, and exits non-zero at the first that fails.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";

import KcAdminClient from "@keycloak/keycloak-admin-client";

const { values: args } = parseArgs({
  options: {
    standin: { type: "string" },
    "realm-file": { type: "string" },
    python: { type: "string", default: "/usr/bin/python3" },
  },
});
assert.ok(args.standin && args["realm-file"], "usage: --standin FILE --realm-file FILE");

const REALM = "securelink";
const CLIENT_ID = "securelink-invitations";
const SECRET = "admin-client-check-secret";
const PASSWORD = "Correct-Horse-7731";

// The stand-in takes the secret the way Keycloak's import does: from the export's environment
// placeholder, ${SECURELINK_INVITATIONS_CLIENT_SECRET}.
async function startStandin() {
  const child = spawn(args.python, [args.standin, "--port", "0", "--realm-file", args["realm-file"]], {
    env: { ...process.env, SECURELINK_INVITATIONS_CLIENT_SECRET: SECRET },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines = createInterface({ input: child.stdout });
  const exited = once(child, "exit").then(([code]) => {
    throw new Error(`the stand-in exited (${code}) before listening`);
  });
  const [line] = await Promise.race([once(lines, "line"), exited]);
  const match = /^LISTENING (\d+)$/.exec(line);
  assert.ok(match, `unexpected first line from the stand-in: ${line}`);
  return { child, baseUrl: `http://127.0.0.1:${match[1]}` };
}

// What a failed call looks like to the client: its NetworkError's status and parsed body.
async function refusal(call) {
  try {
    await call();
  } catch (err) {
    assert.ok(err.response, `not an HTTP refusal: ${err}`);
    return { status: err.response.status, body: err.responseData, message: err.message };
  }
  assert.fail("the call was expected to be refused");
}

const checks = [];
const check = (name, fn) => checks.push({ name, fn });

let kc;
let baseUrl;
let userId;
const email = "ada.lovelace@example.com";

check("token via client credentials (the service's service account)", async () => {
  kc = new KcAdminClient({ baseUrl, realmName: REALM });
  await kc.auth({ grantType: "client_credentials", clientId: CLIENT_ID, clientSecret: SECRET });
  assert.equal(typeof kc.accessToken, "string");
  const wrong = new KcAdminClient({ baseUrl, realmName: REALM });
  const r = await refusal(() =>
    wrong.auth({ grantType: "client_credentials", clientId: CLIENT_ID, clientSecret: "nope" }));
  assert.equal(r.status, 401);
  assert.equal(r.body.error, "unauthorized_client");
});

check("create a user with the attributes the realm declares", async () => {
  const created = await kc.users.create({
    username: email, email, enabled: true, emailVerified: true,
    firstName: "Ada", lastName: "Lovelace",
    credentials: [{ type: "password", value: PASSWORD, temporary: false }],
    attributes: { tenant_id: ["acme"], invitation_id: ["inv-1"], not_declared: ["x"] },
  });
  assert.match(created.id, /^[0-9a-f-]{36}$/);
  userId = created.id;
  const user = await kc.users.findOne({ id: userId });
  assert.equal(user.username, email);
  assert.deepEqual(user.attributes, { tenant_id: ["acme"], invitation_id: ["inv-1"] },
                   "an attribute the profile does not declare is dropped silently");
});

check("a tenant_id outside the profile's pattern is 400 with Keycloak's field error", async () => {
  const r = await refusal(() => kc.users.create({
    username: "bad.tenant@example.com", email: "bad.tenant@example.com", enabled: true,
    firstName: "Bad", lastName: "Tenant", attributes: { tenant_id: ["bad tenant!"] },
  }));
  assert.equal(r.status, 400);
  assert.deepEqual(r.body, {
    field: "tenant_id",
    errorMessage: "Tenant ids use letters, digits, '.', '_' and '-' only.",
    params: ["tenant_id", "^[A-Za-z0-9._-]+$"],
  });
  assert.equal(r.message, "Tenant ids use letters, digits, '.', '_' and '-' only.");
  assert.deepEqual(await kc.users.find({ email: "bad.tenant@example.com", exact: true }), []);
});

check("map a realm role looked up by name; a role whose id and name disagree is 404", async () => {
  const role = await kc.roles.findOneByName({ name: "securelink-vpn-user" });
  assert.equal(role.name, "securelink-vpn-user");
  const other = await kc.roles.findOneByName({ name: "securelink-super-admin" });
  const r = await refusal(() => kc.users.addRealmRoleMappings({
    id: userId, roles: [{ id: role.id, name: other.name }],
  }));
  assert.equal(r.status, 404);
  assert.equal(r.message, "Role not found");
  await kc.users.addRealmRoleMappings({ id: userId, roles: [{ id: role.id, name: role.name }] });
  const names = (await kc.users.listRealmRoleMappings({ id: userId })).map((m) => m.name).sort();
  assert.deepEqual(names, ["default-roles-securelink", "securelink-vpn-user"]);
  assert.equal(await kc.roles.findOneByName({ name: "no-such-role" }), null);
});

check("reset the password: the realm's policy refuses a short one in Keycloak's words", async () => {
  const r = await refusal(() => kc.users.resetPassword({
    id: userId, credential: { type: "password", value: "short-pw-1", temporary: false },
  }));
  assert.equal(r.status, 400);
  assert.deepEqual(r.body, {
    error: "invalidPasswordMinLengthMessage",
    error_description: "Invalid password: minimum length 12.",
  });
  await kc.users.resetPassword({
    id: userId, credential: { type: "password", value: "Another-Long-Password-2", temporary: false },
  });
});

check("the user logs in through admin-cli, the realm's built-in direct-grant client", async () => {
  const user = new KcAdminClient({ baseUrl, realmName: REALM });
  await user.auth({ grantType: "password", clientId: "admin-cli", username: email,
                    password: "Another-Long-Password-2" });
  assert.equal(typeof user.accessToken, "string");
  const r = await refusal(() => new KcAdminClient({ baseUrl, realmName: REALM }).auth({
    grantType: "password", clientId: "securelink-console", username: email,
    password: "Another-Long-Password-2" }));
  assert.equal(r.status, 400);
  assert.equal(r.body.error, "unauthorized_client", "the console client has no direct grants");
});

check("find the user by email", async () => {
  const found = await kc.users.find({ email: "ADA.LOVELACE@example.com", exact: true });
  assert.deepEqual(found.map((u) => u.id), [userId]);
  const byInvitation = await kc.users.find({ q: "invitation_id:inv-1" });
  assert.deepEqual(byInvitation.map((u) => u.id), [userId]);
});

check("delete the user", async () => {
  await kc.users.del({ id: userId });
  assert.equal(await kc.users.findOne({ id: userId }), null);
  assert.deepEqual(await kc.users.find({ email, exact: true }), []);
});

const { child, baseUrl: url } = await startStandin();
baseUrl = url;
let failed = false;
try {
  for (const { name, fn } of checks) {
    try {
      await fn();
      console.log(`ok - ${name}`);
    } catch (err) {
      console.log(`not ok - ${name}`);
      console.error(err);
      failed = true;
      break;
    }
  }
} finally {
  child.kill("SIGTERM");
}
process.exitCode = failed ? 1 : 0;
