#!/bin/sh
# Every translatable string of the sources is in po/de.po, translated, and nothing is fuzzy.
# usage: check-translations.sh SOURCE_ROOT
set -eu
src=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$src"
grep -v '^#' po/POTFILES.in | grep -v '^$' > "$tmp/files"
xgettext --files-from="$tmp/files" --output="$tmp/kinora.pot" --from-code=UTF-8 --add-comments \
  --keyword=_ --keyword=N_ --keyword=C_:1c,2 --keyword=NC_:1c,2 --keyword=g_dngettext:2,3 \
  --keyword=g_dpgettext2:2c,3 2>/dev/null
# msgcmp fails when a msgid of the sources is missing from the catalogue
msgcmp po/de.po "$tmp/kinora.pot"
stats=$(msgfmt --check --statistics -o /dev/null po/de.po 2>&1)
echo "de: $stats"
case "$stats" in
  *untranslated*|*fuzzy*) echo "de.po is incomplete" >&2; exit 1 ;;
esac
