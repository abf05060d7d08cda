#!/bin/sh
# Regenerates the LibreOffice-made fixtures of tests/samples/variants.py (PDF and ODT) from their DOCX sources.
# Needs LibreOffice (Debian: apt-get install -y libreoffice-writer-nogui); the tests and CI only read the results.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/tests/samples/fixtures"
python="${PYTHON:-$root/.venv/bin/python}"
soffice=$(command -v soffice || command -v libreoffice || true)
if [ -z "$soffice" ]; then
    echo "LibreOffice not found: apt-get install -y libreoffice-writer-nogui" >&2
    exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$root"
"$python" -m tests.samples.variants --write-sources "$work/src" >/dev/null
mkdir -p "$out"
# A private profile, so a desktop LibreOffice that is open (or its settings) cannot interfere.
profile="-env:UserInstallation=file://$work/profile"
for fmt in pdf odt; do
    if ls "$work/src/$fmt"/*.docx >/dev/null 2>&1; then
        "$soffice" "$profile" --headless --convert-to "$fmt" --outdir "$out" "$work/src/$fmt"/*.docx
    fi
done
ls -l "$out"
du -sh "$out"
