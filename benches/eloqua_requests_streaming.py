#!/usr/bin/env python3
"""The second opponent of the Eloqua benchmark: the best a careful user would write with
`requests`. Unlike benches/eloqua_requests.py it never holds the file: it reads it as bytes,
line by line, keeps a record whole when a quoted field spans lines (odd count of `"`), and posts
each chunk of at most 32 MB (header line included) as soon as it is full, over one kept-alive
session. Then one sync, polled, and the counts.

    eloqua_requests_streaming.py BASE_URL FILE EMAIL_COLUMN
"""
import csv
import sys
import time

import requests

base, path, key = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3]
MAX = 32_000_000
session = requests.Session()
session.auth = ("Company\\user", "password")

with open(path, "rb") as f:
    head = f.readline()
    header = next(csv.reader([head.decode("utf-8-sig")]))
    definition = session.post(f"{base}/contacts/imports", json={
        "name": "bench import",
        "fields": {c: "{{Contact.Field(C_%s)}}" % c for c in header},
        "identifierFieldName": key,
    }).json()
    uri = definition["uri"]

    def post(body):
        r = session.post(f"{base}{uri}/data", data=body, headers={"Content-Type": "text/csv"})
        r.raise_for_status()

    chunk, rows, record, quotes = bytearray(head), 0, bytearray(), 0
    for line in f:
        record += line
        quotes += line.count(b'"')
        if quotes % 2:
            continue  # a quoted field goes on on the next line
        if len(chunk) + len(record) > MAX:
            post(bytes(chunk))
            chunk = bytearray(head)
        chunk += record
        rows += 1
        record, quotes = bytearray(), 0
    if len(chunk) > len(head):
        post(bytes(chunk))

sync = session.post(f"{base}/syncs", json={"syncedInstanceUri": uri}).json()
while True:
    status = session.get(f"{base}{sync['uri']}").json()["status"]
    if status not in ("pending", "active"):
        break
    time.sleep(1)
print(f"{rows} rows, sync {status}")
