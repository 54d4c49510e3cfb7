// Backstage's Microsoft Graph org reader (@backstage/plugin-catalog-backend-module-msgraph),
// unchanged, against the emulator's TLS mode. Reads the emulator's JSON banner from argv[2];
// trusts its CA through NODE_EXTRA_CA_CERTS (set by run.sh). Exits non-zero when a count
// differs from the tenant's or a request went unrouted.
'use strict';

const { ClientSecretCredential } = require('@azure/identity');
const {
  MicrosoftGraphClient,
  readMicrosoftGraphOrg,
  MICROSOFT_GRAPH_TENANT_ID_ANNOTATION,
  MICROSOFT_GRAPH_USER_ID_ANNOTATION,
} = require('@backstage/plugin-catalog-backend-module-msgraph');

const failures = [];

function check(label, got, expected) {
  const ok = JSON.stringify(got) === JSON.stringify(expected);
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${label}: ${JSON.stringify(got)} (expected ${JSON.stringify(expected)})`);
  if (!ok) {
    failures.push(label);
  }
}

async function control(banner, method, path, body) {
  const response = await fetch(banner.control_url + path, {
    method,
    headers: { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) {
    throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  }
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

// The reader logs through Backstage's LoggerService; these runs only need its info lines.
const logger = {
  info: (message, meta) => console.log(`     reader: ${message} ${meta ? JSON.stringify(meta) : ''}`),
  warn: (message, meta) => console.log(`     reader warning: ${message} ${meta ? JSON.stringify(meta) : ''}`),
  error: (message, meta) => console.log(`     reader error: ${message} ${meta ? JSON.stringify(meta) : ''}`),
  debug: () => {},
  child: () => logger,
};

async function main() {
  const banner = JSON.parse(process.argv[2]);
  const tenant = banner.tenants[0];
  const tenantId = tenant.tenant_id;

  // The reader's client over the credential it would make itself from app-config
  // (`MicrosoftGraphClient.create`: a ClientSecretCredential with `authorityHost`), plus
  // `disableInstanceDiscovery`. Without it MSAL first asks login.microsoftonline.com about the
  // unknown authority (instance discovery), which fails offline with endpoints_resolution_error.
  const credential = new ClientSecretCredential(tenantId, tenant.client_id, tenant.client_secret, {
    authorityHost: banner.authority_url,
    disableInstanceDiscovery: true,
  });
  const client = new MicrosoftGraphClient(banner.graph_url, credential);

  // 1. The whole organisation: users, groups and the tenant's root group.
  const before = await control(banner, 'GET', `/tenants/${tenantId}/summary`);
  const org = await readMicrosoftGraphOrg(client, tenantId, { logger });
  // The reader leaves out users whose accountEnabled is false.
  check('users read (enabled users of the tenant)', org.users.length, before.enabled_users);
  const roots = org.groups.filter((g) => g.spec.type === 'root');
  check('root groups', roots.length, 1);
  check(
    'root group is the tenant',
    roots.map((g) => g.metadata.annotations[MICROSOFT_GRAPH_TENANT_ID_ANNOTATION]),
    [tenantId],
  );
  check('groups read (the tenant\'s groups and the root)', org.groups.length, before.groups + 1);
  const members = org.users.filter((u) => u.spec.memberOf.length > 0).length;
  console.log(`     users with memberOf: ${members} of ${org.users.length}`);
  if (members === 0) {
    failures.push('users with memberOf');
  }
  const pictures = org.users.filter((u) => u.spec.profile.picture).length;
  console.log(`     users with a photo: ${pictures} of ${org.users.length}`);
  if (pictures === 0) {
    failures.push('users with a photo');
  }

  // 2. Users in groups: a group made through the control API with two enabled users, one
  // disabled user and a nested group; the filter picks it by display name.
  const made = [];
  for (const [name, enabled] of [['Backstage Reader One', true], ['Backstage Reader Two', true], ['Backstage Reader Off', false]]) {
    const nickname = name.toLowerCase().replace(/ /g, '.');
    const { id } = await control(banner, 'POST', `/tenants/${tenantId}/users`, {
      userPrincipalName: `${nickname}@${tenant.tenant_domain}`,
      displayName: name,
      mail: `${nickname}@${tenant.tenant_domain}`,
      accountEnabled: enabled,
    });
    made.push({ id, enabled });
  }
  const { id: group } = await control(banner, 'POST', `/tenants/${tenantId}/groups`, {
    displayName: "Backstage Readers' Desk",
    kind: 'security',
  });
  const { id: nested } = await control(banner, 'POST', `/tenants/${tenantId}/groups`, {
    displayName: 'Backstage Nested',
    kind: 'security',
  });
  for (const member of [...made.map((m) => m.id), nested]) {
    await control(banner, 'POST', `/tenants/${tenantId}/groups/${group}/members`, { id: member });
  }
  const after = await control(banner, 'GET', `/tenants/${tenantId}/summary`);
  // Basic mode, then advanced (`$count=true` and `ConsistencyLevel: eventual` on each request).
  for (const queryMode of ['basic', 'advanced']) {
    const filtered = await readMicrosoftGraphOrg(client, tenantId, {
      logger,
      queryMode,
      userGroupMemberFilter: "displayName eq 'Backstage Readers'' Desk'",
      loadUserPhotos: false,
    });
    check(
      `${queryMode}: users in the filtered group (enabled user members only)`,
      filtered.users.map((u) => u.metadata.annotations[MICROSOFT_GRAPH_USER_ID_ANNOTATION]).sort(),
      made.filter((m) => m.enabled).map((m) => m.id).sort(),
    );
    check(`${queryMode}: groups read alongside`, filtered.groups.length, after.groups + 1);
  }

  const counters = await control(banner, 'GET', '/counters');
  const unrouted = Object.fromEntries(
    Object.entries(counters.by_endpoint).filter(([endpoint]) => endpoint.includes('unrouted')),
  );
  check('unrouted requests', unrouted, {});
  console.log('endpoints the reader called:');
  for (const [endpoint, statuses] of Object.entries(counters.by_endpoint).sort()) {
    console.log(`     ${endpoint}: ${JSON.stringify(statuses)}`);
  }
  if (failures.length > 0) {
    console.log(`FAILED: ${JSON.stringify(failures)}`);
    process.exit(1);
  }
  console.log('all reads passed');
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
