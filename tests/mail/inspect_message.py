"""Parses one RFC 5322 message from stdin with Python's email package and prints what a mail
client would see, as JSON, for the C++ tests:

  {"strict_error": "" or the exception text of a policy.strict parse,
   "defects": ["..."],               # defects of the message, its headers and its parts
   "headers": [["Name", "decoded value"], ...],
   "raw_headers": [["Name", "raw value"], ...],
   "content_type": "multipart/alternative",
   "parts": [{"content_type": "text/plain", "charset": "utf-8",
              "transfer_encoding": "quoted-printable", "body": "decoded text"}, ...]}
"""

import email
import email.policy
import json
import sys


def main():
    data = sys.stdin.buffer.read()
    strict_error = ""
    try:
        email.message_from_bytes(data, policy=email.policy.strict)
    except Exception as error:  # noqa: BLE001 - any failure is the answer
        strict_error = f"{type(error).__name__}: {error}"
    message = email.message_from_bytes(data, policy=email.policy.default)
    raw = email.message_from_bytes(data, policy=email.policy.compat32)
    defects = [repr(d) for d in message.defects]
    headers = []
    for name, value in message.items():
        defects.extend(f"{name}: {d!r}" for d in getattr(value, "defects", ()))
        headers.append([name, str(value)])
    parts = []
    for part in message.walk():
        defects.extend(repr(d) for d in part.defects if part is not message)
        if part.is_multipart():
            continue
        parts.append({
            "content_type": part.get_content_type(),
            "charset": part.get_content_charset() or "",
            "transfer_encoding": str(part.get("Content-Transfer-Encoding", "")),
            "body": part.get_content(),
        })
    json.dump({
        "strict_error": strict_error,
        "defects": defects,
        "headers": headers,
        "raw_headers": [[k, v] for k, v in raw.items()],
        "content_type": message.get_content_type(),
        "parts": parts,
    }, sys.stdout)


if __name__ == "__main__":
    main()
