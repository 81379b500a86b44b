"""Install every Solara front-end asset locally so the dashboard works with no internet.

Solara's page loads its front-end (the Vuetify app bundle, its CSS and fonts, requirejs,
font-awesome) from ``{cdn}/<npm package>@<version>/...``. With the assets proxy on (Solara's
default for ``solara run``) ``{cdn}`` is the server's own ``/_solara/cdn`` route, which serves
files from a local cache directory (``<venv>/share/solara/cdn``) and only falls back to
cdn.jsdelivr.net for files missing there. This script fills that cache so nothing is fetched
at run time:

1. the PyPI package ``solara-assets`` (the bundle of all of Solara's CDN packages) is installed
   if missing;
2. every ``<package>@<version>`` that the installed solara references (page templates, and
   components that load libraries such as KaTeX in the browser) is checked in the cache; any
   that is missing (e.g. ``@widgetti/solara-vuetify3-app@5.2.0``, which solara 1.64
   uses with ipyvue 3 but solara-assets 1.58.2 does not ship) is fetched from the npm registry
   (``npm pack``, or a plain HTTPS download of the registry tarball when npm is absent) and
   unpacked into the cache (katex@0.16.9 is the other one missing from solara-assets 1.58.2);
3. the files the page loads first (app bundle, CSS, fonts CSS) are checked to exist.

It is idempotent: when everything is in place it only checks and returns in about a second.
Run it with the project's interpreter: ``.venv/bin/python scripts/setup_frontend.py``.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path

NPM_REGISTRY = "https://registry.npmjs.org"
SPEC_RE = re.compile(
    r"(?:\{\{\s*cdn\s*\}\}|getCdn\(\)\})/((?:@[\w.-]+/)?[\w.-]+@\d+\.\d+\.\d+[\w.-]*)/"
)
"""Matches ``{{cdn}}/<pkg>@<x.y.z>/`` (page templates) and ``${this.getCdn()}/<pkg>@<x.y.z>/``
(components that load libraries such as KaTeX or requirejs in the browser)."""
SOURCE_SUFFIXES = (".j2", ".py", ".vue", ".js")


def log(msg: str) -> None:
    """Print one progress line to stderr.

    Args:
        msg: The message.
    """
    print(f"[setup_frontend] {msg}", file=sys.stderr, flush=True)


def ensure_solara_assets() -> None:
    """Install the ``solara-assets`` PyPI package into this interpreter if it is missing."""
    try:
        version = importlib.metadata.version("solara-assets")
    except importlib.metadata.PackageNotFoundError:
        log("installing solara-assets from PyPI")
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "solara-assets"], check=True
        )
        version = importlib.metadata.version("solara-assets")
    log(f"solara-assets {version} present")


def cache_dir() -> Path:
    """Return Solara's asset cache directory (where ``/_solara/cdn/...`` is served from).

    Returns:
        The directory, created if needed.
    """
    import solara.server.settings as settings

    path = Path(settings.assets.proxy_cache_dir)
    path.mkdir(parents=True, exist_ok=True)
    return path


def template_dir() -> Path:
    """Return the directory of Solara's page templates.

    Returns:
        The ``solara/server/templates`` directory of the installed solara.
    """
    import solara.server

    return Path(solara.server.__file__).parent / "templates"


def required_specs() -> list[str]:
    """List every ``<package>@<version>`` that Solara's page and components load from the cdn.

    Scans the installed solara package (page templates, Python and Vue components; the
    website/documentation part is skipped) for pinned cdn references. Font-awesome (a
    configurable path, not in the source text) is included as well.

    Returns:
        Sorted, de-duplicated npm specs, e.g. ``@widgetti/solara-vuetify3-app@5.2.0``.
    """
    import solara
    import solara.server.settings as settings

    root = Path(solara.__file__).parent
    specs: set[str] = set()
    for path in root.rglob("*"):
        if path.suffix not in SOURCE_SUFFIXES or "website" in path.relative_to(root).parts:
            continue
        specs.update(SPEC_RE.findall(path.read_text(encoding="utf-8", errors="ignore")))
    fontawesome = settings.assets.fontawesome_path.strip("/").split("/")[0]
    if "@" in fontawesome:
        specs.add(fontawesome)
    return sorted(specs)


def split_spec(spec: str) -> tuple[str, str]:
    """Split an npm spec into name and version.

    Args:
        spec: ``name@version`` or ``@scope/name@version``.

    Returns:
        ``(name, version)``.
    """
    name, _, version = spec.rpartition("@")
    return name, version


def download_tarball(spec: str, dest: Path) -> Path:
    """Fetch the npm tarball of ``spec`` into ``dest``.

    Uses ``npm pack`` when npm is installed (honours the user's npm registry and proxy
    configuration), else downloads the tarball from the public npm registry over HTTPS.

    Args:
        spec: npm spec ``name@version``.
        dest: Directory to write the ``.tgz`` into.

    Returns:
        Path of the tarball.
    """
    npm = shutil.which("npm")
    if npm:
        out = subprocess.run(
            [npm, "pack", spec, "--json", "--pack-destination", str(dest)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        filename = json.loads(out)[0]["filename"]
        # npm < 9 prefixes scoped tarball names with the scope; newer versions do not
        candidates = [dest / filename, dest / filename.replace("@", "").replace("/", "-")]
        for candidate in candidates:
            if candidate.exists():
                return candidate
        return next(dest.glob("*.tgz"))
    name, version = split_spec(spec)
    base = name.split("/")[-1]
    url = f"{NPM_REGISTRY}/{name}/-/{base}-{version}.tgz"
    target = dest / f"{base}-{version}.tgz"
    with urllib.request.urlopen(url, timeout=60) as response, open(target, "wb") as f:
        shutil.copyfileobj(response, f)
    return target


def install_spec(spec: str, cache: Path) -> None:
    """Download ``spec`` from npm and unpack it into ``cache/spec`` (atomically).

    Args:
        spec: npm spec ``name@version``.
        cache: Solara's asset cache directory.
    """
    target = cache / spec
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        tmp_path = Path(tmp)
        log(f"fetching {spec} from the npm registry")
        tarball = download_tarball(spec, tmp_path)
        unpack = tmp_path / "unpacked"
        with tarfile.open(tarball) as tar:
            tar.extractall(unpack, filter="data")
        roots = [p for p in unpack.iterdir() if p.is_dir()]
        if len(roots) != 1:
            raise RuntimeError(f"unexpected layout of the {spec} tarball: {roots}")
        if target.exists():
            shutil.rmtree(target)
        roots[0].rename(target)
    log(f"installed {spec} into {target}")


def is_installed(spec: str, cache: Path) -> bool:
    """Tell whether ``spec`` is unpacked in the cache.

    Args:
        spec: npm spec ``name@version``.
        cache: Solara's asset cache directory.

    Returns:
        True when ``cache/spec/package.json`` exists (written last by :func:`install_spec`,
        which moves the whole directory in one rename).
    """
    return (cache / spec / "package.json").exists() or (cache / spec / "dist").is_dir()


def check_entry_files(cache: Path) -> list[str]:
    """List the page's first-loaded files (app bundle, CSS, fonts) missing from the cache.

    Args:
        cache: Solara's asset cache directory.

    Returns:
        Relative paths of missing files (empty when everything is there).
    """
    import ipywidgets

    major = ipywidgets.__version__.split(".")[0]
    missing = []
    for template in template_dir().glob("*.j2"):
        text = template.read_text(encoding="utf-8")
        for raw in re.findall(r"\{\{\s*cdn\s*\}\}(/[^\"'\s]+)", text):
            rel = raw.replace("{{ipywidget_major_version}}", major).strip("/")
            if "{{" in rel or "{%" in rel:
                continue
            if not (cache / rel).exists():
                missing.append(rel)
    return missing


def main() -> int:
    """Install missing front-end assets and verify them.

    Returns:
        Process exit code: 0 when every asset is available locally, 1 otherwise.
    """
    ensure_solara_assets()
    cache = cache_dir()
    for spec in required_specs():
        if not is_installed(spec, cache):
            try:
                install_spec(spec, cache)
            except (OSError, subprocess.CalledProcessError, RuntimeError, tarfile.TarError) as exc:
                detail = getattr(exc, "stderr", None) or exc
                log(f"could not fetch {spec} from the npm registry: {str(detail).strip()}")
                return 1
    missing = check_entry_files(cache)
    if missing:
        log("still missing: " + ", ".join(missing))
        return 1
    log(f"all Solara front-end assets are served locally from {cache}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
