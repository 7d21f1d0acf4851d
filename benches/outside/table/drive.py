"""Drives the scale benchmark (run.sh) over HTTP: seeds products, roles, tags, 10 customer
actions of mixed triggers and 5 active campaigns with event anchors, registers N customers over
recordEvents, then sends E productViewed events of random customers in batches of 500 from 8
threads. Prints ingest events/s, the processor's end-to-end events/s and how long the backlog
took to drain after ingest ended. Writes the storefront key beside the admin key."""
import json, os, random, signal, subprocess, sys, threading, time, urllib.request

# BASE may list several servers of one database, comma-separated: the sending threads take
# them in turn. With NUDGE_BENCH_KILL_PID set, that process is killed (SIGKILL) once half the
# views are sent.
bases = sys.argv[1].split(",")
base, key_file, n, e = bases[0], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
kill_pid = int(os.environ.get("NUDGE_BENCH_KILL_PID", "0"))
THREADS, BATCH = 8, 500
for _ in range(300):
    try:
        admin = open(key_file).read().strip()
        if admin:
            break
    except FileNotFoundError:
        pass
    time.sleep(0.1)


def post(key, query, variables=None, to=None):
    req = urllib.request.Request(
        (to or base) + "/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Authorization": "Bearer " + key, "Content-Type": "application/json"})
    body = json.loads(urllib.request.urlopen(req, timeout=600).read())
    assert "errors" not in body, body
    return body["data"]


def created(field, payload):
    assert payload[field]["userErrors"] == [], payload
    return payload[field]


views_only = len(sys.argv) > 5 and sys.argv[5] == "views-only"
if views_only:
    sf = open(key_file + ".sf").read().strip()
else:
    post(admin, "mutation($p: [ProductInput!]!) { upsertProducts(products: $p) { userErrors { message } } }",
         {"p": [{"externalId": f"p{i}", "name": f"P{i}", "price": "10.00", "currency": "USD",
                 "categoryIds": [f"cat{i % 10}"]} for i in range(100)]})
    roles = [post(admin, "mutation($i: RoleInput!) { createRole(input: $i) { role { id } } }",
                  {"i": {"name": f"R{i}", "systemName": f"r{i}", "recommendedProducts": [f"p{j}" for j in range(i, i + 8)]}})
             ["createRole"]["role"]["id"] for i in range(4)]
    tags = [post(admin, 'mutation($n: String!) { createTag(name: $n) { tag { id } } }', {"n": f"t{i}"})["createTag"]["tag"]["id"]
            for i in range(3)]
    banner = {"showBanner": {"title": "10% off shoes", "bodyHtml": "<p>Use SHOES10</p>", "durationHours": 48}}
    in_category = lambda c: {"items": {"attribute": "CATEGORY", "values": [c]}}
    actions = [
        # The table's action: a product viewed in a category gives a role and a banner.
        ("viewed shoes", "PRODUCT_VIEWED", in_category("cat1"), [{"assignRole": roles[0]}, banner], None),
        ("viewed bags", "PRODUCT_VIEWED", in_category("cat2"), [{"setTag": {"tagId": tags[0], "value": "bags"}}], {"kind": "EVERY_TIME"}),
        ("browsing", "PRODUCT_VIEWED", None, [{"setTag": {"tagId": tags[1]}}], {"kind": "AT_MOST_EVERY_DAYS", "days": 7}),
        ("fans of shoes", "PRODUCT_VIEWED", {"hasRole": [roles[0]]}, [{"assignRole": roles[1]}], None),
        ("welcome", "REGISTERED", None, [{"assignRole": roles[2]}], None),
        ("came back", "LOGGED_IN", None, [{"removeTag": tags[1]}], {"kind": "EVERY_TIME"}),
        ("carted", "ADDED_TO_CART", None, [{"setTag": {"tagId": tags[2], "value": "cart"}}], {"kind": "EVERY_TIME"}),
        ("buyer", "ORDER_PLACED", None, [{"assignRole": roles[3]}, {"removeTag": tags[2]}], None),
        ("from ads", "PAGE_VISITED", None, [{"setTag": {"tagId": tags[0], "value": "ads"}}], {"kind": "EVERY_TIME"}),
        ("subscriber", "NEWSLETTER_SUBSCRIBED", None, [banner], None),
    ]
    for name, trigger, condition, effects, repeat in actions:
        i = {"name": name, "trigger": trigger, "effects": effects, "active": True}
        if condition:
            i["condition"] = condition
        if repeat:
            i["repeat"] = repeat
        created("createCustomerAction", post(admin, "mutation($i: CustomerActionInput!) { createCustomerAction(input: $i) { userErrors { field message } } }", {"i": i}))
    template = created("createTemplate", post(admin, "mutation($i: TemplateInput!) { createTemplate(input: $i) { template { id } userErrors { message } } }",
                       {"i": {"name": "thanks", "channel": "EMAIL", "subject": "Thanks", "bodyHtml": "<p>Thanks</p>"}}))["template"]["id"]
    for anchor in [{"orderPlaced": {}}, {"orderPaid": True}, {"delivered": True}, {"newsletterSubscribed": True},
                   {"cartAbandoned": {"idleHours": 2}}]:
        created("createCampaign", post(admin, "mutation($i: CampaignInput!) { createCampaign(input: $i) { campaign { id } userErrors { field message } } }",
                {"i": {"name": "c", "status": "ACTIVE", "anchor": anchor,
                       "steps": [{"id": "mail", "message": {"channel": "EMAIL", "templateId": template}}]}}))
    sf = post(admin, 'mutation { createApiKey(scope: STOREFRONT, name: "web", identityVerification: false) { created { secret } } }')["createApiKey"]["created"]["secret"]
    open(key_file + ".sf", "w").write(sf)
