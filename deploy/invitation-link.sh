#!/usr/bin/env bash
# Prints the registration link of an invitation email written as an .eml file (local runs
# without an SMTP relay): the newest one under the mail directory, or the newest one sent to
# ADDRESS. Email bodies are quoted-printable, so the link cannot simply be grepped.
#
#   deploy/invitation-link.sh [ADDRESS]      mail directory: $INVITATIONS_MAIL_DIR or .local/mail
set -euo pipefail
cd "$(dirname "$0")/.."
MAIL_DIR=${INVITATIONS_MAIL_DIR:-.local/mail}
exec /usr/bin/python3 - "$MAIL_DIR" "${1:-}" <<'PY'
import email, email.policy, glob, os, re, sys
mail_dir, address = sys.argv[1], sys.argv[2]
for path in sorted(glob.glob(os.path.join(mail_dir, "**", "*.eml"), recursive=True),
                   key=os.path.getmtime, reverse=True):
    with open(path, "rb") as f:
        msg = email.message_from_binary_file(f, policy=email.policy.default)
    if address and address.lower() not in str(msg["To"]).lower():
        continue
    link = re.search(r"https?://\S+\?token=[A-Za-z0-9_-]+", msg.get_body(("plain",)).get_content())
    if link:
        print(link.group(0))
        sys.exit(0)
sys.exit(f"no invitation email{' to ' + address if address else ''} in {mail_dir}")
PY
