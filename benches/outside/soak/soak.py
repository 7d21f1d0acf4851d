"""A soak of mixed traffic against a running release server (run.sh starts it): a welcome
campaign that emails every registration (to a counting SMTP server), an action that gives viewers
a role and a banner, then for DURATION seconds, every second: REGISTER new customers, VIEWS
product views of random customers (batches of 100), READS storefront reads and a few admin
lists, while the server's own ticks run. Prints the server's RSS every minute, then start, peak
and end, and how many mails arrived.

    soak.py BASE KEY_FILE PID DURATION [REGISTER VIEWS READS]
"""
import json, os, random, sys, threading, time, urllib.request

base, key_file, pid, duration = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
register, views, reads = (int(a) for a in (sys.argv[5:8] or [20, 400, 200]))
work = os.environ.get("WORK", "/tmp/crash")


def post(key, query, variables=None):
    req = urllib.request.Request(base + "/graphql", data=json.dumps({"query": query, "variables": variables or {}}).encode(),
                                 headers={"Authorization": "Bearer " + key, "Content-Type": "application/json"})
    body = json.loads(urllib.request.urlopen(req, timeout=60).read())
    assert "errors" not in body, body
    return body["data"]


def rss_kib(field="VmRSS"):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field):
            return int(line.split()[1])
    return 0


def mails():
    try:
        return sum(json.load(open(f"{work}/counts.json")).values())
    except Exception:
        return 0


for _ in range(200):
    admin = open(key_file).read().strip() if os.path.exists(key_file) else ""
    if admin:
        break
    time.sleep(0.1)
post(admin, "mutation($p: [ProductInput!]!) { upsertProducts(products: $p) { userErrors { message } } }",
     {"p": [{"externalId": f"p{i}", "name": f"P{i}", "price": "1.00", "currency": "USD", "categoryIds": ["c1"]} for i in range(20)]})
role = post(admin, "mutation($i: RoleInput!) { createRole(input: $i) { role { id } } }",
            {"i": {"name": "Viewers", "systemName": "viewers", "recommendedProducts": [f"p{i}" for i in range(8)]}})["createRole"]["role"]["id"]
post(admin, "mutation($i: CustomerActionInput!) { createCustomerAction(input: $i) { userErrors { message } } }",
     {"i": {"name": "viewers", "trigger": "PRODUCT_VIEWED", "effects": [{"assignRole": role}, {"showBanner": {"title": "Hi", "bodyHtml": "<p>Hi</p>", "durationHours": 1}}]}})
t = post(admin, 'mutation { createTemplate(input: { name: "welcome", channel: EMAIL, subject: "Welcome", bodyText: "Hello" }) { template { id } } }')["createTemplate"]["template"]["id"]
post(admin, 'mutation($t: ID!) { createCampaign(input: { name: "welcome", status: ACTIVE, anchor: { registered: true }, steps: [{ id: "hi", message: { channel: EMAIL, templateId: $t } }] }) { campaign { id } userErrors { message } } }', {"t": t})
sf = post(admin, 'mutation { createApiKey(scope: STOREFRONT, name: "sf", identityVerification: false) { created { secret } } }')["createApiKey"]["created"]["secret"]

customers = 0
samples = []
start = time.time()
next_sample = start
stop = start + duration
failures = []


def storefront_reads(n):
    for _ in range(n):
        c = random.randrange(max(customers, 1))
        post(sf, 'query($c: String!) { recommendations(customerExternalId: $c, first: 6) { externalId } banners(customerExternalId: $c) { id } }', {"c": f"c{c}"})


print(f"start RSS {rss_kib() // 1024} MB", flush=True)
while time.time() < stop:
    second = time.time()
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    regs = [{"eventId": f"r{customers + i}", "customerExternalId": f"c{customers + i}", "occurredAt": now,
             "payload": {"registered": {"email": f"c{customers + i}@example.com", "emailConsent": True}}} for i in range(register)]
    post(sf, 'mutation($e: [EventInput!]!) { recordEvents(events: $e) { userErrors { message } } }', {"e": regs})
    customers += register
    batches = [[{"eventId": f"v{second}-{b}-{i}", "customerExternalId": f"c{random.randrange(customers)}", "occurredAt": now,
                 "payload": {"productViewed": {"productExternalId": f"p{random.randrange(20)}"}}} for i in range(100)]
               for b in range(views // 100)]
    threads = [threading.Thread(target=post, args=(sf, 'mutation($e: [EventInput!]!) { recordEvents(events: $e) { userErrors { message } } }', {"e": e})) for e in batches]
    threads += [threading.Thread(target=storefront_reads, args=(reads // 4,)) for _ in range(4)]
    for th in threads:
        th.start()
    post(admin, "{ customers(first: 50) { edges { node { id externalId roles { id } } } } }")
    post(admin, "{ deliveries(first: 50) { edges { node { id status } } } }")
    post(admin, "{ campaigns { id name } customerActions { id name } }")
    for th in threads:
        th.join()
    if time.time() >= next_sample:
        samples.append((time.time() - start, rss_kib()))
        print(f"{samples[-1][0]:7.0f} s  RSS {samples[-1][1] // 1024} MB  customers {customers}  mails {mails()}", flush=True)
        next_sample += 60
    time.sleep(max(0.0, 1.0 - (time.time() - second)))
samples.append((time.time() - start, rss_kib()))
peak = max(s[1] for s in samples)
print(f"start {samples[0][1] // 1024} MB, peak of samples {peak // 1024} MB, end {samples[-1][1] // 1024} MB, "
      f"high-water mark {rss_kib('VmHWM') // 1024} MB; {customers} customers, {mails()} mails received", flush=True)
