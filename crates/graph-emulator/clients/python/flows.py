"""Microsoft's Python SDK (msgraph-sdk + azure-identity), unchanged, against the emulator's
TLS mode. Reads the emulator's JSON banner from argv[1]; trusts its CA through SSL_CERT_FILE /
REQUESTS_CA_BUNDLE (set by run.sh). Exits non-zero when a count differs from the tenant's or a
request went unrouted."""

import asyncio
import json
import ssl
import sys
import urllib.request
from urllib.parse import urlparse

from azure.identity.aio import ClientSecretCredential
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.groups.delta.delta_request_builder import (
    DeltaRequestBuilder as GroupsDelta,
)
from msgraph.generated.users.users_request_builder import UsersRequestBuilder
from msgraph_core.tasks.page_iterator import PageIterator

failures = []


def check(label, got, expected):
    ok = got == expected
    print(f"{'ok  ' if ok else 'FAIL'} {label}: {got} (expected {expected})")
    if not ok:
        failures.append(label)


def control(banner, method, path, body=None):
    context = ssl.create_default_context(cafile=banner["ca_pem"])
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        banner["control_url"] + path,
        data=data,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, context=context) as response:
        text = response.read()
        return json.loads(text) if text else None


async def delta_round(builder):
    page = await builder.get()
    items = list(page.value or [])
    while page.odata_next_link:
        page = await builder.with_url(page.odata_next_link).get()
        items.extend(page.value or [])
    return items, page.odata_delta_link


async def main():
    banner = json.loads(sys.argv[1])
    expected_users = int(sys.argv[2])
    tenant = banner["tenants"][0]
    authority = banner["authority_url"]
    host = urlparse(banner["graph_url"]).hostname

    credential = ClientSecretCredential(
        tenant["tenant_id"],
        tenant["client_id"],
        tenant["client_secret"],
        authority=authority,
        # Instance discovery asks login.microsoftonline.com about an unknown authority; the
        # emulator is its own authority.
        disable_instance_discovery=True,
    )
    auth = AzureIdentityAuthenticationProvider(
        credential,
        scopes=["https://graph.microsoft.com/.default"],
        allowed_hosts=[host],
    )
    adapter = GraphRequestAdapter(auth)
    adapter.base_url = banner["graph_url"]
    client = GraphServiceClient(request_adapter=adapter)

    # 1. Users with the SDK's page iterator.
    query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
        top=25, select=["id", "displayName", "proxyAddresses", "externalUserState"]
    )
    first = await client.users.get(RequestConfiguration(query_parameters=query))
    listed = []

    def collect(user):
        listed.append(user)
        return True

    iterator = PageIterator(first, adapter)
    await iterator.iterate(collect)
    check("users listed with PageIterator", len(listed), expected_users)

    config = RequestConfiguration()
    config.headers.add("ConsistencyLevel", "eventual")
    count = await client.users.count.get(config)
    check("GET /users/$count", count, expected_users)

    # 2. A users delta round, a change and a deletion through the control API, a second round.
    users, delta_link = await delta_round(client.users.delta)
    check("users in the initial delta round", len(users), expected_users)
    changed, deleted = users[0].id, users[1].id
    control(banner, "PATCH", f"/tenants/{tenant['tenant_id']}/users/{changed}",
            {"jobTitle": "Changed by the control API"})
    control(banner, "DELETE", f"/tenants/{tenant['tenant_id']}/users/{deleted}")
    second, _ = await delta_round(client.users.delta.with_url(delta_link))
    removed = [u.id for u in second if "@removed" in (u.additional_data or {})]
    updated = [u.id for u in second if "@removed" not in (u.additional_data or {})]
    check("second round: updated", updated, [changed])
    check("second round: @removed", removed, [deleted])

    # 3. A groups delta round with members.
    groups_query = GroupsDelta.DeltaRequestBuilderGetQueryParameters(
        select=["displayName", "members"]
    )
    page = await client.groups.delta.get(RequestConfiguration(query_parameters=groups_query))
    groups = list(page.value or [])
    while page.odata_next_link:
        page = await client.groups.delta.with_url(page.odata_next_link).get()
        groups.extend(page.value or [])
    config = RequestConfiguration()
    config.headers.add("ConsistencyLevel", "eventual")
    group_count = await client.groups.count.get(config)
    # A group with many members can come back on several pages (group-delta.md); count ids.
    live = {g.id for g in groups if "@removed" not in (g.additional_data or {})}
    print(f"     group entries in the delta round: {len(groups)}")
    check("distinct groups in the delta round", len(live), group_count)
    with_members = [g for g in groups if (g.additional_data or {}).get("members@delta")]
    print(f"     groups with members@delta: {len(with_members)} of {len(groups)}")
    if not with_members:
        failures.append("groups delta with members")

    await credential.close()

    counters = control(banner, "GET", "/counters")
    unrouted = {k: v for k, v in counters["by_endpoint"].items() if "unrouted" in k}
    check("unrouted requests", unrouted, {})
    print("endpoints the SDK called:")
    for endpoint, statuses in sorted(counters["by_endpoint"].items()):
        print(f"     {endpoint}: {statuses}")
    if failures:
        print(f"FAILED: {failures}")
        sys.exit(1)
    print("all flows passed")


asyncio.run(main())
