"""A minimal SMTP server that counts messages per recipient, for crash_resend.py: writes
$WORK/counts.json (default /tmp/crash) every half second. Usage: smtp_count.py PORT"""
import asyncio, json, collections, sys, os
WORK = os.environ.get("WORK", "/tmp/crash")
counts = collections.Counter()
async def handle(reader, writer):
    writer.write(b"220 sink ESMTP\r\n"); await writer.drain()
    rcpts = []
    while True:
        line = await reader.readline()
        if not line: break
        cmd = line.decode(errors="replace").strip()
        up = cmd.upper()
        if up.startswith("EHLO") or up.startswith("HELO"):
            writer.write(b"250-sink\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
        elif up.startswith("MAIL"):
            rcpts = []; writer.write(b"250 ok\r\n")
        elif up.startswith("RCPT"):
            rcpts.append(cmd.split(":",1)[1].strip().strip("<>").split(">")[0]); writer.write(b"250 ok\r\n")
        elif up == "DATA":
            writer.write(b"354 go\r\n"); await writer.drain()
            while True:
                l = await reader.readline()
                if not l or l in (b".\r\n", b".\n"): break
            for r in rcpts: counts[r] += 1
            writer.write(b"250 queued\r\n")
        elif up == "QUIT":
            writer.write(b"221 bye\r\n"); await writer.drain(); break
        else:
            writer.write(b"250 ok\r\n")
        await writer.drain()
    writer.close()
async def dump():
    while True:
        await asyncio.sleep(0.5)
        with open(f"{WORK}/counts.json.tmp","w") as f: json.dump(counts, f)
        os.replace(f"{WORK}/counts.json.tmp", f"{WORK}/counts.json")
async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", int(sys.argv[1]))
    asyncio.create_task(dump())
    async with server: await server.serve_forever()
asyncio.run(main())
