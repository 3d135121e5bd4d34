"""MkDocs hooks: the site serves the repository's ``assets/`` pictures without copying them into ``docs/``.

Pages link a picture as ``../assets/name.png``, a path that also works where the Markdown file is read as it is (on
GitHub, in an editor). MkDocs only knows files under ``docs/``, so ``on_files`` adds every file of ``assets/`` to the
site as ``assets/name``, and ``on_page_markdown`` rewrites the links to that place before MkDocs checks them.
"""

from __future__ import annotations

import re
from pathlib import Path

from mkdocs.structure.files import File

_ASSET_LINK = re.compile(r"\]\(((?:\.\./)+)assets/")


def _root(config) -> Path:
    return Path(config.config_file_path).resolve().parent


def on_files(files, config):
    root = _root(config)
    for path in sorted((root / "assets").iterdir()):
        if path.is_file():
            files.append(File(f"assets/{path.name}", src_dir=str(root), dest_dir=config.site_dir,
                              use_directory_urls=config.use_directory_urls))
    return files


def on_page_markdown(markdown, page, config, files):
    depth = page.file.src_uri.count("/")  # 0 for docs/x.md, 1 for docs/api/x.md

    def relink(match: re.Match) -> str:
        ups = len(match.group(1)) // 3
        if ups != depth + 1:  # not a link to the repository's assets/ folder
            return match.group(0)
        return "](" + "../" * depth + "assets/"

    return _ASSET_LINK.sub(relink, markdown)
