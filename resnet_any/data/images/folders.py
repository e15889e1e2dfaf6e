"""Image folder trees (ImageFolder layout, optionally with train/val/test folders), or an archive of one."""
from __future__ import annotations

from pathlib import Path

from ...errors import DataError
from ..archives import ARCHIVE_SUFFIXES, extract, is_archive
from ..base import DataSplits
from ..splits import SPLIT_NAMES
from ..storage import cache_root, require_dir
from .decode import IMAGE_EXTENSIONS, Item, image_files, load_items

FOLDER_LAYOUT = ("an image tree ROOT/train/<class>/*.jpg with ROOT/val/ and/or ROOT/test/ alike, or ROOT/<class>/*.jpg "
                 "(split by a seeded stratified fraction), or a .tar/.tar.gz/.zip of either")


def _tree_root(root: Path, cache: Path) -> Path:
    """Resolve archives and single wrapper folders down to the folder holding splits or classes."""
    if is_archive(root):
        root = extract(root, cache)
    elif not root.is_dir():
        problem = f"is neither a folder nor an archive ({', '.join(ARCHIVE_SUFFIXES)}); expected {FOLDER_LAYOUT}"
        raise DataError(f"{{path}} {problem}", path=root)
    for _ in range(8):
        entries = [e for e in root.iterdir() if not e.name.startswith(".")]
        dirs = [e for e in entries if e.is_dir()]
        archives = [e for e in entries if is_archive(e)]
        if not dirs and len(archives) == 1:
            root = extract(archives[0], cache)
            continue
        if len(dirs) == 1 and dirs[0].name.lower() not in SPLIT_NAMES and not any(
                e.is_file() and e.suffix.lower() in IMAGE_EXTENSIONS for e in entries):
            inner = [e for e in dirs[0].iterdir() if e.is_dir() and not e.name.startswith(".")]
            if inner:  # a wrapper (e.g. "cifar10/") around the real tree, not a single-class folder
                root = dirs[0]
                continue
        break
    return root


def _class_dirs(folder: Path) -> list[Path]:
    return sorted((d for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".")), key=lambda d: d.name)


def load_folder(data_dir: str | None = None, *, seed: int = 0, val_fraction: float = 0.2,
                image_size: int | None = None, cache_dir: str | None = None,
                augment_kind: str | None = None) -> DataSplits:
    """An ImageFolder tree (train/ with val/ or test/, or one folder of class subfolders), or an archive of one."""
    source = require_dir(data_dir, "folder", FOLDER_LAYOUT)
    cache = cache_root(cache_dir)
    root = _tree_root(source, cache)
    present = {SPLIT_NAMES[d.name.lower()]: d for d in _class_dirs(root) if d.name.lower() in SPLIT_NAMES}
    if present and "train" not in present:
        problem = f"has {'/'.join(sorted(present))} but no train/ folder; expected {FOLDER_LAYOUT}"
        raise DataError(f"{{path}} {problem}", path=root)
    if not present:
        split_dirs = {"train": root}
    else:
        split_dirs = dict(present)
        if "val" in split_dirs and "test" not in split_dirs:
            # ImageNet convention: the published "val" folder is the held-out evaluation set.
            split_dirs["test"] = split_dirs.pop("val")
    class_names = [d.name for d in _class_dirs(split_dirs["train"])]
    if not class_names:
        raise DataError(f"no class subfolders in {{path}}; expected {FOLDER_LAYOUT}", path=split_dirs["train"])
    index = {c: i for i, c in enumerate(class_names)}
    splits: dict[str, list[Item]] = {}
    for split, folder in split_dirs.items():
        items = []
        for d in _class_dirs(folder):
            if d.name not in index:
                raise DataError(f"class folder {{path}} is not among the training classes {class_names}", path=d,
                                value=class_names, expected="the class folder is not among the training classes")
            items.extend((p, index[d.name]) for p in image_files(d))
        splits[split] = items
    return load_items("folder", root, splits, class_names, seed=seed, val_fraction=val_fraction,
                      image_size=image_size, cache_dir=cache_dir, augment_kind=augment_kind)
