"""Checks webhook signatures with the Standard Webhooks reference library
(the `standardwebhooks` package from PyPI), independent of the sender's Rust.

Reads JSON lines {secret, id, timestamp, signature, body} on stdin; prints
how many verified; exits 1 on the first that does not."""

import json
import sys

from standardwebhooks.webhooks import Webhook

verified = 0
for line in sys.stdin:
    if not line.strip():
        continue
    r = json.loads(line)
    headers = {
        "webhook-id": r["id"],
        "webhook-timestamp": r["timestamp"],
        "webhook-signature": r["signature"],
    }
    try:
        Webhook(r["secret"]).verify(r["body"], headers)
    except Exception as error:  # noqa: BLE001 - report whatever the library raised
        print(f"{r['id']}: {error!r}", file=sys.stderr)
        sys.exit(1)
    verified += 1
print(verified)
