"""Seeds the storefront benchmark (run.sh): products, a role recommending them, an action that
gives each registered customer the role and a banner, then N registrations in batches of 500;
waits until the last customer has its banner. Writes the storefront key beside the admin key."""
import json, sys, time, urllib.request
base, key_file, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
for _ in range(200):
    try:
        admin = open(key_file).read().strip()
        if admin: break
    except FileNotFoundError: pass
    time.sleep(0.1)
def post(key, query, variables=None):
    req = urllib.request.Request(base + "/graphql", data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Authorization": "Bearer " + key, "Content-Type": "application/json"})
    body = json.loads(urllib.request.urlopen(req).read())
    assert "errors" not in body, body
    return body["data"]
post(admin, "mutation($p: [ProductInput!]!) { upsertProducts(products: $p) { userErrors { message } } }",
     {"p": [{"externalId": f"p{i}", "name": f"P{i}", "price": "1.00", "currency": "USD"} for i in range(8)]})
role = post(admin, "mutation($i: RoleInput!) { createRole(input: $i) { role { id } } }",
     {"i": {"name": "Fans", "systemName": "fans", "recommendedProducts": [f"p{i}" for i in range(8)]}})["createRole"]["role"]["id"]
post(admin, "mutation($i: CustomerActionInput!) { createCustomerAction(input: $i) { userErrors { message } } }",
     {"i": {"name": "w", "trigger": "REGISTERED", "effects": [{"assignRole": role}, {"showBanner": {"title": "Hi", "bodyHtml": "<p>Hi</p>"}}]}})
sf = post(admin, 'mutation { createApiKey(scope: STOREFRONT, name: "web", identityVerification: false) { created { secret } } }')["createApiKey"]["created"]["secret"]
for start in range(0, n, 500):
    events = [{"eventId": f"r{i}", "customerExternalId": f"c{i}", "occurredAt": "2026-11-22T10:00:00Z",
               "payload": {"registered": {"email": f"c{i}@example.com"}}} for i in range(start, min(n, start + 500))]
    post(sf, "mutation($e: [EventInput!]!) { recordEvents(events: $e) { userErrors { message } } }", {"e": events})
last = f"c{n-1}"
while True:
    d = post(admin, '{ banners(customerExternalId: "%s") { id } }' % last)
    if d["banners"]: break
    time.sleep(0.2)
open(key_file + ".sf", "w").write(sf)
print("seeded", n)
