#!/usr/bin/env python3
"""A whole Mindbaz subscriber import from Python, through a client generated from specs/mindbaz.yaml.

    python_mindbaz_import.py --base-url URL --site 7 --file contacts.csv --remote-file contacts.csv \
        --key email --map email=fld1 --map city=fld4 --notify ops@example.com

Needs the generated package `mindbaz_client` on the import path (scripts/other-languages generates
it with openapi-python-client and sets PYTHONPATH). The token comes from the environment, as for
the Rust CLI: MINDBAZ_TOKEN (`Authorization: Bearer`).

Mindbaz reads the file from its SFTP account: `--remote-file` is its name there (put it there with
any SFTP client; against `esp-imports sandbox`, copy it into the directory the sandbox prints).
`--file` is the same file on this machine, read to learn its format and count its rows.

The workflow is the Rust client's (src/mindbaz/import.rs): schedule the import once with
`imports/scheduleNow` in the file's own format (delimiter, line ending, `"` qualifier, header on
line 1, UTF-8) with one overwriting mapping per mapped column and the key column's field as the
deduplication key; follow `importState` until 3 (completed) or 5 (package creation error); report
the counts of the execution log. Prints one JSON object in the shape of `esp-imports import --json`:
{"vendor","import_id","status","rows_total","rows_imported","rows_rejected","rejects":[{"row","reason"}]}
"""

import argparse
import csv
import json
import os
import re
import sys
import time

from mindbaz_client import AuthenticatedClient
from mindbaz_client.api.imports import get_import, schedule_import_now
from mindbaz_client.models import ImportMapping, ImportParameters, ImportResponse, ScheduleNowRequest
from mindbaz_client.types import Unset

CODEPAGE_UTF8 = 65001
OVERWRITE = 1
COMPLETED, PACKAGE_ERROR = 3, 5


def fail(message, code=2):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)


def read_csv(path, delimiter):
    """The header, the number of data rows, the delimiter and the line ending of the file."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        text = f.read()
    first_line = text.split("\n", 1)[0]
    line_ending = "\r\n" if first_line.endswith("\r") else "\n"
    if delimiter is None:
        try:
            delimiter = csv.Sniffer().sniff(first_line, delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
    rows = [r for r in csv.reader(text.splitlines(keepends=True), delimiter=delimiter) if r]
    if not rows:
        fail(f"{path}: empty file")
    header, records = rows[0], rows[1:]
    if not records:
        fail(f"{path}: a header without rows")
    for line, record in enumerate(records, start=2):
        if len(record) != len(header):
            fail(f"{path}:{line}: {len(record)} fields, the header has {len(header)}")
    return header, len(records), delimiter, line_ending


def value(x, default=None):
    return default if x is None or isinstance(x, Unset) else x


def unwrap(operation, response):
    """The `data` of Mindbaz's {success, data, error} envelope, or exit with its error."""
    parsed = response.parsed
    if not isinstance(parsed, ImportResponse) or value(parsed.success) is False or value(parsed.data) is None:
        error = value(getattr(parsed, "error", None)) or response.content.decode(errors="replace")[:300]
        code = 3 if response.status_code == 401 else 1 if response.status_code < 500 else 4
        fail(f"{operation}: HTTP {int(response.status_code)}: {error}", code)
    return parsed.data


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--base-url", required=True, help="the REST API base, e.g. https://api.mindbaz.com")
    p.add_argument("--site", required=True, type=int, help="the Mindbaz site id")
    p.add_argument("--file", required=True, help="the file, on this machine")
    p.add_argument("--remote-file", help="its name on the Mindbaz SFTP (default: the file's name)")
    p.add_argument("--key", required=True, help="the deduplication column")
    p.add_argument("--map", action="append", required=True, metavar="COLUMN=FIELD")
    p.add_argument("--mode", choices=["upsert", "update"], default="upsert")
    p.add_argument("--notify", required=True, help="addresses that receive Mindbaz's import report")
    p.add_argument("--delimiter")
    p.add_argument("--poll-interval", type=float, default=5.0)
    p.add_argument("--timeout", type=float, default=3600.0)
    args = p.parse_args()

    columns = dict(m.split("=", 1) for m in args.map)
    header, rows_total, delimiter, line_ending = read_csv(args.file, args.delimiter)
    for column in [*columns, args.key]:
        if column not in header:
            fail(f"{args.file}: no column {column!r} (header: {', '.join(header)})")
    if args.key not in columns:
        fail(f"the key column {args.key!r} is not mapped")
    token = os.environ.get("MINDBAZ_TOKEN")
    if not token:
        fail("missing credentials in the environment: MINDBAZ_TOKEN")

    parameters = ImportParameters(
        filename=(args.remote_file or os.path.basename(args.file)).lstrip("/"),
        column_mapping=[
            ImportMapping(
                db_field_name=columns[c], id_mapping_mode=OVERWRITE, file_column_name=c, fixed_value=None
            )
            for c in header
            if c in columns
        ],
        start_line=1,
        column_names_first_line=True,
        text_qualifier='"',
        column_delimiter=delimiter,
        row_delimiter=line_ending,
        sheet_name=None,
        codepage=CODEPAGE_UTF8,
        key_db_field_name=columns[args.key],
        insert_enabled=args.mode == "upsert",
        email_notification=args.notify,
    )
    deadline = time.monotonic() + args.timeout
    with AuthenticatedClient(base_url=args.base_url.rstrip("/"), token=token) as client:
        answer = schedule_import_now.sync_detailed(
            args.site, client=client, body=ScheduleNowRequest(parameters=parameters)
        )
        import_id = unwrap("scheduleImportNow", answer).id
        while True:
            imported = unwrap("getImport", get_import.sync_detailed(args.site, import_id, client=client))
            state = value(imported.import_state)
            if state in (COMPLETED, PACKAGE_ERROR):
                break
            if time.monotonic() > deadline:
                fail(f"import {import_id} had not ended after {args.timeout}s (state {state})", 4)
            time.sleep(args.poll_interval)

    log = value(imported.last_import_log)
    count = lambda *ns: None if all(value(n) is None for n in ns) else sum(max(value(n, 0), 0) for n in ns)
    imported_rows = count(log.nb_inserts, log.nb_updates) if log else None
    rejected_rows = count(log.nb_error_rows, log.nb_bad_formatted_rows) if log else None
    # badFormattedRowNumbers has no documented format: every run of digits, each once.
    numbers = dict.fromkeys(int(n) for n in re.findall(r"\d+", value(log.bad_formatted_row_numbers, "") if log else ""))
    rejects = [{"row": n, "reason": "bad format"} for n in numbers]
    if state == PACKAGE_ERROR:
        status = "failed"
    elif (rejected_rows or 0) > 0 or rejects:
        status = "completed_with_errors"
    else:
        status = "completed"
    print(json.dumps({
        "vendor": "mindbaz",
        "import_id": str(import_id),
        "status": status,
        "rows_total": rows_total,
        "rows_imported": imported_rows,
        "rows_rejected": rejected_rows,
        "rejects": rejects,
    }))
    return 1 if status == "failed" else 0


if __name__ == "__main__":
    sys.exit(main())
