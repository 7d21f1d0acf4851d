"""A crash from outside: 10,000 welcome emails through a registration campaign; the release
server is killed with -9 once about a fifth reached the SMTP server, then started again; counts
recipients who got the mail twice.

    cargo build --release
    python3 benches/outside/smtp_count.py 2525 &     # counts mails per recipient in $WORK
    python3 benches/outside/crash_resend.py 'sqlite:///tmp/crash/nudge.db?mode=rwc' 10000

$WORK (default /tmp/crash) holds the counts, the server's log and its admin key; start from
an empty database (for PostgreSQL, a new one) and a fresh counter. SMTP_PORT (2525) and
NUDGE_BIN (the release binary) may be set.
"""
import json, os, subprocess, sys, time, urllib.request, signal
DB = sys.argv[1]; N = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
WORK = os.environ.get("WORK", "/tmp/crash")
BIN = os.environ.get("NUDGE_BIN", os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../target/release/nudge"))
SMTP_PORT = os.environ.get("SMTP_PORT", "2525"); PORT = 18080
env = dict(os.environ, NUDGE_DATABASE_URL=DB, NUDGE_LISTEN=f"127.0.0.1:{PORT}",
           NUDGE_SMTP_URL=f"smtp://127.0.0.1:{SMTP_PORT}", NUDGE_DELIVERY_LEASE_SECS="5",
           NUDGE_BOOTSTRAP_KEY_FILE=f"{WORK}/key.txt", NUDGE_LOG="warn",
           NUDGE_DELIVERY_POLL_MS="100")
def start():
    p = subprocess.Popen([BIN], env=env, stdout=open(f"{WORK}/server.log","a"), stderr=subprocess.STDOUT)
    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{PORT}/healthz", timeout=1); return p
        except Exception: time.sleep(0.1)
    raise SystemExit("server did not start")
def gql(key, query, variables=None):
    req = urllib.request.Request(f"http://127.0.0.1:{PORT}/graphql", data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"})
    out = json.load(urllib.request.urlopen(req, timeout=60))
    if out.get("errors"): raise SystemExit(out)
    return out["data"]
def counts():
    try: return json.load(open(f"{WORK}/counts.json"))
    except Exception: return {}
server = start()
admin = open(f"{WORK}/key.txt").read().strip()
t = gql(admin, 'mutation { createTemplate(input: { name: "welcome", channel: EMAIL, subject: "Welcome {{ customer.first_name }}", bodyText: "Hello" }) { template { id } } }')["createTemplate"]["template"]["id"]
c = gql(admin, 'mutation($t: ID!) { createCampaign(input: { name: "welcome", status: ACTIVE, anchor: { registered: true }, steps: [{ id: "hi", message: { channel: EMAIL, templateId: $t } }] }) { campaign { id } userErrors { message } } }', {"t": t})
sf = gql(admin, 'mutation { createApiKey(scope: STOREFRONT, name: "sf", identityVerification: false) { created { secret } } }')["createApiKey"]["created"]["secret"]
now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
start_t = time.time()
for b in range(0, N, 500):
    events = [{"eventId": f"r{i}", "customerExternalId": f"c{i}", "occurredAt": now,
               "payload": {"registered": {"email": f"c{i}@example.com", "firstName": "C", "emailConsent": True}}} for i in range(b, min(N, b + 500))]
    gql(sf, 'mutation($e: [EventInput!]!) { recordEvents(events: $e) { userErrors { message } } }', {"e": events})
print(f"recorded {N} events in {time.time()-start_t:.1f}s", flush=True)
while sum(counts().values()) < N // 5: time.sleep(0.05)
server.send_signal(signal.SIGKILL); server.wait()
time.sleep(1)
killed_at = sum(counts().values())
print(f"killed with {killed_at} mails received", flush=True)
server = start()
t1 = time.time()
while len(counts()) < N and time.time() - t1 < 600: time.sleep(0.2)
time.sleep(2)
cs = counts()
dups = sum(v - 1 for v in cs.values() if v > 1)
total_time = time.time() - start_t
print(f"unique recipients {len(cs)} of {N}; duplicates {dups}; recipients with >1: {sum(1 for v in cs.values() if v>1)}; total {total_time:.1f}s incl. restart", flush=True)
server.send_signal(signal.SIGTERM); server.wait()
