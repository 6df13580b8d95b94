"""The opt-in download of official files: streamed, complete or absent, never from tests' network."""

import pytest

from styleganex.base.errors import Cancelled, InputError
from styleganex.io.paths import fetch_official


@pytest.fixture
def hub(tmp_path):
    d = tmp_path / "hub"
    d.mkdir()
    (d / "faceparsing.pth").write_bytes(bytes(range(256)) * 9000)  # 2.3 MB: three chunks
    return d


def test_fetch_streams_with_progress(hub, tmp_path):
    seen = []
    path = fetch_official("faceparsing.pth", tmp_path / "models", progress=lambda d, t: seen.append((d, t)),
                          base_url=hub.as_uri() + "/")
    size = (hub / "faceparsing.pth").stat().st_size
    assert path.read_bytes() == (hub / "faceparsing.pth").read_bytes()
    assert [d for d, _ in seen] == sorted(d for d, _ in seen) and seen[-1] == (size, size) and len(seen) == 3
    assert sorted(p.name for p in path.parent.iterdir()) == ["faceparsing.pth"]


def test_fetch_cancelled_or_refused_leaves_nothing(hub, tmp_path):
    dest = tmp_path / "models"
    calls = iter([False, True])
    with pytest.raises(Cancelled):
        fetch_official("faceparsing.pth", dest, cancel=lambda: next(calls), base_url=hub.as_uri() + "/")
    assert list(dest.iterdir()) == []
    with pytest.raises(InputError, match="not an official"):
        fetch_official("mine.pt", dest, base_url=hub.as_uri() + "/")
    with pytest.raises(OSError):
        fetch_official("styleganex_sr.pt", dest, base_url=hub.as_uri() + "/")  # not on this "hub"
    assert list(dest.iterdir()) == []
