#!/usr/bin/env bash
# Installs what the demo and the tests need on a fresh machine: Dovecot from the OS packages and a
# virtualenv with the project and its test dependencies. Safe to run again; does nothing already done.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
if ! command -v tesseract >/dev/null 2>&1 || ! tesseract --list-langs 2>/dev/null | grep -qx swe; then
  echo "== installing Tesseract OCR with Swedish and English (for scanned PDFs) from the OS packages"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq tesseract-ocr tesseract-ocr-swe tesseract-ocr-eng >/dev/null
fi
if ! command -v dovecot >/dev/null 2>&1 && [ ! -x /usr/sbin/dovecot ]; then
  echo "== installing Dovecot (IMAP server for the demo and tests) from the OS packages"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq dovecot-imapd dovecot-lmtpd >/dev/null
  # Only private instances on loopback are used; on a systemd machine the package would also start a
  # system-wide IMAP server on ports 143/993, which nobody asked for.
  if [ -d /run/systemd/system ]; then $SUDO systemctl disable --now dovecot >/dev/null 2>&1 || true; fi
fi

if ! command -v chromium >/dev/null 2>&1; then
  echo "== installing Chromium (headless browser for the web dashboard's tests and screenshots) from the OS packages"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq chromium >/dev/null
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "== installing halsodata-intake and its test dependencies into .venv"
  .venv/bin/pip install -q --disable-pip-version-check --upgrade pip
  .venv/bin/pip install -q --disable-pip-version-check -e ".[test]"
  touch "$stamp"
fi
