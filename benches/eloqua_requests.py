#!/usr/bin/env python3
"""The other side of the Eloqua benchmark: a contact import as a typical user writes it with
`requests`, read from the vendor docs and the usual blog posts. It reads the CSV, makes an import
definition, posts the rows in chunks of at most 32 MB (CSV text with its header line), creates a
sync, polls it and prints the counts. Deliberately plain: no streaming tricks, no threads.

    eloqua_requests.py BASE_URL FILE EMAIL_COLUMN
"""
import csv
import io
import sys
import time

import requests

base, path, key = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3]
auth = ("Company\\user", "password")
MAX = 32_000_000

with open(path, newline="", encoding="utf-8") as f:
    rows = list(csv.reader(f))
header, records = rows[0], rows[1:]

definition = requests.post(f"{base}/contacts/imports", auth=auth, json={
    "name": "bench import",
    "fields": {c: "{{Contact.Field(C_%s)}}" % c for c in header},
    "identifierFieldName": key,
}).json()
uri = definition["uri"]


def post(lines):
    r = requests.post(f"{base}{uri}/data", auth=auth, data=lines.encode("utf-8"),
                      headers={"Content-Type": "text/csv"})
    r.raise_for_status()


head = ",".join(header) + "\n"
chunk, size = [], len(head)
for record in records:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(record)
    line = out.getvalue()
    if size + len(line) > MAX:
        post(head + "".join(chunk))
        chunk, size = [], len(head)
    chunk.append(line)
    size += len(line)
if chunk:
    post(head + "".join(chunk))

sync = requests.post(f"{base}/syncs", auth=auth, json={"syncedInstanceUri": uri}).json()
while True:
    status = requests.get(f"{base}{sync['uri']}", auth=auth).json()["status"]
    if status not in ("pending", "active"):
        break
    time.sleep(1)
print(f"{len(records)} rows, sync {status}")
