"""Shared test fixtures: the real data in ../shared/data, an offline and isolated environment."""
from __future__ import annotations

import os
import sys
import tarfile
from pathlib import Path

import pytest

# As the command-line entry points do (resnet_any.errors.cli_environment), before any test imports torch:
# spinning OpenMP workers starve the main thread on 2 shared cores.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

REPO = Path(__file__).resolve().parents[1]
# CI runs a clean clone with shared/ as a sibling of the repository.
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

# Let `pytest` work from a plain checkout, without `pip install -e .`.
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


@pytest.fixture(scope="session", autouse=True)
def _offline_isolated_cache(tmp_path_factory: pytest.TempPathFactory):
    """No test may touch the network or the user's ~/.cache: force offline mode and a throwaway cache."""
    saved = {k: os.environ.get(k) for k in ("RESNET_ANY_OFFLINE", "RESNET_ANY_CACHE")}
    os.environ["RESNET_ANY_OFFLINE"] = "1"
    os.environ["RESNET_ANY_CACHE"] = str(tmp_path_factory.mktemp("resnet_any_cache"))
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture
def one_thread():
    """One intra-op thread for the test: the reduction order of OMP_NUM_THREADS=1 subprocesses, and two
    threads on a shared 2-core machine thrash (10x slower)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The read-only real datasets (../shared/data); tests needing them skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def cifar_tree(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small real ImageFolder tree: the first 20 train and 10 test CIFAR-10 JPEGs of every class."""
    archive = shared_data / "cifar10" / "cifar10-jpeg.tar.gz"
    if not archive.is_file():
        pytest.skip(f"{archive} not found")
    root = tmp_path_factory.mktemp("cifar_tree")
    quota = {"train": 20, "test": 10}
    taken: dict[tuple[str, str], int] = {}
    # Stream the archive once and extract only the chosen members: the full tree is 60,000 files.
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:
            parts = Path(member.name).parts
            if not member.isfile() or len(parts) != 3 or parts[0] not in quota:
                continue
            key = (parts[0], parts[1])
            if taken.get(key, 0) >= quota[parts[0]]:
                continue
            taken[key] = taken.get(key, 0) + 1
            # Paths were checked above (train|test/<class>/<file>); the "data" filter exists on newer Pythons only.
            tar.extract(member, root, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    return root
