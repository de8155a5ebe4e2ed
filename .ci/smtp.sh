#!/usr/bin/env bash
# Installs Debian's python3-aiosmtpd, the SMTP server test/server/email-3pid.test.ts mails its
# validation links to. As with coturn, nothing is started here: each test starts its own
# `python3 -m aiosmtpd` on a free loopback port, writing into its own Maildir.
set -euo pipefail
if /usr/bin/python3 -c "import aiosmtpd" >/dev/null 2>&1; then
  echo "aiosmtpd is installed"
  exit 0
fi
bash "$(dirname "$0")/apt-install.sh" python3-aiosmtpd
/usr/bin/python3 -c "import aiosmtpd; print('aiosmtpd', aiosmtpd.__version__)"
