#!/usr/bin/env python3
"""A whole Eloqua contact import from Python, through a client generated from specs/eloqua.yaml.

    python_eloqua_import.py --base-url URL --file contacts.csv --key email --map email=C_EmailAddress ...

Needs the generated package `eloqua_client` on the import path (scripts/other-languages generates
it with openapi-generator `python` and sets PYTHONPATH). Credentials come from the environment,
as for the Rust CLI: ELOQUA_COMPANY, ELOQUA_USERNAME, ELOQUA_PASSWORD (Basic `Company\\User`).

The workflow is the Rust client's (src/eloqua/import.rs): create the import definition from the
CSV header and the column map, stage the rows as text/csv (row-aligned chunks of at most 32 MB,
the header in each), create one sync, poll it until it ends, page through the rejects, delete the
staged data. Prints one JSON object in the shape of `esp-imports import --json`:
{"vendor","import_id","status","rows_total","rows_imported","rows_rejected","rejects":[{"row","reason"}]}
"""

import argparse
import csv
import io
import json
import os
import sys
import time
from datetime import datetime, timezone

import eloqua_client
from eloqua_client.models.contact_import_individual import ContactImportIndividual
from eloqua_client.models.import_rule import ImportRule
from eloqua_client.models.sync_individual import SyncIndividual

MAX_CHUNK = 32_000_000
REJECTS_PAGE = 1000
ENDED = {"success", "warning", "error", "errored"}
RULES = {"upsert": "createAndUpdate", "insert": "createOnly", "update": "updateOnly"}


def fail(message, code=2):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)


def field_statement(field):
    """C_EmailAddress -> {{Contact.Field(C_EmailAddress)}}; a full statement is kept as is."""
    return field if field.startswith("{{") else "{{Contact.Field(%s)}}" % field


def read_csv(path, delimiter):
    with open(path, newline="", encoding="utf-8-sig") as f:
        text = f.read()
    if delimiter is None:
        try:
            delimiter = csv.Sniffer().sniff(text.split("\n", 1)[0], delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    if not rows:
        fail(f"{path}: empty file")
    header, records = rows[0], [r for r in rows[1:] if r]
    if not records:
        fail(f"{path}: a header without rows")
    for line, record in enumerate(records, start=2):
        if len(record) != len(header):
            fail(f"{path}:{line}: {len(record)} fields, the header has {len(header)}")
    return header, records


def chunks(header, records, cap):
    """Comma-separated, row-aligned chunks of at most `cap` bytes, each with the header line."""

    def encode(rows):
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(rows)
        return out.getvalue()

    head = encode([header])
    body, size = [], len(head.encode())
    for record in records:
        line = encode([record])
        if body and size + len(line.encode()) > cap:
            yield head + "".join(body)
            body, size = [], len(head.encode())
        body.append(line)
        size += len(line.encode())
    if body:
        yield head + "".join(body)


def id_of(uri):
    return int(uri.rstrip("/").rsplit("/", 1)[1])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--base-url", required=True, help="the Bulk API base, e.g. https://p01.eloqua.com/api/bulk/2.0")
    p.add_argument("--file", required=True)
    p.add_argument("--key", required=True, help="the identifier column")
    p.add_argument("--map", action="append", required=True, metavar="COLUMN=FIELD")
    p.add_argument("--mode", choices=sorted(RULES), default="upsert")
    p.add_argument("--delimiter")
    p.add_argument("--name")
    p.add_argument("--poll-interval", type=float, default=2.0)
    p.add_argument("--timeout", type=float, default=3600.0)
    args = p.parse_args()

    columns = dict(m.split("=", 1) for m in args.map)
    header, records = read_csv(args.file, args.delimiter)
    for column in [*columns, args.key]:
        if column not in header:
            fail(f"{args.file}: no column {column!r} (header: {', '.join(header)})")
    if args.key not in columns:
        fail(f"the key column {args.key!r} is not mapped")
    env = {v: os.environ.get(v) for v in ("ELOQUA_COMPANY", "ELOQUA_USERNAME", "ELOQUA_PASSWORD")}
    missing = [v for v, value in env.items() if not value]
    if missing:
        fail(f"missing credentials in the environment: {', '.join(missing)}")

    config = eloqua_client.Configuration(
        host=args.base_url.rstrip("/"),
        username=f"{env['ELOQUA_COMPANY']}\\{env['ELOQUA_USERNAME']}",
        password=env["ELOQUA_PASSWORD"],
    )
    deadline = time.monotonic() + args.timeout
    with eloqua_client.ApiClient(config) as api:
        imports = eloqua_client.ContactImportsApi(api)
        syncs = eloqua_client.SyncsApi(api)

        name = args.name or f"{os.path.basename(args.file)} {datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S}"
        definition = imports.create_contact_import(
            ContactImportIndividual(
                name=name,
                fields={column: field_statement(field) for column, field in sorted(columns.items())},
                identifier_field_name=args.key,
                import_rule=ImportRule(RULES[args.mode]),
                is_sync_triggered_on_import=False,
            )
        )
        definition_id = id_of(definition.uri)

        # The generated `upload_contact_import_data` types its body after the first media type
        # of the spec (the JSON array) and validates it, so it cannot take CSV text. The
        # operation's own generated serializer takes any body and the `text/csv` the spec
        # declares: path, auth and headers still come from the spec.
        for chunk in chunks(header, records, MAX_CHUNK):
            params = imports._upload_contact_import_data_serialize(
                id=definition_id,
                request_body=chunk,
                _request_auth=None,
                _content_type="text/csv",
                _headers=None,
                _host_index=0,
            )
            answer = api.call_api(*params)
            answer.read()
            api.response_deserialize(answer, {"201": "SyncIndividual", "204": None})

        sync = syncs.create_sync(SyncIndividual(synced_instance_uri=definition.uri))
        sync_id = id_of(sync.uri)
        while True:
            status = syncs.get_sync(sync_id).status or ""
            if status in ENDED:
                break
            if time.monotonic() > deadline:
                fail(f"the sync {sync.uri} had not ended after {args.timeout}s", 4)
            time.sleep(args.poll_interval)

        report_status = {"success": "completed", "warning": "completed_with_errors"}.get(status, "failed")
        rejects = []
        if report_status != "completed":
            offset = 0
            while True:
                page = syncs.list_sync_rejects(sync_id, limit=REJECTS_PAGE, offset=offset)
                for item in page.items or []:
                    reason = item.message or "rejected"
                    if item.status_code is not None:
                        reason = f"{reason} ({item.status_code})"
                    if item.invalid_fields:
                        reason = f"{reason}; invalid: {', '.join(item.invalid_fields)}"
                    row = item.record_index + 1 if item.record_index is not None else None
                    rejects.append({"row": row, "reason": reason})
                count = len(page.items or [])
                if count == 0 or page.has_more is not True:
                    break
                offset += count
        imports.delete_contact_import_data(definition_id)

    failed = report_status == "failed"
    print(json.dumps({
        "vendor": "eloqua",
        "import_id": sync.uri,
        "status": report_status,
        "rows_total": len(records),
        "rows_imported": None if failed else len(records) - len(rejects),
        "rows_rejected": None if failed else len(rejects),
        "rejects": rejects,
    }))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