RECORD = "mutation($e: [EventInput!]!) { recordEvents(events: $e) { userErrors { message } } }"


def send(batches):
    """Sends the batches from THREADS threads; returns the seconds it took and each thread's last event id."""
    lasts = [None] * THREADS
    sent = [0]
    killed = [None]
    lock = threading.Lock()

    def work(t):
        for b in range(t, len(batches), THREADS):
            for attempt in range(20):
                to = live[(t + attempt) % len(live)]
                try:
                    errors = post(sf, RECORD, {"e": batches[b]}, to=to)["recordEvents"]["userErrors"]
                    break
                except OSError:
                    # The server went away (killed): the batch goes to another (ids dedupe it).
                    time.sleep(0.05)
            assert errors == [], errors[:3]
            lasts[t] = batches[b][-1]["eventId"]
            with lock:
                sent[0] += 1
                if kill_pid and killed[0] is None and sent[0] * 2 >= len(batches):
                    os.kill(kill_pid, signal.SIGKILL)
                    killed[0] = time.time()
                    live[:] = live[:-1] or live
    started = time.time()
    threads = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    send.killed = killed[0]
    return time.time() - started, [l for l in lasts if l]


live = list(bases)


def drained(lasts):
    """Waits until every thread's last event is processed; returns when that was seen."""
    while True:
        if all(post(admin, "query($id: String!) { event(eventId: $id) { processedAt } }", {"id": l})["event"]["processedAt"]
               for l in lasts):
            return time.time()
        time.sleep(0.05)


def processed():
    """Events the first server has processed so far (its /metrics, when METRICS names it)."""
    url = os.environ.get("METRICS")
    if not url:
        return None
    for line in urllib.request.urlopen(url, timeout=60).read().decode().splitlines():
        if line.startswith("nudge_events_processed_total"):
            return float(line.split()[-1])
    return 0.0


def batches_of(events):
    return [events[i:i + BATCH] for i in range(0, len(events), BATCH)]


at = "2026-11-22T10:00:00Z"
registrations = batches_of([{"eventId": f"r{i}", "customerExternalId": f"c{i}", "occurredAt": at,
                             "payload": {"registered": {"email": f"c{i}@example.com"}}} for i in range(n)])
started = time.time()
took, lasts = send([] if views_only else registrations)
done = drained(lasts)
if not views_only:
    print(f"registered {n} customers: ingest {n / took:,.0f} events/s, all processed {done - started:,.1f} s after the first was sent")
if os.environ.get("VACUUM"):
    # PostgreSQL: what autovacuum would have done by now (this host runs with it off).
    subprocess.run(["psql", "-q", os.environ["VACUUM"], "-c", "VACUUM ANALYZE"], check=True)
    print("VACUUM ANALYZE after the registrations, as autovacuum would")
rng = random.Random(7)
run = int(time.time())
views = batches_of([{"eventId": f"v{run}-{i}", "customerExternalId": f"c{rng.randrange(n)}", "occurredAt": at,
                     "payload": {"productViewed": {"productExternalId": f"p{rng.randrange(100)}"}}} for i in range(e)])
started = time.time()
took, lasts = send(views)
ingest_end = time.time()
at_end = processed()
done = drained(lasts)
at_done = processed()
print(f"ingest of {e} productViewed: {e / took:,.0f} events/s")
print(f"processor, end to end: {e / (done - started):,.0f} events/s; backlog drained {done - ingest_end:,.1f} s after ingest ended")
if at_end is not None and done > ingest_end:
    print(f"processor alone, after ingest ended: {(at_done - at_end) / (done - ingest_end):,.0f} events/s "
          f"({at_done - at_end:,.0f} events)")
if send.killed:
    print(f"a process was killed {send.killed - started:,.1f} s in; the backlog drained {done - send.killed:,.1f} s after the kill")
