#!/bin/sh
# Adds Pelage to this user's applications menu. Run it once from the unpacked folder (or double-click it and
# choose "Run"); run it again after moving the folder.
set -e
here=$(cd "$(dirname "$0")" && pwd)
menu="${XDG_DATA_HOME:-$HOME/.local/share}/applications"
mkdir -p "$menu"
sed -e "s|^Exec=.*|Exec=\"$here/pelage-gui\" %f|" -e "s|^Icon=.*|Icon=$here/pelage.png|" "$here/pelage.desktop" > "$menu/pelage.desktop"
chmod +x "$menu/pelage.desktop"
echo "Pelage is now in your applications menu ($menu/pelage.desktop)."
