"""Copy the console's front-end assets from deploy/web/node_modules (`npm ci` there) into
streams/views/static/vendor, keeping only what the pages load: the Noto Sans SC font (SIL OFL 1.1), regular weight,
its simplified-Chinese and Latin files as WOFF2. Run by `make setup`; the pages work without them (the system's
fonts), but a duty-room screen without a CJK font shows boxes. Also Leaflet (BSD-2-Clause) for the console's map
page: leaflet.js, leaflet.css, its images and LICENSE."""
from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGET = HERE.parents[1] / "streams" / "views" / "static" / "vendor"
FONT = HERE / "node_modules" / "@fontsource" / "noto-sans-sc"
FONT_CSS = ("chinese-simplified-400.css", "latin-400.css")
LEAFLET = HERE / "node_modules" / "leaflet"


def _installed(package: Path) -> bool:
    if not package.exists():
        print(f"vendor: {package} is missing: run `npm ci --prefix deploy/web` first", file=sys.stderr)
    return package.exists()


def main() -> int:
    if not _installed(FONT):
        return 1
    out = TARGET / "noto-sans-sc"
    shutil.rmtree(out, ignore_errors=True)
    (out / "files").mkdir(parents=True)
    css = []
    for name in FONT_CSS:
        text = (FONT / name).read_text(encoding="utf-8")
        text = re.sub(r",\s*url\([^)]*\.woff\) format\('woff'\)", "", text)  # WOFF2 only: every browser in use
        for woff2 in re.findall(r"url\(\./files/([^)]+\.woff2)\)", text):
            shutil.copy2(FONT / "files" / woff2, out / "files" / woff2)
        css.append(text)
    (out / "noto-sans-sc.css").write_text("\n".join(css), encoding="utf-8")
    shutil.copy2(FONT / "LICENSE", out / "LICENSE")
    print(f"vendor: Noto Sans SC into {out}")
    return copy_leaflet()


def copy_leaflet() -> int:
    if not _installed(LEAFLET):
        return 1
    out = TARGET / "leaflet"
    shutil.rmtree(out, ignore_errors=True)
    (out / "images").mkdir(parents=True)
    for name in ("leaflet.js", "leaflet.js.map", "leaflet.css"):  # the map: devtools ask for it
        shutil.copy2(LEAFLET / "dist" / name, out / name)
    for image in (LEAFLET / "dist" / "images").glob("*.png"):
        shutil.copy2(image, out / "images" / image.name)
    shutil.copy2(LEAFLET / "LICENSE", out / "LICENSE")
    print(f"vendor: Leaflet into {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
